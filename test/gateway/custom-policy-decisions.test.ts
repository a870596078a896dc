import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, type PolicyDecision, type PolicyEngine, createGateway, defineTool, memoryStore } from '../../src/index.js';
import { jsonRequest } from '../helpers.js';

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

function counting() {
  let runs = 0;
  const tool = defineTool({
    name: 'payments.send',
    description: 'sends money',
    inputSchema: { type: 'object' } as const,
    handler: () => {
      runs++;
      return { sent: true };
    },
  });
  return { tool, runs: () => runs };
}

/** Answers a custom engine could give that are not decisions. */
const notDecisions: Array<[string, unknown]> = [
  ['an unknown effect', { effect: 'block', ruleIds: ['limits'] }],
  ['a misspelt deny', { effect: 'DENY', ruleIds: ['limits'] }],
  ['no effect', { ruleIds: [] }],
  ['an empty object', {}],
  ['an allow without ruleIds', { effect: 'allow' }],
];

describe('a custom policy engine whose answer is not a decision', () => {
  it('fails the call with 500 INTERNAL before the tool runs, and onError says what it answered', async () => {
    for (const [label, answer] of notDecisions) {
      const { tool, runs } = counting();
      const errors: unknown[] = [];
      const engine: PolicyEngine = { evaluate: () => answer as PolicyDecision };
      gateway = createGateway({ store: memoryStore(), tools: [tool], policy: engine, onError: (error) => errors.push(error) });
      const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
      const response = await gateway.fetch(jsonRequest('/tools/payments.send/invoke', { key: apiKey, body: { input: { amount: 5 } } }));
      expect(response.status, label).toBe(500);
      expect(((await response.json()) as { error: { code: string } }).error.code, label).toBe('INTERNAL');
      expect(runs(), label).toBe(0);
      expect(errors.map(String).join('\n'), label).toMatch(/the policy engine answered .*, not a decision/);
      await gateway.close();
      gateway = undefined;
    }
  });

  it('does not run an approved call when the engine answers with no decision at approval time', async () => {
    const { tool, runs } = counting();
    let approved = false;
    const engine: PolicyEngine = {
      evaluate: () =>
        approved ? ({ effect: 'denied', ruleIds: ['limits'] } as never) : { effect: 'require_approval', ruleIds: ['limits'] },
    };
    gateway = createGateway({ store: memoryStore(), tools: [tool], policy: engine, onError: () => undefined });
    const { agent } = await gateway.admin.createAgent({ name: 'bot' });
    const held = await gateway.invoke({ agentId: agent.id, tool: 'payments.send', input: { amount: 5000 } });
    expect(held.status).toBe('pending_approval');
    approved = true;
    const approval = (held as { approval: { id: string } }).approval;
    await expect(gateway.admin.decide(approval.id, { decision: 'approve' }, { id: 'alice', roles: ['approver'] })).rejects.toThrow(
      /not a decision/,
    );
    expect(runs()).toBe(0);
    // The decision did not stand: the approval waits again, for a policy that can answer.
    expect((await gateway.admin.getApproval(approval.id)).status).toBe('pending');
  });
});
