/**
 * The HTTP-level checks the Streamable HTTP transport asks for before any JSON-RPC is read:
 * `Origin` (and optionally `Host`) against DNS rebinding, `Accept` and `Content-Type`.
 * Allow-lists are normalised once, when the handler is created.
 */

/** Decides whether a request's `Origin` header is acceptable. */
export type OriginGuard = (request: Request) => boolean;

/** Decides whether a request's `Host` is acceptable. */
export type HostGuard = (request: Request) => boolean;

/**
 * Builds the `Origin` check. A request without `Origin` passes (non-browser clients send
 * none). With an allow-list, the origin must be listed (or the list holds `'*'`); without
 * one, it must equal the origin of the request URL.
 */
export function createOriginGuard(allowedOrigins: readonly string[] | undefined): OriginGuard {
  if (allowedOrigins === undefined) {
    return (request) => {
      const origin = request.headers.get('origin');
      if (origin === null) return true;
      return origin.trim().toLowerCase() === sameOriginOf(request);
    };
  }
  if (allowedOrigins.includes('*')) return () => true;
  const allowed = new Set(allowedOrigins.map(normaliseOrigin));
  return (request) => {
    const origin = request.headers.get('origin');
    return origin === null || allowed.has(origin.trim().toLowerCase());
  };
}

function sameOriginOf(request: Request): string | undefined {
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
 * entry with a port (`localhost:3000`) must match exactly; an entry without one matches
 * that host name on any port.
 */
export function createHostGuard(allowedHosts: readonly string[] | undefined): HostGuard {
  if (allowedHosts === undefined) return () => true;
  const exact = new Set<string>();
  const anyPort = new Set<string>();
  for (const entry of allowedHosts) {
    const host = entry.trim().toLowerCase();
    if (host.length === 0) throw new TypeError('allowedHosts: empty entry');
    (hostNameOf(host) === host ? anyPort : exact).add(host);
  }
  return (request) => {
    const host = requestHost(request);
    if (host === undefined) return false;
    return exact.has(host) || anyPort.has(hostNameOf(host));
  };
}

function requestHost(request: Request): string | undefined {
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
