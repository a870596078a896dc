import { afterEach, describe, expect, it } from 'vitest';
import { createNodeHandler } from '../../adapters/node.js';
import { type Gateway, createGateway, defineTool } from '../../src/index.js';
import { adminTokens } from '../fixtures.js';
import { listen } from '../helpers.js';

let gateway: Gateway | undefined;
let server: Awaited<ReturnType<typeof listen>> | undefined;
afterEach(async () => {
  await server?.close();
  await gateway?.close();
  server = undefined;
  gateway = undefined;
});

describe('tool globs in policy rules', () => {
  it('a glob written through the admin API with many stars is decided at once, for calls and listings', async () => {
    // A 128-character name, the longest a tool may have: a backtracking matcher of the glob
    // below would try every way of placing its stars in it (some 10^25) on every call.
    const name = 'a'.repeat(128);
    const tool = defineTool({ name, description: 'long name', inputSchema: { type: 'object' }, handler: () => ({ ok: true }) });
    gateway = createGateway({
      tools: [tool],
      policy: [{ id: 'all', effect: 'allow' }],
      admin: { tokens: [{ token: adminTokens.admin, id: 'alice', roles: ['admin'] }] },
    });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    server = await listen(createNodeHandler(gateway));
    const request = (path: string, key: string, body?: unknown) =>
      fetch(`${server?.url}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });

    const created = await request('/admin/policies', adminTokens.admin, {
      id: 'starry',
      effect: 'deny',
      tools: [`${'*a'.repeat(20)}*b`, `${'*a'.repeat(20)}*`],
    });
    expect(created.status).toBe(201);
    // The second glob matches: an unconditional deny, so the tool is neither listed nor callable.
    const listed = (await (await request('/tools', apiKey)).json()) as { items: unknown[] };
    expect(listed.items).toEqual([]);
    const call = await request(`/tools/${name}/invoke`, apiKey, { input: {} });
    expect(call.status).toBe(404);

    const narrowed = await fetch(`${server.url}/admin/policies/starry`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${adminTokens.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tools: [`${'*a'.repeat(20)}*b`] }),
    });
    expect(narrowed.status).toBe(200);
    const allowed = await request(`/tools/${name}/invoke`, apiKey, { input: {} });
    expect(allowed.status).toBe(200);
    expect(await allowed.json()).toMatchObject({ status: 'succeeded', output: { ok: true } });
  });
});
