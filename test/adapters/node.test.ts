import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeHandler } from '../../adapters/node.js';
import { GatewayError, type PolicyEngine, createGateway, defineTool, httpTool } from '../../src/index.js';
import { echo } from '../fixtures.js';
import { deferred, listen, mcpHeaders, silentUpstream } from '../helpers.js';
import { selfSignedCertificate } from './self-signed.js';
import { send } from './send.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

async function serve(options: Parameters<typeof createGateway>[0], handlerOptions = {}) {
  const gateway = createGateway(options);
  const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
  const server = await listen(createNodeHandler(gateway, handlerOptions));
  closers.push(async () => {
    await server.close();
    await gateway.close();
  });
  return { gateway, apiKey, url: server.url };
}

/** The first call's record once the pipeline has unwound (a cancelled call is recorded after its client left). */
async function finalRecord(gateway: ReturnType<typeof createGateway>) {
  for (;;) {
    const [record] = (await gateway.admin.listInvocations()).items;
    if (record !== undefined && record.status !== 'running') return record;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('createNodeHandler over node:http', () => {
  it('serves REST invoke end to end', async () => {
    const { apiKey, url } = await serve({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }] });
    const response = await fetch(`${url}/tools/echo/invoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ input: { text: 'over the wire' } }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'succeeded', output: { text: 'over the wire' } });
    const unauthorized = await fetch(`${url}/tools`);
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('stops reading a streamed body past the limit and answers 413', async () => {
    const { apiKey, url } = await serve({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }] }, { maxBodyBytes: 4096 });
    const { port } = new URL(url);
    const status = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/tools/echo/invoke',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on('error', reject);
      // Chunked, no Content-Length: the limit must hold while streaming.
      request.write('{"input":{"text":"');
      const chunk = 'x'.repeat(1024);
      let sent = 0;
      const pump = () => {
        while (sent < 64) {
          sent++;
          if (!request.write(chunk)) {
            request.once('drain', pump);
            return;
          }
        }
        request.end('"}}');
      };
      pump();
    });
    expect(status).toBe(413);
  });

  it("a client that disconnects tears down an HTTP tool's upstream call (MCP door)", async () => {
    // Never answers: only the client's disconnect ends the call.
    const upstream = await silentUpstream();
    closers.push(upstream.close);
    const slow = httpTool({
      name: 'slow',
      description: 'an upstream that never answers',
      method: 'GET',
      url: `${upstream.url}/slow`,
      inputSchema: { type: 'object' },
      allowPrivateNetwork: true,
      timeoutMs: 60_000,
    });
    const { apiKey, url, gateway } = await serve({ tools: [slow], policy: [{ id: 'all', effect: 'allow' }] });
    const controller = new AbortController();
    const pending = fetch(`${url}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${apiKey}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'slow', arguments: {} } }),
      signal: controller.signal,
    }).catch(() => undefined);
    await upstream.arrived;
    controller.abort();
    await upstream.closed; // the gateway closed its upstream connection
    await pending;
    expect(await finalRecord(gateway)).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' } });
  });

  it('aborts the call when the client disconnects', async () => {
    const aborted = deferred();
    const started = deferred();
    const hang = defineTool({
      name: 'hang',
      description: 'waits until aborted',
      inputSchema: { type: 'object' } as const,
      handler: (_input, { signal }) =>
        new Promise((resolve) => {
          started.resolve();
          signal.addEventListener('abort', () => {
            aborted.resolve();
            resolve({});
          });
        }),
    });
    const { apiKey, url, gateway } = await serve({ tools: [hang], policy: [{ id: 'all', effect: 'allow' }] });
    const controller = new AbortController();
    const pending = fetch(`${url}/tools/hang/invoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: '{"input":{}}',
      signal: controller.signal,
    }).catch(() => undefined);
    await started.promise;
    controller.abort();
    await aborted.promise;
    await pending;
    // The call is recorded as cancelled once the pipeline unwinds.
    expect((await finalRecord(gateway)).error?.code).toBe('CANCELLED');
  });

  it("answers the gateway's 500, and keeps serving, when a hook's error carries a header Node cannot send", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    closers.push(async () => {
      process.off('unhandledRejection', onUnhandled);
    });
    let refuse = true;
    const policy: PolicyEngine = {
      evaluate: () => {
        if (!refuse) return { effect: 'allow', ruleIds: ['all'] };
        throw new GatewayError({
          code: 'POLICY_DENIED',
          message: 'Not now',
          headers: { 'retry-after': '1', 'x-why': 'a\r\nset-cookie: x=1' },
        });
      },
    };
    const { apiKey, url } = await serve({ tools: [echo], policy });
    const call = () =>
      fetch(`${url}/tools/echo/invoke`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ input: { text: 'hi' } }),
        signal: AbortSignal.timeout(5000),
      });
    const refused = await call();
    expect(refused.status).toBe(500);
    expect(await refused.json()).toEqual({ error: { code: 'INTERNAL', message: 'Internal error' } });
    // None of the refused answer's headers went out.
    expect(refused.headers.get('retry-after')).toBeNull();
    expect(refused.headers.get('x-why')).toBeNull();
    expect(refused.headers.get('set-cookie')).toBeNull();
    refuse = false;
    const served = await call();
    expect(served.status).toBe(200);
    expect(unhandled).toEqual([]);
  });

  it('refuses a basePath that would match none of the URLs it names, as the other adapters do', async () => {
    const gateway = createGateway({ tools: [echo] });
    for (const basePath of ['/atg/', '/', 'atg']) {
      expect(() => createNodeHandler(gateway, { basePath })).toThrow(
        'createNodeHandler: basePath must be "" or start with "/" and not end with "/"',
      );
    }
    await gateway.close();
  });

  it('serves under a mount prefix and passes other requests to next()', async () => {
    const gateway = createGateway({ basePath: '/atg', tools: [echo], policy: [{ id: 'all', effect: 'allow' }] });
    const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
    const handler = createNodeHandler(gateway);
    const server = await listen((req, res) =>
      handler(req, res, () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('host route');
      }),
    );
    closers.push(async () => {
      await server.close();
      await gateway.close();
    });
    const tools = await fetch(`${server.url}/atg/tools`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(tools.status).toBe(200);
    const host = await fetch(`${server.url}/health`);
    expect(await host.text()).toBe('host route');
    const lookalike = await fetch(`${server.url}/atgx/tools`);
    expect(await lookalike.text()).toBe('host route');
  });

  it('answers outside its mount without next() as the gateway answers an unknown path', async () => {
    const gateway = createGateway({ basePath: '/atg', tools: [echo], policy: [{ id: 'all', effect: 'allow' }] });
    const server = await listen(createNodeHandler(gateway));
    closers.push(async () => {
      await server.close();
      await gateway.close();
    });
    const outside = await fetch(`${server.url}/elsewhere`);
    const unknown = await fetch(`${server.url}/atg/no-such-route`);
    for (const answer of [outside, unknown]) {
      expect(answer.status).toBe(404);
      expect(answer.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(answer.headers.get('cache-control')).toBe('no-store');
    }
    expect(await outside.json()).toEqual(await unknown.json());
  });

  it('answers a malformed Host header with 400, on every route, without telling onError', async () => {
    const errors: unknown[] = [];
    const { apiKey, url } = await serve({
      tools: [echo],
      policy: [{ id: 'all', effect: 'allow' }],
      onError: (error) => errors.push(error),
    });
    for (const host of ['a:b:c', '127.0.0.1:99999', '[::1', ']', '999.999.999.999']) {
      for (const path of ['/tools', '/mcp', '/admin/agents']) {
        const answer = await send(`${url}${path}`, { method: 'GET', headers: { host, authorization: `Bearer ${apiKey}` } });
        expect(answer.status, `${host} ${path}`).toBe(400);
        expect(answer.json().error).toEqual({ code: 'BAD_REQUEST', message: 'Malformed request URL: check the Host header' });
      }
    }
    expect(errors).toEqual([]);
    expect((await fetch(`${url}/tools`, { headers: { authorization: `Bearer ${apiKey}` } })).status).toBe(200);
  });

  it('lets a browser on an origin in mcp.allowedOrigins preflight and call /mcp over the wire', async () => {
    const origin = 'https://console.example.com';
    const { apiKey, url } = await serve({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }], mcp: { allowedOrigins: [origin] } });
    const preflight = await fetch(`${url}/mcp`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(origin);
    expect(preflight.headers.get('access-control-allow-headers')).toBe('authorization, content-type');
    const call = await fetch(`${url}/mcp`, {
      method: 'POST',
      headers: { ...mcpHeaders(apiKey), origin },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'echo', arguments: { text: 'from a browser' } },
      }),
    });
    expect(call.status).toBe(200);
    expect(call.headers.get('access-control-allow-origin')).toBe(origin);
    expect(await call.json()).toMatchObject({ result: { content: [{ type: 'text', text: '{"text":"from a browser"}' }] } });
    const keyless = await fetch(`${url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', origin }, body: '{}' });
    expect(keyless.status).toBe(401);
    expect(keyless.headers.get('access-control-expose-headers')).toContain('www-authenticate');
  });

  it('over node:https, builds https URLs: a same-origin https Origin passes the MCP check', async () => {
    const gateway = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }] });
    const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
    const server = createHttpsServer(selfSignedCertificate(), createNodeHandler(gateway));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await gateway.close();
    });
    const authority = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const list = (origin: string) =>
      send(`https://${authority}/mcp`, {
        headers: { ...mcpHeaders(apiKey), origin },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
      });
    const sameOrigin = await list(`https://${authority}`);
    expect(sameOrigin.status).toBe(200);
    expect(sameOrigin.json().result.tools.map((tool: { name: string }) => tool.name)).toEqual(['echo']);
    const plainHttp = await list(`http://${authority}`);
    expect(plainHttp.status).toBe(403);
    expect(plainHttp.json().error.message).toBe('Origin not allowed');
  });
});

describe('createNodeHandler with a gateway whose fetch was wrapped', () => {
  const wrap = (fetch: (request: Request) => Promise<Response>) => async (request: Request) => {
    const response = await fetch(request);
    const headers = new Headers(response.headers);
    headers.set('x-wrapped', request.method);
    return new Response(response.body, { status: response.status, headers });
  };

  it('answers through the wrapper, whether the gateway was spread or put behind a Proxy', async () => {
    const gateway = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }] });
    closers.push(() => gateway.close());
    const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
    const spread = { ...gateway, fetch: wrap(gateway.fetch) };
    const wrappedFetch = wrap(gateway.fetch);
    const proxied = new Proxy(gateway, {
      get: (target, property) => (property === 'fetch' ? wrappedFetch : Reflect.get(target, property)),
    });
    for (const wrapped of [spread, proxied]) {
      const server = await listen(createNodeHandler(wrapped));
      closers.push(() => server.close());
      const response = await fetch(`${server.url}/tools/echo/invoke`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ input: { text: 'hi' } }),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-wrapped')).toBe('POST');
      expect(await response.json()).toMatchObject({ status: 'succeeded', output: { text: 'hi' } });
    }
  });

  it('hands the wrapper a real Request, which it can rebuild with headers of its own', async () => {
    const gateway = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }] });
    closers.push(() => gateway.close());
    const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
    const seen: unknown[] = [];
    const wrapped = {
      ...gateway,
      fetch: (request: Request) => {
        seen.push(request instanceof Request);
        const headers = new Headers(request.headers);
        headers.set('x-trace-id', 't-1');
        return gateway.fetch(new Request(request, { headers }));
      },
    };
    const server = await listen(createNodeHandler(wrapped));
    closers.push(() => server.close());
    const response = await fetch(`${server.url}/tools/echo/invoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ input: { text: 'hi' } }),
      signal: AbortSignal.timeout(5000),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'succeeded', output: { text: 'hi' } });
    expect(seen).toEqual([true]);
  });

  it("answers the gateway's 500 when the wrapper throws, or hands the error to next", async () => {
    const gateway = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }] });
    closers.push(() => gateway.close());
    const wrapped = {
      ...gateway,
      fetch: async () => {
        throw new Error('wrapper broke at db://user:secret@host');
      },
    };
    const server = await listen(createNodeHandler(wrapped));
    closers.push(() => server.close());
    const response = await fetch(`${server.url}/tools`, { signal: AbortSignal.timeout(5000) });
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ error: { code: 'INTERNAL', message: 'Internal error' } });
    expect(text).not.toContain('secret');

    const handed: unknown[] = [];
    const handler = createNodeHandler(wrapped);
    const withNext = await listen((req, res) => {
      void handler(req, res, (error) => {
        handed.push(error);
        res.writeHead(502).end();
      });
    });
    closers.push(() => withNext.close());
    expect((await fetch(`${withNext.url}/tools`, { signal: AbortSignal.timeout(5000) })).status).toBe(502);
    expect(handed.map(String)).toEqual(['Error: wrapper broke at db://user:secret@host']);
  });
});
