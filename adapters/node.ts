import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { DEFAULT_MAX_BODY_BYTES, type Gateway, bodyLimit } from '../src/gateway.js';
import {
  checkedMount,
  errorResponse,
  malformedPath,
  payloadTooLarge,
  publicBasePathOf,
  routeNotFound,
  setPublicBasePath,
} from '../src/protocol/http.js';
import { NodeRequest } from '../src/protocol/node-request.js';
import { JsonReply, type Reply, handleReply } from '../src/protocol/reply.js';
import { type ParsedBody, bodyAlreadyRead } from './parsed-body.js';

/**
 * Asks the gateway, taking its internal answer (no Web Response round trip) when it has
 * one and its `fetch` is still the one that answer stands for: a wrapped `fetch` is called,
 * with a real Web `Request`. Shared by every Node-based adapter.
 */
export function answer(gateway: Gateway, request: Request): Promise<Reply> {
  const internal = gateway[handleReply];
  return internal !== undefined && internal.fetch === gateway.fetch ? internal(request) : gateway.fetch(webRequestOf(request));
}

/**
 * The request as code outside the gateway receives it (a wrapped `fetch`): the bridge's
 * {@link NodeRequest} stands in for a Web `Request` only to the gateway (`new Request(it, init)`
 * would read it as the URL "[object Object]"), so the real one is built, keeping the public
 * base path the adapter noted.
 */
function webRequestOf(request: Request): Request {
  if (!((request as unknown) instanceof NodeRequest)) return request;
  const real = (request as unknown as NodeRequest).toRequest();
  const prefix = publicBasePathOf(request);
  if (prefix !== undefined) setPublicBasePath(real, prefix);
  return real;
}

/**
 * @internal The body limit of a Node-based adapter: its own option when given, else the
 * gateway's `maxBodyBytes`, so one setting on the gateway holds behind every adapter.
 */
export function adapterBodyLimit(gateway: Gateway, option: number | undefined): number {
  return option ?? gateway[bodyLimit] ?? DEFAULT_MAX_BODY_BYTES;
}

/** Options of {@link createNodeHandler} and {@link toWebRequest}. */
export interface NodeHandlerOptions {
  /**
   * The URL prefix this handler serves, as requests arrive at it. Requests outside it go
   * to `next` (or get a 404). The prefix is swapped for the gateway's own `basePath`
   * before routing, and is where the gateway's public URLs point (the OAuth metadata a 401
   * names), after Express's `req.baseUrl` when Express mounted the handler. `''` or starting
   * with `/`, not ending with one (else a `TypeError`). Default: the gateway's `basePath`.
   */
  basePath?: string;
  /** Body limit in bytes, enforced while the body streams in. Default: the gateway's `maxBodyBytes`. */
  maxBodyBytes?: number;
}

/** The part of a response the bridge needs (ServerResponse, or a framework's raw reply). */
type NodeResponse = ServerResponse;

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE']);

/** Thrown by {@link toWebRequest} when the body exceeds the limit. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
}

/**
 * Thrown by {@link toWebRequest} when the client goes away, or its request stream fails,
 * before the body is read (the stream's own error is the `cause`). Shaped as the frameworks'
 * own body readers shape theirs (raw-body's `request aborted`): a client error, `status` 400
 * with `expose`, so Koa does not log it as a server failure and Fastify answers and logs it
 * as a 400, not a 500. Nobody is left to read the answer.
 */
export class RequestAbortedError extends Error {
  override readonly name = 'RequestAbortedError';
  readonly code = 'ECONNABORTED';
  readonly type = 'request.aborted';
  readonly status = 400;
  readonly statusCode = 400;
  readonly expose = true;

  constructor(cause?: unknown) {
    super('request aborted', cause === undefined ? undefined : { cause });
  }
}

function readBody(req: IncomingMessage, maxBytes: number, preRead?: Buffer): Promise<Buffer | undefined> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) return Promise.reject(new BodyTooLargeError());
  if (preRead !== undefined) {
    return preRead.byteLength > maxBytes ? Promise.reject(new BodyTooLargeError()) : Promise.resolve(preRead);
  }
  // A client that gave up before we started reading has fired 'end'/'error' already.
  if (req.destroyed || req.readableAborted) return Promise.reject(new RequestAbortedError());
  if (req.readableEnded) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.byteLength;
      if (total > maxBytes) {
        cleanup();
        // Stop reading: nothing beyond the limit is buffered.
        req.pause();
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new RequestAbortedError(error));
    };
    const onClose = () => {
      if (req.complete) return;
      cleanup();
      reject(new RequestAbortedError());
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * Turns a Node request into a Web `Request` whose `signal` fires when the client goes away
 * before the response is finished. The body is read up to `maxBodyBytes` (a larger one
 * rejects with {@link BodyTooLargeError} without being buffered; one the client abandons,
 * with {@link RequestAbortedError}). `preRead` is a body a
 * framework already read, as bytes; the Request's `Content-Length` then states its length,
 * and no `Content-Encoding` or `Transfer-Encoding` (the parser undid them). The Request is
 * built lazily: what the gateway reads comes straight from the Node request.
 */
export async function toWebRequest(
  req: IncomingMessage,
  res: NodeResponse,
  options: { url: string; maxBodyBytes: number; preRead?: Buffer },
): Promise<Request> {
  const method = req.method ?? 'GET';
  const hasBody =
    options.preRead !== undefined ||
    !BODYLESS.has(method) ||
    req.headers['content-length'] !== undefined ||
    req.headers['transfer-encoding'] !== undefined;
  const body = hasBody ? await readBody(req, options.maxBodyBytes, options.preRead) : undefined;
  const rawHeaders = options.preRead === undefined ? req.rawHeaders : headersForBody(req.rawHeaders, options.preRead.byteLength);
  const request = new NodeRequest(method, options.url, rawHeaders, method === 'GET' || method === 'HEAD' ? undefined : body);
  if (res.destroyed) request.abort();
  else {
    res.once('close', () => {
      if (!res.writableFinished) request.abort();
    });
  }
  return request as unknown as Request;
}

/** Raw headers for a body a parser already read: the bytes may differ from what was sent (re-serialised, or inflated). */
function headersForBody(rawHeaders: readonly string[], length: number): string[] {
  const headers: string[] = [];
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = (rawHeaders[index] as string).toLowerCase();
    if (name === 'content-length' || name === 'content-encoding' || name === 'transfer-encoding') continue;
    headers.push(rawHeaders[index] as string, rawHeaders[index + 1] as string);
  }
  headers.push('content-length', String(length));
  return headers;
}

/**
 * Writes a gateway answer (a Web `Response`, or the gateway's own JSON reply) to a Node response.
 * An answer Node refuses to send (a header value with a line break, say, in a `GatewayError` a
 * host's hook threw) is replaced by the gateway's 500 `INTERNAL`: it never rejects for that,
 * so a bad header cannot become an unhandled rejection that ends the process.
 */
export async function writeWebResponse(res: NodeResponse, response: Response | JsonReply): Promise<void> {
  if (response instanceof JsonReply) {
    const headers: Record<string, string> = { ...response.headerRecord };
    if (response.bodyText !== null) headers['content-length'] = String(Buffer.byteLength(response.bodyText));
    if (!writeHead(res, response.status, headers)) return;
    if (response.bodyText === null) res.end();
    else res.end(response.bodyText);
    return;
  }
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  if (!writeHead(res, response.status, headers)) {
    await response.body?.cancel().catch(() => undefined);
    return;
  }
  if (response.body === null) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) {
        await reader.cancel();
        return;
      }
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const resume = () => {
            res.off('drain', resume);
            res.off('close', resume);
            resolve();
          };
          res.on('drain', resume);
          res.on('close', resume);
        });
      }
    }
    res.end();
  } catch (error) {
    res.destroy(error as Error);
  }
}

/**
 * `res.writeHead(status, headers)`; false when Node refused them (a status outside 100–999, a
 * header name that is not a token, a value with a control character), in which case the
 * gateway's 500 `INTERNAL` went out instead (or, were the head sent already, the response was cut).
 */
function writeHead(res: NodeResponse, status: number, headers: Record<string, string | string[]>): boolean {
  try {
    res.writeHead(status, headers);
    return true;
  } catch {
    if (res.headersSent) {
      res.destroy();
      return false;
    }
    // writeHead may have set some of them before it met the one it refused.
    for (const name of Object.keys(headers)) res.removeHeader(name);
    const fallback = errorResponse(new Error('The answer could not be sent'));
    const text = fallback.bodyText ?? '';
    res.writeHead(fallback.status, { ...fallback.headerRecord, 'content-length': String(Buffer.byteLength(text)) });
    res.end(text);
    return false;
  }
}

/**
 * @internal What an adapter answers for a path outside its mount: the gateway's own 404,
 * headers included.
 */
export function outsideMount(): JsonReply {
  return errorResponse(routeNotFound());
}

/**
 * @internal What an adapter answers for a path {@link isMalformedPath} refuses: the
 * gateway's own 400 `BAD_REQUEST` "Malformed path".
 */
export function refusedPath(): JsonReply {
  return errorResponse(malformedPath());
}

const ABSOLUTE_FORM = /^https?:\/\/[^/?#]*/i;

/**
 * @internal The path and query a request target names, as sent (nothing decoded or
 * resolved): an origin-form target (`/tools?x=1`) as it is, an absolute-form one
 * (`http://host/tools?x=1`, which RFC 9112 §3.2.2 has servers accept) without its scheme
 * and authority. Undefined for any other form (`*`): no path the gateway serves.
 */
export function requestPath(target: string): string | undefined {
  if (target.charCodeAt(0) === 47 /* / */) return target;
  const schemeAndAuthority = ABSOLUTE_FORM.exec(target);
  if (schemeAndAuthority === null) return undefined;
  const rest = target.slice(schemeAndAuthority[0].length);
  return rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
}

/**
 * In the path (before `?` or `#`): a `.` or `..` segment, plain or percent-encoded in any
 * case (`%2e`, `.%2E`, …), a `\` (a `/` to URL parsing in http URLs), a tab or line break
 * (dropped by it).
 */
const REWRITTEN_BY_URL_PARSING = /^[^?#]*?(?:[\\\t\n\r]|\/(?:\.|%2e){1,2}(?:[/?#]|$))/i;

/**
 * @internal True when URL parsing would rewrite a raw request path: resolve a dot segment
 * (`/atg/tools/%2e%2e/admin` is `/atg/admin` to it), or turn `\` into `/`. The adapters check
 * their mount, and hosts their own guards, on the raw path, while the gateway routes on the
 * parsed URL: such a path is refused (400) rather than routed somewhere neither checked.
 */
export function isMalformedPath(path: string): boolean {
  return REWRITTEN_BY_URL_PARSING.test(path);
}

/** @internal True when a path is `mount` itself or below it (`mount/…`, `mount?…`); every path is below `''`. */
export function underMount(path: string, mount: string): boolean {
  if (mount === '') return true;
  if (path.length === mount.length) return path === mount;
  // What follows the mount must be `/` (47) or `?` (63): `/atgx` is not below `/atg`.
  const after = path.charCodeAt(mount.length);
  return (after === 47 || after === 63) && path.startsWith(mount);
}

const VALID_HOST = /^[A-Za-z0-9.\-:[\]]+$/;

/**
 * @internal The origin of the URL the gateway sees: the scheme, and the host the client
 * named when it is a plain name or address. Otherwise (none named, or a malformed one)
 * `localhost`, which the MCP endpoint's host checks do not trust: they read what the client
 * sent.
 */
export function requestOrigin(scheme: string, host: string | undefined): string {
  return `${scheme}://${host !== undefined && VALID_HOST.test(host) ? host : 'localhost'}`;
}

/** @internal The host a Node request names: its `Host` header, else HTTP/2's `:authority`. */
export function hostOf(req: IncomingMessage): string | undefined {
  return req.headers.host ?? (req.headers[':authority'] as string | undefined);
}

/**
 * @internal What an adapter answers for a body over its limit: the gateway's own 413, and
 * over HTTP/1 the connection closed, since the rest of the body is left unread. HTTP/2 has
 * no `Connection` header (Node warns and drops it): the stream ends with the answer.
 */
export function bodyTooLarge(maxBytes: number, req: IncomingMessage): JsonReply {
  return errorResponse(payloadTooLarge(maxBytes), undefined, req.httpVersionMajor === 2 ? undefined : CLOSE);
}

const CLOSE: Readonly<Record<string, string>> = Object.freeze({ connection: 'close' });

function fullUrl(req: IncomingMessage, path: string): string {
  // A TLS socket (node:https, or a secure HTTP/2 server) serves https: the MCP same-origin check compares against it.
  const scheme = (req.socket as Partial<TLSSocket> | null)?.encrypted === true ? 'https' : 'http';
  return requestOrigin(scheme, hostOf(req)) + path;
}

/**
 * Serves a gateway from `node:http`, `node:https` or `node:http2` (or anything that hands
 * over IncomingMessage and ServerResponse, like Connect-style middleware, also behind a body
 * parser). The one Node bridge every framework adapter builds on.
 *
 * The request target is taken as sent: an absolute-form one (`http://host/tools`) by its
 * path, and a path URL parsing would rewrite (a `.` or `..` segment, plain or
 * percent-encoded, or a `\`) is refused with the gateway's 400 `BAD_REQUEST`, so the
 * gateway never routes a path other than the one the mount and the host's own guards
 * checked. The URL's host is the `Host` header, or HTTP/2's `:authority`.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createNodeHandler } from 'agent-tool-gateway/node';
 *
 * createServer(createNodeHandler(gateway)).listen(3000);
 * ```
 */
export function createNodeHandler(
  gateway: Gateway,
  options: NodeHandlerOptions = {},
): (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
  next?: (error?: unknown) => void,
) => Promise<void> {
  const mount = checkedMount(options.basePath ?? gateway.basePath, 'createNodeHandler');
  const maxBodyBytes = adapterBodyLimit(gateway, options.maxBodyBytes);
  // node:http2's compatibility request and response answer all the bridge uses as node:http's do.
  return serve as (
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
    next?: (error?: unknown) => void,
  ) => Promise<void>;

  async function serve(req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): Promise<void> {
    const path = requestPath(req.url ?? '/');
    if (path === undefined || !underMount(path, mount)) {
      if (next) next();
      else await writeWebResponse(res, outsideMount());
      return;
    }
    if (isMalformedPath(path)) return writeWebResponse(res, refusedPath());
    // Behind a Connect-style body parser, the stream is consumed already.
    const preRead = bodyAlreadyRead(req, req as ParsedBody);
    let request: Request;
    try {
      request = await toWebRequest(req, res, { url: fullUrl(req, gateway.basePath + path.slice(mount.length)), maxBodyBytes, preRead });
    } catch (error) {
      if (error instanceof BodyTooLargeError) return writeWebResponse(res, bodyTooLarge(maxBodyBytes, req));
      if (next) return next(error);
      res.destroy();
      return;
    }
    // Mounted by Express (`app.use('/atg', handler)`), the path Express took off comes first.
    const outer = (req as { baseUrl?: unknown }).baseUrl;
    const publicBasePath = typeof outer === 'string' ? outer + mount : mount;
    if (publicBasePath !== gateway.basePath) setPublicBasePath(request, publicBasePath);
    let reply: Reply;
    try {
      reply = await answer(gateway, request);
    } catch (error) {
      // Only a wrapped fetch throws (the gateway answers its own failures): the host's error
      // handler has it, or the client gets the gateway's 500, never a dropped request.
      if (next) return next(error);
      reply = errorResponse(error);
    }
    await writeWebResponse(res, reply);
  }
}
