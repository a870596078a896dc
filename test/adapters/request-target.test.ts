/**
 * The adapters check their mount on the request target as sent, and the gateway routes on
 * the parsed URL. Whatever URL parsing would rewrite (dot segments, `\`) is refused before
 * either, and an absolute-form target is routed by its path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, createGateway } from '../../src/index.js';
import { adminTokens, echo } from '../fixtures.js';
import { type Host, everyHost } from './hosts.js';
import { send } from './send.js';

const admin = `Bearer ${adminTokens.admin}`;

/** Raw paths under the mount that URL parsing would turn into `/atg/admin/agents` or another route. */
const rewritten = [
  '/atg/tools/%2e%2e/admin/agents',
  '/atg/tools/%2E%2e/admin/agents',
  '/atg/tools/.%2E/admin/agents',
  '/atg/tools/%2e./admin/agents',
  '/atg/tools/../admin/agents',
  '/atg/./admin/agents',
  '/atg/%2e/admin/agents',
  '/atg/admin/agents/x/..',
  '/atg/tools/..?limit=1',
  '/atg/tools\\..\\admin/agents',
  '/atg/admin\\agents',
];

describe.each(everyHost)('%s', (_name, start) => {
  const authenticated: string[] = [];
  let gateway: Gateway;
  let host: Host;
  let origin: string;
  let agent: string;
  beforeAll(async () => {
    gateway = createGateway({
      tools: [echo],
      policy: [{ id: 'all', effect: 'allow' }],
      admin: {
        authenticate: (request) => {
          authenticated.push(new URL(request.url).pathname);
          return request.headers.get('authorization') === admin ? { id: 'alice', roles: ['admin'] } : null;
        },
      },
    });
    agent = `Bearer ${(await gateway.admin.createAgent({ name: 'a' })).apiKey}`;
    host = await start(gateway);
    origin = new URL(host.url).origin;
  });
  afterAll(async () => {
    await host.close();
    await gateway.close();
  });

  it('refuses a path with a dot segment (plain or percent-encoded, any case) or a backslash: 400, no route reached', async () => {
    for (const target of rewritten) {
      const answer = await send(origin, { method: 'GET', target, headers: { authorization: admin } });
      expect(answer.status, target).toBe(400);
      expect(answer.json(), target).toEqual({ error: { code: 'BAD_REQUEST', message: 'Malformed path' } });
      expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(answer.headers['cache-control']).toBe('no-store');
    }
    expect(authenticated).toEqual([]);
    // The same admin route, spelled plainly, is served.
    const agents = await send(`${host.url}/admin/agents`, { method: 'GET', headers: { authorization: admin } });
    expect(agents.status).toBe(200);
    expect(authenticated).toEqual(['/admin/agents']);
    authenticated.length = 0;
  });

  it('serves dots that are not whole segments, and dot segments in the query', async () => {
    const listed = await send(origin, { method: 'GET', target: '/atg/tools?cursor=../x/./%2e%2e', headers: { authorization: agent } });
    expect(listed.status).toBe(200);
    for (const name of ['...', '.x', 'x..', '%2e%2e%2e']) {
      const answer = await send(origin, {
        target: `/atg/tools/${name}/invoke`,
        headers: { authorization: agent, 'content-type': 'application/json' },
        body: '{"input":{}}',
      });
      expect(answer.status, name).toBe(404);
      expect(answer.json().error.code, name).toBe('TOOL_NOT_FOUND');
    }
  });

  it('routes an absolute-form request target (RFC 9112 §3.2.2) by its path, and checks it as it checks any path', async () => {
    const invoked = await send(origin, {
      target: `${origin}/atg/tools/echo/invoke?trace=1`,
      headers: { authorization: agent, 'content-type': 'application/json' },
      body: '{"input":{"text":"absolute"}}',
    });
    expect(invoked.status).toBe(200);
    expect(invoked.json()).toMatchObject({ status: 'succeeded', output: { text: 'absolute' } });
    const listed = await send(origin, {
      method: 'GET',
      target: `HTTP://${new URL(origin).host}/atg/tools`,
      headers: { authorization: agent },
    });
    expect(listed.status).toBe(200);
    const dotted = await send(origin, {
      method: 'GET',
      target: `${origin}/atg/tools/%2e%2e/admin/agents`,
      headers: { authorization: admin },
    });
    expect(dotted.status).toBe(400);
    expect(dotted.json().error).toEqual({ code: 'BAD_REQUEST', message: 'Malformed path' });
    expect(authenticated).toEqual([]);
  });
});
