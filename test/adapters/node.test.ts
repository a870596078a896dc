import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeHandler } from '../../adapters/node.js';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGateway, defineTool, httpTool } from '../../src/index.js';
import { echo } from '../fixtures.js';
import { deferred, listen } from '../helpers.js';

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
    const upstreamArrived = deferred();
    const upstreamClosed = deferred();
    const pendingResponses: ServerResponse[] = [];
    const upstream = createServer((_request, response) => {
      pendingResponses.push(response);
      response.on('close', () => upstreamClosed.resolve());
      upstreamArrived.resolve();
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    closers.push(async () => {
      for (const response of pendingResponses) response.destroy();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    });
    const { port } = upstream.address() as AddressInfo;
    const slow = httpTool({
      name: 'slow',
      description: 'an upstream that never answers',
      method: 'GET',
      url: `http://127.0.0.1:${port}/slow`,
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
    await upstreamArrived.promise;
    controller.abort();
    await upstreamClosed.promise; // the gateway closed its upstream connection
    await pending;
    for (;;) {
      const { items } = await gateway.admin.listInvocations();
      if (items[0]?.status !== undefined && items[0].status !== 'running') {
        expect(items[0]).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' } });
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });

  it('aborts the call when the client disconnects', async () => {
    let resolveAborted: () => void = () => undefined;
    const aborted = new Promise<void>((resolve) => {
      resolveAborted = resolve;
    });
    let resolveStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      resolveStarted = resolve;
    });
    const hang = defineTool({
      name: 'hang',
      description: 'waits until aborted',
      inputSchema: { type: 'object' } as const,
      handler: (_input, { signal }) =>
        new Promise((resolve) => {
          resolveStarted();
          signal.addEventListener('abort', () => {
            resolveAborted();
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
    await started;
    controller.abort();
    await aborted;
    await pending;
    // The call is recorded as cancelled once the pipeline unwinds.
    for (;;) {
      const { items } = await gateway.admin.listInvocations();
      if (items.length > 0) {
        expect(items[0]?.error?.code).toBe('CANCELLED');
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
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
});
