import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Gateway } from '../src/gateway.js';
import { BodyTooLargeError, adapterBodyLimit, answer, toWebRequest, writeWebResponse } from './node.js';

/** Options of {@link createKoaMiddleware}. */
export interface KoaMiddlewareOptions {
  /**
   * The URL prefix the gateway is served at, as requests arrive (e.g. `'/atg'`). It stands
   * for the gateway's `basePath`; requests outside it go to `next()`. Default: the gateway's `basePath`.
   */
  basePath?: string;
  /** Body limit in bytes, applied to the raw body (or to a body a parser already read). Default: the gateway's `maxBodyBytes`. */
  maxBodyBytes?: number;
}

/** The parts of a Koa 2 or 3 context the middleware uses. */
export interface KoaContextLike {
  req: IncomingMessage;
  res: ServerResponse;
  /** The request URL (path and query). */
  url: string;
  protocol: string;
  host: string;
  /** Where a body parser leaves `rawBody` (@koa/bodyparser) and the parsed `body`. */
  request: object;
  status: number;
  body: unknown;
  respond?: boolean;
  set(field: string, value: string): void;
}

/** A Koa middleware, as `app.use` and `router.all` take it. */
export type KoaMiddleware = (ctx: KoaContextLike, next: () => Promise<unknown>) => Promise<void>;

const BASE_PATH = /^(\/[^/?#]+)*$/;
const VALID_HOST = /^[A-Za-z0-9.\-:[\]]+$/;
const JSON_MEDIA_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Serves a gateway from Koa 2 or 3, with or without a body parser in front and inside
 * `@koa/router` routes. Requests under `basePath` are answered by the gateway; every other
 * request goes to `next()`. A body a parser already consumed is handed over as the raw text
 * it kept (`ctx.request.rawBody`, as @koa/bodyparser does) or, for JSON, re-serialised with
 * `JSON.stringify`; the body limit applies either way. The response bypasses Koa's body
 * handling (`ctx.respond = false`) and streams with backpressure; a client that disconnects
 * aborts the call. Errors propagate to Koa's error handling.
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import { createKoaMiddleware } from 'agent-tool-gateway/koa';
 *
 * const app = new Koa();
 * app.use(createKoaMiddleware(gateway, { basePath: '/atg' }));
 * app.use((ctx) => { ctx.body = 'host app'; });
 * app.listen(3000);
 * ```
 */
export function createKoaMiddleware(gateway: Gateway, options: KoaMiddlewareOptions = {}): KoaMiddleware {
  const mount = options.basePath ?? gateway.basePath;
  if (!BASE_PATH.test(mount)) throw new TypeError('createKoaMiddleware: basePath must be "" or start with "/" and not end with "/"');
  const maxBodyBytes = adapterBodyLimit(gateway, options.maxBodyBytes);
  return async (ctx, next) => {
    const url = ctx.url;
    if (mount !== '' && url !== mount && !url.startsWith(`${mount}/`) && !url.startsWith(`${mount}?`)) {
      await next();
      return;
    }
    const preRead = bodyAlreadyRead(ctx);
    const declared = Number(ctx.req.headers['content-length'] ?? 0);
    let request: Request;
    try {
      if (declared > maxBodyBytes) throw new BodyTooLargeError();
      const origin = `${ctx.protocol}://${VALID_HOST.test(ctx.host) ? ctx.host : 'localhost'}`;
      request = await toWebRequest(ctx.req, ctx.res, {
        url: origin + gateway.basePath + url.slice(mount.length),
        maxBodyBytes,
        ...(preRead === undefined ? {} : { preRead }),
      });
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      ctx.status = 413;
      ctx.set('connection', 'close');
      ctx.body = { error: { code: 'PAYLOAD_TOO_LARGE', message: `Request body exceeds ${maxBodyBytes} bytes` } };
      return;
    }
    if (preRead !== undefined) {
      // The bytes may differ from what was sent (re-serialised, or inflated by the parser).
      request.headers.set('content-length', String(preRead.byteLength));
      request.headers.delete('content-encoding');
      request.headers.delete('transfer-encoding');
    }
    const response = await answer(gateway, request);
    ctx.respond = false;
    // Visible to logging middleware; the status line itself is written below.
    ctx.res.statusCode = response.status;
    await writeWebResponse(ctx.res, response);
  };
}

/** The body as bytes when a parser already consumed the stream; undefined when the stream is untouched. */
function bodyAlreadyRead(ctx: KoaContextLike): Buffer | undefined {
  const { req } = ctx;
  if (!req.readableEnded) return undefined;
  // A parser turns an empty JSON body into `{}`: keep it empty.
  if (req.headers['content-length'] === '0') return Buffer.alloc(0);
  const { rawBody, body } = ctx.request as { rawBody?: unknown; body?: unknown };
  if (typeof rawBody === 'string') return Buffer.from(rawBody, 'utf8');
  if (Buffer.isBuffer(rawBody)) return rawBody;
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body !== undefined && JSON_MEDIA_TYPE.test(req.headers['content-type'] ?? '')) return Buffer.from(JSON.stringify(body), 'utf8');
  // Consumed by a parser for a media type the gateway does not take: it answers 415 or 400.
  return Buffer.alloc(0);
}
