import { type GatewayOptions, type InvocationRecord, createGateway, defineTool } from '../src/index.js';

export const echo = defineTool({
  name: 'echo',
  description: 'Echo the text back',
  inputSchema: {
    type: 'object',
    properties: { text: { type: 'string', maxLength: 1000 }, password: { type: 'string' } },
    required: ['text'],
    additionalProperties: false,
  } as const,
  handler: ({ text }) => ({ text }),
});

export const refund = defineTool({
  name: 'refunds.create',
  description: 'Refund an order',
  risk: 'high',
  inputSchema: {
    type: 'object',
    properties: { orderId: { type: 'string' }, amount: { type: 'number', minimum: 0 } },
    required: ['orderId', 'amount'],
    additionalProperties: false,
  } as const,
  handler: ({ orderId, amount }) => ({ refunded: amount, orderId }),
});

export const adminTokens = {
  admin: 'admin-token-0123456789abcdef',
  approver: 'approver-token-0123456789abcdef',
  auditor: 'auditor-token-0123456789abcdef',
};

/** A gateway with echo + refunds, a policy with an argument condition, and admin tokens. */
export function testGateway(overrides: GatewayOptions = {}) {
  return createGateway({
    tools: [echo, refund],
    policy: [
      { id: 'echo-all', effect: 'allow', tools: ['echo'] },
      { id: 'refunds-small', effect: 'allow', tools: ['refunds.*'], when: [{ path: '$.amount', op: 'lte', value: 100 }] },
      { id: 'refunds-big', effect: 'require_approval', tools: ['refunds.*'], when: [{ path: '$.amount', op: 'gt', value: 100 }] },
      { id: 'no-fraud', effect: 'deny', tools: ['refunds.create'], when: [{ path: '$.orderId', op: 'matches', value: '^FRAUD-' }] },
    ],
    admin: {
      tokens: [
        { token: adminTokens.admin, id: 'alice', roles: ['admin'] },
        { token: adminTokens.approver, id: 'bob', roles: ['approver'] },
        { token: adminTokens.auditor, id: 'carol', roles: ['auditor'] },
      ],
    },
    ...overrides,
  });
}

/** An invocation record for store-level tests, written at 2030-01-01T00:00:00Z. */
export function invocationRecord(id: string, status: InvocationRecord['status'] = 'succeeded'): InvocationRecord {
  return {
    id,
    agentId: 'agent-1',
    tool: 'crm.lookup',
    toolVersion: 'v1',
    inputDigest: 'd'.repeat(64),
    input: {},
    decision: status === 'pending_approval' ? 'require_approval' : 'allow',
    ruleIds: [],
    approvalId: null,
    status,
    door: 'rest',
    upstreamStatus: null,
    latencyMs: null,
    output: null,
    error: null,
    idempotencyKey: null,
    createdAt: new Date(Date.UTC(2030, 0, 1)).toISOString(),
    updatedAt: new Date(Date.UTC(2030, 0, 1)).toISOString(),
  };
}
