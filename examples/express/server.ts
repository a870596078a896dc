// Express: the gateway under /atg, beside the app's own routes and their JSON body parser.
// Run: npx tsx examples/express/server.ts
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import express from 'express';
import { createGateway, defineTool } from 'agent-tool-gateway';
import { createExpressMiddleware } from 'agent-tool-gateway/express';

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

/** Starts the app; `port: 0` picks a free port. */
export async function start({
  port = 3000,
  adminToken = process.env.ATG_ADMIN_TOKEN ?? 'demo-admin-token-change-me-0123456789',
  approverToken = process.env.ATG_APPROVER_TOKEN ?? 'demo-approver-token-change-me-01234567',
} = {}) {
  const gateway = createGateway({
    tools: [createRefund, exportReport],
    policy: [
      { id: 'small-refunds', effect: 'allow', tools: ['refunds.create'], when: [{ path: '$.amount', op: 'lte', value: 50 }] },
      { id: 'large-refunds', effect: 'require_approval', tools: ['refunds.create'], when: [{ path: '$.amount', op: 'gt', value: 50 }] },
      { id: 'reports', effect: 'allow', tools: ['reports.*'] },
    ],
    admin: {
      tokens: [
        { token: adminToken, id: 'ops', roles: ['admin'] },
        { token: approverToken, id: 'support-lead', roles: ['approver'] },
      ],
    },
  });
  const { apiKey } = await gateway.admin.createAgent({ name: 'support-bot' });

  const app = express();
  // Mounted before the app's body parser, the gateway reads (and limits) raw bodies itself.
  app.use('/atg', createExpressMiddleware(gateway));
  app.use(express.json());
  app.get('/health', (_req, res) => {
    res.json({ ok: true });
  });

  const server = app.listen(port, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/atg`;
  const close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await gateway.close();
  };
  return { url, apiKey, gateway, close };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { url, apiKey } = await start({ port: Number(process.env.PORT ?? 3000) });
  console.log(`Gateway on ${url} (MCP: ${url}/mcp). Demo agent key, shown once: ${apiKey}`);
}
