import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type AuditEntry,
  type AuditSink,
  type Gateway,
  callbackApprover,
  createAuditLog,
  createGateway,
  memoryStore,
} from '../../src/index.js';
import { pgliteEngine, randomSchema } from '../e2e/fixtures/sql-engines.js';
import { echo, refund } from '../fixtures.js';

const open: Gateway[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((gateway) => gateway.close()));
});

const allowAll = [{ id: 'all', effect: 'allow' as const }];

/** An audit sink that keeps what it is given and counts its closes. */
function countingSink() {
  const entries: AuditEntry[] = [];
  let closes = 0;
  const sink: AuditSink = {
    write: (batch) => void entries.push(...batch),
    close: async () => {
      closes++;
    },
  };
  return { sink, entries, closes: () => closes };
}

describe('a store, approver and audit sink shared by two gateways in one process', () => {
  it('stay open for the other gateway when one closes, and are closed by the last', async () => {
    const store = memoryStore();
    const audit = countingSink();
    let approverCloses = 0;
    const notified: string[] = [];
    const approver = { ...callbackApprover((approval) => void notified.push(approval.tool)), close: () => void approverCloses++ };
    const policy = [...allowAll, { id: 'refunds', effect: 'require_approval' as const, tools: ['refunds.*'] }];
    const first = createGateway({ store, tools: [echo, refund], policy, approver, auditSinks: [audit.sink] });
    const second = createGateway({ store, tools: [echo, refund], policy, approver, auditSinks: [audit.sink] });
    open.push(second);
    const { apiKey } = await first.admin.createAgent({ name: 'bot' });
    expect(await first.invoke({ agentKey: apiKey, tool: 'echo', input: { text: 'one' } })).toMatchObject({ status: 'succeeded' });

    await first.close();
    expect(approverCloses).toBe(0);
    expect(audit.closes()).toBe(0);

    // The second gateway still reads and writes the store, notifies the approver and feeds the sink.
    const before = audit.entries.length;
    expect(await second.invoke({ agentKey: apiKey, tool: 'echo', input: { text: 'two' } })).toMatchObject({
      status: 'succeeded',
      output: { text: 'two' },
    });
    const held = await second.invoke({ agentKey: apiKey, tool: 'refunds.create', input: { orderId: 'o-1', amount: 5 } });
    expect(held.status).toBe('pending_approval');
    expect(notified).toContain('refunds.create');
    expect((await store.listInvocations()).items).toHaveLength(3);
    await second.close();
    expect(audit.entries.slice(before).map((entry) => entry.event.type)).toEqual(
      expect.arrayContaining(['invocation.started', 'invocation.completed', 'approval.requested']),
    );

    expect(approverCloses).toBe(1);
    expect(audit.closes()).toBe(1);
    await expect(store.deleteTool('echo')).rejects.toThrow('memoryStore: store is closed');
  });

  it('a gateway of its own still closes them', async () => {
    const store = memoryStore();
    const audit = countingSink();
    let approverCloses = 0;
    const approver = { notify: () => undefined, close: () => void approverCloses++ };
    const gateway = createGateway({ store, tools: [echo], policy: allowAll, approver, auditSinks: [audit.sink] });
    await gateway.ready();
    await gateway.close();
    expect(approverCloses).toBe(1);
    expect(audit.closes()).toBe(1);
    await expect(store.deleteTool('echo')).rejects.toThrow('memoryStore: store is closed');
  });

  it('an audit log closes a sink another open audit log still writes to only when that one closes too', async () => {
    const store = memoryStore();
    const audit = countingSink();
    const first = createAuditLog({ store, sinks: [audit.sink] });
    const second = createAuditLog({ store: memoryStore(), sinks: [audit.sink] });
    await first.close();
    expect(audit.closes()).toBe(0);
    await second.append({ type: 'custom.event', actor: 'test', data: {} });
    await second.close();
    expect(audit.entries.map((entry) => entry.event.type)).toEqual(['custom.event']);
    expect(audit.closes()).toBe(1);
  });
});

describe('two gateways in one process on the same store object', () => {
  const engine = pgliteEngine();
  afterAll(() => engine.close());
  const alice = { id: 'alice', roles: ['admin' as const] };

  // Neither re-reads on a timer nor lets its agent cache expire: only the change itself can tell B.
  for (const [name, makeStore] of [
    ['the memory store', () => memoryStore()],
    ['the SQL store', () => engine.store(randomSchema('atg_same_store'))],
  ] as const) {
    it(`enforce each other's tool, rule and agent changes from the next request on (${name})`, async () => {
      const store = makeStore();
      const gateway = () => createGateway({ store, tools: [echo], policy: allowAll, refreshIntervalMs: 0, agentCacheMs: 3_600_000 });
      const a = gateway();
      const b = gateway();
      open.push(a, b);
      await Promise.all([a.ready(), b.ready()]);
      const { apiKey, agent } = await a.admin.createAgent({ name: 'support-bot' });
      const callB = async () => (await b.invoke({ agentKey: apiKey, tool: 'echo', input: { text: 'hi' } })).status;
      const toolsOfB = async () => {
        const response = await b.fetch(new Request('http://gateway.test/tools', { headers: { authorization: `Bearer ${apiKey}` } }));
        return ((await response.json()) as { items: { name: string }[] }).items.map((tool) => tool.name).sort();
      };
      expect(await callB()).toBe('succeeded');

      await a.admin.createPolicy({ id: 'no-echo', effect: 'deny', tools: ['echo'] }, alice);
      expect(await callB()).toBe('error');
      await a.admin.deletePolicy('no-echo', alice);
      expect(await callB()).toBe('succeeded');

      await a.admin.createTool(
        { name: 'orders', description: 'Orders', method: 'POST', url: 'https://orders.example.com/v1', inputSchema: { type: 'object' } },
        alice,
      );
      expect(await toolsOfB()).toEqual(['echo', 'orders']);
      await a.admin.deleteTool('orders', alice);
      expect(await toolsOfB()).toEqual(['echo']);

      await a.admin.disableAgent(agent.id, alice);
      expect(await b.invoke({ agentKey: apiKey, tool: 'echo', input: { text: 'hi' } })).toMatchObject({
        status: 'error',
        error: { code: 'UNAUTHENTICATED' },
      });
    });
  }
});
