import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeHandler } from '../../adapters/node.js';
import { type Gateway, GatewayError, createGateway, defineTool, memoryStore } from '../../src/index.js';
import { breakableStore, deferred, jsonRequest, listen } from '../helpers.js';

let gateway: Gateway | undefined;
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
  await gateway?.close();
  gateway = undefined;
});

/** A tool that counts its runs; `gate`, when given, holds each run until it settles. */
function counter(gate?: Promise<void>) {
  const state = { runs: 0, started: deferred() };
  const tool = defineTool({
    name: 'count',
    description: 'counts',
    inputSchema: { type: 'object', properties: { n: { type: 'number' } } } as const,
    handler: async ({ n }) => {
      state.runs++;
      state.started.resolve();
      if (gate !== undefined) await gate;
      return { n, run: state.runs };
    },
  });
  return { tool, state };
}

async function invoke(key: string, body: unknown) {
  const response = await (gateway as Gateway).fetch(jsonRequest('/tools/count/invoke', { key, body }));
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

describe('idempotency keys', () => {
  it('a dropped connection does not cancel a keyed call: it runs to its end, and the retry gets its outcome', async () => {
    const gate = deferred();
    const { tool, state } = counter(gate.promise);
    gateway = createGateway({ store: memoryStore(), tools: [tool], policy: [{ id: 'all', effect: 'allow' }] });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const server = await listen(createNodeHandler(gateway));
    closers.push(() => server.close());
    const serverSawClose = deferred();
    server.server.on('connection', (socket) => socket.on('close', () => setImmediate(serverSawClose.resolve)));

    const body = JSON.stringify({ input: { n: 1 }, idempotencyKey: 'k-drop' });
    const sent = httpRequest(`${server.url}/tools/count/invoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    });
    sent.on('error', () => undefined);
    sent.end(body);
    await state.started.promise;
    sent.destroy();
    await serverSawClose.promise;
    // A repeat that comes while it runs waits for it, connected or not.
    const waiting = invoke(apiKey, { input: { n: 1 }, idempotencyKey: 'k-drop' });
    gate.resolve();

    const repeat = await waiting;
    expect(repeat.status).toBe(200);
    expect(repeat.body.output).toEqual({ n: 1, run: 1 });
    const retry = await invoke(apiKey, { input: { n: 1 }, idempotencyKey: 'k-drop' });
    expect(retry.status).toBe(200);
    expect(retry.body.invocationId).toBe(repeat.body.invocationId);
    expect(state.runs).toBe(1);
    expect((await gateway.admin.getInvocation(retry.body.invocationId)).status).toBe('succeeded');
  });

  it('a call the audit trail could not start releases its key (503 with Retry-After): the retry runs', async () => {
    const { tool, state } = counter();
    const { store, setBroken } = breakableStore('appendAudit');
    gateway = createGateway({ store, tools: [tool], policy: [{ id: 'all', effect: 'allow' }], audit: { appendTimeoutMs: 500 } });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    setBroken(true);
    const refused = await invoke(apiKey, { input: { n: 1 }, idempotencyKey: 'k-audit' });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('AUDIT_UNAVAILABLE');
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(state.runs).toBe(0);

    setBroken(false);
    const retry = await invoke(apiKey, { input: { n: 1 }, idempotencyKey: 'k-audit' });
    expect(retry.status).toBe(200);
    expect(retry.body.invocationId).not.toBe(refused.body.invocationId);
    expect(state.runs).toBe(1);
    expect((await invoke(apiKey, { input: { n: 1 }, idempotencyKey: 'k-audit' })).body.invocationId).toBe(retry.body.invocationId);
    expect(state.runs).toBe(1);
  });

  it('a record that could not be written is told to onError, and repeats are told so once the call is long over', async () => {
    const { tool, state } = counter();
    const { store, setBroken } = breakableStore('putInvocation', 'connection reset');
    const errors: unknown[] = [];
    let clock = Date.now();
    gateway = createGateway({
      store,
      tools: [tool],
      policy: [{ id: 'all', effect: 'allow' }],
      onError: (error) => errors.push(error),
      now: () => clock,
    });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    setBroken(true);
    const first = await invoke(apiKey, { input: { n: 1 }, idempotencyKey: 'k-lost' });
    expect(first.status).toBe(200);
    expect(errors.map(String)).toContainEqual(expect.stringContaining('connection reset'));
    setBroken(false);

    // Within the tool's deadline the call may still be writing: retry later.
    const soon = await invoke(apiKey, { input: { n: 1 }, idempotencyKey: 'k-lost' });
    expect(soon.status).toBe(409);
    expect(soon.headers.get('retry-after')).toBe('1');
    // Long after it (30 s deadline + 60 s), it never will: a final answer, and the tool did not run again.
    clock += 91_000;
    const late = await invoke(apiKey, { input: { n: 1 }, idempotencyKey: 'k-lost' });
    expect(late.status).toBe(500);
    expect(late.body.error.message).toMatch(/was not recorded/);
    expect(state.runs).toBe(1);
  });

  it('records a key reused for other input as an invalid call', async () => {
    const { tool } = counter();
    gateway = createGateway({ store: memoryStore(), tools: [tool], policy: [{ id: 'all', effect: 'allow' }] });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    expect((await invoke(apiKey, { input: { n: 1 }, idempotencyKey: 'k-reuse' })).status).toBe(200);
    const conflict = await invoke(apiKey, { input: { n: 2 }, idempotencyKey: 'k-reuse' });
    expect(conflict.status).toBe(409);
    expect(await gateway.admin.getInvocation(conflict.body.invocationId)).toMatchObject({
      status: 'invalid',
      error: { code: 'IDEMPOTENCY_CONFLICT' },
    });
  });
});

describe('a refusal that said when to retry, answered again from its record', () => {
  /** A tool that refuses every call with its own 429 and `Retry-After: 30`. */
  const busy = () => {
    const state = { runs: 0 };
    const tool = defineTool({
      name: 'busy',
      description: 'refuses',
      inputSchema: { type: 'object', properties: { n: { type: 'number' } } } as const,
      handler: () => {
        state.runs++;
        throw new GatewayError({ code: 'RATE_LIMITED', message: 'The CRM is busy', headers: { 'Retry-After': '30' } });
      },
    });
    return { tool, state };
  };

  it("an idempotent replay of a tool's 429 carries Retry-After, counted down from the first answer", async () => {
    const { tool, state } = busy();
    let clock = Date.UTC(2030, 0, 1);
    gateway = createGateway({ store: memoryStore(), tools: [tool], policy: [{ id: 'all', effect: 'allow' }], now: () => clock });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const call = async () => {
      const response = await (gateway as Gateway).fetch(
        jsonRequest('/tools/busy/invoke', { key: apiKey, body: { input: { n: 1 }, idempotencyKey: 'k-busy' } }),
      );
      return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as any };
    };
    const first = await call();
    expect(first).toMatchObject({ status: 429, retryAfter: '30', body: { error: { code: 'RATE_LIMITED', message: 'The CRM is busy' } } });

    clock += 12_500;
    const replay = await call();
    // The same answer, under the same invocation, with the seconds left of the wait it named.
    expect(replay).toEqual({ ...first, retryAfter: '18' });
    clock += 60_000;
    expect((await call()).retryAfter).toBe('0');
    expect(state.runs).toBe(1);
    // The record keeps the instant the first answer named.
    expect((await gateway.admin.getInvocation(first.body.invocationId)).error).toMatchObject({ retryAt: '2030-01-01T00:00:30.000Z' });
  });

  it('a repeat of an approved call that a tool refused with Retry-After carries it too', async () => {
    const { tool, state } = busy();
    let clock = Date.UTC(2030, 0, 1);
    gateway = createGateway({
      store: memoryStore(),
      tools: [tool],
      policy: [{ id: 'hold', effect: 'require_approval' }],
      now: () => clock,
    });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const call = () => (gateway as Gateway).fetch(jsonRequest('/tools/busy/invoke', { key: apiKey, body: { input: { n: 2 } } }));
    const pending = (await (await call()).json()) as any;
    expect(pending.status).toBe('pending_approval');
    await gateway.admin.decide(pending.approval.id, { decision: 'approve' }, { id: 'bob', roles: ['approver'] });
    expect(state.runs).toBe(1);

    clock += 5_000;
    const repeat = await call();
    expect(repeat.status).toBe(429);
    expect(repeat.headers.get('retry-after')).toBe('25');
    expect(((await repeat.json()) as any).invocationId).toBe(pending.invocationId);
    expect(state.runs).toBe(1);
  });

  it('a rate-limited call whose key could not be released: its repeats replay the 429 with Retry-After', async () => {
    const { tool, state } = counter();
    const inner = memoryStore();
    const store = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === 'releaseIdempotencyKey') return async () => Promise.reject(new Error('connection reset'));
        return Reflect.get(target, property, receiver);
      },
    });
    let clock = Date.UTC(2030, 0, 1);
    gateway = createGateway({
      store,
      tools: [tool],
      policy: [{ id: 'one', effect: 'allow', rateLimit: { limit: 1, windowMs: 60_000 } }],
      onError: () => undefined,
      now: () => clock,
    });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    expect((await invoke(apiKey, { input: { n: 1 } })).status).toBe(200);
    clock += 20_000;
    const refused = await invoke(apiKey, { input: { n: 1 }, idempotencyKey: 'k-limited' });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('40');

    clock += 15_000;
    const replay = await invoke(apiKey, { input: { n: 1 }, idempotencyKey: 'k-limited' });
    expect(replay.status).toBe(429);
    expect(replay.body).toEqual(refused.body);
    expect(replay.headers.get('retry-after')).toBe('25');
    expect(state.runs).toBe(1);
  });

  it('a replay of an outcome recorded under a code this version does not know answers 500 over node:http', async () => {
    const { tool } = counter();
    const store = memoryStore();
    gateway = createGateway({ store, tools: [tool], policy: [{ id: 'all', effect: 'allow' }] });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const server = await listen(createNodeHandler(gateway));
    closers.push(server.close);
    const send = () =>
      fetch(`${server.url}/tools/count/invoke`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ input: { n: 1 }, idempotencyKey: 'k-newer' }),
      });
    const first = (await (await send()).json()) as { invocationId: string };
    // As a newer version sharing the store would have recorded the call.
    const record = await store.getInvocation(first.invocationId);
    await store.putInvocation({
      ...(record as NonNullable<typeof record>),
      status: 'failed',
      output: null,
      error: { code: 'QUOTA_EXCEEDED', message: 'Quota exceeded' },
    });
    const replay = await send();
    expect(replay.status).toBe(500);
    expect(await replay.json()).toEqual({
      error: { code: 'QUOTA_EXCEEDED', message: 'Quota exceeded' },
      invocationId: first.invocationId,
    });
  });
});
