import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Gateway } from '../src/gateway.js';
import { checkedMount, setPublicBasePath } from '../src/protocol/http.js';
import type { JsonReply } from '../src/protocol/reply.js';
import {
  BodyTooLargeError,
  adapterBodyLimit,
  answer,
  bodyTooLarge,
  isMalformedPath,
  refusedPath,
  requestOrigin,
  requestPath,
  toWebRequest,
  underMount,
  writeWebResponse,
} from './node.js';
import { type ParsedBody, bodyAlreadyRead } from './parsed-body.js';

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

/**
 * Serves a gateway from Koa 2 or 3, with or without a body parser in front and inside
 * `@koa/router` routes. Requests under `basePath` are answered by the gateway; every other
 * request goes to `next()`. A body a parser already consumed is handed over as the raw text
 * it kept (`ctx.request.rawBody`, as @koa/bodyparser does) or, for JSON, written back as
 * JSON text, so the gateway answers it as it would the bytes sent (an empty body stays
 * empty; a number too large for a double is refused). The body limit (by default the
 * gateway's `maxBodyBytes`) applies either way. The gateway's answer bypasses Koa's body
 * handling (`ctx.respond = false`) and streams with backpressure (a body over the limit gets
 * its 413 through Koa, so other middleware sees it); a client that disconnects
 * aborts the call. Errors propagate to Koa's error handling.
 *
 * The URLs the gateway names (the OAuth metadata a 401 points to) are under `basePath`. A
 * path URL parsing would rewrite (`/atg/tools/%2e%2e/admin`, a `\`) is refused with the
 * gateway's 400 `BAD_REQUEST` (through Koa), as `createNodeHandler` refuses it.
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
  const mount = checkedMount(options.basePath ?? gateway.basePath, 'createKoaMiddleware');
  const maxBodyBytes = adapterBodyLimit(gateway, options.maxBodyBytes);
  return async (ctx, next) => {
    const path = requestPath(ctx.url);
    if (path === undefined || !underMount(path, mount)) {
      await next();
      return;
    }
    if (isMalformedPath(path)) {
      sendThroughKoa(ctx, refusedPath());
      return;
    }
    const preRead = bodyAlreadyRead(ctx.req, ctx.request as ParsedBody);
    let request: Request;
    try {
      // `ctx.host`: the Host header, HTTP/2's `:authority`, or with `app.proxy` X-Forwarded-Host.
      request = await toWebRequest(ctx.req, ctx.res, {
        url: requestOrigin(ctx.protocol, ctx.host) + gateway.basePath + path.slice(mount.length),
        maxBodyBytes,
        preRead,
      });
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      sendThroughKoa(ctx, bodyTooLarge(maxBodyBytes, ctx.req));
      return;
    }
    if (mount !== gateway.basePath) setPublicBasePath(request, mount);
    const response = await answer(gateway, request);
    ctx.respond = false;
    // Visible to logging middleware; the status line itself is written below.
    ctx.res.statusCode = response.status;
    await writeWebResponse(ctx.res, response);
  };
}

/** An answer made before the gateway is asked, sent through Koa so its middleware sees it. */
function sendThroughKoa(ctx: KoaContextLike, early: JsonReply): void {
  ctx.status = early.status;
  for (const [name, value] of Object.entries(early.headerRecord)) ctx.set(name, value);
  ctx.body = early.bodyText;
}
