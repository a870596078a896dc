import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, createGateway, defineTool } from '../../src/index.js';
import { adminTokens } from '../fixtures.js';
import { jsonRequest } from '../helpers.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  while (gateways.length > 0) await gateways.pop()?.close();
});

function setup(): Gateway {
  const tools = ['alpha', 'beta', 'gamma'].map((name) =>
    defineTool({
      name,
      description: `The ${name} tool`,
      inputSchema: { type: 'object', properties: {} } as const,
      handler: () => ({ name }),
    }),
  );
  const gateway = createGateway({
    tools,
    policy: [
      { id: 'one', effect: 'allow', tools: ['alpha'] },
      { id: 'two', effect: 'allow', tools: ['beta'] },
      { id: 'three', effect: 'deny', tools: ['gamma'] },
    ],
    admin: { tokens: [{ token: adminTokens.admin, id: 'alice', roles: ['admin'] }] },
  });
  gateways.push(gateway);
  return gateway;
}

async function get(gateway: Gateway, path: string): Promise<{ status: number; body: any }> {
  const response = await gateway.fetch(jsonRequest(path, { key: adminTokens.admin }));
  return { status: response.status, body: await response.json() };
}

/** Every item of a list route, page by page. */
async function allPages(gateway: Gateway, route: string, limit: number, key: string): Promise<{ pages: number; keys: string[] }> {
  const keys: string[] = [];
  let pages = 0;
  let cursor: string | undefined;
  do {
    const page = await get(gateway, `${route}?limit=${limit}${cursor === undefined ? '' : `&cursor=${cursor}`}`);
    expect(page.status).toBe(200);
    expect(page.body.items.length).toBeLessThanOrEqual(limit);
    keys.push(...page.body.items.map((item: Record<string, string>) => item[key]));
    cursor = page.body.nextCursor;
    pages++;
  } while (cursor !== undefined);
  return { pages, keys };
}

describe('admin lists of tools and policies', () => {
  it('page with ?limit= and ?cursor= like the other lists, and give everything without a limit', async () => {
    const gateway = setup();
    const whole = await get(gateway, '/admin/tools');
    expect(whole.body.items.map((tool: { name: string }) => tool.name)).toEqual(['alpha', 'beta', 'gamma']);
    expect(whole.body.nextCursor).toBeUndefined();
    expect(await allPages(gateway, '/admin/tools', 2, 'name')).toEqual({ pages: 2, keys: ['alpha', 'beta', 'gamma'] });
    expect(await allPages(gateway, '/admin/tools', 3, 'name')).toEqual({ pages: 1, keys: ['alpha', 'beta', 'gamma'] });

    const rules = await get(gateway, '/admin/policies');
    expect(rules.body.items.map((rule: { id: string }) => rule.id)).toEqual(['one', 'two', 'three']);
    expect(await allPages(gateway, '/admin/policies', 1, 'id')).toEqual({ pages: 3, keys: ['one', 'two', 'three'] });
  });

  it('neither repeat nor skip an item when tools or rules are created or deleted between two pages', async () => {
    const gateway = setup();
    const httpToolBody = (name: string) => ({
      name,
      description: name,
      method: 'GET',
      url: 'https://api.example.com/x',
      inputSchema: { type: 'object' },
    });
    const send = async (path: string, method: string, body?: unknown) =>
      (await gateway.fetch(jsonRequest(path, { key: adminTokens.admin, method, ...(body === undefined ? {} : { body }) }))).status;

    // A tool created before the cursor's place: the next page does not repeat the last one seen.
    const first = await get(gateway, '/admin/tools?limit=2');
    expect(first.body.items.map((tool: { name: string }) => tool.name)).toEqual(['alpha', 'beta']);
    expect(await send('/admin/tools', 'POST', httpToolBody('aardvark'))).toBe(201);
    const second = await get(gateway, `/admin/tools?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.items.map((tool: { name: string }) => tool.name)).toEqual(['gamma']);
    expect(second.body.nextCursor).toBeUndefined();

    // A tool deleted before the cursor's place: the next page does not skip one.
    const again = await get(gateway, '/admin/tools?limit=2');
    expect(again.body.items.map((tool: { name: string }) => tool.name)).toEqual(['aardvark', 'alpha']);
    expect(await send('/admin/tools/aardvark', 'DELETE')).toBe(204);
    const after = await get(gateway, `/admin/tools?limit=2&cursor=${again.body.nextCursor}`);
    expect(after.body.items.map((tool: { name: string }) => tool.name)).toEqual(['beta', 'gamma']);

    // Rules: one deleted between two pages, the last one seen included.
    // Ids in creation order, for rules created within one millisecond.
    for (const id of ['p1', 'p2', 'p3']) expect(await send('/admin/policies', 'POST', { id, effect: 'deny', tools: [id] })).toBe(201);
    const rules = await get(gateway, '/admin/policies?limit=4');
    expect(rules.body.items.map((rule: { id: string }) => rule.id)).toEqual(['one', 'two', 'three', 'p1']);
    expect(await send('/admin/policies/p1', 'DELETE')).toBe(204);
    const nextRules = await get(gateway, `/admin/policies?limit=4&cursor=${rules.body.nextCursor}`);
    expect(nextRules.body.items.map((rule: { id: string }) => rule.id)).toEqual(['p2', 'p3']);
  });

  it('answer 400 for a bad limit or cursor', async () => {
    const gateway = setup();
    for (const query of ['limit=0', 'limit=x', 'cursor=not-a-cursor']) {
      for (const route of ['/admin/tools', '/admin/policies']) {
        const answer = await get(gateway, `${route}?${query}`);
        expect(answer.status).toBe(400);
        expect(answer.body.error.code).toBe('BAD_REQUEST');
      }
    }
  });
});

describe('admin lists', () => {
  it('refuse with 400 a cursor they did not hand out: padded, or with junk in or around it', async () => {
    const gateway = createGateway({
      tools: ['alpha', 'beta'].map((name) =>
        defineTool({ name, description: name, inputSchema: { type: 'object' } as const, handler: () => ({ name }) }),
      ),
      policy: [
        { id: 'reads', effect: 'allow', tools: ['alpha'] },
        { id: 'held', effect: 'require_approval', tools: ['beta'] },
      ],
      admin: { tokens: [{ token: adminTokens.admin, id: 'alice', roles: ['admin'] }] },
    });
    gateways.push(gateway);
    const { agent } = await gateway.admin.createAgent({ name: 'one' });
    await gateway.admin.createAgent({ name: 'two' });
    for (const n of [1, 2]) {
      expect((await gateway.invoke({ agentId: agent.id, tool: 'alpha', input: { n } })).status).toBe('succeeded');
      expect((await gateway.invoke({ agentId: agent.id, tool: 'beta', input: { n } })).status).toBe('pending_approval');
    }
    const lists = ['/admin/tools', '/admin/policies', '/admin/agents', '/admin/approvals', '/admin/invocations', '/admin/audit'];
    for (const route of lists) {
      const cursor = (await get(gateway, `${route}?limit=1`)).body.nextCursor as string;
      expect(cursor, route).toEqual(expect.any(String));
      expect((await get(gateway, `${route}?limit=1&cursor=${cursor}`)).status).toBe(200);
      const half = Math.floor(cursor.length / 2);
      const inside = (junk: string) => `${cursor.slice(0, half)}${junk}${cursor.slice(half)}`;
      for (const tampered of [
        `${cursor}%3D`,
        `${cursor}%3D%3D`,
        `%20${cursor}`,
        `${cursor}%0A`,
        inside('%00'),
        inside('.'),
        inside('%25'),
      ]) {
        const answer = await get(gateway, `${route}?limit=1&cursor=${tampered}`);
        expect(answer.status, `${route} cursor=${tampered}`).toBe(400);
        expect(answer.body.error).toEqual({ code: 'BAD_REQUEST', message: 'Invalid cursor' });
      }
    }
  });

  it('of agents neither repeat nor skip one when agents are created between two pages within one millisecond', async () => {
    const at = Date.parse('2030-01-01T00:00:00Z');
    const gateway = createGateway({ now: () => at, admin: { tokens: [{ token: adminTokens.admin, id: 'alice', roles: ['admin'] }] } });
    gateways.push(gateway);
    const ids: string[] = [];
    for (const name of ['one', 'two', 'three']) ids.push((await gateway.admin.createAgent({ name })).agent.id);
    const first = await get(gateway, '/admin/agents?limit=2');
    const seen: string[] = first.body.items.map((agent: { id: string }) => agent.id);
    // Created at the same time as those listed: one whose id sorts before the last one seen.
    for (let attempt = 0; attempt < 500; attempt++) {
      const { agent } = await gateway.admin.createAgent({ name: `late-${attempt}` });
      ids.push(agent.id);
      if (agent.id < (seen[1] as string)) break;
    }
    let cursor = first.body.nextCursor as string | undefined;
    while (cursor !== undefined) {
      const page = await get(gateway, `/admin/agents?limit=2&cursor=${cursor}`);
      seen.push(...page.body.items.map((agent: { id: string }) => agent.id));
      cursor = page.body.nextCursor;
    }
    expect(seen).toHaveLength(new Set(seen).size);
    expect([...seen].sort()).toEqual([...ids].sort());
  });

  it('take a limit from 1 to 1000 on every list, and refuse any other with 400 naming the range', async () => {
    const gateway = setup();
    const lists = ['/admin/tools', '/admin/policies', '/admin/agents', '/admin/approvals', '/admin/invocations', '/admin/audit'];
    for (const route of lists) {
      for (const limit of ['1', '1000']) expect((await get(gateway, `${route}?limit=${limit}`)).status).toBe(200);
      for (const limit of ['0', '1001', '9999', '10000', '-1', '1.5', '1e3', '', 'x']) {
        const answer = await get(gateway, `${route}?limit=${limit}`);
        expect(answer.status, `${route}?limit=${limit}`).toBe(400);
        expect(answer.body.error).toEqual({ code: 'BAD_REQUEST', message: 'limit must be an integer from 1 to 1000' });
      }
    }
  });
});
