/**
 * Every Node adapter takes the gateway's `maxBodyBytes` as its own limit unless it is given
 * one: one setting on the gateway holds behind every framework.
 */
import { type Http2Server, Http2ServerResponse, connect, createServer as createH2cServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import Koa from 'koa';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fastifyGatewayPlugin } from '../../adapters/fastify.js';
import { createKoaMiddleware } from '../../adapters/koa.js';
import { createNodeHandler } from '../../adapters/node.js';
import { type Gateway, createGateway, defineTool } from '../../src/index.js';
import { type AdapterOptions, everyHost } from './hosts.js';
import { send } from './send.js';

const measure = defineTool({
  name: 'measure',
  description: 'Answers the length of its text',
  inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } as const,
  handler: ({ text }) => ({ length: text.length }),
});

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

describe.each(everyHost)('%s', (_name, start) => {
  async function serve(maxBodyBytes: number, options?: AdapterOptions) {
    const gateway = createGateway({ maxBodyBytes, tools: [measure], policy: [{ id: 'all', effect: 'allow' }] });
    const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
    const host = await start(gateway, options);
    closers.push(async () => {
      await host.close();
      await gateway.close();
    });
    const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
    return (text: string) => send(`${host.url}/tools/measure/invoke`, { headers, body: JSON.stringify({ input: { text } }) });
  }

  it("takes a 2 MiB body when the gateway's maxBodyBytes is 4 MiB", async () => {
    const invoke = await serve(4 * 1024 * 1024);
    const answer = await invoke('x'.repeat(2 * 1024 * 1024));
    expect(answer.status).toBe(200);
    expect(answer.json()).toMatchObject({ status: 'succeeded', output: { length: 2 * 1024 * 1024 } });
  });

  it("refuses with 413 past the gateway's maxBodyBytes below 1 MiB", async () => {
    const invoke = await serve(1024);
    const answer = await invoke('x'.repeat(2048));
    expect(answer.status).toBe(413);
    expect(answer.json().error).toEqual({ code: 'PAYLOAD_TOO_LARGE', message: 'Request body exceeds 1024 bytes' });
    // The gateway's own error headers, and the connection closed: the rest of the body is unread.
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.headers.connection).toBe('close');
  });

  it("applies the adapter's own maxBodyBytes over the gateway's", async () => {
    const invoke = await serve(4 * 1024 * 1024, { maxBodyBytes: 1024 });
    const answer = await invoke('x'.repeat(2048));
    expect(answer.status).toBe(413);
    expect(answer.json().error).toEqual({ code: 'PAYLOAD_TOO_LARGE', message: 'Request body exceeds 1024 bytes' });
  });
});

async function listenH2c(server: Http2Server): Promise<{ origin: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const h2cHosts: Array<[string, (gateway: Gateway) => Promise<{ origin: string; close(): Promise<void> }>]> = [
  ['createNodeHandler', (gateway) => listenH2c(createH2cServer(createNodeHandler(gateway, { basePath: '/atg' })))],
  [
    'Koa 3',
    (gateway) => {
      const app = new Koa();
      app.use(createKoaMiddleware(gateway, { basePath: '/atg' }));
      return listenH2c(createH2cServer(app.callback()));
    },
  ],
  [
    'Fastify 5',
    async (gateway) => {
      const app = Fastify({ http2: true });
      await app.register(fastifyGatewayPlugin, { gateway, prefix: '/atg' });
      await app.listen({ port: 0, host: '127.0.0.1' });
      return { origin: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
    },
  ],
];

/** One HTTP/2 POST with a declared length: the answer's status and body. */
function h2Post(origin: string, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
  const session = connect(origin);
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-length': String(Buffer.byteLength(body)), ...headers });
    let status = 0;
    let text = '';
    stream.setEncoding('utf8');
    stream.on('response', (responseHeaders) => {
      status = Number(responseHeaders[':status']);
    });
    stream.on('data', (chunk: string) => {
      text += chunk;
    });
    stream.on('end', () => resolve({ status, text }));
    stream.on('error', reject);
    stream.end(body);
  }).finally(() => session.close());
}

describe.each(h2cHosts)('%s over HTTP/2', (_name, start) => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('answers a body past the limit with 413 and no Connection header, which HTTP/2 forbids', async () => {
    // Node's HTTP/2 compatibility layer drops a Connection header with a process warning.
    const named: string[] = [];
    const { setHeader, writeHead } = Http2ServerResponse.prototype;
    vi.spyOn(Http2ServerResponse.prototype, 'setHeader').mockImplementation(function (this: Http2ServerResponse, name, value) {
      named.push(name.toLowerCase());
      return setHeader.call(this, name, value);
    });
    vi.spyOn(Http2ServerResponse.prototype, 'writeHead').mockImplementation(function (this: Http2ServerResponse, ...args: unknown[]) {
      const headers = args.find((arg) => typeof arg === 'object' && arg !== null) ?? {};
      named.push(...Object.keys(headers).map((name) => name.toLowerCase()));
      return (writeHead as (...inner: unknown[]) => Http2ServerResponse).apply(this, args);
    });
    const gateway = createGateway({ maxBodyBytes: 1024, tools: [measure], policy: [{ id: 'all', effect: 'allow' }] });
    const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
    const host = await start(gateway);
    closers.push(async () => {
      await host.close();
      await gateway.close();
    });
    const answer = await h2Post(
      host.origin,
      '/atg/tools/measure/invoke',
      { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      JSON.stringify({ input: { text: 'x'.repeat(2048) } }),
    );
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.text).error).toEqual({ code: 'PAYLOAD_TOO_LARGE', message: 'Request body exceeds 1024 bytes' });
    expect(named).toContain('content-type');
    expect(named).not.toContain('connection');
  });
});
