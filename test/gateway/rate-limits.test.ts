import { afterEach, describe, expect, it } from 'vitest';
import {
  type Gateway,
  type GatewayOptions,
  type PolicyEngine,
  type RateLimitCharge,
  createGateway,
  defineTool,
  GatewayError,
  memoryRateLimiter,
  memoryStore,
} from '../../src/index.js';
import { adminTokens } from '../fixtures.js';
import { deferred, jsonRequest, mcpRequest } from '../helpers.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  while (gateways.length > 0) await gateways.pop()?.close();
});

/** A gateway on a clock the test moves, with a `refund` tool that counts its runs. */
async function setup(options: Partial<GatewayOptions> = {}) {
  const clock = { now: Date.parse('2030-01-01T00:00:00Z') };
  const runs = { count: 0 };
  const refund = defineTool({
    name: 'refund',
    description: 'refunds an order',
    inputSchema: { type: 'object', properties: { amount: { type: 'number' } }, required: ['amount'] } as const,
    handler: ({ amount }) => {
      runs.count++;
      return { refunded: amount };
    },
  });
  const gateway = createGateway({
    tools: [refund],
    policy: [{ id: 'refunds', effect: 'allow', tools: ['refund'], rateLimit: { limit: 2, windowMs: 60_000 } }],
    admin: {
      tokens: [
        { token: adminTokens.admin, id: 'alice', roles: ['admin'] },
        { token: adminTokens.approver, id: 'bob', roles: ['approver'] },
      ],
    },
    now: () => clock.now,
    ...options,
  });
  gateways.push(gateway);
  const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
  const other = await gateway.admin.createAgent({ name: 'other' });
  return { gateway, apiKey, otherKey: other.apiKey, clock, runs };
}

const invoke = (gateway: Gateway, key: string, amount = 10) =>
  gateway.fetch(jsonRequest('/tools/refund/invoke', { key, body: { input: { amount } } }));

describe('rate limits on policy rules', () => {
  it('refuse the call over the limit with 429, Retry-After and the rule, record it as denied, and never run the tool', async () => {
    const { gateway, apiKey, clock, runs } = await setup();
    expect((await invoke(gateway, apiKey)).status).toBe(200);
    clock.now += 20_000;
    expect((await invoke(gateway, apiKey)).status).toBe(200);
    clock.now += 500;

    const refused = await invoke(gateway, apiKey);
    expect(refused.status).toBe(429);
    // The first call leaves the window 39.5 s from now.
    expect(refused.headers.get('retry-after')).toBe('40');
    const body = (await refused.json()) as { invocationId: string; error: unknown };
    expect(body.error).toEqual({
      code: 'RATE_LIMITED',
      message: 'Rate limit reached: retry after 40 s',
      details: { rule: ['refunds'], retryAfterSeconds: 40 },
    });
    expect(runs.count).toBe(2);

    const record = await gateway.admin.getInvocation(body.invocationId);
    expect(record).toMatchObject({ status: 'denied', decision: 'allow', ruleIds: ['refunds'], error: { code: 'RATE_LIMITED' } });
    const { items } = await gateway.admin.listAudit({ type: 'invocation', limit: 100 });
    expect(items.map((entry) => entry.event).find((event) => event.invocationId === body.invocationId)).toMatchObject({
      type: 'invocation.denied',
      data: { error: { code: 'RATE_LIMITED' } },
    });

    // A refused call is not counted: once the first call leaves the window, one more goes through.
    clock.now += 39_500;
    expect((await invoke(gateway, apiKey)).status).toBe(200);
    expect((await invoke(gateway, apiKey)).status).toBe(429);
    expect(runs.count).toBe(3);
  });

  it('count per agent by default, and across agents with per: all', async () => {
    const { gateway, apiKey, otherKey } = await setup();
    await invoke(gateway, apiKey);
    await invoke(gateway, apiKey);
    expect((await invoke(gateway, apiKey)).status).toBe(429);
    expect((await invoke(gateway, otherKey)).status).toBe(200);

    const shared = await setup({
      policy: [{ id: 'refunds', effect: 'allow', rateLimit: { limit: 2, windowMs: 60_000, per: 'all' } }],
    });
    expect((await invoke(shared.gateway, shared.apiKey)).status).toBe(200);
    expect((await invoke(shared.gateway, shared.otherKey)).status).toBe(200);
    expect((await invoke(shared.gateway, shared.otherKey)).status).toBe(429);
    expect((await invoke(shared.gateway, shared.apiKey)).status).toBe(429);
  });

  it('answer an MCP tools/call with an isError result that says when to retry, and invoke() with the error', async () => {
    const { gateway, apiKey } = await setup();
    await invoke(gateway, apiKey);
    await invoke(gateway, apiKey);
    const mcp = await gateway.fetch(
      mcpRequest(apiKey, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'refund', arguments: { amount: 1 } } }),
    );
    expect(mcp.status).toBe(200);
    const result = ((await mcp.json()) as { result: { isError: boolean; content: Array<{ text: string }> } }).result;
    expect(result.isError).toBe(true);
    expect(result.content[0]?.text).toMatch(/^RATE_LIMITED: Rate limit reached: retry after 60 s/);
    expect(result.content[0]?.text).toContain('Retry after 60 seconds.');

    const outcome = await gateway.invoke({ agentKey: apiKey, tool: 'refund', input: { amount: 1 } });
    expect(outcome.status === 'error' && outcome.error.code).toBe('RATE_LIMITED');
  });

  it('count an approval request when it is asked; identical repeats still get the pending state and then the outcome', async () => {
    const { gateway, apiKey, runs } = await setup({
      policy: [{ id: 'held', effect: 'require_approval', rateLimit: { limit: 1, windowMs: 60_000 } }],
    });
    const held = await invoke(gateway, apiKey, 500);
    expect(held.status).toBe(202);
    const first = (await held.json()) as { invocationId: string; approval: { id: string } };
    // The identical call repeated is not a new request: it gets the same pending approval.
    const repeated = await invoke(gateway, apiKey, 500);
    expect(repeated.status).toBe(202);
    expect(((await repeated.json()) as { approval: { id: string } }).approval.id).toBe(first.approval.id);
    // A different call asks anew, and is over the limit.
    expect((await invoke(gateway, apiKey, 7)).status).toBe(429);

    const decided = await gateway.fetch(
      jsonRequest(`/admin/approvals/${first.approval.id}/approve`, { key: adminTokens.approver, method: 'POST', body: {} }),
    );
    expect(decided.status).toBe(200);
    expect(runs.count).toBe(1);
    // Repeating it now returns the stored outcome, over REST and over MCP, never a 429 or a second run.
    const outcome = await invoke(gateway, apiKey, 500);
    expect(outcome.status).toBe(200);
    expect(((await outcome.json()) as { invocationId: string }).invocationId).toBe(first.invocationId);
    const mcp = await gateway.fetch(
      mcpRequest(apiKey, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'refund', arguments: { amount: 500 } } }),
    );
    const result = ((await mcp.json()) as { result: { isError?: boolean; structuredContent?: unknown } }).result;
    expect(result.isError).not.toBe(true);
    expect(runs.count).toBe(1);
  });

  it('refuse identical calls over the limit that arrive together with 429, each recorded, not a 409 to retry at once', async () => {
    // The limiter answers only once all three calls hold or wait for the approval slot.
    const store = memoryStore();
    const reserve = store.reserveIdempotencyKey.bind(store);
    let slotsAsked = 0;
    const allAsked = deferred();
    store.reserveIdempotencyKey = async (reservation) => {
      const reserved = await reserve(reservation);
      if (reservation.agentId.endsWith(':approval') && ++slotsAsked === 4) setImmediate(allAsked.resolve);
      return reserved;
    };
    const limiter = memoryRateLimiter();
    const { gateway, apiKey, clock } = await setup({
      store,
      policy: [{ id: 'held', effect: 'require_approval', rateLimit: { limit: 1, windowMs: 60_000 } }],
      rateLimiter: {
        take: async (charges, now) => {
          if (slotsAsked > 1) await allAsked.promise;
          return limiter.take(charges, now);
        },
      },
    });
    expect((await invoke(gateway, apiKey, 1)).status).toBe(202);
    const keyed = () =>
      gateway.fetch(jsonRequest('/tools/refund/invoke', { key: apiKey, body: { input: { amount: 5 }, idempotencyKey: 'refund-5' } }));
    const answers = await Promise.all([invoke(gateway, apiKey, 5), invoke(gateway, apiKey, 5), keyed()]);
    expect(slotsAsked).toBe(4);
    const ids = new Set<string>();
    for (const answer of answers) {
      expect(answer.status).toBe(429);
      expect(answer.headers.get('retry-after')).toBe('60');
      const body = (await answer.json()) as { invocationId: string; error: { code: string; details: unknown } };
      expect(body.error).toMatchObject({ code: 'RATE_LIMITED', details: { rule: ['held'], retryAfterSeconds: 60 } });
      ids.add(body.invocationId);
      expect(await gateway.admin.getInvocation(body.invocationId)).toMatchObject({ status: 'denied', error: { code: 'RATE_LIMITED' } });
    }
    expect(ids.size).toBe(3);
    // Nothing was asked, and the key is free: once the window passed, the call asks, once.
    expect((await gateway.admin.listApprovals({ status: 'pending' })).items).toHaveLength(1);
    clock.now += 60_000;
    const asked = await keyed();
    expect(asked.status).toBe(202);
    const repeated = await invoke(gateway, apiKey, 5);
    expect(((await repeated.json()) as { invocationId: string }).invocationId).toBe(
      ((await asked.json()) as { invocationId: string }).invocationId,
    );
    expect((await gateway.admin.listApprovals({ status: 'pending' })).items).toHaveLength(2);
  });

  it('let a call held for approval ask once the window passed, after any number of refusals, with or without a key', async () => {
    const { gateway, apiKey, clock } = await setup({
      policy: [{ id: 'held', effect: 'require_approval', rateLimit: { limit: 1, windowMs: 60_000 } }],
    });
    expect((await invoke(gateway, apiKey, 1)).status).toBe(202);
    const keyed = () =>
      gateway.fetch(jsonRequest('/tools/refund/invoke', { key: apiKey, body: { input: { amount: 900 }, idempotencyKey: 'big-900' } }));
    for (let refusal = 0; refusal < 7; refusal++) {
      expect((await invoke(gateway, apiKey, 500)).status).toBe(429);
      expect((await keyed()).status).toBe(429);
    }
    clock.now += 60_000;
    const asked = await invoke(gateway, apiKey, 500);
    expect(asked.status).toBe(202);
    clock.now += 60_000;
    const askedWithKey = await keyed();
    expect(askedWithKey.status).toBe(202);
    const { invocationId } = (await askedWithKey.json()) as { invocationId: string };
    const repeated = await keyed();
    expect(((await repeated.json()) as { invocationId: string }).invocationId).toBe(invocationId);
  });

  it('release the key of a call an asynchronous limiter refused', async () => {
    let refuse = true;
    const { gateway, apiKey, runs } = await setup({ rateLimiter: { take: async () => (refuse ? 30_000 : 0) } });
    const keyed = () =>
      gateway.fetch(jsonRequest('/tools/refund/invoke', { key: apiKey, body: { input: { amount: 4 }, idempotencyKey: 'refund-4' } }));
    expect((await keyed()).status).toBe(429);
    refuse = false;
    expect((await keyed()).status).toBe(200);
    expect((await keyed()).status).toBe(200);
    expect(runs.count).toBe(1);
  });

  it("keep the key of a tool that passes on another call's rate-limit refusal: the tool ran", async () => {
    let outerRuns = 0;
    let gateway: Gateway | undefined;
    const inner = defineTool({ name: 'inner', description: 'limited', inputSchema: { type: 'object' } as const, handler: () => ({}) });
    const outer = defineTool({
      name: 'outer',
      description: 'does its work, then calls inner and passes its error on',
      inputSchema: { type: 'object' } as const,
      handler: async (_input, { agent }) => {
        outerRuns++;
        const outcome = await (gateway as Gateway).invoke({ agentId: agent.id, tool: 'inner' });
        if (outcome.status === 'error') throw outcome.error;
        return {};
      },
    });
    const set = await setup({
      tools: [inner, outer],
      policy: [
        { id: 'outer', effect: 'allow', tools: ['outer'] },
        { id: 'inner', effect: 'allow', tools: ['inner'], rateLimit: { limit: 1, windowMs: 60_000, per: 'all' } },
      ],
    });
    gateway = set.gateway;
    await gateway.invoke({ agentId: (await gateway.admin.listAgents()).items[0]?.id as string, tool: 'inner' });
    const keyed = () =>
      set.gateway.fetch(jsonRequest('/tools/outer/invoke', { key: set.apiKey, body: { input: {}, idempotencyKey: 'outer-1' } }));
    for (let call = 0; call < 3; call++) expect((await keyed()).status).toBe(429);
    expect(outerRuns).toBe(1);
  });

  it('are managed through the admin API, and refused on deny rules with 400', async () => {
    const { gateway, apiKey } = await setup({ policy: [] });
    const create = (rule: unknown) => gateway.fetch(jsonRequest('/admin/policies', { key: adminTokens.admin, body: rule }));
    const created = await create({ id: 'stored', effect: 'allow', rateLimit: { limit: 1, windowMs: 1000 } });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ id: 'stored', rateLimit: { limit: 1, windowMs: 1000 } });
    expect((await invoke(gateway, apiKey)).status).toBe(200);
    expect((await invoke(gateway, apiKey)).status).toBe(429);

    const refused = await create({ id: 'no', effect: 'deny', rateLimit: { limit: 1, windowMs: 1000 } });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { code: string; message: string } }).error).toEqual({
      code: 'BAD_REQUEST',
      message: 'policy rule "no" at rateLimit: a deny rule refuses every call it applies to, so it takes no rateLimit',
    });
    const tooSmall = await create({ id: 'tiny', effect: 'allow', rateLimit: { limit: 1, windowMs: 5 } });
    expect(tooSmall.status).toBe(400);
  });

  it('take budgets from a custom engine and a custom, asynchronous limiter', async () => {
    const seen: RateLimitCharge[][] = [];
    const engine: PolicyEngine = {
      evaluate: ({ agent }) => ({
        effect: 'allow',
        ruleIds: ['mine'],
        rateLimits: [{ key: `tenant-of:${agent.id}`, limit: 5, windowMs: 1000, ruleId: 'mine' }],
      }),
    };
    const { gateway, apiKey } = await setup({
      policy: engine,
      rateLimiter: {
        take: async (charges) => {
          seen.push([...charges]);
          return seen.length > 1 ? 2500 : 0;
        },
      },
    });
    expect((await invoke(gateway, apiKey)).status).toBe(200);
    const refused = await invoke(gateway, apiKey);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('3');
    expect(seen[0]).toEqual([{ key: expect.stringMatching(/^tenant-of:/), limit: 5, windowMs: 1000, ruleId: 'mine' }]);
  });

  it('answer a wait too long to print in whole seconds with the longest Retry-After, not exponent notation', async () => {
    const { gateway, apiKey, runs } = await setup({ rateLimiter: { take: () => 1e30 } });
    const refused = await invoke(gateway, apiKey);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('2147483648');
    const body = (await refused.json()) as { invocationId: string; error: { details: unknown } };
    expect(body.error.details).toEqual({ rule: ['refunds'], retryAfterSeconds: 2_147_483_648 });
    expect((await gateway.admin.getInvocation(body.invocationId)).error?.code).toBe('RATE_LIMITED');
    expect(runs.count).toBe(0);
  });

  it('count a call charged twice to one budget once, under the stricter limit', async () => {
    const engine: PolicyEngine = {
      evaluate: () => ({
        effect: 'allow',
        ruleIds: ['a', 'b'],
        rateLimits: [
          { key: 'tenant', limit: 3, windowMs: 60_000, ruleId: 'a' },
          { key: 'tenant', limit: 2, windowMs: 60_000, ruleId: 'b' },
        ],
      }),
    };
    const { gateway, apiKey } = await setup({ policy: engine });
    expect((await invoke(gateway, apiKey)).status).toBe(200);
    expect((await invoke(gateway, apiKey)).status).toBe(200);
    const refused = await invoke(gateway, apiKey);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { details: unknown } }).error.details).toEqual({ rule: ['b'], retryAfterSeconds: 60 });
  });

  it('leave the idempotency key of a refused call free, so the retry runs once', async () => {
    const { gateway, apiKey, clock, runs } = await setup();
    await invoke(gateway, apiKey);
    await invoke(gateway, apiKey);
    const keyed = () =>
      gateway.fetch(jsonRequest('/tools/refund/invoke', { key: apiKey, body: { input: { amount: 3 }, idempotencyKey: 'refund-3' } }));
    const refused = await keyed();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('60');
    clock.now += 60_000;
    const ran = await keyed();
    expect(ran.status).toBe(200);
    const { invocationId } = (await ran.json()) as { invocationId: string };
    const replayed = await keyed();
    expect(replayed.status).toBe(200);
    expect(((await replayed.json()) as { invocationId: string }).invocationId).toBe(invocationId);
    expect(runs.count).toBe(3);
    // The budget is spent now; repeats with the key still replay their outcome, uncharged.
    expect((await invoke(gateway, apiKey)).status).toBe(200);
    expect((await invoke(gateway, apiKey)).status).toBe(429);
    for (let repeat = 0; repeat < 3; repeat++) expect((await keyed()).status).toBe(200);
    expect(runs.count).toBe(4);
  });

  it('keep no cap on refusals with one key: the retry after any number of them runs once', async () => {
    const { gateway, apiKey, clock, runs } = await setup();
    await invoke(gateway, apiKey);
    await invoke(gateway, apiKey);
    const keyed = () =>
      gateway.fetch(jsonRequest('/tools/refund/invoke', { key: apiKey, body: { input: { amount: 5 }, idempotencyKey: 'refund-5' } }));
    for (let refusal = 0; refusal < 12; refusal++) {
      expect((await keyed()).status).toBe(429);
      clock.now += 1000;
    }
    clock.now += 60_000;
    const ran = await keyed();
    expect(ran.status).toBe(200);
    expect(runs.count).toBe(3);
    const { invocationId } = (await ran.json()) as { invocationId: string };
    const replayed = await keyed();
    expect(((await replayed.json()) as { invocationId: string }).invocationId).toBe(invocationId);
    expect(runs.count).toBe(3);
  });

  it('tell onError when the key of a refused call cannot be released, and keep the refusal for that key', async () => {
    const errors: unknown[] = [];
    const store = memoryStore();
    store.releaseIdempotencyKey = () => Promise.reject(new Error('store hiccup'));
    const { gateway, apiKey, clock, runs } = await setup({ store, onError: (error) => errors.push(error) });
    await invoke(gateway, apiKey);
    await invoke(gateway, apiKey);
    const keyed = () =>
      gateway.fetch(jsonRequest('/tools/refund/invoke', { key: apiKey, body: { input: { amount: 6 }, idempotencyKey: 'refund-6' } }));
    const refused = (await (await keyed()).json()) as { invocationId: string; error: { code: string } };
    expect(refused.error.code).toBe('RATE_LIMITED');
    expect(String(errors[0])).toContain('store hiccup');
    clock.now += 60_000;
    // Never run twice by mistake: the key keeps what it answered.
    const repeat = (await (await keyed()).json()) as { invocationId: string; error: { code: string } };
    expect(repeat).toMatchObject({ invocationId: refused.invocationId, error: { code: 'RATE_LIMITED' } });
    expect(runs.count).toBe(2);
  });

  it('keep the key of a call whose tool threw RATE_LIMITED itself: the tool may have done its work', async () => {
    let runs = 0;
    const busy = defineTool({
      name: 'busy',
      description: 'does its work, then says it is rate limited',
      inputSchema: { type: 'object' } as const,
      handler: () => {
        runs++;
        throw new GatewayError({ code: 'RATE_LIMITED', message: 'The CRM said: slow down' });
      },
    });
    const { gateway, apiKey } = await setup({ tools: [busy], policy: [{ id: 'all', effect: 'allow' }] });
    const keyed = () => gateway.fetch(jsonRequest('/tools/busy/invoke', { key: apiKey, body: { input: {}, idempotencyKey: 'busy-1' } }));
    const answers = [await keyed(), await keyed(), await keyed()];
    for (const answer of answers) expect(answer.status).toBe(429);
    expect(runs).toBe(1);
  });

  it("give a repeat that waited for a refused first call that refusal, under the first call's invocation id", async () => {
    const { gateway, apiKey, runs } = await setup();
    await invoke(gateway, apiKey);
    await invoke(gateway, apiKey);
    const keyed = () =>
      gateway.fetch(jsonRequest('/tools/refund/invoke', { key: apiKey, body: { input: { amount: 8 }, idempotencyKey: 'refund-8' } }));
    const answers = await Promise.all([keyed(), keyed(), keyed()]);
    const ids = new Set<string>();
    for (const answer of answers) {
      expect(answer.status).toBe(429);
      const body = (await answer.json()) as { invocationId?: string; error: { code: string } };
      expect(body.error.code).toBe('RATE_LIMITED');
      ids.add(body.invocationId as string);
      expect((await gateway.admin.getInvocation(body.invocationId as string)).error?.code).toBe('RATE_LIMITED');
    }
    expect(ids.size).toBe(1);
    expect(runs.count).toBe(2);
  });

  it('a broken limiter or engine answer is an internal error, not a call let through', async () => {
    const errors: unknown[] = [];
    const broken = await setup({ rateLimiter: { take: () => Number.NaN }, onError: (error) => errors.push(error) });
    const answer = await invoke(broken.gateway, broken.apiKey);
    expect(answer.status).toBe(500);
    expect(await answer.text()).not.toContain('rate limiter');
    expect(String(errors[0])).toContain('the rate limiter answered NaN');
    expect(broken.runs.count).toBe(0);

    const badEngine = await setup({
      policy: { evaluate: () => ({ effect: 'allow', ruleIds: [], rateLimits: [{ key: 'k', limit: 0, windowMs: 1000, ruleId: 'x' }] }) },
    });
    expect((await invoke(badEngine.gateway, badEngine.apiKey)).status).toBe(500);
    expect(badEngine.runs.count).toBe(0);
    // A limit no limiter can count exactly (past Number.MAX_SAFE_INTEGER) is no budget either.
    const beyondSafe = await setup({
      policy: { evaluate: () => ({ effect: 'allow', ruleIds: [], rateLimits: [{ key: 'k', limit: 1e20, windowMs: 1000, ruleId: 'x' }] }) },
    });
    expect((await invoke(beyondSafe.gateway, beyondSafe.apiKey)).status).toBe(500);
    expect(beyondSafe.runs.count).toBe(0);
  });

  it('fail closed when the limiter fails: 500, onError told, nothing run, and the key freed for the retry', async () => {
    const errors: unknown[] = [];
    let outage: Error | undefined = new Error('limiter unreachable');
    const { gateway, apiKey, runs } = await setup({
      onError: (error) => errors.push(error),
      rateLimiter: {
        take: async () => {
          if (outage !== undefined) throw outage;
          return 0;
        },
      },
    });
    const keyed = () =>
      gateway.fetch(jsonRequest('/tools/refund/invoke', { key: apiKey, body: { input: { amount: 9 }, idempotencyKey: 'refund-9' } }));
    const failed = await keyed();
    expect(failed.status).toBe(500);
    const body = (await failed.json()) as { invocationId: string; error: unknown };
    expect(body.error).toEqual({ code: 'INTERNAL', message: 'Internal error' });
    expect(errors.map(String)).toContain('Error: limiter unreachable');
    expect(runs.count).toBe(0);
    outage = undefined;
    const ran = await keyed();
    expect(ran.status).toBe(200);
    const { invocationId } = (await ran.json()) as { invocationId: string };
    expect(invocationId).not.toBe(body.invocationId);
    expect(((await (await keyed()).json()) as { invocationId: string }).invocationId).toBe(invocationId);
    expect(runs.count).toBe(1);
  });

  it('let a call held for approval ask once a failing limiter is back, however often it failed', async () => {
    let outage: Error | undefined = new Error('limiter unreachable');
    const { gateway, apiKey } = await setup({
      policy: [{ id: 'held', effect: 'require_approval', rateLimit: { limit: 5, windowMs: 60_000 } }],
      onError: () => undefined,
      rateLimiter: {
        take: async () => {
          if (outage !== undefined) throw outage;
          return 0;
        },
      },
    });
    for (let failure = 0; failure < 8; failure++) expect((await invoke(gateway, apiKey, 500)).status).toBe(500);
    outage = undefined;
    const asked = await invoke(gateway, apiKey, 500);
    expect(asked.status).toBe(202);
    const { invocationId } = (await asked.json()) as { invocationId: string };
    const repeated = await invoke(gateway, apiKey, 500);
    expect(((await repeated.json()) as { invocationId: string }).invocationId).toBe(invocationId);
  });

  it('leave the limiter alone when no rule that applies has one', async () => {
    let asked = 0;
    const { gateway, apiKey } = await setup({
      policy: [{ id: 'plain', effect: 'allow' }],
      rateLimiter: {
        take: () => {
          asked++;
          return 0;
        },
      },
    });
    for (let call = 0; call < 5; call++) expect((await invoke(gateway, apiKey)).status).toBe(200);
    expect(asked).toBe(0);
  });
});
