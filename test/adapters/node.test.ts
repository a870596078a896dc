import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeHandler } from '../../adapters/node.js';
import { createGateway, defineTool } from '../../src/index.js';
import { echo } from '../fixtures.js';
import { listen } from '../helpers.js';

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
