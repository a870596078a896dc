import { NodeRequest } from '../node-request.js';

/**
 * The HTTP-level checks the Streamable HTTP transport asks for before any JSON-RPC is read:
 * `Origin` (and optionally `Host`) against DNS rebinding, `Accept` and `Content-Type`.
 * Allow-lists are normalised once, when the handler is created.
 */

/** Decides whether a request's `Origin` header (null: none sent) is acceptable. */
export type OriginGuard = (origin: string | null, request: Request) => boolean;

/** Decides whether a request's `Host` is acceptable. */
export type HostGuard = (request: Request) => boolean;

/**
 * Builds the `Origin` check. A request without `Origin` passes (non-browser clients send
 * none). With an allow-list, the origin must be listed (or the list holds `'*'`); without
 * one, it must equal the origin of the request URL.
 */
export function createOriginGuard(allowedOrigins: readonly string[] | undefined): OriginGuard {
  if (allowedOrigins === undefined) {
    return (origin, request) => origin === null || origin.trim().toLowerCase() === sameOriginOf(request);
  }
  if (allowedOrigins.includes('*')) return () => true;
  const allowed = new Set(allowedOrigins.map(normaliseOrigin));
  return (origin) => origin === null || allowed.has(origin.trim().toLowerCase());
}

/**
 * CORS for the browser origins `allowedOrigins` lets in, so a web client on another origin
 * can read the answers (the 401's `WWW-Authenticate` included, which starts its OAuth flow).
 * Only for origins the {@link OriginGuard} passed; no cookies are used, so credentials are
 * never allowed.
 */
export interface Cors {
  /** The headers added to every answer to a browser on `origin`. */
  answer(origin: string): Readonly<Record<string, string>>;
  /** The answer to a preflight from `origin` asking to send `requestedHeaders`. */
  preflight(origin: string, requestedHeaders: string | null): Readonly<Record<string, string>>;
}

/** Headers an MCP answer may carry that a browser client needs to read. */
const EXPOSED_HEADERS = 'www-authenticate, retry-after';
/** What a preflight allows when the browser did not say which headers it will send. */
const DEFAULT_ALLOWED_HEADERS = 'authorization, content-type, accept, mcp-protocol-version, mcp-method, mcp-name, last-event-id';
/** A comma-separated list of header names (RFC 9110 tokens), as a preflight asks for them. */
const HEADER_NAME_LIST = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[ \t]*,[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*$/;

/**
 * Builds the CORS answers, or undefined when no `allowedOrigins` is configured: then only
 * same-origin browsers are let in, and they need none.
 */
export function createCors(allowedOrigins: readonly string[] | undefined): Cors | undefined {
  if (allowedOrigins === undefined) return undefined;
  const anyOrigin = allowedOrigins.includes('*');
  const anyOriginHeaders = Object.freeze({ 'access-control-allow-origin': '*', 'access-control-expose-headers': EXPOSED_HEADERS });
  // A listed origin is named back, so caches must keep answers to each origin apart.
  const allowOrigin = (origin: string): Record<string, string> =>
    anyOrigin ? { 'access-control-allow-origin': '*' } : { 'access-control-allow-origin': origin.trim(), vary: 'origin' };
  return {
    answer: (origin) => (anyOrigin ? anyOriginHeaders : { ...allowOrigin(origin), 'access-control-expose-headers': EXPOSED_HEADERS }),
    preflight: (origin, requestedHeaders) => {
      const asked = requestedHeaders?.trim();
      return {
        ...allowOrigin(origin),
        // The allowed headers repeat what was asked: caches keep answers to other asks apart.
        vary: 'origin, access-control-request-headers',
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers':
          asked !== undefined && asked.length <= 1024 && HEADER_NAME_LIST.test(asked) ? asked : DEFAULT_ALLOWED_HEADERS,
        'access-control-max-age': '600',
      };
    },
  };
}

function sameOriginOf(request: Request): string | undefined {
  // The Node bridge made the URL's host up: there is no origin to be the same as.
  if (request instanceof NodeRequest && request.authority() === undefined) return undefined;
  try {
    return new URL(request.url).origin;
  } catch {
    return undefined;
  }
}

function normaliseOrigin(entry: string): string {
  const origin = new URL(entry).origin;
  if (origin === 'null') throw new TypeError(`allowedOrigins: "${entry}" is not an http(s) origin`);
  return origin;
}

/**
 * Builds the `Host` check (DNS-rebinding protection). Unset list: every host passes. An
 * entry with a port (`localhost:3000`, `[::1]:3000`) must match exactly; an entry without
 * one (`localhost`, `[::1]` or `::1`) matches that host name on any port.
 */
export function createHostGuard(allowedHosts: readonly string[] | undefined): HostGuard {
  if (allowedHosts === undefined) return () => true;
  const exact = new Set<string>();
  const anyPort = new Set<string>();
  for (const entry of allowedHosts) {
    let host = entry.trim().toLowerCase();
    if (host.length === 0) throw new TypeError('allowedHosts: empty entry');
    // A bare IPv6 address (`::1`) is a host name without a port; a Host header brackets it.
    if (!host.startsWith('[') && host.indexOf(':') !== host.lastIndexOf(':')) host = `[${host}]`;
    (hostNameOf(host) === host ? anyPort : exact).add(host);
  }
  return (request) => {
    const host = requestHost(request);
    if (host === undefined) return false;
    return exact.has(host) || anyPort.has(hostNameOf(host));
  };
}

/**
 * The host the client named: `Host` (or HTTP/2's `:authority`, which the Node bridge keeps
 * out of the headers); for a Web `Request` without one, the host of its URL, which the
 * runtime that made it took from the client. Undefined when the Node bridge had none: the
 * host in its URL is made up, and never passes an allow-list.
 */
function requestHost(request: Request): string | undefined {
  if (request instanceof NodeRequest) return request.authority()?.trim().toLowerCase();
  const header = request.headers.get('host');
  if (header !== null) return header.trim().toLowerCase();
  try {
    return new URL(request.url).host.toLowerCase();
  } catch {
    return undefined;
  }
}

/** `example.com:80` → `example.com`; `[::1]:3000` → `[::1]`; no port → unchanged. */
function hostNameOf(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return colon === -1 || host.indexOf(':', colon + 1) !== -1 ? host : host.slice(0, colon);
}

/**
 * True when the `Accept` header allows a JSON answer: `application/json`, `application/*`
 * or `*\/*` with a non-zero quality. A missing header is accepted (lenient: several
 * HTTP libraries send none by default).
 */
export function acceptsJson(accept: string | null): boolean {
  if (accept === null) return true;
  for (const range of accept.split(',')) {
    const semicolon = range.indexOf(';');
    const mediaType = (semicolon === -1 ? range : range.slice(0, semicolon)).trim().toLowerCase();
    if (mediaType !== 'application/json' && mediaType !== 'application/*' && mediaType !== '*/*') continue;
    if (semicolon === -1 || !hasZeroQuality(range.slice(semicolon + 1))) return true;
  }
  return false;
}

function hasZeroQuality(parameters: string): boolean {
  for (const parameter of parameters.split(';')) {
    const equals = parameter.indexOf('=');
    if (equals === -1 || parameter.slice(0, equals).trim().toLowerCase() !== 'q') continue;
    return Number(parameter.slice(equals + 1).trim()) === 0;
  }
  return false;
}
