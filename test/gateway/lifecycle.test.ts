import { afterEach, describe, expect, it, vi } from 'vitest';
import { type AuditEntry, type Gateway, createGateway, defineTool, httpTool, memoryStore } from '../../src/index.js';
import { breakableStore, deferred, jsonRequest, silentUpstream } from '../helpers.js';

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

const echo = defineTool({
  name: 'echo',
  description: 'echoes',
  inputSchema: { type: 'object', properties: { n: { type: 'number' } } } as const,
  handler: ({ n }) => ({ n }),
});

/** A tool that runs until `release` is called, and says when it has started. */
function heldTool() {
  const started = deferred();
  const released = deferred();
  const tool = defineTool({
    name: 'held',
    description: 'waits',
    inputSchema: { type: 'object' } as const,
    handler: async () => {
      started.resolve();
      await released.promise;
      return { done: true };
    },
  });
  return { tool, started: started.promise, release: released.resolve };
}

/** An audit sink that keeps what it is given. */
function keptEvents() {
  const entries: AuditEntry[] = [];
  return { sink: { write: (batch: AuditEntry[]) => void entries.push(...batch) }, types: () => entries.map((entry) => entry.event.type) };
}

describe('a gateway whose store is not reachable when it starts', () => {
  it('serves once the store is back, without a restart', async () => {
    const { store, setBroken } = breakableStore('listTools', 'connect ECONNREFUSED 127.0.0.1:5432');
    setBroken(true);
    const errors: unknown[] = [];
    gateway = createGateway({ store, tools: [echo], policy: [{ id: 'all', effect: 'allow' }], onError: (error) => errors.push(error) });
    await expect(gateway.ready()).rejects.toThrow(/ECONNREFUSED/);
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });

    const refused = await gateway.fetch(jsonRequest('/tools', { key: apiKey }));
    expect(refused.status).toBe(500);
    expect(JSON.stringify(await refused.json())).not.toContain('ECONNREFUSED');
    expect((await gateway.invoke({ agentKey: apiKey, tool: 'echo', input: { n: 1 } })).status).toBe('error');
    expect(errors.length).toBeGreaterThan(0);

    setBroken(false);
    const listed = await gateway.fetch(jsonRequest('/tools', { key: apiKey }));
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { items: Array<{ name: string }> }).items.map((tool) => tool.name)).toEqual(['echo']);
    await expect(gateway.ready()).resolves.toBeUndefined();
    expect(await gateway.invoke({ agentKey: apiKey, tool: 'echo', input: { n: 2 } })).toMatchObject({
      status: 'succeeded',
      output: { n: 2 },
    });
  });
});

describe('ready() once closed', () => {
  it('rejects with GATEWAY_CLOSED when the gateway never loaded, and resolves when it had', async () => {
    const { store, setBroken } = breakableStore('listTools', 'connect ECONNREFUSED 127.0.0.1:5432');
    setBroken(true);
    const never = createGateway({ store, tools: [echo], onError: () => undefined });
    await expect(never.ready()).rejects.toThrow(/ECONNREFUSED/);
    await never.close();
    setBroken(false);
    await expect(never.ready()).rejects.toMatchObject({ code: 'GATEWAY_CLOSED' });

    const loaded = createGateway({ tools: [echo] });
    await loaded.ready();
    await loaded.close();
    await expect(loaded.ready()).resolves.toBeUndefined();
  });
});

describe('close()', () => {
  it('lets calls under way finish and record their outcomes before it closes the store', async () => {
    const { tool, started, release } = heldTool();
    const audit = keptEvents();
    gateway = createGateway({ store: memoryStore(), tools: [tool], policy: [{ id: 'all', effect: 'allow' }], auditSinks: [audit.sink] });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const direct = gateway.invoke({ agentKey: apiKey, tool: 'held', input: {} });
    const overHttp = gateway.fetch(jsonRequest('/tools/held/invoke', { key: apiKey, body: { input: {} } }));
    await started;

    const closing = gateway.close();
    // Refused while the calls under way finish: nothing new starts.
    const late = await gateway.fetch(jsonRequest('/tools/held/invoke', { key: apiKey, body: { input: {} } }));
    expect(late.status).toBe(503);
    expect(((await late.json()) as { error: { code: string } }).error.code).toBe('GATEWAY_CLOSED');
    expect(await gateway.invoke({ agentKey: apiKey, tool: 'held', input: {} })).toMatchObject({
      status: 'error',
      error: { code: 'GATEWAY_CLOSED' },
    });
    expect(gateway.close()).toBe(closing);

    release();
    expect(await direct).toMatchObject({ status: 'succeeded', output: { done: true } });
    expect((await overHttp).status).toBe(200);
    await closing;
    expect(audit.types().filter((type) => type === 'invocation.completed')).toHaveLength(2);
    gateway = undefined;
  });

  it('refuses, once closing, the admin operations that write records and events', async () => {
    gateway = createGateway({ store: memoryStore(), tools: [echo], policy: [{ id: 'all', effect: 'allow' }] });
    const closing = gateway.close();
    const closedError = { code: 'GATEWAY_CLOSED' };
    await expect(gateway.admin.decide('a', { decision: 'approve' }, { id: 'alice', roles: ['admin'] })).rejects.toMatchObject(closedError);
    await expect(gateway.admin.expireApprovals()).rejects.toMatchObject(closedError);
    await expect(gateway.admin.cancelInvocation('i', 'a')).rejects.toMatchObject(closedError);
    await expect(gateway.admin.incompleteInvocations({ graceMs: 0 })).rejects.toMatchObject(closedError);
    const alice = { id: 'alice', roles: ['admin' as const] };
    const tool = {
      name: 'crm.orders',
      description: 'Orders',
      method: 'GET',
      url: 'https://crm.example/orders',
      inputSchema: { type: 'object' },
    };
    for (const write of [
      () => gateway?.admin.createAgent({ name: 'bot' }),
      () => gateway?.admin.disableAgent('a'),
      () => gateway?.admin.enableAgent('a'),
      () => gateway?.admin.revokeAgent('a'),
      () => gateway?.admin.rotateAgentKey('a'),
      () => gateway?.admin.createTool(tool, alice),
      () => gateway?.admin.updateTool('crm.orders', { description: 'Orders!' }, alice),
      () => gateway?.admin.deleteTool('crm.orders', alice),
      () => gateway?.admin.createPolicy({ id: 'p', effect: 'allow' }, alice),
      () => gateway?.admin.updatePolicy('p', { effect: 'deny' }, alice),
      () => gateway?.admin.deletePolicy('p', alice),
      () => gateway?.admin.rotateSecrets({}, alice),
    ]) {
      await expect(write()).rejects.toMatchObject(closedError);
    }
    await closing;
    gateway = undefined;
  });

  it('waits for an admin change under way, so its audit event is recorded', async () => {
    const inner = memoryStore();
    const written = deferred();
    const release = deferred();
    // The store holds the new agent's write until released: close() comes in meanwhile.
    const store = new Proxy(inner, {
      get(target, property, receiver) {
        const original = Reflect.get(target, property, receiver);
        if (property !== 'createAgent') return original;
        return async (...args: unknown[]) => {
          written.resolve();
          await release.promise;
          return (original as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        };
      },
    });
    const { sink, types } = keptEvents();
    gateway = createGateway({ store, tools: [echo], auditSinks: [sink] });
    await gateway.ready();
    const creating = gateway.admin.createAgent({ name: 'bot' });
    await written.promise;
    const closing = gateway.close();
    release.resolve();
    const { agent } = await creating;
    await closing;
    gateway = undefined;
    expect(types()).toContain('admin.agent.created');
    expect((await inner.getAgent(agent.id))?.name).toBe('bot');
  });

  it('refuses a timeoutMs no timer can wait for, and stays open', async () => {
    gateway = createGateway({ store: memoryStore(), tools: [echo], policy: [{ id: 'all', effect: 'allow' }] });
    for (const timeoutMs of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2_147_483_648, '10' as unknown as number]) {
      await expect(gateway.close({ timeoutMs })).rejects.toThrow(
        /close\(\): timeoutMs must be a whole number of milliseconds from 0 to 2147483647/,
      );
    }
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    expect((await gateway.invoke({ agentKey: apiKey, tool: 'echo', input: {} })).status).toBe('succeeded');
    // Once closing, a second call gets the same promise, whatever it passes.
    const closing = gateway.close();
    expect(gateway.close({ timeoutMs: -1 })).toBe(closing);
    await closing;
    gateway = undefined;
  });

  it('gives up on calls still running after timeoutMs, and says so to onError', async () => {
    const { tool, started, release } = heldTool();
    const errors: unknown[] = [];
    gateway = createGateway({
      store: memoryStore(),
      tools: [tool],
      policy: [{ id: 'all', effect: 'allow' }],
      onError: (error) => errors.push(error),
    });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const running = gateway.invoke({ agentKey: apiKey, tool: 'held', input: {} });
    await started;
    await gateway.close({ timeoutMs: 20 });
    expect(errors.map(String)).toContainEqual(
      expect.stringMatching(/1 call\(s\), admin change\(s\) or background task\(s\) still under way after 20 ms/),
    );
    release();
    expect((await running).status).toBe('succeeded');
    gateway = undefined;
  });

  it('gives up on an upstream still not answering after timeoutMs: close() does not wait for its deadline', async () => {
    const upstream = await silentUpstream();
    const hanging = httpTool({
      name: 'crm.hanging',
      description: 'never answers',
      method: 'GET',
      url: `${upstream.url}/hang`,
      inputSchema: { type: 'object' },
      allowPrivateNetwork: true,
      timeoutMs: 2_147_483_647,
    });
    gateway = createGateway({ store: memoryStore(), tools: [hanging], policy: [{ id: 'all', effect: 'allow' }], onError: () => {} });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const running = gateway.invoke({ agentKey: apiKey, tool: 'crm.hanging', input: {} });
    await upstream.arrived;
    await gateway.close({ timeoutMs: 20 });
    await upstream.closed;
    expect(await running).toMatchObject({
      status: 'error',
      error: { code: 'UPSTREAM_ERROR', message: 'upstream call cut off: the upstream client was closed' },
    });
    gateway = undefined;
    await upstream.close();
  });

  it('ends a Prefer: wait for an approval at once, answering the pending state', async () => {
    gateway = createGateway({ store: memoryStore(), tools: [echo], policy: [{ id: 'hold', effect: 'require_approval' }] });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const waiting = gateway.fetch(
      jsonRequest('/tools/echo/invoke', { key: apiKey, body: { input: { n: 1 } }, headers: { prefer: 'wait=600' } }),
    );
    // The approval exists once the call waits for its decision.
    while ((await gateway.admin.listApprovals({ limit: 1 })).items.length === 0) await new Promise((resolve) => setImmediate(resolve));
    await gateway.close();
    const response = await waiting;
    expect(response.status).toBe(202);
    expect(((await response.json()) as { status: string }).status).toBe('pending_approval');
    gateway = undefined;
  });
});

describe('close() and background work', () => {
  it('waits for an expiry sweep under way, so the expired call is recorded', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const inner = memoryStore();
      const gate = deferred();
      const sweeping = deferred();
      let holding = false;
      const store = new Proxy(inner, {
        get(target, property, receiver) {
          if (property === 'transitionApproval' && holding) {
            return async (...args: unknown[]) => {
              sweeping.resolve();
              await gate.promise;
              return (target.transitionApproval as (...a: unknown[]) => Promise<unknown>).apply(target, args);
            };
          }
          return Reflect.get(target, property, receiver);
        },
      });
      let clock = Date.now();
      gateway = createGateway({
        store,
        tools: [echo],
        policy: [{ id: 'hold', effect: 'require_approval' }],
        approvalTtlMs: 1000,
        now: () => clock,
        onError: () => undefined,
      });
      const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
      const held = await gateway.invoke({ agentKey: apiKey, tool: 'echo', input: { n: 1 } });
      expect(held.status).toBe('pending_approval');
      clock += 5000;
      holding = true;
      vi.advanceTimersByTime(30_000);
      await sweeping.promise;

      const closed = gateway.close();
      gate.resolve();
      await closed;
      expect((await inner.getInvocation(held.invocationId as string))?.status).toBe('expired');
      gateway = undefined;
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('an admin read that expires an approval, racing close()', () => {
  // The store stays open for a second gateway: what the closed one would still write lands
  // in the store, while its audit trail is closed.
  it.each(['getApproval', 'listApprovals'] as const)('%s: refused, not expired without its events', async (read) => {
    let clock = Date.parse('2026-03-01T12:00:00.000Z');
    const store = memoryStore();
    const options = { store, tools: [echo], policy: [{ id: 'hold', effect: 'require_approval' as const }], now: () => clock };
    const closing = createGateway({ ...options, approvalTtlMs: 1000, onError: () => undefined });
    gateway = createGateway(options);
    const { apiKey } = await closing.admin.createAgent({ name: 'bot' });
    const held = await closing.invoke({ agentKey: apiKey, tool: 'echo', input: { n: 1 } });
    const approvalId = (held as { approval: { id: string } }).approval.id;
    clock += 5000;

    // The read has found the approval due when close() comes.
    const gate = { arrived: deferred(), open: deferred() };
    for (const method of ['getApproval', 'listApprovals'] as const) {
      const original = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>;
      (store as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
        const result = await original(...args);
        (store as unknown as Record<string, unknown>)[method] = original;
        gate.arrived.resolve();
        await gate.open.promise;
        return result;
      };
    }
    const reading = read === 'getApproval' ? closing.admin.getApproval(approvalId) : closing.admin.listApprovals({ status: 'pending' });
    await gate.arrived.promise;
    await closing.close();
    gate.open.resolve();
    await expect(reading).rejects.toMatchObject({ code: 'GATEWAY_CLOSED' });

    // Still pending: the open gateway expires it, with its events.
    expect((await store.getApproval(approvalId))?.status).toBe('pending');
    expect((await gateway.admin.getApproval(approvalId)).status).toBe('expired');
    const types = (await gateway.admin.listAudit({ limit: 100 })).items.map((entry) => entry.event.type);
    expect(types).toEqual(expect.arrayContaining(['approval.expired', 'invocation.expired']));
  });
});

describe('a createGateway() that throws', () => {
  it('leaves nothing running: no load or timer reading the store, no watch holding a connection', () => {
    const inner = memoryStore();
    const used: string[] = [];
    const store = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === 'watch') {
          return () => {
            used.push('watch');
            return () => undefined;
          };
        }
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          used.push(String(property));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    // Refused by the MCP endpoint's own check, late in construction.
    expect(() => createGateway({ store, tools: [echo], mcp: { allowedHosts: [''] } })).toThrow(/allowedHosts/);
    expect(used).toEqual([]);
  });
});
