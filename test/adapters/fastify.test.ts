import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import Fastify4 from 'fastify4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fastifyGatewayPlugin } from '../../adapters/fastify.js';
import { type Gateway, createGateway } from '../../src/index.js';
import { echo } from '../fixtures.js';
import { type Host, fastifyHost } from './hosts.js';
import { send } from './send.js';

describe('fastifyGatewayPlugin with a prefix', () => {
  const reported: unknown[] = [];
  let gateway: Gateway;
  let host: Host;
  let authorization: string;
  beforeAll(async () => {
    gateway = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }], onError: (error) => reported.push(error) });
    authorization = `Bearer ${(await gateway.admin.createAgent({ name: 'a' })).apiKey}`;
    host = await fastifyHost(gateway, {}, (error) => reported.push(error));
  });
  afterAll(async () => {
    await host.close();
    await gateway.close();
  });

  it('answers a percent-encoded prefix as an unknown path: 404, nothing reported', async () => {
    const origin = new URL(host.url).origin;
    for (const path of ['/%61tg/tools', '/%61%74%67/tools/echo/invoke', '/%61tg']) {
      const answer = await send(origin + path, { method: 'GET', headers: { authorization } });
      expect(answer.status).toBe(404);
      expect(answer.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'No such route' } });
      expect(answer.headers['cache-control']).toBe('no-store');
    }
    expect(reported).toEqual([]);
  });

  it('still serves the prefix as spelled, with an encoded remainder', async () => {
    const tools = await send(`${host.url}/tools`, { method: 'GET', headers: { authorization } });
    expect(tools.status).toBe(200);
    const invoked = await send(`${host.url}/tools/%65cho/invoke?x=1`, {
      headers: { authorization, 'content-type': 'application/json' },
      body: '{"input":{"text":"hi"}}',
    });
    expect(invoked.status).toBe(200);
    expect(invoked.json()).toMatchObject({ status: 'succeeded', output: { text: 'hi' } });
    expect(reported).toEqual([]);
  });
});

describe.each([
  ['Fastify 5', () => Fastify()],
  ['Fastify 4', () => Fastify4() as unknown as FastifyInstance],
])('fastifyGatewayPlugin on %s, and what Fastify refuses before the gateway', (_name, create) => {
  let gateway: Gateway;
  let authorization: string;
  const reachedHost: unknown[] = [];
  beforeAll(async () => {
    gateway = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }] });
    authorization = `Bearer ${(await gateway.admin.createAgent({ name: 'a' })).apiKey}`;
  });
  afterAll(() => gateway.close());

  async function started(prefix: string): Promise<{ origin: string; close(): Promise<void> }> {
    const app = create();
    app.setErrorHandler(async (error, _request, reply) => {
      reachedHost.push(error);
      return reply.code(500).send({ failed: true });
    });
    await app.register(fastifyGatewayPlugin, { gateway, prefix });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { origin: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
  }

  it("serves a prefix given with a trailing slash at the prefix's URLs, as Fastify serves its own routes", async () => {
    const host = await started('/atg/');
    const tools = await send(`${host.origin}/atg/tools`, { method: 'GET', headers: { authorization } });
    expect(tools.status).toBe(200);
    const invoked = await send(`${host.origin}/atg/tools/echo/invoke`, {
      headers: { authorization, 'content-type': 'application/json' },
      body: '{"input":{"text":"hi"}}',
    });
    expect(invoked.json()).toMatchObject({ status: 'succeeded', output: { text: 'hi' } });
    await host.close();
  });

  it("answers a Content-Type Fastify cannot parse with the gateway's own 415, not Fastify's", async () => {
    const host = await started('/atg');
    for (const contentType of ['', 'json', 'application/json, text/plain']) {
      const answer = await send(`${host.origin}/atg/tools/echo/invoke`, {
        headers: { authorization, 'content-type': contentType },
        body: '{"input":{"text":"hi"}}',
      });
      expect(answer.status, contentType).toBe(415);
      expect(answer.json()).toEqual({
        error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Content-Type must be application/json, in UTF-8' },
      });
      expect(answer.headers['cache-control']).toBe('no-store');
    }
    expect(reachedHost).toEqual([]);
    await host.close();
  });

  it("never lets a request past the host's preHandler hooks, whatever its Content-Type", async () => {
    const adminToken = 'admin-token-0123456789abcdef';
    const guarded = createGateway({ tools: [echo], admin: { tokens: [{ token: adminToken, id: 'ops', roles: ['admin'] }] } });
    await guarded.admin.createPolicy({ id: 'p1', effect: 'allow' });
    const app = create();
    // The host's own gate (single sign-on, an IP allow-list) in front of everything.
    app.addHook('preHandler', async (_request, reply) => reply.code(403).send({ host: 'forbidden' }));
    await app.register(fastifyGatewayPlugin, { gateway: guarded, prefix: '/atg' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    for (const contentType of [undefined, 'json', '', 'a, b']) {
      const answer = await send(`${origin}/atg/admin/policies/p1`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${adminToken}`, ...(contentType === undefined ? {} : { 'content-type': contentType }) },
      });
      expect([403, 415], String(contentType)).toContain(answer.status);
    }
    expect((await guarded.admin.listPolicies()).map((policy) => policy.id)).toContain('p1');
    await app.close();
    await guarded.close();
  });
});

describe.each([
  ['Fastify 5', () => Fastify()],
  ['Fastify 4', () => Fastify4() as unknown as FastifyInstance],
])("fastifyGatewayPlugin on %s, and the headers the host's hooks set", (_name, create) => {
  it("writes them on the gateway's answers as on its early ones, under the gateway's own", async () => {
    const gateway = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }] });
    const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
    const app = create();
    // As @fastify/cors, @fastify/helmet or a request-id plugin set theirs.
    app.addHook('onRequest', async (_request, reply) => {
      reply.header('x-request-id', 'req-1');
    });
    app.addHook('preHandler', async (_request, reply) => {
      reply.header('x-frame-options', 'DENY').header('cache-control', 'public, max-age=60');
    });
    // A hook's headers about a body describe none of the gateway's.
    app.addHook('onRequest', async (_request, reply) => {
      reply.header('content-type', 'text/html').header('content-encoding', 'gzip');
    });
    await app.register(fastifyGatewayPlugin, { gateway, prefix: '/atg' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const notified = await send(`${origin}/atg/mcp`, {
        headers: {
          authorization: `Bearer ${apiKey}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: '{"jsonrpc":"2.0","method":"notifications/initialized"}',
      });
      expect(notified.status).toBe(202);
      expect(notified.headers['x-request-id']).toBe('req-1');
      expect(notified.headers).not.toHaveProperty('content-type');
      expect(notified.headers).not.toHaveProperty('content-encoding');
      const invoked = await send(`${origin}/atg/tools/echo/invoke`, {
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: '{"input":{"text":"hi"}}',
      });
      const refused = await send(`${origin}/atg/tools`, { method: 'GET' });
      const early = await send(`${origin}/%61tg/tools`, { method: 'GET' });
      expect([invoked.status, refused.status, early.status]).toEqual([200, 401, 404]);
      expect(invoked.json()).toMatchObject({ status: 'succeeded', output: { text: 'hi' } });
      for (const answer of [invoked, refused, early]) {
        expect(answer.headers).toMatchObject({
          'x-request-id': 'req-1',
          'x-frame-options': 'DENY',
          'cache-control': 'no-store',
          'content-type': 'application/json; charset=utf-8',
        });
      }
      // The gateway's own answers (the early one is Fastify's, whose hooks' headers Fastify keeps).
      for (const answer of [invoked, refused]) expect(answer.headers).not.toHaveProperty('content-encoding');
    } finally {
      await app.close();
      await gateway.close();
    }
  });
});

describe('Fastify answering a malformed percent escape before the plugin runs', () => {
  let gateway: Gateway;
  let app: FastifyInstance;
  let origin: string;
  let authorization: string;
  beforeAll(async () => {
    gateway = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }] });
    authorization = `Bearer ${(await gateway.admin.createAgent({ name: 'a' })).apiKey}`;
    // As docs/frameworks.md shows it.
    app = Fastify({
      frameworkErrors: (error, request, reply: FastifyReply) => {
        if (error.code === 'FST_ERR_BAD_URL' && request.url.startsWith('/atg/')) {
          return reply
            .code(400)
            .header('content-type', 'application/json; charset=utf-8')
            .header('cache-control', 'no-store')
            .send(JSON.stringify({ error: { code: 'BAD_REQUEST', message: 'Malformed path' } }));
        }
        return reply.send(error);
      },
    });
    await app.register(fastifyGatewayPlugin, { gateway, prefix: '/atg' });
    app.get('/host/*', async () => ({ ok: true }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app.close();
    await gateway.close();
  });

  it("answers with the gateway's 400 under the prefix through frameworkErrors, as the other adapters do", async () => {
    const viaFastify = await send(origin, {
      target: '/atg/tools/%zz/invoke',
      headers: { authorization, 'content-type': 'application/json' },
      body: '{"input":{}}',
    });
    const viaGateway = await gateway.fetch(
      new Request('http://gateway.test/tools/%zz/invoke', {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json' },
        body: '{"input":{}}',
      }),
    );
    expect(viaFastify.status).toBe(400);
    expect(viaFastify.json()).toEqual(await viaGateway.json());
    expect(viaFastify.headers['content-type']).toBe(viaGateway.headers.get('content-type'));
    expect(viaFastify.headers['cache-control']).toBe('no-store');
  });

  it("leaves Fastify's own answer elsewhere", async () => {
    const elsewhere = await send(origin, { method: 'GET', target: '/host/%zz' });
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.json()).toMatchObject({ code: 'FST_ERR_BAD_URL' });
  });
});

describe('fastifyGatewayPlugin on Fastify 4', () => {
  it('names the gateway URL after the request host, so a same-origin MCP call from a browser is served', async () => {
    const gateway = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }] });
    const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
    const app = (Fastify4 as unknown as typeof Fastify)();
    await app.register(fastifyGatewayPlugin, { gateway, prefix: '/atg' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const answer = await send(`${origin}/atg/mcp`, {
        headers: {
          authorization: `Bearer ${apiKey}`,
          origin,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      expect(answer.status).toBe(200);
      expect((answer.json() as { result: { tools: Array<{ name: string }> } }).result.tools.map((tool) => tool.name)).toEqual(['echo']);
    } finally {
      await app.close();
      await gateway.close();
    }
  });
});
