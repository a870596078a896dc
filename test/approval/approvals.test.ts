import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ApprovalNotice,
  type Gateway,
  callbackApprover,
  createGateway,
  defineTool,
  generateAuditSigningKey,
  generateEncryptionKey,
  memoryStore,
  verifyApprovalWebhook,
  webhookApprover,
} from '../../src/index.js';
import { adminTokens } from '../fixtures.js';
import { breakableStore, deferred, jsonRequest, listen, mcpRequest } from '../helpers.js';

const approverPrincipal = { id: 'bob', roles: ['approver' as const] };

function refundTool(counter: { runs: number }, description = 'Refund an order') {
  return defineTool({
    name: 'refunds.create',
    description,
    inputSchema: {
      type: 'object',
      properties: { orderId: { type: 'string' }, amount: { type: 'number' }, password: { type: 'string' } },
      required: ['orderId', 'amount'],
    } as const,
    handler: ({ orderId, amount }) => {
      counter.runs++;
      return { orderId, refunded: amount };
    },
  });
}

const policy = [{ id: 'refunds-need-approval', effect: 'require_approval' as const, tools: ['refunds.*'] }];
const admin = {
  tokens: [
    { token: adminTokens.admin, id: 'alice', roles: ['admin' as const] },
    { token: adminTokens.approver, id: 'bob', roles: ['approver' as const] },
    { token: adminTokens.auditor, id: 'carol', roles: ['auditor' as const] },
  ],
};

const gateways: Gateway[] = [];
afterEach(async () => {
  while (gateways.length > 0) await gateways.pop()?.close();
});

async function setup(extra: Parameters<typeof createGateway>[0] = {}) {
  const counter = { runs: 0 };
  const gateway = createGateway({ tools: [refundTool(counter)], policy, admin, ...extra });
  gateways.push(gateway);
  const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
  const invoke = async (input: unknown, headers: Record<string, string> = {}) => {
    const response = await gateway.fetch(jsonRequest('/tools/refunds.create/invoke', { key: apiKey, body: { input }, headers }));
    return { status: response.status, headers: response.headers, body: (await response.json()) as any };
  };
  return { gateway, apiKey, counter, invoke };
}

describe('approve-then-execute over REST', () => {
  it('holds the call, executes it once on approval, and gives the agent the result on repeat', async () => {
    const { gateway, apiKey, counter, invoke } = await setup();
    const first = await invoke({ orderId: 'O-1', amount: 500 });
    expect(first.status).toBe(202);
    expect(counter.runs).toBe(0);
    const approvalId = first.body.approval.id;

    const view = await gateway.fetch(jsonRequest(`/admin/approvals/${approvalId}`, { key: adminTokens.approver }));
    const shown = await view.json();
    expect(shown).toMatchObject({
      id: approvalId,
      tool: 'refunds.create',
      status: 'pending',
      ruleIds: ['refunds-need-approval'],
      input: { orderId: 'O-1', amount: 500 },
    });
    // Approvers see the redacted input, never the held one nor its digest.
    const listed = await gateway.fetch(jsonRequest('/admin/approvals', { key: adminTokens.approver }));
    for (const approval of [shown, ((await listed.json()) as { items: unknown[] }).items[0], await gateway.admin.getApproval(approvalId)]) {
      expect(approval).not.toHaveProperty('inputDigest');
      expect(approval).not.toHaveProperty('heldInput');
    }

    // An agent key can never decide.
    const byAgent = await gateway.fetch(jsonRequest(`/admin/approvals/${approvalId}/approve`, { key: apiKey, body: {} }));
    expect(byAgent.status).toBe(401);
    // An auditor cannot either.
    const byAuditor = await gateway.fetch(jsonRequest(`/admin/approvals/${approvalId}/approve`, { key: adminTokens.auditor, body: {} }));
    expect(byAuditor.status).toBe(403);

    const approved = await gateway.fetch(
      jsonRequest(`/admin/approvals/${approvalId}/approve`, { key: adminTokens.approver, body: { reason: 'ok' } }),
    );
    expect(approved.status).toBe(200);
    const decided = await approved.json();
    expect(decided).toMatchObject({
      approval: { status: 'executed', decidedBy: 'bob', reason: 'ok' },
      invocation: { status: 'succeeded', output: { orderId: 'O-1', refunded: 500 } },
    });
    expect(JSON.stringify(decided)).not.toContain('inputDigest');
    expect(counter.runs).toBe(1);

    const repeat = await invoke({ orderId: 'O-1', amount: 500 });
    expect(repeat.status).toBe(200);
    expect(repeat.body).toMatchObject({ invocationId: first.body.invocationId, output: { refunded: 500 } });
    const polled = await gateway.fetch(jsonRequest(`/invocations/${first.body.invocationId}`, { key: apiKey }));
    expect(await polled.json()).toMatchObject({ status: 'succeeded', output: { refunded: 500 } });
    expect(counter.runs).toBe(1);

    const again = await gateway.fetch(jsonRequest(`/admin/approvals/${approvalId}/deny`, { key: adminTokens.approver, body: {} }));
    expect(again.status).toBe(409);
    expect(((await again.json()) as any).error.code).toBe('APPROVAL_ALREADY_DECIDED');

    const types = (await gateway.admin.listAudit({ limit: 100 })).items.map((entry) => entry.event.type);
    expect(types).toEqual(
      expect.arrayContaining(['approval.requested', 'approval.decided', 'invocation.started', 'approval.executed', 'invocation.completed']),
    );
  });

  it('needs a new approval for changed arguments', async () => {
    const { invoke } = await setup();
    const one = await invoke({ orderId: 'O-1', amount: 500 });
    const two = await invoke({ orderId: 'O-1', amount: 501 });
    expect(two.status).toBe(202);
    expect(two.body.approval.id).not.toBe(one.body.approval.id);
  });

  it('gives a denial with the approver reason, redacted, and never executes', async () => {
    const { gateway, counter, invoke } = await setup();
    const first = await invoke({ orderId: 'O-2', amount: 900 });
    const result = await gateway.admin.decide(
      first.body.approval.id,
      { decision: 'deny', reason: 'card 4111 1111 1111 1111 is flagged' },
      approverPrincipal,
    );
    expect(result.outcome.status === 'error' && result.outcome.error.code).toBe('APPROVAL_DENIED');
    const repeat = await invoke({ orderId: 'O-2', amount: 900 });
    expect(repeat.status).toBe(409);
    expect(repeat.body.error.code).toBe('APPROVAL_DENIED');
    expect(repeat.body.error.message).toContain('Denied by an approver');
    expect(repeat.body.error.details).toMatchObject({ approvalId: first.body.approval.id, rule: ['refunds-need-approval'] });
    expect((await gateway.admin.getInvocation(first.body.invocationId)).status).toBe('denied');
    expect(JSON.stringify(repeat.body)).not.toContain('4111 1111 1111 1111');
    expect(counter.runs).toBe(0);
  });

  it('a denial whose record could not be written still reads as denied, never as pending', async () => {
    const { store, setBroken } = breakableStore('putInvocation', 'connection reset');
    const { gateway, apiKey, counter, invoke } = await setup({ store, onError: () => undefined });
    const first = await invoke({ orderId: 'O-2b', amount: 900 });
    const approvalId = first.body.approval.id;
    // The denial lands; the write of the call's record that follows it does not.
    setBroken(true);
    const refused = await gateway.fetch(
      jsonRequest(`/admin/approvals/${approvalId}/deny`, { key: adminTokens.approver, body: { reason: 'not this one' } }),
    );
    expect(refused.status).toBe(500);
    setBroken(false);
    expect(await gateway.admin.getApproval(approvalId)).toMatchObject({ status: 'denied' });
    // Decided once: deciding again is refused, so the denial is all the call will ever get.
    const again = await gateway.fetch(jsonRequest(`/admin/approvals/${approvalId}/deny`, { key: adminTokens.approver, body: {} }));
    expect(again.status).toBe(409);

    const repeat = await invoke({ orderId: 'O-2b', amount: 900 });
    expect(repeat.status).toBe(409);
    expect(repeat.body).toMatchObject({
      invocationId: first.body.invocationId,
      error: {
        code: 'APPROVAL_DENIED',
        message: 'Denied by an approver: not this one',
        details: { approvalId, rule: ['refunds-need-approval'] },
      },
    });
    const polled = await gateway.fetch(jsonRequest(`/invocations/${first.body.invocationId}`, { key: apiKey }));
    expect(await polled.json()).toMatchObject({ invocationId: first.body.invocationId, status: 'denied' });
    const waited = await invoke({ orderId: 'O-2b', amount: 900 }, { prefer: 'wait=5' });
    expect(waited.status).toBe(409);
    expect(counter.runs).toBe(0);
  });

  it('lets exactly one of 50 concurrent decisions win and executes once', async () => {
    const { gateway, counter, invoke } = await setup();
    const first = await invoke({ orderId: 'O-3', amount: 700 });
    const id = first.body.approval.id;
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        gateway.fetch(
          jsonRequest(`/admin/approvals/${id}/${index % 2 === 0 ? 'approve' : 'deny'}`, { key: adminTokens.approver, body: {} }),
        ),
      ),
    );
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(statuses.filter((status) => status === 409)).toHaveLength(49);
    const bodies = (await Promise.all(responses.map((response) => response.json()))) as any[];
    expect(bodies.filter((body) => body.error?.code === 'APPROVAL_ALREADY_DECIDED')).toHaveLength(49);
    const winner = bodies.find((body) => body.approval);
    expect(counter.runs).toBe(winner.approval.status === 'executed' ? 1 : 0);
  });

  it('answers APPROVAL_EXPIRED after expiry, and approve racing expiry never does both', async () => {
    let clock = Date.parse('2030-01-01T00:00:00Z');
    const { gateway, counter, invoke } = await setup({ now: () => clock, approvalTtlMs: 60_000 });
    const first = await invoke({ orderId: 'O-4', amount: 800 });
    clock += 61_000;
    await expect(gateway.admin.decide(first.body.approval.id, { decision: 'approve' }, approverPrincipal)).rejects.toMatchObject({
      code: 'APPROVAL_EXPIRED',
    });
    const polled = await gateway.admin.getInvocation(first.body.invocationId);
    expect(polled.status).toBe('expired');
    expect(counter.runs).toBe(0);

    // A repeat after expiry asks again rather than reviving the old approval.
    const second = await invoke({ orderId: 'O-4', amount: 800 });
    expect(second.status).toBe(202);
    expect(second.body.approval.id).not.toBe(first.body.approval.id);

    clock += 59_999;
    const race = await Promise.allSettled([
      gateway.admin.decide(second.body.approval.id, { decision: 'approve' }, approverPrincipal),
      (async () => {
        clock += 2;
        return gateway.admin.expireApprovals();
      })(),
    ]);
    const approval = await gateway.admin.getApproval(second.body.approval.id);
    if (approval.status === 'expired') expect(counter.runs).toBe(0);
    else {
      expect(approval.status).toBe('executed');
      expect(counter.runs).toBe(1);
    }
    expect(race).toHaveLength(2);
  });

  it('shows approvers and auditors an approval whose time is up as expired at once, not pending until the sweep', async () => {
    let clock = Date.parse('2030-01-01T00:00:00Z');
    const { gateway, invoke } = await setup({ now: () => clock, approvalTtlMs: 60_000 });
    const due = await invoke({ orderId: 'O-5', amount: 700 });
    clock += 30_000;
    const open = await invoke({ orderId: 'O-6', amount: 700 });
    clock += 31_000;
    const admin = async (path: string, key = adminTokens.approver) =>
      (await gateway.fetch(jsonRequest(path, { key }))).json() as Promise<any>;

    // The pending queue holds only the one that can still be decided.
    const pending = await admin('/admin/approvals?status=pending');
    expect(pending.items.map((item: { id: string }) => item.id)).toEqual([open.body.approval.id]);
    expect(await admin(`/admin/approvals/${due.body.approval.id}`)).toMatchObject({ status: 'expired' });
    expect(await admin(`/admin/invocations/${due.body.invocationId}`, adminTokens.auditor)).toMatchObject({
      status: 'expired',
      error: { code: 'APPROVAL_EXPIRED' },
    });
    // Expired once, and recorded: the store says so too.
    const expiredEvents = await gateway.admin.listAudit({ type: 'approval.expired' });
    expect(expiredEvents.items.map((item) => item.event.data)).toEqual([{ approvalId: due.body.approval.id }]);

    // An auditor's list of calls reads as the agent's does, before anything expired them.
    clock += 30_000;
    const calls = await admin('/admin/invocations?tool=refunds.create', adminTokens.auditor);
    expect(calls.items.map((item: { status: string }) => item.status)).toEqual(['expired', 'expired']);
    // A list of expired approvals finds the one the store still held pending.
    const expired = await admin('/admin/approvals?status=expired');
    expect(expired.items.map((item: { id: string }) => item.id).sort()).toEqual([due.body.approval.id, open.body.approval.id].sort());
  });

  it('refuses to execute when the tool definition changed since the request', async () => {
    const store = memoryStore();
    const counterA = { runs: 0 };
    const counterB = { runs: 0 };
    const a = createGateway({ store, tools: [refundTool(counterA)], policy, admin });
    const b = createGateway({ store, tools: [refundTool(counterB, 'Refund an order, v2')], policy, admin });
    gateways.push(a);
    const { apiKey } = await a.admin.createAgent({ name: 'bot' });
    const pending = await a.invoke({ agentKey: apiKey, tool: 'refunds.create', input: { orderId: 'O-5', amount: 300 } });
    expect(pending.status).toBe('pending_approval');
    if (pending.status !== 'pending_approval') return;
    const result = await b.admin.decide(pending.approval.id, { decision: 'approve' }, approverPrincipal);
    expect(result.outcome.status === 'error' && result.outcome.error.code).toBe('APPROVAL_TOOL_CHANGED');
    expect(counterA.runs + counterB.runs).toBe(0);
    const record = await a.admin.getInvocation(pending.invocationId);
    expect(record.error?.code).toBe('APPROVAL_TOOL_CHANGED');
  });

  it('records a call that policy denies when it is approved as denied by that rule, its input redacted as that rule says', async () => {
    const { gateway, counter, invoke } = await setup();
    const pending = await invoke({ orderId: 'O-6', amount: 500, password: 'PIN-4711-secret' });
    expect(pending.status).toBe(202);
    // While the call waits, a rule that denies it is added.
    await gateway.admin.createPolicy({
      id: 'stop',
      effect: 'deny',
      when: [{ path: '$.amount', op: 'gte', value: 400 }],
      redact: { paths: ['$.orderId'] },
    });
    const result = await gateway.admin.decide(pending.body.approval.id, { decision: 'approve' }, approverPrincipal);
    expect(result.outcome).toMatchObject({ status: 'error', error: { code: 'POLICY_DENIED', details: { rule: ['stop'] } } });
    expect(counter.runs).toBe(0);
    const record = await gateway.admin.getInvocation(pending.body.invocationId);
    expect(record).toMatchObject({
      status: 'denied',
      decision: 'deny',
      ruleIds: ['stop'],
      input: { orderId: '***', amount: 500, password: '***' },
    });
    const events = (await gateway.admin.listAudit({ type: 'invocation.denied' })).items;
    expect(events.at(-1)?.event.data).toMatchObject({ decision: 'deny', ruleIds: ['stop'] });
  });

  it('never stores the input of such a call less redacted than it was held', async () => {
    const { gateway, counter, invoke } = await setup({ policy: [] });
    await gateway.admin.createPolicy({ id: 'hold', effect: 'require_approval', tools: ['refunds.*'], redact: { paths: ['$.orderId'] } });
    const pending = await invoke({ orderId: 'O-7', amount: 5 });
    expect(pending.status).toBe(202);
    expect((await gateway.admin.getInvocation(pending.body.invocationId)).input).toEqual({ orderId: '***', amount: 5 });
    // The rule that held it goes: nothing allows the call any more, and the default denies it.
    await gateway.admin.deletePolicy('hold');
    const result = await gateway.admin.decide(pending.body.approval.id, { decision: 'approve' }, approverPrincipal);
    expect(result.outcome).toMatchObject({
      status: 'error',
      error: { code: 'POLICY_DENIED', message: 'Denied by policy: no rule allows this call' },
    });
    expect(counter.runs).toBe(0);
    expect(await gateway.admin.getInvocation(pending.body.invocationId)).toMatchObject({
      decision: 'deny',
      ruleIds: [],
      input: { orderId: '***', amount: 5 },
    });
  });

  it('holds Prefer: wait until the decision and answers with the outcome', async () => {
    const notices: string[] = [];
    let gatewayRef: Gateway | undefined;
    const { gateway, invoke } = await setup({
      approver: callbackApprover(async (approval) => {
        notices.push(approval.id);
        await gatewayRef?.admin.decide(approval.id, { decision: 'approve' }, approverPrincipal);
      }),
    });
    gatewayRef = gateway;
    const result = await invoke({ orderId: 'O-6', amount: 999 }, { prefer: 'wait=10' });
    expect(result.status).toBe(200);
    expect(result.headers.get('preference-applied')).toBe('wait=10');
    expect(result.body.output).toEqual({ orderId: 'O-6', refunded: 999 });
    expect(notices).toHaveLength(1);
  });

  it('says Preference-Applied also when the decision during the wait is a denial', async () => {
    let gatewayRef: Gateway | undefined;
    const { gateway, invoke } = await setup({
      approver: callbackApprover(async (approval) => {
        await gatewayRef?.admin.decide(approval.id, { decision: 'deny', reason: 'no' }, approverPrincipal);
      }),
    });
    gatewayRef = gateway;
    const result = await invoke({ orderId: 'O-8', amount: 999 }, { prefer: 'wait=10' });
    expect(result.status).toBe(409);
    expect(result.body.error.code).toBe('APPROVAL_DENIED');
    expect(result.headers.get('preference-applied')).toBe('wait=10');
  });

  it('reads Prefer as RFC 7240 preferences: a wait is a whole number of seconds, its own preference, the first one', async () => {
    let gatewayRef: Gateway | undefined;
    const { gateway, apiKey } = await setup({
      approver: callbackApprover(async (approval) => {
        await gatewayRef?.admin.decide(approval.id, { decision: 'approve' }, approverPrincipal);
      }),
    });
    gatewayRef = gateway;
    let order = 0;
    // The approver decides at once: a wait that is honoured answers 200, one that is not 202.
    const invokeWith = async (...prefer: string[]) => {
      const headers = new Headers({ authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' });
      for (const line of prefer) headers.append('prefer', line);
      const body = JSON.stringify({ input: { orderId: `O-P${order++}`, amount: 999 } });
      const response = await gateway.fetch(
        new Request('http://gateway.test/tools/refunds.create/invoke', { method: 'POST', headers, body }),
      );
      return { status: response.status, applied: response.headers.get('preference-applied') };
    };
    const honoured = [
      ['wait=10'],
      ['respond-async, wait=10'],
      ['WAIT = 10'],
      ['wait="10"'],
      ['return=minimal; wait=3, wait=10'],
      ['wait=10, wait=0'],
      ['return=minimal', 'wait=10'],
      ['wait=10; foo=bar'],
    ];
    for (const prefer of honoured) expect(await invokeWith(...prefer), prefer.join(' | ')).toEqual({ status: 200, applied: 'wait=10' });
    expect(await invokeWith('wait=600')).toEqual({ status: 200, applied: 'wait=60' });
    const ignored = [
      ['return=minimal; wait=5'],
      ['respond-async; wait=5'],
      ['wait=1.5'],
      ['wait=-1'],
      ['wait=+5'],
      ['wait=1e1'],
      ['wait='],
      ['wait'],
      ['wait=0'],
      ['wait=0, wait=10'],
      ['wait=soon, wait=10'],
      ['wait=1.5', 'wait=10'],
      ['foo="a, wait=10"'],
      ['foo="a\\", wait=10""'],
      ['waiting=10'],
    ];
    for (const prefer of ignored) expect(await invokeWith(...prefer), prefer.join(' | ')).toEqual({ status: 202, applied: null });
  });

  it('answers 202 after Prefer: wait runs out with no decision', async () => {
    const { invoke } = await setup();
    const result = await invoke({ orderId: 'O-7', amount: 999 }, { prefer: 'wait=1' });
    expect(result.status).toBe(202);
  });

  it('runs Prefer: wait out in real time, also when the gateway is given a clock that stands still', async () => {
    const { invoke } = await setup({ now: () => Date.parse('2030-01-01T00:00:00Z') });
    const result = await invoke({ orderId: 'O-9', amount: 999 }, { prefer: 'wait=1' });
    expect(result.status).toBe(202);
    expect(result.headers.get('preference-applied')).toBe('wait=1');
  });
});

describe('identical calls at once', () => {
  it('ask for one approval: every answer names it, and approving it runs the call once', async () => {
    const { gateway, counter, invoke } = await setup();
    const answers = await Promise.all(Array.from({ length: 10 }, () => invoke({ orderId: 'O-20', amount: 900 })));
    expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(202));
    const approvalIds = new Set(answers.map((answer) => answer.body.approval.id));
    const invocationIds = new Set(answers.map((answer) => answer.body.invocationId));
    expect(approvalIds.size).toBe(1);
    expect(invocationIds.size).toBe(1);
    const pending = await gateway.admin.listApprovals({ status: 'pending' });
    expect(pending.items).toHaveLength(1);
    // Only the call that asked has a record; the others were answered with its state.
    const records = await gateway.admin.listInvocations({ tool: 'refunds.create' });
    expect(records.items).toHaveLength(1);

    const [approvalId] = [...approvalIds] as [string];
    await gateway.admin.decide(approvalId, { decision: 'approve' }, approverPrincipal);
    expect(counter.runs).toBe(1);
    const repeat = await invoke({ orderId: 'O-20', amount: 900 });
    expect(repeat.status).toBe(200);
    expect(repeat.body).toMatchObject({ invocationId: answers[0]?.body.invocationId, output: { refunded: 900 } });
    expect(counter.runs).toBe(1);
  });

  it('ask again once an approval ends unused, still one at a time', async () => {
    const { gateway, counter, invoke } = await setup();
    const first = await invoke({ orderId: 'O-21', amount: 900 });
    await gateway.admin.cancelInvocation(first.body.invocationId, (await gateway.admin.getInvocation(first.body.invocationId)).agentId);
    const answers = await Promise.all(Array.from({ length: 5 }, () => invoke({ orderId: 'O-21', amount: 900 })));
    const approvalIds = new Set(answers.map((answer) => answer.body.approval?.id));
    expect(approvalIds.size).toBe(1);
    expect(approvalIds.has(first.body.approval.id)).toBe(false);
    expect((await gateway.admin.listApprovals({ status: 'pending' })).items).toHaveLength(1);
    expect(counter.runs).toBe(0);
  });

  it('are not locked out by a request that failed: the next identical call asks again', async () => {
    const { store, setBroken } = breakableStore('createApproval', 'connection reset');
    setBroken(true);
    const { gateway, counter, invoke } = await setup({ store });
    const failed = await invoke({ orderId: 'O-22', amount: 900 });
    expect(failed.status).toBe(500);
    expect(JSON.stringify(failed.body)).not.toContain('connection reset');
    setBroken(false);
    const answers = await Promise.all(Array.from({ length: 3 }, () => invoke({ orderId: 'O-22', amount: 900 })));
    expect(answers.map((answer) => answer.status)).toEqual([202, 202, 202]);
    expect(new Set(answers.map((answer) => answer.body.approval.id)).size).toBe(1);
    expect((await gateway.admin.listApprovals({ status: 'pending' })).items).toHaveLength(1);
    expect(counter.runs).toBe(0);
  });
});

describe('a decision the audit trail cannot record', () => {
  it('does not stand: the approval is pending again and can be decided once the trail is back', async () => {
    const { store, setBroken } = breakableStore('appendAudit');
    const { gateway, counter, invoke } = await setup({ store });
    const first = await invoke({ orderId: 'O-23', amount: 900 });
    const approvalId = first.body.approval.id;
    setBroken(true);
    const refused = await gateway.fetch(jsonRequest(`/admin/approvals/${approvalId}/approve`, { key: adminTokens.approver, body: {} }));
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as any).error.code).toBe('AUDIT_UNAVAILABLE');
    setBroken(false);
    expect(await gateway.admin.getApproval(approvalId)).toMatchObject({ status: 'pending', decidedBy: null, decidedAt: null });
    expect(counter.runs).toBe(0);

    const approved = await gateway.admin.decide(approvalId, { decision: 'approve' }, approverPrincipal);
    expect(approved.approval.status).toBe('executed');
    expect(counter.runs).toBe(1);
  });
});

describe('an approved call whose start the audit trail cannot record', () => {
  it('does not run, and the decision does not stand: 503 to the approver, pending again, runs once decided again', async () => {
    let failStarts = false;
    const inner = memoryStore();
    const store = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === 'appendAudit') {
          return async (entries: Parameters<typeof inner.appendAudit>[0]) => {
            if (failStarts && entries.some((entry) => entry.event.type === 'invocation.started')) throw new Error('disk full');
            return target.appendAudit(entries);
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
    const { gateway, counter, invoke } = await setup({ store });
    const first = await invoke({ orderId: 'O-24', amount: 900 });
    const approvalId = first.body.approval.id;
    failStarts = true;
    const refused = await gateway.fetch(jsonRequest(`/admin/approvals/${approvalId}/approve`, { key: adminTokens.approver, body: {} }));
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as any).error.code).toBe('AUDIT_UNAVAILABLE');
    failStarts = false;
    expect(counter.runs).toBe(0);
    expect(await gateway.admin.getApproval(approvalId)).toMatchObject({ status: 'pending', decidedBy: null });
    expect((await gateway.admin.getInvocation(first.body.invocationId)).status).toBe('pending_approval');
    const waiting = await invoke({ orderId: 'O-24', amount: 900 });
    expect(waiting.status).toBe(202);

    const approved = await gateway.admin.decide(approvalId, { decision: 'approve' }, approverPrincipal);
    expect(approved.approval.status).toBe('executed');
    expect(counter.runs).toBe(1);
    const repeat = await invoke({ orderId: 'O-24', amount: 900 });
    expect(repeat.status).toBe(200);
    const events = (await gateway.admin.listAudit({ limit: 100 })).items.map((entry) => entry.event);
    const started = events.filter((event) => event.type === 'invocation.started' && event.invocationId === first.body.invocationId);
    expect(started).toHaveLength(1);
    expect(started[0]?.data).toMatchObject({ approvalId, door: 'rest' });
    expect(events.filter((event) => event.type === 'approval.decided' && event.invocationId === first.body.invocationId)).toHaveLength(2);
  });
});

describe('an approved call that cannot be prepared', () => {
  it('does not run, and the decision does not stand when the store fails before the start', async () => {
    const { store, setBroken } = breakableStore('getInvocation', 'connection reset');
    const errors: unknown[] = [];
    const { gateway, counter, invoke } = await setup({ store, onError: (error) => errors.push(error) });
    const first = await invoke({ orderId: 'O-28', amount: 900 });
    const approvalId = first.body.approval.id;
    setBroken(true);
    const refused = await gateway.fetch(jsonRequest(`/admin/approvals/${approvalId}/approve`, { key: adminTokens.approver, body: {} }));
    expect(refused.status).toBe(500);
    expect(JSON.stringify(await refused.json())).not.toContain('connection reset');
    setBroken(false);
    expect(counter.runs).toBe(0);
    expect(await gateway.admin.getApproval(approvalId)).toMatchObject({ status: 'pending', decidedBy: null });
    const approved = await gateway.admin.decide(approvalId, { decision: 'approve' }, approverPrincipal);
    expect(approved.approval.status).toBe('executed');
    expect(counter.runs).toBe(1);
  });
});

describe('an approved call whose run never started', () => {
  it('is found by incompleteInvocations, which reopens its approval; deciding it again runs it once', async () => {
    const store = memoryStore();
    const { gateway, counter, invoke } = await setup({ store });
    const first = await invoke({ orderId: 'O-29', amount: 900 });
    const approvalId = first.body.approval.id;
    // The decision's claim landed and the process stopped before the run started.
    const decidedAt = new Date().toISOString();
    await store.transitionApproval(approvalId, 'pending', { status: 'executing', decidedAt, decidedBy: 'bob', reason: null });
    expect((await invoke({ orderId: 'O-29', amount: 900 })).status).toBe(202);

    const found = await gateway.admin.incompleteInvocations({ graceMs: 0 });
    expect(found).toMatchObject([
      { invocationId: first.body.invocationId, approvalId, status: 'pending_approval', startedAt: decidedAt, door: 'rest' },
    ]);
    expect(await gateway.admin.getApproval(approvalId)).toMatchObject({ status: 'pending', decidedBy: null });
    const reopened = (await gateway.admin.listAudit({ type: 'approval.reopened' })).items;
    expect(reopened.map((entry) => [entry.seq, entry.event.data])).toEqual([[found[0]?.startSeq, { approvalId, reason: 'not_started' }]]);
    expect(await gateway.admin.incompleteInvocations({ graceMs: 0 })).toEqual([]);

    const approved = await gateway.admin.decide(approvalId, { decision: 'approve' }, approverPrincipal);
    expect(approved.approval.status).toBe('executed');
    expect(counter.runs).toBe(1);
  });

  it('keeps its held input readable through a key rotation, so it runs once reopened after the old key left', async () => {
    const store = memoryStore();
    const k1 = generateEncryptionKey();
    const k2 = generateEncryptionKey();
    const { gateway, counter, invoke } = await setup({ store, encryptionKey: { active: 'k1', keys: { k1 } } });
    const first = await invoke({ orderId: 'O-30', amount: 700 });
    const approvalId = first.body.approval.id;
    // The decision's claim landed and the process stopped before the run started.
    await store.transitionApproval(approvalId, 'pending', {
      status: 'executing',
      decidedAt: new Date().toISOString(),
      decidedBy: 'bob',
      reason: null,
    });

    // A rotation meanwhile: it says nothing is left unreadable, so the old key leaves.
    expect(await gateway.admin.rotateSecrets({ encryptionKey: { active: 'k2', keys: { k1, k2 } } })).toMatchObject({
      approvals: 1,
      unreadableApprovals: [],
    });
    expect(await gateway.admin.rotateSecrets({ encryptionKey: { active: 'k2', keys: { k2 } } })).toMatchObject({
      approvals: 0,
      unreadableApprovals: [],
    });

    expect(await gateway.admin.incompleteInvocations({ graceMs: 0 })).toMatchObject([{ approvalId, status: 'pending_approval' }]);
    const approved = await gateway.admin.decide(approvalId, { decision: 'approve' }, approverPrincipal);
    expect(approved.outcome).toMatchObject({ status: 'succeeded', output: { orderId: 'O-30', refunded: 700 } });
    expect(counter.runs).toBe(1);
  });

  it('does not run when a recovery reopened its approval while it was starting: never twice', async () => {
    const inner = memoryStore();
    // A recovery on another instance reopens the approval right as this run records its start.
    const store = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === 'appendAudit') {
          return async (entries: Parameters<typeof inner.appendAudit>[0]) => {
            const start = entries.find((entry) => entry.event.type === 'invocation.started');
            const approvalId = start?.event.data?.approvalId;
            if (typeof approvalId === 'string') {
              await target.transitionApproval(approvalId, 'executing', {
                status: 'pending',
                decidedAt: null,
                decidedBy: null,
                reason: null,
              });
            }
            return target.appendAudit(entries);
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
    const { gateway, counter, invoke } = await setup({ store });
    const first = await invoke({ orderId: 'O-30', amount: 900 });
    const approvalId = first.body.approval.id;
    await expect(gateway.admin.decide(approvalId, { decision: 'approve' }, approverPrincipal)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(counter.runs).toBe(0);
    expect(await gateway.admin.getApproval(approvalId)).toMatchObject({ status: 'pending' });
  });
});

describe('a call whose approval expired while its record was not yet written', () => {
  it('reads as expired, not as waiting for a decision that can no longer come', async () => {
    const store = memoryStore();
    const { apiKey, gateway, invoke } = await setup({ store });
    const first = await invoke({ orderId: 'O-31', amount: 900 });
    const approvalId = first.body.approval.id;
    // An expiry wrote the approval, and its instance stopped before it wrote the call's record.
    await store.transitionApproval(approvalId, 'pending', { status: 'expired' });
    expect((await store.getInvocation(first.body.invocationId))?.status).toBe('pending_approval');
    // Auditors read it as the agent does.
    expect(await gateway.admin.getInvocation(first.body.invocationId)).toMatchObject({ status: 'expired' });

    const viewed = await gateway.fetch(jsonRequest(`/invocations/${first.body.invocationId}`, { key: apiKey }));
    expect(await viewed.json()).toMatchObject({
      status: 'expired',
      approvalId,
      error: { code: 'APPROVAL_EXPIRED', details: { approvalId } },
    });
  });

  it('a repeat with its idempotency key gets the expiry, as the call reads, not the pending state', async () => {
    const store = memoryStore();
    const { apiKey, gateway } = await setup({ store });
    const keyed = async () => {
      const response = await gateway.fetch(
        jsonRequest('/tools/refunds.create/invoke', {
          key: apiKey,
          body: { input: { orderId: 'O-32', amount: 900 }, idempotencyKey: 'k-32' },
        }),
      );
      return { status: response.status, body: (await response.json()) as any };
    };
    const first = await keyed();
    expect(first.status).toBe(202);
    const approvalId = first.body.approval.id;
    await store.transitionApproval(approvalId, 'pending', { status: 'expired' });

    const repeat = await keyed();
    expect(repeat.status).toBe(409);
    expect(repeat.body).toEqual({
      invocationId: first.body.invocationId,
      error: { code: 'APPROVAL_EXPIRED', message: 'The approval expired before anyone decided', details: { approvalId } },
    });
  });
});

describe('a keyed repeat of a call whose approval is past its time, before the sweep gets to it', () => {
  it('gets the expiry, as GET /invocations/{id} reads the call', async () => {
    let clock = Date.UTC(2030, 0, 1);
    const { apiKey, gateway } = await setup({ approvalTtlMs: 60_000, now: () => clock });
    const keyed = async () => {
      const response = await gateway.fetch(
        jsonRequest('/tools/refunds.create/invoke', {
          key: apiKey,
          body: { input: { orderId: 'O-33', amount: 900 }, idempotencyKey: 'k-33' },
        }),
      );
      return { status: response.status, body: (await response.json()) as any };
    };
    const first = await keyed();
    expect(first.status).toBe(202);
    clock += 60_000;

    const viewed = (await (await gateway.fetch(jsonRequest(`/invocations/${first.body.invocationId}`, { key: apiKey }))).json()) as any;
    expect(viewed).toMatchObject({ status: 'expired', error: { code: 'APPROVAL_EXPIRED' } });
    const repeat = await keyed();
    expect(repeat.status).toBe(409);
    expect(repeat.body).toEqual({ invocationId: first.body.invocationId, error: viewed.error });
  });
});

describe('idempotency keys on calls held for approval', () => {
  it("a key answered with an identical call's approval follows that call: pending on repeat, then its outcome", async () => {
    const { gateway, apiKey, counter } = await setup();
    const input = { orderId: 'O-25', amount: 900 };
    const keyed = async (idempotencyKey: string) => {
      const response = await gateway.fetch(jsonRequest('/tools/refunds.create/invoke', { key: apiKey, body: { input, idempotencyKey } }));
      return { status: response.status, body: (await response.json()) as any };
    };
    const first = await keyed('k-1');
    expect(first.status).toBe(202);
    const second = await keyed('k-2');
    expect(second.status).toBe(202);
    expect(second.body.invocationId).toBe(first.body.invocationId);
    const secondAgain = await keyed('k-2');
    expect(secondAgain.status).toBe(202);
    expect(secondAgain.body.approval.id).toBe(first.body.approval.id);

    await gateway.admin.decide(first.body.approval.id, { decision: 'approve' }, approverPrincipal);
    for (const key of ['k-1', 'k-2']) {
      const after = await keyed(key);
      expect(after.status).toBe(200);
      expect(after.body.invocationId).toBe(first.body.invocationId);
    }
    expect(counter.runs).toBe(1);
  });

  it('the same holds on a store without moveIdempotencyKey, which releases and reserves the key instead', async () => {
    const inner = memoryStore();
    const store = new Proxy(inner, {
      get: (target, property, receiver) => (property === 'moveIdempotencyKey' ? undefined : Reflect.get(target, property, receiver)),
    });
    const { gateway, apiKey, counter } = await setup({ store });
    const input = { orderId: 'O-31', amount: 900 };
    const keyed = async (idempotencyKey: string) => {
      const response = await gateway.fetch(jsonRequest('/tools/refunds.create/invoke', { key: apiKey, body: { input, idempotencyKey } }));
      return { status: response.status, body: (await response.json()) as any };
    };
    const first = await keyed('k-4');
    expect((await keyed('k-5')).body.invocationId).toBe(first.body.invocationId);
    expect((await keyed('k-5')).status).toBe(202);
    // The key names the call that asked.
    const { agentId } = await gateway.admin.getInvocation(first.body.invocationId);
    const probe = { agentId, key: 'k-5', invocationId: 'probe', fingerprint: '', createdAt: new Date().toISOString() };
    expect((await inner.reserveIdempotencyKey(probe)).record.invocationId).toBe(first.body.invocationId);
    await gateway.admin.decide(first.body.approval.id, { decision: 'approve' }, approverPrincipal);
    expect((await keyed('k-5')).status).toBe(200);
    expect(counter.runs).toBe(1);
  });

  it('the same holds when the call that asked had no key', async () => {
    const { gateway, apiKey, counter, invoke } = await setup();
    const input = { orderId: 'O-26', amount: 900 };
    const plain = await invoke(input);
    expect(plain.status).toBe(202);
    const keyed = async () => {
      const response = await gateway.fetch(
        jsonRequest('/tools/refunds.create/invoke', { key: apiKey, body: { input, idempotencyKey: 'k-3' } }),
      );
      return { status: response.status, body: (await response.json()) as any };
    };
    expect((await keyed()).status).toBe(202);
    expect((await keyed()).status).toBe(202);
    await gateway.admin.decide(plain.body.approval.id, { decision: 'deny' }, approverPrincipal);
    const denied = await keyed();
    expect(denied.status).toBe(409);
    expect(denied.body).toMatchObject({ invocationId: plain.body.invocationId, error: { code: 'APPROVAL_DENIED' } });
    expect(counter.runs).toBe(0);
  });
});

describe('held input at rest', () => {
  it('is sealed with the vault when an encryption key is configured, and still executes exactly as asked', async () => {
    const store = memoryStore();
    const { gateway, counter, invoke } = await setup({ store, encryptionKey: generateEncryptionKey() });
    const pending = await invoke({ orderId: 'O-SEALED', amount: 321, password: 'CANARY-held-pw-42' });
    const held = await store.getApproval(pending.body.approval.id);
    expect(typeof held?.heldInput).toBe('string');
    expect(String(held?.heldInput)).not.toContain('O-SEALED');
    expect(JSON.stringify(held)).not.toContain('CANARY-held-pw-42');
    const result = await gateway.admin.decide(pending.body.approval.id, { decision: 'approve' }, approverPrincipal);
    expect(result.outcome).toMatchObject({ status: 'succeeded', output: { orderId: 'O-SEALED', refunded: 321 } });
    expect(counter.runs).toBe(1);
  });

  it('is re-sealed by a secret rotation, so the old key can leave the keyring while calls wait', async () => {
    const store = memoryStore();
    const k1 = generateEncryptionKey();
    const k2 = generateEncryptionKey();
    const { gateway, counter, invoke } = await setup({ store, encryptionKey: { active: 'k1', keys: { k1 } } });
    const first = await invoke({ orderId: 'O-R1', amount: 10 });
    const second = await invoke({ orderId: 'O-R2', amount: 20 });
    const before = await store.getApproval(first.body.approval.id);

    expect(await gateway.admin.rotateSecrets({ encryptionKey: { active: 'k2', keys: { k1, k2 } } })).toMatchObject({ approvals: 2 });
    const after = await store.getApproval(first.body.approval.id);
    expect(after?.heldInput).not.toBe(before?.heldInput);
    expect(after).toEqual({ ...before, heldInput: after?.heldInput });
    // The old key leaves; nothing is left under it.
    expect(await gateway.admin.rotateSecrets({ encryptionKey: { active: 'k2', keys: { k2 } } })).toMatchObject({ approvals: 0 });
    for (const [pending, orderId, amount] of [
      [first, 'O-R1', 10],
      [second, 'O-R2', 20],
    ] as const) {
      const result = await gateway.admin.decide(pending.body.approval.id, { decision: 'approve' }, approverPrincipal);
      expect(result.outcome).toMatchObject({ status: 'succeeded', output: { orderId, refunded: amount } });
    }
    expect(counter.runs).toBe(2);
  });

  it('held under a key no longer in the keyring: named by a rotation, which goes on with the others', async () => {
    const store = memoryStore();
    const k1 = generateEncryptionKey();
    const k2 = generateEncryptionKey();
    const k3 = generateEncryptionKey();
    const { invoke } = await setup({ store, encryptionKey: { active: 'k1', keys: { k1 } } });
    const lost = await invoke({ orderId: 'O-LOST', amount: 1 });
    // Another instance on the same store, whose keyring never had k1.
    const counter = { runs: 0 };
    const other = createGateway({ store, tools: [refundTool(counter)], policy, admin, encryptionKey: { active: 'k2', keys: { k2 } } });
    gateways.push(other);
    const { apiKey } = await other.admin.createAgent({ name: 'other-bot' });
    const held = await other.fetch(
      jsonRequest('/tools/refunds.create/invoke', { key: apiKey, body: { input: { orderId: 'O-KEPT', amount: 2 } } }),
    );
    const kept = ((await held.json()) as { approval: { id: string } }).approval.id;

    const counts = await other.admin.rotateSecrets({ encryptionKey: { active: 'k3', keys: { k2, k3 } } });
    expect(counts).toMatchObject({ approvals: 1, unreadableApprovals: [lost.body.approval.id] });
    const rotated = (await other.admin.listAudit({ type: 'admin.secrets.rotated' })).items[0]?.event.data;
    expect(rotated).toMatchObject({ approvals: 1, unreadableApprovals: [lost.body.approval.id], activeKeyId: 'k3' });
    const result = await other.admin.decide(kept, { decision: 'approve' }, approverPrincipal);
    expect(result.outcome).toMatchObject({ status: 'succeeded', output: { orderId: 'O-KEPT', refunded: 2 } });
  });

  it('held under a key the deciding instance lacks: SECRET_UNAVAILABLE, told to onError once per tool and 5 s, no value', async () => {
    const store = memoryStore();
    const k1 = generateEncryptionKey();
    const { invoke } = await setup({ store, encryptionKey: { active: 'k1', keys: { k1 } } });
    const lost = await invoke({ orderId: 'O-LOST-1', amount: 1, password: 'CANARY-held-pw-77' });
    const alsoLost = await invoke({ orderId: 'O-LOST-2', amount: 2 });
    const errors: unknown[] = [];
    let at = Date.now();
    const counter = { runs: 0 };
    const other = createGateway({
      store,
      tools: [refundTool(counter)],
      policy,
      admin,
      encryptionKey: { active: 'k2', keys: { k2: generateEncryptionKey() } },
      onError: (error) => errors.push(error),
      now: () => at,
    });
    gateways.push(other);

    const result = await other.admin.decide(lost.body.approval.id, { decision: 'approve' }, approverPrincipal);
    expect(result.outcome).toMatchObject({ status: 'error', error: { code: 'SECRET_UNAVAILABLE' } });
    expect(counter.runs).toBe(0);
    expect(errors).toEqual([
      expect.objectContaining({ code: 'SECRET_UNAVAILABLE', message: expect.stringContaining(lost.body.approval.id) }),
    ]);
    expect(JSON.stringify(errors.map((error) => String(error)))).not.toMatch(/O-LOST|CANARY/);
    // The same failure again within 5 s is not told again; after that it is.
    await other.admin.decide(alsoLost.body.approval.id, { decision: 'approve' }, approverPrincipal);
    expect(errors).toHaveLength(1);
    at += 5_000;
    const third = await invoke({ orderId: 'O-LOST-3', amount: 3 });
    await other.admin.decide(third.body.approval.id, { decision: 'approve' }, approverPrincipal);
    expect(errors).toHaveLength(2);
  });

  it('held before the vault had a key: still runs once a key is configured, and the next rotation seals it', async () => {
    const store = memoryStore();
    const { invoke } = await setup({ store });
    const early = await invoke({ orderId: 'O-EARLY', amount: 5 });
    const later = await invoke({ orderId: 'O-LATER', amount: 6 });
    expect(typeof (await store.getApproval(early.body.approval.id))?.heldInput).toBe('object');

    // The same store, now with a key.
    const counter = { runs: 0 };
    const keyed = createGateway({ store, tools: [refundTool(counter)], policy, admin, encryptionKey: generateEncryptionKey() });
    gateways.push(keyed);
    const result = await keyed.admin.decide(early.body.approval.id, { decision: 'approve' }, approverPrincipal);
    expect(result.outcome).toMatchObject({ status: 'succeeded', output: { orderId: 'O-EARLY', refunded: 5 } });
    expect(await keyed.admin.rotateSecrets()).toMatchObject({ approvals: 1 });
    expect(typeof (await store.getApproval(later.body.approval.id))?.heldInput).toBe('string');
    const sealed = await keyed.admin.decide(later.body.approval.id, { decision: 'approve' }, approverPrincipal);
    expect(sealed.outcome).toMatchObject({ status: 'succeeded', output: { orderId: 'O-LATER', refunded: 6 } });
    expect(counter.runs).toBe(2);
  });

  it('held plain: an input changed in the store after it was asked for is not run', async () => {
    const store = memoryStore();
    const errors: unknown[] = [];
    const { gateway, counter, invoke } = await setup({ store, onError: (error) => errors.push(error) });
    const pending = await invoke({ orderId: 'O-SMALL', amount: 5 });
    await store.transitionApproval(pending.body.approval.id, 'pending', {
      status: 'pending',
      heldInput: { orderId: 'O-SMALL', amount: 50_000 },
    });
    const result = await gateway.admin.decide(pending.body.approval.id, { decision: 'approve' }, approverPrincipal);
    expect(result.outcome).toMatchObject({ status: 'error', error: { code: 'INTERNAL' } });
    expect(counter.runs).toBe(0);
    // Operators hear of it: only a write to the store changes a held input.
    expect(errors).toEqual([expect.objectContaining({ message: 'The held input is not the one approved; the call was not executed' })]);
  });
});

describe('cancellation by the requesting agent', () => {
  it('withdraws a pending call: it never runs, deciding it is a 409, a repeat asks again', async () => {
    const { gateway, counter, invoke } = await setup();
    const first = await invoke({ orderId: 'O-9', amount: 600 });
    const { agent: other } = await gateway.admin.createAgent({ name: 'other' });
    const record = await gateway.admin.getInvocation(first.body.invocationId);
    expect(record.status).toBe('pending_approval');
    const cancelledByOther = gateway.admin.cancelInvocation(first.body.invocationId, other.id);
    await expect(cancelledByOther).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const outcome = await gateway.admin.cancelInvocation(first.body.invocationId, record.agentId);
    expect(outcome.status === 'error' && outcome.error.code).toBe('CANCELLED');
    expect((await gateway.admin.getInvocation(first.body.invocationId)).status).toBe('cancelled');
    await expect(gateway.admin.decide(first.body.approval.id, { decision: 'approve' }, approverPrincipal)).rejects.toMatchObject({
      code: 'APPROVAL_ALREADY_DECIDED',
    });
    const again = await invoke({ orderId: 'O-9', amount: 600 });
    expect(again.status).toBe(202);
    expect(again.body.approval.id).not.toBe(first.body.approval.id);
    expect(counter.runs).toBe(0);
  });

  it('that the audit trail cannot record does not stand: the call is still pending and can be cancelled later', async () => {
    const { store, setBroken } = breakableStore('appendAudit');
    const { gateway, counter, invoke } = await setup({ store });
    const first = await invoke({ orderId: 'O-27', amount: 600 });
    const record = await gateway.admin.getInvocation(first.body.invocationId);
    setBroken(true);
    await expect(gateway.admin.cancelInvocation(first.body.invocationId, record.agentId)).rejects.toMatchObject({
      code: 'AUDIT_UNAVAILABLE',
    });
    setBroken(false);
    expect(await gateway.admin.getApproval(first.body.approval.id)).toMatchObject({ status: 'pending', decidedBy: null });
    const outcome = await gateway.admin.cancelInvocation(first.body.invocationId, record.agentId);
    expect(outcome.status === 'error' && outcome.error.code).toBe('CANCELLED');
    expect((await gateway.admin.getInvocation(first.body.invocationId)).status).toBe('cancelled');
    expect(counter.runs).toBe(0);
  });
});

describe('MCP tasks/cancel while the audit trail is unavailable', () => {
  it('says so and that the client may retry, as tools/call does in that state, and the call stays pending', async () => {
    const { store, setBroken } = breakableStore('appendAudit');
    const { gateway, apiKey, invoke } = await setup({ store });
    const first = await invoke({ orderId: 'O-32', amount: 600 });
    const taskId = first.body.invocationId;
    setBroken(true);
    const mcp = async (body: unknown, headers?: Record<string, string>) => {
      const request = mcpRequest(apiKey, body);
      for (const [name, value] of Object.entries(headers ?? {})) request.headers.set(name, value);
      return (await (await gateway.fetch(request)).json()) as any;
    };
    const call = await mcp({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'refunds.create', arguments: { orderId: 'O-33', amount: 1 } },
    });
    expect(call.result.content[0].text).toMatch(/^AUDIT_UNAVAILABLE: .*\nRetry after 5 seconds\.$/);

    const legacy = await mcp({ jsonrpc: '2.0', id: 2, method: 'tasks/cancel', params: { taskId } });
    const modern = await mcp(
      {
        jsonrpc: '2.0',
        id: 3,
        method: 'tasks/cancel',
        params: {
          taskId,
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } },
          },
        },
      },
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tasks/cancel', 'mcp-name': taskId },
    );
    for (const answer of [legacy, modern]) {
      expect(answer.error).toEqual({
        code: -32603,
        message: expect.stringMatching(/^AUDIT_UNAVAILABLE: .* Retry after 5 seconds\.$/),
        data: { code: 'AUDIT_UNAVAILABLE' },
      });
    }
    setBroken(false);
    expect(await gateway.admin.getApproval(first.body.approval.id)).toMatchObject({ status: 'pending' });
  });
});

describe('webhook approver', () => {
  it('POSTs a JWS that verifies with the published key; a tampered body fails', async () => {
    const { privateKey, publicJwk } = await generateAuditSigningKey();
    const bodies: string[] = [];
    let resolveReceived: () => void = () => undefined;
    const received = new Promise<void>((resolve) => {
      resolveReceived = resolve;
    });
    let attempts = 0;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        attempts++;
        // The first delivery fails: the approver must retry.
        if (attempts === 1) {
          res.writeHead(503).end();
          return;
        }
        bodies.push(body);
        res.writeHead(204).end();
        resolveReceived();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    try {
      const { invoke } = await setup({ approver: webhookApprover({ url, signingKey: privateKey, retryBaseMs: 10 }) });
      const pending = await invoke({ orderId: 'O-8', amount: 400, password: 'CANARY-pw-123456' });
      expect(pending.status).toBe(202);
      await received;
      expect(attempts).toBe(2);
      const body = bodies[0] as string;
      const message = await verifyApprovalWebhook(body, publicJwk);
      expect(message?.approval).toMatchObject({ id: pending.body.approval.id, tool: 'refunds.create', agentName: 'bot' });
      // Neither the held input nor its digest, from which a short secret could be guessed back.
      expect(message?.approval).not.toHaveProperty('heldInput');
      expect(message?.approval).not.toHaveProperty('inputDigest');
      expect(body).not.toContain('CANARY');
      expect(JSON.stringify(message)).not.toContain('CANARY-pw-123456');
      const [header, payload, signature] = body.split('.');
      const forged = Buffer.from(
        Buffer.from(payload as string, 'base64url')
          .toString()
          .replace('"O-8"', '"O-9"'),
      ).toString('base64url');
      expect(await verifyApprovalWebhook(`${header}.${forged}.${signature}`, publicJwk)).toBeUndefined();
      const other = await generateAuditSigningKey();
      expect(await verifyApprovalWebhook(body, other.publicJwk)).toBeUndefined();
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('webhook approver failures', () => {
  it('name the approval that was not delivered, after the retries, with what failed as the cause', async () => {
    const { privateKey } = await generateAuditSigningKey();
    let posts = 0;
    const receiver = await listen((req, res) => {
      posts++;
      req.resume();
      res.writeHead(500).end();
    });
    const gatewayErrors: unknown[] = [];
    const approverErrors: unknown[] = [];
    const { invoke, gateway } = await setup({
      approver: webhookApprover({
        url: `${receiver.url}/hook`,
        signingKey: privateKey,
        retries: 1,
        retryBaseMs: 0,
        onError: (error) => approverErrors.push(error),
      }),
      onError: (error: unknown) => gatewayErrors.push(error),
    });
    const pending = await invoke({ orderId: 'O-404', amount: 400 });
    expect(pending.status).toBe(202);
    // close() waits for the notification under way: by then it has failed for good.
    await gateway.close();
    await receiver.close();
    expect(posts).toBe(2);
    const message = `approval webhook: approval ${pending.body.approval.id} not delivered: the receiver answered 500`;
    expect(approverErrors.map((error) => (error as Error).message)).toEqual([message]);
    expect(gatewayErrors.map((error) => (error as Error).message)).toEqual([message]);
    expect((approverErrors[0] as Error).cause).toBeInstanceOf(Error);
  });
});

describe('webhook approver and redirects', () => {
  it('does not follow one: a 3xx is a failed delivery, reported, and the other origin gets nothing', async () => {
    const { privateKey } = await generateAuditSigningKey();
    const landed: Array<{ method: string; apiKey: string | undefined }> = [];
    const other = await listen((req, res) => {
      landed.push({ method: req.method ?? '', apiKey: req.headers['x-api-key'] as string | undefined });
      req.resume();
      res.writeHead(200).end();
    });
    for (const status of [302, 307]) {
      const redirecting = await listen((req, res) => {
        req.resume();
        res.writeHead(status, { location: `${other.url}/landing` }).end();
      });
      const errors: unknown[] = [];
      const approver = webhookApprover({
        url: `${redirecting.url}/hook`,
        signingKey: privateKey,
        retries: 0,
        headers: { 'x-api-key': 'receiver-secret' },
        onError: (error) => errors.push(error),
      });
      const notice = { id: 'ap-1', invocationId: 'in-1', agentId: 'ag-1', agentName: 'bot', tool: 'refunds.create' };
      await expect(approver.notify(notice as unknown as ApprovalNotice)).rejects.toThrow(
        `approval webhook: approval ap-1 not delivered: the receiver answered ${status} (redirects are not followed)`,
      );
      expect(errors).toHaveLength(1);
      await redirecting.close();
    }
    expect(landed).toEqual([]);
    await other.close();
  });
});

describe('an approved call while it runs', () => {
  async function setupBlocking() {
    const entered = deferred();
    const release = deferred();
    const tool = defineTool({
      name: 'refunds.slow',
      description: 'Refund an order, slowly',
      inputSchema: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] } as const,
      handler: async ({ orderId }) => {
        entered.resolve();
        await release.promise;
        return { orderId, refunded: true };
      },
    });
    const gateway = createGateway({ tools: [tool], policy, admin });
    gateways.push(gateway);
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const invoke = async (input: unknown) => {
      const response = await gateway.fetch(jsonRequest('/tools/refunds.slow/invoke', { key: apiKey, body: { input } }));
      return { status: response.status, body: (await response.json()) as any };
    };
    let id = 0;
    const mcp = async (method: string, params: Record<string, unknown>) => {
      const response = await gateway.fetch(mcpRequest(apiKey, { jsonrpc: '2.0', id: ++id, method, params }));
      return (await response.json()) as any;
    };
    return { gateway, apiKey, invoke, mcp, entered, release };
  }

  it('is running, not waiting for a human, to a repeat over REST and to GET /invocations/{id}', async () => {
    const { gateway, apiKey, invoke, entered, release } = await setupBlocking();
    const first = await invoke({ orderId: 'O-RUN' });
    expect(first.status).toBe(202);
    const decided = gateway.admin.decide(first.body.approval.id, { decision: 'approve' }, approverPrincipal);
    await entered.promise;

    const repeat = await invoke({ orderId: 'O-RUN' });
    expect(repeat.status).toBe(202);
    expect(repeat.body).toEqual({ invocationId: first.body.invocationId, status: 'running', approval: { id: first.body.approval.id } });
    const polled = await gateway.fetch(jsonRequest(`/invocations/${first.body.invocationId}`, { key: apiKey }));
    expect(await polled.json()).toMatchObject({ status: 'running', approvalId: first.body.approval.id });

    release.resolve();
    expect((await decided).outcome).toMatchObject({ status: 'succeeded' });
    const after = await invoke({ orderId: 'O-RUN' });
    expect(after).toMatchObject({ status: 200, body: { invocationId: first.body.invocationId, output: { refunded: true } } });
  });

  it('is running, not waiting for a human, to a repeated MCP tools/call and to tasks/get', async () => {
    const { gateway, mcp, entered, release } = await setupBlocking();
    const first = await mcp('tools/call', { name: 'refunds.slow', arguments: { orderId: 'O-MCP' } });
    const { approvalId, invocationId } = first.result._meta['io.agent-tool-gateway/approval'];
    const decided = gateway.admin.decide(approvalId, { decision: 'approve' }, approverPrincipal);
    await entered.promise;

    const repeat = await mcp('tools/call', { name: 'refunds.slow', arguments: { orderId: 'O-MCP' } });
    const text: string = repeat.result.content[0].text;
    expect(text).toMatch(/approved and is running/);
    expect(text).not.toMatch(/waits for a human decision|has not run yet/);
    expect(repeat.result.structuredContent).toEqual({ status: 'running', approvalId, invocationId });
    expect(repeat.result._meta['io.agent-tool-gateway/approval']).toEqual({ approvalId, invocationId });

    const task = await mcp('tasks/get', { taskId: invocationId });
    expect(task.result.status).toBe('working');
    expect(task.result.statusMessage).not.toMatch(/Waiting for a human approver/);
    expect(task.result.statusMessage).toMatch(/running/);

    release.resolve();
    await decided;
    const done = await mcp('tasks/get', { taskId: invocationId });
    expect(done.result.status).toBe('completed');
  });
});

describe('an approved call whose approval retention dropped while it runs', () => {
  it('is still running to a repeat, which asks for no second approval', async () => {
    const entered = deferred();
    const release = deferred();
    let runs = 0;
    const tool = defineTool({
      name: 'refunds.slow',
      description: 'Refund an order, slowly',
      inputSchema: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] } as const,
      handler: async ({ orderId }) => {
        runs++;
        entered.resolve();
        await release.promise;
        return { orderId };
      },
    });
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const gateway = createGateway({ tools: [tool], policy, admin, store: memoryStore({ maxRecords: 1 }), now: () => clock });
    gateways.push(gateway);
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const invoke = async (orderId: string) => {
      const response = await gateway.fetch(jsonRequest('/tools/refunds.slow/invoke', { key: apiKey, body: { input: { orderId } } }));
      return { status: response.status, body: (await response.json()) as any };
    };
    const first = await invoke('O-1');
    const decided = gateway.admin.decide(first.body.approval.id, { decision: 'approve' }, approverPrincipal);
    await entered.promise;
    // Another approval decided: retention (one finished approval) drops the first, executed one.
    const other = await invoke('O-2');
    await gateway.admin.decide(other.body.approval.id, { decision: 'deny' }, approverPrincipal);
    clock += 61_000;

    const repeat = await invoke('O-1');
    expect(repeat.body).toMatchObject({ invocationId: first.body.invocationId, status: 'running' });
    release.resolve();
    await decided;
    expect(runs).toBe(1);
  });
});
