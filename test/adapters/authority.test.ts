/**
 * The host the gateway sees is the one the client named: `Host` over HTTP/1.1, `:authority`
 * over HTTP/2 (which has no `Host`). The MCP endpoint's same-origin check and its
 * `allowedHosts` (DNS-rebinding guard) depend on it; a request that names no host passes
 * neither.
 */
import {
  type ClientHttp2Session,
  type Http2SecureServer,
  type Http2Server,
  connect,
  createServer as createH2cServer,
  createSecureServer,
} from 'node:http2';
import { connect as connectSocket } from 'node:net';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fastifyGatewayPlugin } from '../../adapters/fastify.js';
import { createKoaMiddleware } from '../../adapters/koa.js';
import { createNodeHandler } from '../../adapters/node.js';
import { type Gateway, createGateway } from '../../src/index.js';
import { echo } from '../fixtures.js';
import { mcpHeaders } from '../helpers.js';
import { nodeHost } from './hosts.js';
import { selfSignedCertificate } from './self-signed.js';

const ping = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });

/** A gateway whose MCP endpoint takes only the host 127.0.0.1 (any port). */
async function guardedGateway() {
  const gateway = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }], mcp: { allowedHosts: ['127.0.0.1'] } });
  const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
  return { gateway, apiKey };
}

/** An HTTP/2 host serving the gateway at `/atg`: its origin (`https://127.0.0.1:port`, or `http:` for h2c) and how to stop it. */
interface H2Host {
  origin: string;
  close(): Promise<void>;
}

async function listenH2(server: Http2Server | Http2SecureServer, scheme: 'http' | 'https'): Promise<H2Host> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function fastifyH2(gateway: Gateway): Promise<H2Host> {
  const app = Fastify({ http2: true, https: { ...selfSignedCertificate(), allowHTTP1: true } });
  await app.register(fastifyGatewayPlugin, { gateway, prefix: '/atg' });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { origin: `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
}

async function fastifyH2c(gateway: Gateway): Promise<H2Host> {
  const app = Fastify({ http2: true });
  await app.register(fastifyGatewayPlugin, { gateway, prefix: '/atg' });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { origin: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
}

const h2Hosts: Array<[string, (gateway: Gateway) => Promise<H2Host>]> = [
  [
    'createNodeHandler on a secure HTTP/2 server',
    (gateway) =>
      listenH2(
        createSecureServer({ ...selfSignedCertificate(), allowHTTP1: true }, createNodeHandler(gateway, { basePath: '/atg' })),
        'https',
      ),
  ],
  ['createNodeHandler on an h2c server', (gateway) => listenH2(createH2cServer(createNodeHandler(gateway, { basePath: '/atg' })), 'http')],
  ['Fastify 5 with http2 and TLS', (gateway) => fastifyH2(gateway)],
  ['Fastify 5 with http2 (h2c)', (gateway) => fastifyH2c(gateway)],
  [
    'Koa 3 on a secure HTTP/2 server',
    (gateway) => {
      const app = new Koa();
      app.use(createKoaMiddleware(gateway, { basePath: '/atg' }));
      return listenH2(createSecureServer({ ...selfSignedCertificate(), allowHTTP1: true }, app.callback()), 'https');
    },
  ],
];

function h2Post(session: ClientHttp2Session, headers: Record<string, string>, body: string): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': '/atg/mcp', ...headers });
    let status = 0;
    let text = '';
    stream.setEncoding('utf8');
    stream.on('response', (responseHeaders) => {
      status = Number(responseHeaders[':status']);
    });
    stream.on('data', (chunk: string) => {
      text += chunk;
    });
    stream.on('end', () => resolve({ status, json: JSON.parse(text) }));
    stream.on('error', reject);
    stream.end(body);
  });
}

describe.each(h2Hosts)('%s', (_name, start) => {
  let gateway: Gateway;
  let apiKey: string;
  let host: H2Host;
  let session: ClientHttp2Session;
  beforeAll(async () => {
    ({ gateway, apiKey } = await guardedGateway());
    host = await start(gateway);
    session = connect(host.origin, { rejectUnauthorized: false });
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => session.close(() => resolve()));
    await host.close();
    await gateway.close();
  });

  it('takes :authority as the host: a same-origin browser request passes the Origin check', async () => {
    const answer = await h2Post(session, { ...mcpHeaders(apiKey), origin: host.origin }, ping);
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ jsonrpc: '2.0', id: 1, result: {} });
    const otherOrigin = await h2Post(session, { ...mcpHeaders(apiKey), origin: 'https://evil.example' }, ping);
    expect(otherOrigin.status).toBe(403);
    expect(otherOrigin.json.error.message).toBe('Origin not allowed');
  });

  it('holds mcp.allowedHosts against :authority', async () => {
    const rebound = await h2Post(session, { ...mcpHeaders(apiKey), ':authority': 'evil.example' }, ping);
    expect(rebound.status).toBe(403);
    expect(rebound.json.error).toEqual({ code: 'FORBIDDEN', message: 'Host not allowed' });
    const listed = await h2Post(session, { ...mcpHeaders(apiKey), ':authority': `127.0.0.1:${new URL(host.origin).port}` }, ping);
    expect(listed.status).toBe(200);
  });
});

/** One HTTP/1.0 exchange on a raw socket (no Host header unless given); the server closes after answering. */
function http10(url: string, head: string, body: string): Promise<{ status: number; json: any }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connectSocket(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [statusLine = '', ...rest] = text.split('\r\n');
      resolve({ status: Number(statusLine.split(' ')[1]), json: JSON.parse(rest.join('\r\n').split('\r\n\r\n')[1] ?? 'null') });
    });
    socket.end(`${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
}

describe('a request that names no host', () => {
  it('passes neither mcp.allowedHosts nor the same-origin check on the host the bridge makes up', async () => {
    const gateway = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }], mcp: { allowedHosts: ['localhost'] } });
    const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
    const sameOriginOnly = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }] });
    const other = await sameOriginOnly.admin.createAgent({ name: 'a' });
    const guarded = await nodeHost(gateway);
    const open = await nodeHost(sameOriginOnly);
    try {
      const mcpHead = (key: string, extra = '') =>
        `POST /atg/mcp HTTP/1.0\r\n${Object.entries(mcpHeaders(key))
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join('')}${extra}`;
      const noHost = await http10(guarded.url, mcpHead(apiKey), ping);
      expect(noHost.status).toBe(403);
      expect(noHost.json.error).toEqual({ code: 'FORBIDDEN', message: 'Host not allowed' });
      const named = await http10(guarded.url, mcpHead(apiKey, 'Host: localhost\r\n'), ping);
      expect(named.status).toBe(200);

      const claimedOrigin = await http10(open.url, mcpHead(other.apiKey, 'Origin: http://localhost\r\n'), ping);
      expect(claimedOrigin.status).toBe(403);
      expect(claimedOrigin.json.error.message).toBe('Origin not allowed');
      const withoutOrigin = await http10(open.url, mcpHead(other.apiKey), ping);
      expect(withoutOrigin.status).toBe(200);
    } finally {
      await guarded.close();
      await open.close();
      await gateway.close();
      await sameOriginOnly.close();
    }
  });
});

describe('mcp.allowedHosts with an IPv6 address', () => {
  it('lets a bare entry (::1) match the bracketed Host a client sends, on any port, as [::1] does', async () => {
    const bare = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }], mcp: { allowedHosts: ['::1'] } });
    const { apiKey } = await bare.admin.createAgent({ name: 'a' });
    const host = await nodeHost(bare);
    try {
      const mcpHead = (hostHeader: string) =>
        `POST /atg/mcp HTTP/1.0\r\nHost: ${hostHeader}\r\n${Object.entries(mcpHeaders(apiKey))
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join('')}`;
      expect((await http10(host.url, mcpHead('[::1]:3000'), ping)).status).toBe(200);
      expect((await http10(host.url, mcpHead('[::1]'), ping)).status).toBe(200);
      const other = await http10(host.url, mcpHead('[::2]:3000'), ping);
      expect(other.status).toBe(403);
      expect(other.json.error.message).toBe('Host not allowed');
    } finally {
      await host.close();
      await bare.close();
    }
  });
});
