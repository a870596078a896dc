import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/index.js';
import { adminTokens, testGateway } from '../fixtures.js';
import { jsonRequest } from '../helpers.js';

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

async function send(path: string, method: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await (gateway as Gateway).fetch(
    jsonRequest(path, { key: adminTokens.admin, method, ...(body === undefined ? {} : { body }) }),
  );
  return { status: response.status, body: response.status === 204 ? null : await response.json() };
}

describe('a PATCH that sends back what GET answered, edited', () => {
  it('changes a tool: the fields the gateway sets are taken back unchanged, its secrets kept with ***', async () => {
    gateway = testGateway({ encryptionKey: Buffer.alloc(32, 7).toString('base64') });
    const created = await send('/admin/tools', 'POST', {
      name: 'crm.lookup',
      description: 'Find a customer',
      method: 'GET',
      url: 'https://crm.example.com/customers',
      inputSchema: { type: 'object' },
      secretHeaders: { authorization: 'Bearer crm-token-1234567' },
    });
    expect(created.status).toBe(201);
    const view = (await send('/admin/tools/crm.lookup', 'GET')).body;
    expect(view).toMatchObject({ source: 'store', readOnly: false, version: expect.any(String), secretHeaders: { authorization: '***' } });

    const edited = await send('/admin/tools/crm.lookup', 'PATCH', { ...view, description: 'Find a customer by id' });
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({ description: 'Find a customer by id', secretHeaders: { authorization: '***' } });
    expect(edited.body.version).not.toBe(view.version);

    for (const [field, value] of [
      ['version', 'v2'],
      ['source', 'code'],
      ['readOnly', true],
    ] as const) {
      const refused = await send('/admin/tools/crm.lookup', 'PATCH', { [field]: value });
      expect(refused.status, field).toBe(400);
      expect(refused.body.error.message).toBe(
        `Invalid body: ${field} is set by the gateway and cannot be changed: leave it out, or send what GET answers now`,
      );
    }
    // An outdated view (its version is no longer the tool's) is refused, never written over the change.
    const outdated = await send('/admin/tools/crm.lookup', 'PATCH', { ...view, description: 'stale' });
    expect(outdated.status).toBe(400);
    expect((await send('/admin/tools/crm.lookup', 'GET')).body.description).toBe('Find a customer by id');
  });

  it('changes a rule: source, readOnly and its times are taken back unchanged, and refused changed', async () => {
    gateway = testGateway();
    expect((await send('/admin/policies', 'POST', { id: 'held', effect: 'allow', tools: ['echo'] })).status).toBe(201);
    const view = (await send('/admin/policies/held', 'GET')).body;
    const edited = await send('/admin/policies/held', 'PATCH', { ...view, effect: 'deny' });
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({ id: 'held', effect: 'deny', tools: ['echo'], createdAt: view.createdAt });

    const refused = await send('/admin/policies/held', 'PATCH', { createdAt: '2000-01-01T00:00:00.000Z', readOnly: true });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toBe(
      'Invalid body: readOnly, createdAt are set by the gateway and cannot be changed: leave them out, or send what GET answers now',
    );
  });
});
