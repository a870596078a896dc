import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, createGateway, defineTool } from '../../src/index.js';
import { adminTokens } from '../fixtures.js';
import { breakableStore, jsonRequest } from '../helpers.js';

const approverPrincipal = { id: 'bob', roles: ['approver' as const] };
const policy = [{ id: 'refunds-need-approval', effect: 'require_approval' as const, tools: ['refunds.*'] }];
const admin = { tokens: [{ token: adminTokens.approver, id: 'bob', roles: ['approver' as const] }] };

function refundTool(counter: { runs: number }, description = 'Refund an order') {
  return defineTool({
    name: 'refunds.create',
    description,
    inputSchema: {
      type: 'object',
      properties: { orderId: { type: 'string' }, amount: { type: 'number' } },
      required: ['orderId', 'amount'],
    } as const,
    handler: ({ orderId, amount }) => {
      counter.runs++;
      return { orderId, refunded: amount };
    },
  });
}

const gateways: Gateway[] = [];
afterEach(async () => {
  while (gateways.length > 0) await gateways.pop()?.close();
});

async function setup(extra: Parameters<typeof createGateway>[0] = {}) {
  const counter = { runs: 0 };
  const gateway = createGateway({ tools: [refundTool(counter)], policy, admin, onError: () => undefined, ...extra });
  gateways.push(gateway);
  const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
  const invoke = async (input: unknown, headers: Record<string, string> = {}) => {
    const response = await gateway.fetch(jsonRequest('/tools/refunds.create/invoke', { key: apiKey, body: { input }, headers }));
    return { status: response.status, headers: response.headers, body: (await response.json()) as any };
  };
  return { gateway, apiKey, counter, invoke };
}

describe('identical calls after requests for approval that failed', () => {
  it('ask again once the audit trail is back, however many failed before', async () => {
    const { store, setBroken } = breakableStore('appendAudit');
    const { gateway, counter, invoke } = await setup({ store });
    setBroken(true);
    for (let i = 0; i < 5; i++) {
      const failed = await invoke({ orderId: 'O-1', amount: 900 });
      expect(failed.status, `call ${i}: ${JSON.stringify(failed.body)}`).toBe(503);
    }
    setBroken(false);
    const asked = await invoke({ orderId: 'O-1', amount: 900 });
    expect(asked.status, JSON.stringify(asked.body)).toBe(202);
    const again = await invoke({ orderId: 'O-1', amount: 900 });
    expect(again.body.approval.id).toBe(asked.body.approval.id);
    expect((await gateway.admin.listApprovals({ status: 'pending' })).items).toHaveLength(1);
    expect(counter.runs).toBe(0);
  });

  it('ask again when the failed requests could not free what they held either', async () => {
    // The store refuses the approval and the release of the slot that asked for it.
    const { store, setBroken } = breakableStore(['createApproval', 'releaseIdempotencyKey'], 'connection reset');
    const { gateway, counter, invoke } = await setup({ store });
    setBroken(true);
    for (let i = 0; i < 5; i++) {
      const failed = await invoke({ orderId: 'O-2', amount: 900 });
      expect(failed.status, `call ${i}: ${JSON.stringify(failed.body)}`).toBe(500);
    }
    setBroken(false);
    const asked = await invoke({ orderId: 'O-2', amount: 900 });
    expect(asked.status, JSON.stringify(asked.body)).toBe(202);
    const again = await invoke({ orderId: 'O-2', amount: 900 });
    expect(again.body.approval.id).toBe(asked.body.approval.id);
    expect((await gateway.admin.listApprovals({ status: 'pending' })).items).toHaveLength(1);
    expect(counter.runs).toBe(0);
  });
});

describe('an approved call refused before it runs whose record cannot be written', () => {
  it('does not stand: the approval is pending again, and the refusal is recorded once decided again', async () => {
    const { store, setBroken } = breakableStore('putInvocation', 'connection reset');
    const { gateway, apiKey, counter, invoke } = await setup({ store });
    // Another instance on the same store has a new definition of the tool.
    const changed = createGateway({ store, tools: [refundTool(counter, 'Refund an order, v2')], policy, admin, onError: () => undefined });
    gateways.push(changed);
    const first = await invoke({ orderId: 'O-3', amount: 900 });
    const approvalId = first.body.approval.id;
    setBroken(true);
    await expect(changed.admin.decide(approvalId, { decision: 'approve' }, approverPrincipal)).rejects.toThrow();
    setBroken(false);
    expect(await gateway.admin.getApproval(approvalId)).toMatchObject({ status: 'pending', decidedBy: null });
    expect((await invoke({ orderId: 'O-3', amount: 900 })).status).toBe(202);

    const decided = await changed.admin.decide(approvalId, { decision: 'approve' }, approverPrincipal);
    expect(decided.outcome.status === 'error' && decided.outcome.error.code).toBe('APPROVAL_TOOL_CHANGED');
    const repeat = await invoke({ orderId: 'O-3', amount: 900 });
    expect(repeat.status).toBe(409);
    expect(repeat.body).toMatchObject({ invocationId: first.body.invocationId, error: { code: 'APPROVAL_TOOL_CHANGED' } });
    const polled = await gateway.fetch(jsonRequest(`/invocations/${first.body.invocationId}`, { key: apiKey }));
    expect(await polled.json()).toMatchObject({ error: { code: 'APPROVAL_TOOL_CHANGED' } });
    expect(counter.runs).toBe(0);
  });
});

describe('an approved call that ran whose final record cannot be written', () => {
  /** `from`: the store goes away while the tool runs, or already once the call is claimed to run (before its record says running). */
  async function ranUnrecorded(from: 'run' | 'claim' = 'run') {
    const { store: breakable, setBroken } = breakableStore('putInvocation', 'connection reset');
    const store = new Proxy(breakable, {
      get(target, property, receiver) {
        if (property !== 'transitionApproval') return Reflect.get(target, property, receiver);
        return async (...args: Parameters<typeof breakable.transitionApproval>) => {
          const moved = await target.transitionApproval(...args);
          if (from === 'claim' && moved?.status === 'executed') setBroken(true);
          return moved;
        };
      },
    });
    let clock = Date.parse('2030-01-01T00:00:00Z');
    const errors: unknown[] = [];
    const counter = { runs: 0 };
    const tool = defineTool({
      name: 'refunds.create',
      description: 'Refund an order',
      inputSchema: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] } as const,
      timeoutMs: 10_000,
      handler: ({ orderId }) => {
        counter.runs++;
        // The store goes away while the tool runs: its record says running, and stays so.
        setBroken(true);
        return { orderId, refunded: true };
      },
    });
    const gateway = createGateway({ store, tools: [tool], policy, admin, now: () => clock, onError: (error) => errors.push(error) });
    gateways.push(gateway);
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const invoke = async (headers: Record<string, string> = {}) => {
      const response = await gateway.fetch(
        jsonRequest('/tools/refunds.create/invoke', { key: apiKey, body: { input: { orderId: 'O-4' } }, headers }),
      );
      return { status: response.status, body: (await response.json()) as any };
    };
    const first = await invoke();
    const decided = await gateway.admin.decide(first.body.approval.id, { decision: 'approve' }, approverPrincipal);
    setBroken(false);
    return { gateway, apiKey, invoke, first, decided, counter, errors, advance: (ms: number) => (clock += ms) };
  }

  it('gives the approver the outcome of the run, and tells onError of the lost write', async () => {
    const { decided, counter, errors } = await ranUnrecorded();
    expect(counter.runs).toBe(1);
    expect(decided.outcome).toMatchObject({ status: 'succeeded', output: { orderId: 'O-4', refunded: true } });
    expect(decided.approval.status).toBe('executed');
    expect(errors.map(String)).toContain('Error: connection reset');
  });

  it('reads as running while it could still be, then as an unknown outcome to repeats, GET /invocations/{id} and Prefer: wait', async () => {
    const { gateway, apiKey, invoke, first, counter, advance } = await ranUnrecorded();
    const id = first.body.invocationId;
    expect(await invoke()).toMatchObject({ status: 202, body: { status: 'running' } });
    // Past the tool's deadline and the time a record write may take, nothing can still be running.
    advance(10_000 + 60_001);
    const repeat = await invoke();
    expect(repeat.status).toBe(500);
    expect(repeat.body).toMatchObject({ invocationId: id, error: { code: 'INTERNAL' } });
    expect(repeat.body.error.message).toContain('outcome of this call is unknown');
    const polled = await gateway.fetch(jsonRequest(`/invocations/${id}`, { key: apiKey }));
    expect(await polled.json()).toMatchObject({ invocationId: id, status: 'outcome_unknown', error: { code: 'INTERNAL' } });
    expect((await gateway.admin.getInvocation(id)).status).toBe('outcome_unknown');
    // A wait ends at once with that outcome, not after the time it asked for.
    const waited = await invoke({ prefer: 'wait=600' });
    expect(waited).toMatchObject({ status: 500, body: { error: { code: 'INTERNAL' } } });
    expect(counter.runs).toBe(1);
    // The recovery marks it so, once.
    expect(await gateway.admin.incompleteInvocations({ graceMs: 0 })).toMatchObject([{ invocationId: id, status: 'outcome_unknown' }]);
  });

  it('reads so also when its record could not say it was running either', async () => {
    const { gateway, apiKey, invoke, first, decided, counter, advance } = await ranUnrecorded('claim');
    const id = first.body.invocationId;
    expect(decided.outcome.status).toBe('succeeded');
    expect(counter.runs).toBe(1);
    expect(await invoke()).toMatchObject({ status: 202, body: { status: 'running' } });
    const running = await gateway.fetch(jsonRequest(`/invocations/${id}`, { key: apiKey }));
    expect(await running.json()).toMatchObject({ status: 'running' });
    advance(10_000 + 60_001);
    expect(await invoke()).toMatchObject({ status: 500, body: { invocationId: id, error: { code: 'INTERNAL' } } });
    const polled = await gateway.fetch(jsonRequest(`/invocations/${id}`, { key: apiKey }));
    expect(await polled.json()).toMatchObject({ status: 'outcome_unknown' });
    expect(await invoke({ prefer: 'wait=600' })).toMatchObject({ status: 500, body: { error: { code: 'INTERNAL' } } });
    expect(counter.runs).toBe(1);
  });
});

describe('an approved call that ran while the store fails to read its approval back', () => {
  it('gives the approver the outcome of the run, not an error', async () => {
    const { store, setBroken } = breakableStore('getApproval', 'connection reset');
    const counter = { runs: 0 };
    const tool = defineTool({
      name: 'refunds.create',
      description: 'Refund an order',
      inputSchema: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] } as const,
      handler: ({ orderId }) => {
        counter.runs++;
        setBroken(true);
        return { orderId, refunded: true };
      },
    });
    const errors: unknown[] = [];
    const gateway = createGateway({ store, tools: [tool], policy, admin, onError: (error) => errors.push(error) });
    gateways.push(gateway);
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const first = await gateway.invoke({ agentKey: apiKey, tool: 'refunds.create', input: { orderId: 'O-5' } });
    if (first.status !== 'pending_approval') throw new Error('expected a pending approval');
    const approved = await gateway.fetch(
      jsonRequest(`/admin/approvals/${first.approval.id}/approve`, { key: adminTokens.approver, body: {} }),
    );
    setBroken(false);
    expect(approved.status).toBe(200);
    expect(await approved.json()).toMatchObject({ invocation: { status: 'succeeded', output: { orderId: 'O-5', refunded: true } } });
    expect(counter.runs).toBe(1);
    expect(errors.map(String)).toContain('Error: connection reset');
    const repeat = await gateway.invoke({ agentKey: apiKey, tool: 'refunds.create', input: { orderId: 'O-5' } });
    expect(repeat).toMatchObject({ status: 'succeeded', invocationId: first.invocationId });
  });
});
