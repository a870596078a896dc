import { afterEach, describe, expect, it } from 'vitest';
import { createAuditLog } from '../../src/audit/log.js';
import { sampleEvent } from '../audit/helpers.js';
import { type ApprovalRecord, type Gateway, memoryStore } from '../../src/index.js';
import { invocationRecord as invocation, testGateway } from '../fixtures.js';
import { jsonRequest } from '../helpers.js';

const at = (second: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, second)).toISOString();

function approval(id: string, status: ApprovalRecord['status'] = 'pending'): ApprovalRecord {
  return {
    id,
    invocationId: `invocation-of-${id}`,
    agentId: 'agent-1',
    tool: 'payments.refund',
    toolVersion: 'v1',
    inputDigest: 'e'.repeat(64),
    heldInput: {},
    input: {},
    ruleIds: [],
    status,
    requestedAt: at(0),
    expiresAt: at(3600),
    decidedAt: null,
    decidedBy: null,
    reason: null,
  };
}

async function invocationIds(store: ReturnType<typeof memoryStore>): Promise<string[]> {
  return (await store.listInvocations({ limit: 1000 })).items.map((record) => record.id).sort();
}

describe('memoryStore retention', () => {
  it('never drops an invocation that waits for approval or runs, and counts it again once it is final', async () => {
    const store = memoryStore({ maxRecords: 3 });
    await store.createInvocation(invocation('held', 'pending_approval'));
    await store.createInvocation(invocation('running', 'running'));
    for (let index = 0; index < 10; index++) await store.createInvocation(invocation(`done-${index}`));
    expect(await invocationIds(store)).toEqual(['done-7', 'done-8', 'done-9', 'held', 'running']);

    // Final now: kept as the newest record, then dropped in its turn.
    await store.putInvocation({ ...invocation('held', 'succeeded'), updatedAt: at(5) });
    expect(await invocationIds(store)).toEqual(['done-8', 'done-9', 'held', 'running']);
    await store.createInvocation(invocation('done-10'));
    await store.createInvocation(invocation('done-11'));
    expect((await store.getInvocation('held'))?.status).toBe('succeeded');
    await store.createInvocation(invocation('done-12'));
    expect(await store.getInvocation('held')).toBeUndefined();
    expect(await invocationIds(store)).toEqual(['done-10', 'done-11', 'done-12', 'running']);
  });

  it('keeps any number of unfinished records besides maxRecords finished ones', async () => {
    const store = memoryStore({ maxRecords: 10 });
    for (let index = 0; index < 2000; index++) {
      await store.createInvocation(invocation(`call-${index}`, index % 2 === 0 ? 'pending_approval' : 'succeeded'));
    }
    const pending = await store.listInvocations({ status: 'pending_approval', limit: 1000 });
    expect(pending.items).toHaveLength(1000);
    const finished = await store.listInvocations({ status: 'succeeded', limit: 1000 });
    expect(finished.items.map((record) => record.id)).toEqual(Array.from({ length: 10 }, (_, index) => `call-${1999 - 2 * index}`));
  });

  it('never drops an approval before its call is executed or closed', async () => {
    const store = memoryStore({ maxRecords: 2 });
    await store.createApproval(approval('pending'));
    await store.createApproval(approval('approved'));
    await store.createApproval(approval('executing'));
    await store.transitionApproval('approved', 'pending', { status: 'approved' });
    await store.transitionApproval('executing', 'pending', { status: 'approved' });
    await store.transitionApproval('executing', 'approved', { status: 'executing' });
    for (let index = 0; index < 5; index++) await store.createApproval(approval(`denied-${index}`, 'denied'));
    const ids = async () => (await store.listApprovals({ limit: 100 })).items.map((record) => record.id).sort();
    expect(await ids()).toEqual(['approved', 'denied-3', 'denied-4', 'executing', 'pending']);

    await store.transitionApproval('executing', 'executing', { status: 'executed' });
    expect(await ids()).toEqual(['approved', 'denied-4', 'executing', 'pending']);
    await store.createApproval(approval('denied-5', 'denied'));
    await store.createApproval(approval('denied-6', 'denied'));
    expect(await ids()).toEqual(['approved', 'denied-5', 'denied-6', 'pending']);
  });
});

describe('memoryStore audit reads asked for together', () => {
  it('answer from one state while appends trim the chain: the first page ends at the head read with it', async () => {
    const store = memoryStore({ maxRecords: 20 });
    const audit = createAuditLog({ store });
    const appending = (async () => {
      for (let index = 0; index < 200; index++) await audit.append(sampleEvent(index));
    })();
    for (let read = 0; read < 50; read++) {
      const [head, page, first] = await Promise.all([
        store.getAuditHead(),
        store.listAudit({ limit: 1000 }),
        store.listAudit({ limit: 1 }),
      ]);
      expect(page.items.at(-1)?.seq).toBe(head?.seq);
      expect(page.items[0]?.seq).toBe(first.items[0]?.seq);
      expect(page).not.toHaveProperty('droppedByRetention');
    }
    await appending;
    await audit.close();
  });
});

describe('a gateway on a small memory store', () => {
  const gateways: Gateway[] = [];
  afterEach(async () => {
    while (gateways.length > 0) await gateways.pop()?.close();
  });

  it('still finishes a call approved after more calls than the store retains', async () => {
    const gateway = testGateway({ store: memoryStore({ maxRecords: 3 }) });
    gateways.push(gateway);
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const held = await gateway.invoke({ agentKey: apiKey, tool: 'refunds.create', input: { orderId: 'O-1', amount: 500 } });
    expect(held.status).toBe('pending_approval');
    if (held.status !== 'pending_approval') return;
    for (let index = 0; index < 5; index++) {
      expect((await gateway.invoke({ agentKey: apiKey, tool: 'echo', input: { text: `call ${index}` } })).status).toBe('succeeded');
    }

    const decided = await gateway.admin.decide(held.approval.id, { decision: 'approve' }, { id: 'bob', roles: ['approver'] });
    expect(decided.outcome).toMatchObject({ status: 'succeeded', output: { refunded: 500, orderId: 'O-1' } });
    expect(await gateway.admin.getInvocation(held.invocationId)).toMatchObject({
      status: 'succeeded',
      output: { refunded: 500, orderId: 'O-1' },
      approvalId: held.approval.id,
    });
    const polled = await gateway.fetch(jsonRequest(`/invocations/${held.invocationId}`, { key: apiKey }));
    expect(polled.status).toBe(200);
    expect(await polled.json()).toMatchObject({ status: 'succeeded', output: { refunded: 500 } });
    expect((await gateway.admin.getApproval(held.approval.id)).status).toBe('executed');

    const events = (await gateway.admin.listAudit({ limit: 100 })).items.map((entry) => entry.event);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'invocation.completed',
        invocationId: held.invocationId,
        data: expect.objectContaining({ status: 'succeeded' }),
      }),
    );
  });
});
