import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, createGateway, generateEncryptionKey } from '../../src/index.js';
import { sqlStore } from '../../src/store/sql/index.js';
import { adminTokens, echo, refund } from '../fixtures.js';

const directories: string[] = [];
const gateways: Gateway[] = [];

afterEach(async () => {
  await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
  for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true });
});

const encryptionKey = generateEncryptionKey();

/** A gateway on a PGlite data directory; closing the gateway closes the database. */
function gatewayOn(dataDir: string): Gateway {
  const gateway = createGateway({
    store: sqlStore({ client: new PGlite(dataDir), closeClient: true }),
    encryptionKey,
    tools: [echo, refund],
    policy: [
      { id: 'echo-all', effect: 'allow', tools: ['echo'] },
      { id: 'refunds-big', effect: 'require_approval', tools: ['refunds.*'] },
    ],
    admin: { tokens: [{ token: adminTokens.admin, id: 'alice', roles: ['admin'] }] },
    refreshIntervalMs: 0,
  });
  gateways.push(gateway);
  return gateway;
}

async function closeGateway(gateway: Gateway): Promise<void> {
  gateways.splice(gateways.indexOf(gateway), 1);
  await gateway.close();
}

describe('sqlStore on a PGlite data directory', () => {
  it('keeps agents, tools, policies, approvals and the audit chain across restarts', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'atg-persist-'));
    directories.push(dataDir);
    const alice = { id: 'alice', roles: ['admin' as const] };

    const first = gatewayOn(dataDir);
    const { apiKey, agent } = await first.admin.createAgent({ name: 'support-bot', tags: ['eu'] });
    expect(await first.invoke({ agentKey: apiKey, tool: 'echo', input: { text: 'before' } })).toMatchObject({
      status: 'succeeded',
      output: { text: 'before' },
    });
    await first.admin.createTool(
      {
        name: 'crm.orders',
        description: 'Orders',
        method: 'GET',
        url: 'https://crm.example/orders/{id}',
        inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      },
      alice,
    );
    await first.admin.createPolicy({ id: 'stored-deny', effect: 'deny', tools: ['crm.*'] }, alice);
    const pending = await first.invoke({ agentKey: apiKey, tool: 'refunds.create', input: { orderId: 'A-1', amount: 500 } });
    expect(pending.status).toBe('pending_approval');
    const approvalId = (pending as { approval: { id: string } }).approval.id;
    const auditBefore = await first.admin.verifyAudit();
    expect(auditBefore.ok).toBe(true);
    await closeGateway(first);

    const second = gatewayOn(dataDir);
    await second.ready();
    expect((await second.admin.getAgent(agent.id)).name).toBe('support-bot');
    expect(await second.invoke({ agentKey: apiKey, tool: 'echo', input: { text: 'after' } })).toMatchObject({
      status: 'succeeded',
      output: { text: 'after' },
    });
    expect((await second.admin.listTools()).map((tool) => tool.name)).toContain('crm.orders');
    expect((await second.admin.listPolicies()).map((policy) => policy.id)).toContain('stored-deny');
    expect((await second.admin.getApproval(approvalId)).status).toBe('pending');

    // The held input was sealed before the restart and opens after it: the call runs once.
    const decided = await second.admin.decide(approvalId, { decision: 'approve' }, alice);
    expect(decided.outcome).toMatchObject({ status: 'succeeded', output: { refunded: 500, orderId: 'A-1' } });

    const audit = await second.admin.verifyAudit();
    expect(audit.ok).toBe(true);
    expect(audit.through).toBeGreaterThan(auditBefore.through);
    const invocations = await second.admin.listInvocations({ agentId: agent.id, limit: 100 });
    expect(invocations.items.map((item) => item.tool).sort()).toEqual(['echo', 'echo', 'refunds.create']);
  });
});
