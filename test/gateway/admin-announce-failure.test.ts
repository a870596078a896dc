import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, type Store, createGateway, defineTool, memoryStore } from '../../src/index.js';

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

const alice = { id: 'alice', roles: ['admin' as const] };
const echo = defineTool({ name: 'echo', description: 'echoes', inputSchema: { type: 'object' } as const, handler: () => ({ ok: true }) });

/** A memory store that announces changes to other instances as the SQL store does, with announcements that fail. */
function storeWhoseAnnouncementsFail(): Store {
  const inner = memoryStore();
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'announce') return async () => Promise.reject(new Error('connection lost'));
      return Reflect.get(target, property, receiver);
    },
  });
}

describe('a tool or rule change whose announcement to other instances fails', () => {
  it('stands, is recorded as admin.*, and the failure goes to onError', async () => {
    const errors: unknown[] = [];
    gateway = createGateway({
      store: storeWhoseAnnouncementsFail(),
      tools: [echo],
      policy: [{ id: 'echo', effect: 'allow', tools: ['echo'] }],
      allowPrivateNetwork: ['127.0.0.1/32'],
      onError: (error) => void errors.push(error),
    });
    const tool = {
      name: 'crm.get',
      description: 'v1',
      method: 'GET' as const,
      url: 'http://127.0.0.1:9/x',
      inputSchema: { type: 'object' },
    };
    await expect(gateway.admin.createTool(tool, alice)).resolves.toMatchObject({ name: 'crm.get' });
    await expect(gateway.admin.updateTool('crm.get', { description: 'v2' }, alice)).resolves.toMatchObject({ description: 'v2' });
    await expect(gateway.admin.deleteTool('crm.get', alice)).resolves.toBeUndefined();
    await expect(gateway.admin.createPolicy({ id: 'crm', effect: 'deny', tools: ['crm.*'] }, alice)).resolves.toMatchObject({ id: 'crm' });
    await expect(gateway.admin.updatePolicy('crm', { effect: 'allow' }, alice)).resolves.toMatchObject({ effect: 'allow' });
    await expect(gateway.admin.deletePolicy('crm', alice)).resolves.toBeUndefined();

    const types = (await gateway.admin.listAudit()).items
      .map((entry) => entry.event.type)
      .filter((type) => /^admin\.(tool|policy)\./.test(type));
    expect(types).toEqual([
      'admin.tool.created',
      'admin.tool.updated',
      'admin.tool.deleted',
      'admin.policy.created',
      'admin.policy.updated',
      'admin.policy.deleted',
    ]);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((error) => (error as Error).message === 'connection lost')).toBe(true);
  });
});
