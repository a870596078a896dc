// A governed gateway on node:http: two demo tools, a policy with an argument condition, a
// demo agent whose key is printed once, and curl lines to try. The in-memory store by
// default; with ATG_DATA_DIR set, the embedded SQL store (PGlite) keeps agents, tools,
// approvals and the audit trail in that directory across restarts.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { type Store, createGateway, defineTool, memoryStore } from 'agent-tool-gateway';
import { createNodeHandler } from 'agent-tool-gateway/node';
import { sqlStore } from 'agent-tool-gateway/sql';

const lookupCustomer = defineTool({
  name: 'crm.get_customer',
  description: 'Look up a customer by id',
  annotations: { readOnlyHint: true },
  inputSchema: {
    type: 'object',
    properties: { customerId: { type: 'string', pattern: '^C[0-9]{3}$' } },
    required: ['customerId'],
    additionalProperties: false,
  } as const,
  handler: ({ customerId }) => ({
    id: customerId,
    name: 'Ada Lovelace',
    email: 'ada@example.com',
    card: '4242 4242 4242 4242',
    tier: 'gold',
  }),
});

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
  handler: ({ orderId, amount }) => ({ orderId, refunded: amount, status: 'refunded' }),
});

const adminToken = process.env.ATG_ADMIN_TOKEN ?? 'demo-admin-token-change-me-0123456789';

const dataDir = process.env.ATG_DATA_DIR;
const store: Store = dataDir ? sqlStore({ client: new PGlite(dataDir), closeClient: true }) : memoryStore();

const gateway = createGateway({
  store,
  tools: [lookupCustomer, createRefund],
  policy: [
    { id: 'support-reads', effect: 'allow', agents: ['tag:support'], tools: ['crm.*'] },
    {
      id: 'small-refunds',
      effect: 'allow',
      agents: ['tag:support'],
      tools: ['refunds.create'],
      when: [{ path: '$.amount', op: 'lte', value: 50 }],
      // At most 5 small refunds a minute per agent; the sixth gets 429 with Retry-After.
      rateLimit: { limit: 5, windowMs: 60_000 },
    },
    {
      id: 'large-refunds',
      effect: 'require_approval',
      agents: ['tag:support'],
      tools: ['refunds.create'],
      when: [{ path: '$.amount', op: 'gt', value: 50 }],
    },
  ],
  admin: { tokens: [{ token: adminToken, id: 'demo-admin', roles: ['admin'] }] },
});

const { apiKey } = await gateway.admin.createAgent({ name: 'support-bot', tags: ['support'] });

const server = createServer(createNodeHandler(gateway));
const port = Number(process.env.PORT ?? 3000);
server.listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const auth = `-H "Authorization: Bearer ${apiKey}"`;
  const json = `-H "Content-Type: application/json"`;
  console.log(`agent-tool-gateway quickstart on ${base} (${dataDir ? `data in ${dataDir}` : 'in-memory store'})

Demo agent key (shown once): ${apiKey}

Try:
  curl -s ${auth} ${base}/tools
  curl -s ${auth} ${json} -d '{"input":{"customerId":"C001"}}' ${base}/tools/crm.get_customer/invoke
  curl -s ${auth} ${json} -d '{"input":{"orderId":"O-1","amount":20}}' ${base}/tools/refunds.create/invoke   # 5 a minute, then 429
  curl -s ${auth} ${json} -d '{"input":{"orderId":"O-1","amount":500}}' ${base}/tools/refunds.create/invoke
  curl -s -H "Authorization: Bearer ${adminToken}" ${base}/admin/approvals?status=pending
  curl -s -H "Authorization: Bearer ${adminToken}" ${base}/admin/audit
MCP clients: ${base}/mcp with the same Authorization header.`);
});

const shutdown = () => {
  server.close();
  void gateway.close().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
