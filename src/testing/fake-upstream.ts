/**
 * The fake upstream alone, for test suites that do not run on vitest (Jest, `node:test`):
 * `agent-tool-gateway/testing` has it too, beside the store conformance suite, which needs
 * vitest.
 *
 * @packageDocumentation
 */
import { type IncomingHttpHeaders, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isJsonMediaType, mediaTypeOf } from '../util/media-type.js';

/** One request as the fake upstream received it. */
export interface FakeUpstreamRequest {
  method: string;
  /** The path, as sent: percent-encoding, dot segments and repeated slashes kept. */
  path: string;
  query: URLSearchParams;
  /** Values of the route's `:name` segments, percent-decoded. */
  params: Record<string, string>;
  /** As Node gives them: lower-case names; the credentials the gateway added are here. */
  headers: IncomingHttpHeaders;
  /** The body as UTF-8 text (`''` without one). */
  body: string;
  /** The body parsed, when it was sent as JSON; undefined otherwise. */
  json: unknown;
}

/** How the fake upstream answers. */
export interface FakeUpstreamResponse {
  /** Default 200. */
  status?: number;
  /** A `content-type` here (in any case) replaces the one `json` or `text` sets. */
  headers?: Record<string, string>;
  /** Sent as `application/json`. */
  json?: unknown;
  /** Sent as `text/plain; charset=utf-8`. */
  text?: string;
  /** Sent as it is (set `content-type` in `headers`). */
  body?: string | Uint8Array;
  /**
   * Never answer: the request waits until the caller gives up (the tool's deadline, a
   * cancellation) or the fake upstream closes. For deadline tests that do not depend on timing.
   */
  hang?: boolean;
}

/** An answer, or a function of the request that returns one (it may wait as long as it likes). */
export type FakeUpstreamRoute =
  | FakeUpstreamResponse
  | ((request: FakeUpstreamRequest) => FakeUpstreamResponse | Promise<FakeUpstreamResponse>);

/** A real HTTP server on 127.0.0.1 that answers HTTP tools in tests and records what they sent. */
export interface FakeUpstream {
  /** `http://127.0.0.1:<port>`: the origin to put in your tools' `url`. */
  readonly url: string;
  /** Every request received, oldest first. */
  readonly requests: readonly FakeUpstreamRequest[];
  /** Adds a route (or replaces the one with the same pattern) that takes precedence over those before it. */
  route(pattern: string, answer: FakeUpstreamRoute): void;
  /** Forgets the requests received so far. */
  reset(): void;
  /** Closes the server and every connection, answered or not. */
  close(): Promise<void>;
}

/** Options of {@link createFakeUpstream}. */
export interface FakeUpstreamOptions {
  /**
   * Routes by pattern: `'GET /customers/:id'`, or a path alone for any method. A pattern names
   * the path only (one with a query or fragment is refused; a route function reads the query
   * from `request.query`). The route added last that matches answers, so a test can override
   * one with {@link FakeUpstream.route}; a request no route matches gets 404 with a JSON error
   * naming it. A route function that throws answers 500 with its message.
   */
  routes?: Record<string, FakeUpstreamRoute>;
}

interface CompiledRoute {
  method: string | undefined;
  segments: string[];
  answer: FakeUpstreamRoute;
}

const maxBodyBytes = 16 * 1024 * 1024;

function compileRoute(pattern: string, answer: FakeUpstreamRoute): CompiledRoute {
  const match = /^(?:([A-Za-z]+)\s+)?(\/\S*)$/.exec(pattern.trim());
  if (match === null) throw new TypeError(`createFakeUpstream: route "${pattern}" must be "METHOD /path" or "/path"`);
  // Routes match the path alone: a pattern with a query or fragment would never match.
  if (/[?#]/.test(match[2] as string)) {
    throw new TypeError(`createFakeUpstream: route "${pattern}" must name a path only; read the query from request.query`);
  }
  return { method: match[1]?.toUpperCase(), segments: (match[2] as string).split('/'), answer };
}

function matchRoute(route: CompiledRoute, method: string, segments: string[]): Record<string, string> | undefined {
  if (route.method !== undefined && route.method !== method) return undefined;
  if (route.segments.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let index = 0; index < segments.length; index++) {
    const expected = route.segments[index] as string;
    const actual = segments[index] as string;
    if (expected.startsWith(':') && actual !== '') {
      try {
        params[expected.slice(1)] = decodeURIComponent(actual);
      } catch {
        params[expected.slice(1)] = actual;
      }
    } else if (expected !== actual) return undefined;
  }
  return params;
}

/**
 * Starts a fake upstream on 127.0.0.1 (a free port) for testing HTTP tools through a real
 * gateway: assert what the tool sent (path, query, body, the credential the gateway added)
 * and script what it gets back, failures and hangs included. HTTP tools refuse loopback
 * addresses unless allowed, so give the gateway `allowPrivateNetwork: ['127.0.0.1/32']`.
 *
 * @example
 * ```ts
 * import { createGateway, httpTool, secret } from 'agent-tool-gateway';
 * import { createFakeUpstream } from 'agent-tool-gateway/testing';
 *
 * const crm = await createFakeUpstream({
 *   routes: { 'GET /customers/:id': (request) => ({ json: { id: request.params.id, email: 'ann@example.com' } }) },
 * });
 * const gateway = createGateway({
 *   tools: [httpTool({ name: 'crm.customer', description: 'A customer', method: 'GET', url: `${crm.url}/customers/{id}`,
 *     inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
 *     secretHeaders: { authorization: secret('Bearer test-token') } })],
 *   policy: [{ id: 'all', effect: 'allow' }],
 *   allowPrivateNetwork: ['127.0.0.1/32'],
 *   dev: true,
 * });
 * // ... invoke, then:
 * // crm.requests[0].headers.authorization === 'Bearer test-token'
 * await crm.close();
 * ```
 */
export async function createFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const routes = new Map<string, CompiledRoute>();
  for (const [pattern, answer] of Object.entries(options.routes ?? {})) routes.set(pattern, compileRoute(pattern, answer));
  const requests: FakeUpstreamRequest[] = [];

  const server: Server = createServer(async (incoming, response) => {
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of incoming) {
        size += (chunk as Buffer).byteLength;
        if (size > maxBodyBytes) {
          response.writeHead(413, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'body too large' }));
          return;
        }
        chunks.push(chunk as Buffer);
      }
      const body = Buffer.concat(chunks).toString('utf8');
      const target = requestTarget(incoming.url ?? '/');
      const method = (incoming.method ?? 'GET').toUpperCase();
      const segments = target.pathname.split('/');
      let found: { route: CompiledRoute; params: Record<string, string> } | undefined;
      for (const route of [...routes.values()].reverse()) {
        const params = matchRoute(route, method, segments);
        if (params !== undefined) {
          found = { route, params };
          break;
        }
      }
      const request: FakeUpstreamRequest = {
        method,
        path: target.pathname,
        query: target.query,
        params: found?.params ?? {},
        headers: incoming.headers,
        body,
        json: jsonOf(body, incoming.headers['content-type']),
      };
      requests.push(request);
      if (found === undefined) {
        send(response, { status: 404, json: { error: `No fake route for ${method} ${target.pathname}` } });
        return;
      }
      let answer: FakeUpstreamResponse;
      try {
        answer = typeof found.route.answer === 'function' ? await found.route.answer(request) : found.route.answer;
      } catch (error) {
        send(response, { status: 500, json: { error: error instanceof Error ? error.message : String(error) } });
        return;
      }
      send(response, answer);
    } catch {
      response.destroy();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    route(pattern, answer) {
      const compiled = compileRoute(pattern, answer);
      routes.delete(pattern);
      routes.set(pattern, compiled);
    },
    reset() {
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The path and query of a request target as sent: a URL parser would resolve dot segments,
 * turn backslashes into slashes, take a path starting `//` for a host and re-encode some
 * characters, which would hide what the tool sent and route the request elsewhere. Only an
 * absolute-form target (`http://host/path`) is parsed as a URL.
 */
function requestTarget(raw: string): { pathname: string; query: URLSearchParams } {
  if (!raw.startsWith('/')) {
    const url = new URL(raw, 'http://fake-upstream.invalid');
    return { pathname: url.pathname, query: url.searchParams };
  }
  const end = raw.search(/[?#]/);
  const pathname = end === -1 ? raw : raw.slice(0, end);
  const search = raw[end] === '?' ? (raw.slice(end + 1).split('#', 1)[0] ?? '') : '';
  return { pathname, query: new URLSearchParams(search) };
}

function jsonOf(body: string, contentType: string | undefined): unknown {
  if (body === '' || contentType === undefined || !isJsonMediaType(mediaTypeOf(contentType))) return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

function send(response: ServerResponse, answer: FakeUpstreamResponse): void {
  if (answer.hang === true) return;
  const headers: Record<string, string> = {};
  let body: string | Uint8Array | undefined;
  if (answer.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(answer.json);
  } else if (answer.text !== undefined) {
    headers['content-type'] = 'text/plain; charset=utf-8';
    body = answer.text;
  } else if (answer.body !== undefined) {
    body = answer.body;
  }
  for (const [name, value] of Object.entries(answer.headers ?? {})) {
    // A content-type given in any case replaces the one json or text implies, not joins it.
    if (name.toLowerCase() === 'content-type') delete headers['content-type'];
    headers[name] = value;
  }
  response.writeHead(answer.status ?? 200, headers);
  response.end(body);
}
