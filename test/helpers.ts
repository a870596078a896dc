import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createNodeHandler } from '../adapters/node.js';
import { type Gateway, type GatewayOptions, createGateway, memoryStore } from '../src/index.js';
import type { Store } from '../src/store/types.js';
import { expect, vi } from 'vitest';

/** A node:http server on 127.0.0.1, port 0. */
export async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    void handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A JSON request to a gateway's fetch. */
export function jsonRequest(
  path: string,
  options: { method?: string; key?: string; body?: unknown; headers?: Record<string, string> } = {},
): Request {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  if (options.body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  return new Request(`http://gateway.test${path}`, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    headers,
    ...(options.body === undefined ? {} : { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }),
  });
}

/** The headers of an MCP 2025-11-25 POST with an agent key. */
export function mcpHeaders(key: string): Record<string, string> {
  return {
    authorization: `Bearer ${key}`,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2025-11-25',
  };
}

/** An MCP 2025-11-25 POST to a gateway's fetch: `body` as it is when a string or stream, else its JSON. */
export function mcpRequest(key: string, body: unknown): Request {
  const raw = typeof body === 'string' || body instanceof ReadableStream;
  return new Request('http://gateway.test/mcp', {
    method: 'POST',
    headers: mcpHeaders(key),
    body: raw ? (body as BodyInit) : JSON.stringify(body),
    ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit);
}

/** A promise and the function that settles it, for waiting on an event of a test server. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

/**
 * An upstream on 127.0.0.1 that never answers: `arrived` settles when a request comes in,
 * `closed` when the connection it came on is closed (by a deadline or a cancellation).
 */
export async function silentUpstream(): Promise<Awaited<ReturnType<typeof listen>> & { arrived: Promise<void>; closed: Promise<void> }> {
  const arrived = deferred();
  const closed = deferred();
  const upstream = await listen((req) => {
    req.socket.once('close', closed.resolve);
    arrived.resolve();
  });
  return { ...upstream, arrived: arrived.promise, closed: closed.promise };
}

type BreakableMethod =
  | 'appendAudit'
  | 'createApproval'
  | 'getApproval'
  | 'getInvocation'
  | 'listInvocations'
  | 'listTools'
  | 'putInvocation'
  | 'releaseIdempotencyKey'
  | 'transitionApproval';

/**
 * A memory store whose method `method` (or each of several) fails while `setBroken(true)`
 * holds: it throws an `Error` with `failure` as its message, or what `failure()` returns.
 * Every other method, and those otherwise, is the memory store's.
 */
export function breakableStore(
  method: BreakableMethod | readonly BreakableMethod[] = 'appendAudit',
  failure: string | (() => unknown) = 'disk full',
): { store: Store; setBroken(value: boolean): void } {
  const inner = memoryStore();
  const methods: readonly PropertyKey[] = typeof method === 'string' ? [method] : method;
  let broken = false;
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      if (methods.includes(property)) {
        const original = Reflect.get(target, property, receiver) as (...args: unknown[]) => Promise<unknown>;
        return async (...args: unknown[]) => {
          if (broken) throw typeof failure === 'string' ? new Error(failure) : failure();
          return original.apply(target, args);
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
  return { store, setBroken: (value) => (broken = value) };
}

/** A gateway served by the Node adapter on 127.0.0.1 (port 0), with one agent: its `/mcp` URL, the agent's key, and a closer for both. */
export async function servedGateway(
  options: GatewayOptions,
  agentName = 'agent',
): Promise<{ gateway: Gateway; mcpUrl: string; apiKey: string; close(): Promise<void> }> {
  const gateway = createGateway(options);
  const { apiKey } = await gateway.admin.createAgent({ name: agentName });
  const server = await listen(createNodeHandler(gateway));
  return {
    gateway,
    mcpUrl: `${server.url}/mcp`,
    apiKey,
    close: async () => {
      await server.close();
      await gateway.close();
    },
  };
}

/** The headers of an MCP 2026-07-28 POST with an agent key, naming its method and, when given, the tool or task. */
export function mcp2026Headers(key: string, method: string, name?: string): Record<string, string> {
  return {
    authorization: `Bearer ${key}`,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': method,
    ...(name === undefined ? {} : { 'mcp-name': name }),
  };
}

/**
 * Runs `close` under fake `setTimeout`s and advances them by `ms`: the close must have
 * settled by then (it is awaited either way, and real timers come back).
 */
export async function closesWithinFakeTime(close: () => Promise<unknown>, ms: number): Promise<void> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  try {
    let closed = false;
    const closing = close().then(() => {
      closed = true;
    });
    await vi.advanceTimersByTimeAsync(ms);
    expect(closed).toBe(true);
    await closing;
  } finally {
    vi.useRealTimers();
  }
}
