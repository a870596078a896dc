// The gateway of this Next.js app: one instance per server process (kept on globalThis so
// dev-mode reloads reuse it), with the in-memory store. Agents are created over the admin
// API with ATG_ADMIN_TOKEN; without it, admin routes answer 401 (see README.md).
import { setTimeout as sleep } from 'node:timers/promises';
import { type Gateway, createGateway, defineTool } from 'agent-tool-gateway';

const createRefund = defineTool({
  name: 'refunds.create',
  description: 'Refund part of an order',
  risk: 'high',
  inputSchema: {
    type: 'object',
    properties: { orderId: { type: 'string' }, amount: { type: 'number', exclusiveMinimum: 0 } },
    required: ['orderId', 'amount'],
    additionalProperties: false,
  } as const,
  handler: ({ orderId, amount }) => ({ orderId, refunded: amount }),
});

const exportReport = defineTool({
  name: 'reports.export',
  description: 'Build the sales report; slow, and stops as soon as the caller goes away',
  inputSchema: { type: 'object', properties: { seconds: { type: 'integer', minimum: 1, maximum: 600 } }, required: ['seconds'] } as const,
  timeoutMs: 610_000,
  handler: async ({ seconds }, { signal }) => {
    await sleep(seconds * 1000, undefined, { signal });
    return { rows: 42 };
  },
});

function createAppGateway(): Gateway {
  const adminToken = process.env.ATG_ADMIN_TOKEN;
  const approverToken = process.env.ATG_APPROVER_TOKEN;
  const tokens = [
    ...(adminToken === undefined ? [] : [{ token: adminToken, id: 'ops', roles: ['admin' as const] }]),
    ...(approverToken === undefined ? [] : [{ token: approverToken, id: 'support-lead', roles: ['approver' as const] }]),
  ];
  return createGateway({
    tools: [createRefund, exportReport],
    policy: [
      { id: 'small-refunds', effect: 'allow', tools: ['refunds.create'], when: [{ path: '$.amount', op: 'lte', value: 50 }] },
      { id: 'large-refunds', effect: 'require_approval', tools: ['refunds.create'], when: [{ path: '$.amount', op: 'gt', value: 50 }] },
      { id: 'reports', effect: 'allow', tools: ['reports.*'] },
    ],
    ...(tokens.length === 0 ? {} : { admin: { tokens } }),
  });
}

const shared = globalThis as typeof globalThis & { agentToolGateway?: Gateway };

/** The app's gateway, created on first use. */
export const gateway: Gateway = (shared.agentToolGateway ??= createAppGateway());
