import { afterEach, describe, expect, it } from 'vitest';
import { createNodeHandler } from '../../adapters/node.js';
import { type Gateway, type Store, createGateway, defineTool, generateEncryptionKey, memoryStore } from '../../src/index.js';
import { adminTokens } from '../fixtures.js';
import { breakableStore, deferred, listen } from '../helpers.js';

let gateway: Gateway | undefined;
let server: Awaited<ReturnType<typeof listen>> | undefined;
afterEach(async () => {
  await server?.close();
  await gateway?.close();
  server = undefined;
  gateway = undefined;
});

const echo = defineTool({ name: 'echo', description: 'echoes', inputSchema: { type: 'object' } as const, handler: () => ({ ok: true }) });

/** A gateway over node:http whose audit trail (fail-closed) can be broken, with one agent and one stored tool and rule. */
async function setup() {
  const { store, setBroken } = breakableStore('appendAudit');
  gateway = createGateway({
    store,
    tools: [echo],
    policy: [{ id: 'echo', effect: 'allow', tools: ['echo'] }],
    admin: { tokens: [{ token: adminTokens.admin, id: 'alice', roles: ['admin'] }] },
    allowPrivateNetwork: ['127.0.0.1/32'],
    onError: () => undefined,
  });
  const { agent, apiKey } = await gateway.admin.createAgent({ name: 'bot' });
  await gateway.admin.createTool({
    name: 'crm.get',
    description: 'v1',
    method: 'GET',
    url: 'http://127.0.0.1:9/x',
    inputSchema: { type: 'object' },
  });
  await gateway.admin.createPolicy({ id: 'crm', effect: 'require_approval', tools: ['crm.*'] });
  server = await listen(createNodeHandler(gateway));
  const url = server.url;
  const send = async (method: string, path: string, key: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
  };
  const admin = (method: string, path: string, body?: unknown) => send(method, path, adminTokens.admin, body);
  return { gateway, agent, apiKey, send, admin, setBroken };
}

describe('an admin change the audit trail cannot record (fail-closed)', () => {
  it('does not stand: 503 AUDIT_UNAVAILABLE and everything as it was', async () => {
    const { gateway, agent, apiKey, send, admin, setBroken } = await setup();
    const before = {
      agents: (await gateway.admin.listAgents()).items,
      tools: await gateway.admin.listTools(),
      policies: await gateway.admin.listPolicies(),
    };
    setBroken(true);
    const changes: Array<[string, string, unknown?]> = [
      ['POST', `/admin/agents/${agent.id}/rotate`],
      ['POST', `/admin/agents/${agent.id}/disable`],
      [
        'POST',
        '/admin/tools',
        { name: 'crm.list', description: 'd', method: 'GET', url: 'http://127.0.0.1:9/y', inputSchema: { type: 'object' } },
      ],
      ['PATCH', '/admin/tools/crm.get', { description: 'v2' }],
      ['DELETE', '/admin/tools/crm.get'],
      ['POST', '/admin/policies', { id: 'everything', effect: 'allow' }],
      ['PATCH', '/admin/policies/crm', { effect: 'allow' }],
      ['DELETE', '/admin/policies/crm'],
    ];
    for (const [method, path, body] of changes) {
      const answer = await admin(method, path, body);
      expect([method, path, answer.status, answer.body?.error?.code]).toEqual([method, path, 503, 'AUDIT_UNAVAILABLE']);
    }
    setBroken(false);

    expect((await gateway.admin.listAgents()).items).toEqual(before.agents);
    expect(await gateway.admin.listTools()).toEqual(before.tools);
    expect(await gateway.admin.listPolicies()).toEqual(before.policies);
    // The agent's key still works (a rotation whose new key nobody got would lock it out).
    expect((await send('GET', '/tools', apiKey)).status).toBe(200);
    // Each change goes through once the trail is back, and is recorded.
    expect((await admin('PATCH', '/admin/policies/crm', { description: 'crm calls wait' })).status).toBe(200);
    const types = (await gateway.admin.listAudit({ type: 'admin' })).items.map((entry) => entry.event.type);
    expect(types).toEqual(['admin.agent.created', 'admin.tool.created', 'admin.policy.created', 'admin.policy.updated']);
  });

  it('an agent created meanwhile is revoked, its key never shown', async () => {
    const { gateway, admin, setBroken } = await setup();
    setBroken(true);
    const created = await admin('POST', '/admin/agents', { name: 'orphan' });
    setBroken(false);
    expect(created.status).toBe(503);
    expect(created.body.apiKey).toBeUndefined();
    const orphan = (await gateway.admin.listAgents()).items.find((item) => item.name === 'orphan');
    expect(orphan === undefined || orphan.status === 'revoked').toBe(true);
  });

  it('a revocation stands (it is final), and is recorded when it is sent again', async () => {
    const { gateway, agent, apiKey, send, admin, setBroken } = await setup();
    setBroken(true);
    expect((await admin('POST', `/admin/agents/${agent.id}/revoke`)).status).toBe(503);
    setBroken(false);
    expect((await send('GET', '/tools', apiKey)).status).toBe(401);
    expect((await admin('POST', `/admin/agents/${agent.id}/revoke`)).status).toBe(200);
    const types = (await gateway.admin.listAudit({ type: 'admin.agent' })).items.map((entry) => entry.event.type);
    expect(types).toEqual(['admin.agent.created', 'admin.agent.revoked']);
  });
});

describe('an agent status change undone while another admin changed the agent', () => {
  it('puts back what it replaced, never a state read before the other change', async () => {
    const inner = memoryStore();
    let broken = false;
    const held = deferred();
    const reading = deferred();
    let holdNextRead = false;
    // The first admin's read of the agent is held until the second admin's change is recorded.
    const store = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === 'appendAudit') {
          return async (...args: Parameters<Store['appendAudit']>) => {
            if (broken) throw new Error('disk full');
            return target.appendAudit(...args);
          };
        }
        if (property === 'getAgent') {
          return async (id: string) => {
            const agent = await target.getAgent(id);
            if (holdNextRead) {
              holdNextRead = false;
              reading.resolve();
              await held.promise;
            }
            return agent;
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
    gateway = createGateway({ store, tools: [echo], policy: [{ id: 'echo', effect: 'allow', tools: ['echo'] }], onError: () => undefined });
    const { agent } = await gateway.admin.createAgent({ name: 'bot' });
    holdNextRead = true;
    const first = gateway.admin.disableAgent(agent.id, { id: 'alice', roles: ['admin'] });
    await reading.promise;
    // The second admin disables it too, recorded; then the trail breaks for the first.
    await gateway.admin.disableAgent(agent.id, { id: 'bob', roles: ['admin'] });
    broken = true;
    held.resolve();
    await expect(first).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    broken = false;
    // The first admin's change is undone to the state it replaced (disabled by the second),
    // not to the active agent it read before the second admin's change.
    expect((await inner.getAgent(agent.id))?.status).toBe('disabled');
  });
});

describe('a secret rotation the audit trail cannot record (fail-closed)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()?.();
  });

  it('stands, and says so: 503 with what it re-sealed, onError told; sent again, it is recorded', async () => {
    const k1 = generateEncryptionKey();
    const k2 = generateEncryptionKey();
    const upstream = await listen((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ sawCredential: req.headers.authorization === 'Bearer crm-token-0001' }));
    });
    const data = memoryStore();
    // The instance that stored the tool's credential, under k1.
    const before = createGateway({ store: data, encryptionKey: { active: 'k1', keys: { k1 } } });
    cleanups.push(() => before.close(), upstream.close);
    await before.admin.createTool({
      name: 'crm.get',
      description: 'reads',
      method: 'GET',
      url: `${upstream.url}/x`,
      inputSchema: { type: 'object' },
      secretHeaders: { authorization: 'Bearer crm-token-0001' },
      allowPrivateNetwork: true,
    });
    // The instance deployed with k2 as the active key, whose trail breaks.
    let broken = false;
    const store = new Proxy(data, {
      get(target, property, receiver) {
        if (property === 'appendAudit') {
          return async (...args: Parameters<Store['appendAudit']>) => {
            if (broken) throw new Error('disk full');
            return target.appendAudit(...args);
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
    const errors: unknown[] = [];
    gateway = createGateway({
      store,
      encryptionKey: { active: 'k2', keys: { k1, k2 } },
      policy: [{ id: 'crm', effect: 'allow', tools: ['crm.*'] }],
      admin: { tokens: [{ token: adminTokens.admin, id: 'alice', roles: ['admin'] }] },
      onError: (error) => errors.push(error),
    });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    server = await listen(createNodeHandler(gateway));
    const rotate = async () => {
      const response = await fetch(`${(server as Awaited<ReturnType<typeof listen>>).url}/admin/secrets/rotate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminTokens.admin}` },
      });
      return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as any };
    };
    const sealedKeyId = async () => {
      const definition = (await data.getTool('crm.get'))?.definition as { secretHeaders: { authorization: { sealed: string } } };
      return definition.secretHeaders.authorization.sealed.split('.')[2];
    };
    expect(await sealedKeyId()).toBe('k1');

    broken = true;
    const refused = await rotate();
    expect(refused).toMatchObject({ status: 503, retryAfter: '5', body: { error: { code: 'AUDIT_UNAVAILABLE' } } });
    expect(refused.body.error.message).toMatch(/re-sealed under the active key and stay so.*send the rotation again to have it recorded/);
    expect(refused.body.error.details).toEqual({
      tools: 1,
      resealed: 1,
      unchanged: 0,
      unreadable: [],
      approvals: 0,
      unreadableApprovals: [],
    });
    expect(errors).toContainEqual(expect.objectContaining({ code: 'AUDIT_UNAVAILABLE', message: refused.body.error.message }));
    // It stands: the credential is sealed under k2, and opens.
    expect(await sealedKeyId()).toBe('k2');
    broken = false;
    const call = await gateway.invoke({ agentKey: apiKey, tool: 'crm.get' });
    expect(call).toMatchObject({ status: 'succeeded', output: { sawCredential: true } });
    const recorded = await rotate();
    expect(recorded.status).toBe(200);
    expect(recorded.body).toMatchObject({ resealed: 0, unchanged: 1 });
    const events = (await gateway.admin.listAudit({ type: 'admin.secrets.rotated' })).items.map((entry) => entry.event.data);
    expect(events).toEqual([expect.objectContaining({ activeKeyId: 'k2', unchanged: 1 })]);
  });
});
