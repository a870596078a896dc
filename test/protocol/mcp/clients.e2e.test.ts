/**
 * The official MCP clients are the judges: v2 (`@modelcontextprotocol/client`) with legacy and
 * 2026-07-28 negotiation, and v1 (`@modelcontextprotocol/sdk`), each against a real
 * node:http server hosting the MCP handler over a fake backend.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMcpHandler, type McpHandler } from '../../../src/protocol/mcp/index.js';
import { abortOfSignal } from '../../../src/util/call-abort.js';
import { createFakeBackend, type FakeBackend, fakeTools, goodKey, manyTools, testOptions } from './fake-backend.js';

const listing = [...fakeTools, ...manyTools(120)].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

/** A minimal IncomingMessage ⇄ Request bridge for the test server. */
async function bridge(handler: McpHandler, incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
  const controller = new AbortController();
  outgoing.on('close', () => {
    if (!outgoing.writableFinished) controller.abort();
  });
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else if (value !== undefined) headers.set(name, value);
  }
  const hasBody = incoming.method !== 'GET' && incoming.method !== 'HEAD';
  const request = new Request(`http://${incoming.headers.host}${incoming.url}`, {
    method: incoming.method,
    headers,
    body: hasBody ? Buffer.concat(chunks) : undefined,
  });
  const response = await handler.handle(request, abortOfSignal(controller.signal));
  outgoing.writeHead(response.status, Object.fromEntries(response.headers));
  outgoing.end(await response.text());
}

let server: Server;
let url: URL;
let backend: FakeBackend;
const requestLog: Array<{ method: string | undefined; headers: IncomingMessage['headers'] }> = [];

beforeAll(async () => {
  backend = createFakeBackend(listing);
  const handler = createMcpHandler(backend, testOptions);
  server = createServer((incoming, outgoing) => {
    requestLog.push({ method: incoming.method, headers: incoming.headers });
    bridge(handler, incoming, outgoing).catch(() => {
      outgoing.statusCode = 500;
      outgoing.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const auth = (key = goodKey) => ({ requestInit: { headers: { authorization: `Bearer ${key}` } } });

type AnyResult = {
  content?: Array<{ type: string; text?: string }>;
  isError?: boolean;
  structuredContent?: unknown;
  _meta?: Record<string, unknown>;
};

/** The behaviours every client must see the same way, through a small adapter per client. */
interface ClientUnderTest {
  listAll(): Promise<string[]>;
  listPage(cursor?: string): Promise<{ names: string[]; nextCursor?: string }>;
  call(name: string, args: Record<string, unknown>): Promise<AnyResult>;
  close(): Promise<void>;
}

function behaviours(connect: () => Promise<ClientUnderTest>) {
  let client: ClientUnderTest;
  beforeAll(async () => {
    client = await connect();
  });
  afterAll(async () => {
    await client.close();
  });

  it('lists every tool across pages', async () => {
    expect(await client.listAll()).toEqual(listing.map((tool) => tool.name));
  });

  it('pages with opaque cursors', async () => {
    const first = await client.listPage();
    expect(first.names).toHaveLength(50);
    expect(first.nextCursor).toBeDefined();
    const second = await client.listPage(first.nextCursor);
    expect(second.names[0]).toBe(listing[50]?.name);
  });

  it('calls a tool', async () => {
    const result = await client.call('echo', { message: 'hello' });
    expect(result.isError).toBeFalsy();
    expect(result.content?.[0]?.text).toBe('{"message":"hello"}');
  });

  it('gets structuredContent that validates against the outputSchema', async () => {
    const result = await client.call('weather', { city: 'Oslo' });
    expect(result.structuredContent).toEqual({ city: 'Oslo', temperature: 21.5 });
  });

  it('sees invalid input as an isError result', async () => {
    const result = await client.call('strict_input', { amount: 'ten' });
    expect(result.isError).toBe(true);
    expect(result.content?.[0]?.text).toContain('/amount');
  });

  it('sees a policy denial as an isError result with rule ids', async () => {
    const result = await client.call('denied', {});
    expect(result.isError).toBe(true);
    expect(result.content?.[0]?.text).toContain('deny-refunds');
  });

  it('sees a pending approval, also for a tool with an outputSchema', async () => {
    const pending = await client.call('needs_approval', {});
    expect(pending.isError).toBeFalsy();
    expect(pending.content?.[0]?.text).toContain('apr_42');
    const typed = await client.call('needs_approval_typed', {});
    expect(typed.isError).toBe(true);
    expect(typed._meta?.['io.agent-tool-gateway/approval']).toMatchObject({ approvalId: 'apr_42' });
  });

  it('gets a -32602 protocol error for an unknown tool', async () => {
    await expect(client.call('no_such_tool', {})).rejects.toMatchObject({ code: -32602 });
  });
}

function v2Adapter(client: ClientV2): ClientUnderTest {
  return {
    listAll: async () => (await client.listTools()).tools.map((tool) => tool.name),
    listPage: async (cursor) => {
      // Without a cursor the v2 client walks all pages; ask for the first page by hand.
      const page = cursor === undefined ? await client.request({ method: 'tools/list', params: {} }) : await client.listTools({ cursor });
      const { tools, nextCursor } = page as { tools: Array<{ name: string }>; nextCursor?: string };
      return { names: tools.map((tool) => tool.name), nextCursor };
    },
    call: async (name, args) => (await client.callTool({ name, arguments: args })) as AnyResult,
    close: () => client.close(),
  };
}

describe('official v2 client, 2025 negotiation (default)', () => {
  behaviours(async () => {
    const client = new ClientV2({ name: 'e2e-v2-legacy', version: '1.0.0' });
    await client.connect(new TransportV2(url, auth()));
    expect(client.getNegotiatedProtocolVersion()).toBe('2025-11-25');
    expect(client.getProtocolEra()).toBe('legacy');
    expect(client.getServerVersion()).toEqual({ name: 'test-gateway', version: '9.9.9' });
    return v2Adapter(client);
  });
});

describe('official v2 client, 2026-07-28 negotiation (auto)', () => {
  behaviours(async () => {
    const client = new ClientV2({ name: 'e2e-v2-modern', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(new TransportV2(url, auth()));
    expect(client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
    expect(client.getProtocolEra()).toBe('modern');
    expect(client.getDiscoverResult()?.supportedVersions).toContain('2026-07-28');
    return v2Adapter(client);
  });

  it('mirrors x-mcp-header parameters that the server checks', async () => {
    const client = new ClientV2({ name: 'e2e-v2-pin', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(new TransportV2(url, auth()));
    await client.listTools();
    requestLog.length = 0;
    const result = await client.callTool({ name: 'regional', arguments: { region: 'eu-west1', shard: 7 } });
    expect(result.isError).toBeFalsy();
    const post = requestLog.find((entry) => entry.headers['mcp-method'] === 'tools/call');
    expect(post?.headers['mcp-name']).toBe('regional');
    expect(post?.headers['mcp-param-region']).toBe('eu-west1');
    expect(post?.headers['mcp-param-shard']).toBe('7');
    expect(post?.headers['mcp-protocol-version']).toBe('2026-07-28');
    await client.close();
  });
});

describe('official v1 client (@modelcontextprotocol/sdk)', () => {
  behaviours(async () => {
    const client = new ClientV1({ name: 'e2e-v1', version: '1.0.0' });
    await client.connect(new TransportV1(url, auth()));
    expect(client.getServerVersion()).toEqual({ name: 'test-gateway', version: '9.9.9' });
    return {
      listAll: async () => {
        const names: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await client.listTools(cursor === undefined ? undefined : { cursor });
          names.push(...page.tools.map((tool) => tool.name));
          cursor = page.nextCursor;
        } while (cursor !== undefined);
        return names;
      },
      listPage: async (cursor) => {
        const page = await client.listTools(cursor === undefined ? undefined : { cursor });
        return { names: page.tools.map((tool) => tool.name), nextCursor: page.nextCursor };
      },
      call: async (name, args) => (await client.callTool({ name, arguments: args })) as AnyResult,
      close: () => client.close(),
    };
  });
});

describe('a bad key, passed via requestInit.headers', () => {
  it('is refused with 401 for the v2 client (legacy)', async () => {
    const client = new ClientV2({ name: 'e2e-bad', version: '1.0.0' });
    await expect(client.connect(new TransportV2(url, auth('atg_bad_key')))).rejects.toMatchObject({ data: { status: 401 } });
  });

  it('is refused with 401 for the v2 client (2026-07-28 probe)', async () => {
    const client = new ClientV2({ name: 'e2e-bad', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await expect(client.connect(new TransportV2(url, auth('atg_bad_key')))).rejects.toThrow(/401/);
  });

  it('is refused with 401 for the v1 client', async () => {
    const client = new ClientV1({ name: 'e2e-bad', version: '1.0.0' });
    await expect(client.connect(new TransportV1(url, auth('atg_bad_key')))).rejects.toMatchObject({ code: 401 });
  });

  it('reaches the backend only with the good key', () => {
    expect(backend.calls.every((call) => call.agent.id === 'agent_1')).toBe(true);
  });
});
