import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Gateway } from '../src/gateway.js';
import { setPublicBasePath } from '../src/protocol/http.js';
import {
  BodyTooLargeError,
  adapterBodyLimit,
  answer,
  bodyTooLarge,
  hostOf,
  isMalformedPath,
  refusedPath,
  requestOrigin,
  requestPath,
  toWebRequest,
  underMount,
  writeWebResponse,
} from './node.js';
import { type ParsedBody, bodyAlreadyRead } from './parsed-body.js';

/** Options of {@link createExpressMiddleware}. */
export interface ExpressMiddlewareOptions {
  /** Body limit in bytes, applied to the raw body (or to a body a parser already read). Default: the gateway's `maxBodyBytes`. */
  maxBodyBytes?: number;
}

/** The parts of an Express 4 or 5 request the middleware reads. */
export interface ExpressRequestLike extends IncomingMessage {
  /** The path the middleware was mounted at (`app.use('/atg', …)`); `''` at the root. */
  baseUrl?: string;
  /** `'https'` behind a trusted proxy (`app.set('trust proxy', …)`). */
  protocol?: string;
}

/** A Connect-style middleware, as `app.use` and `router.use` take it. */
export type ExpressMiddleware = (req: ExpressRequestLike, res: ServerResponse, next: (error?: unknown) => void) => void;

/**
 * Serves a gateway from Express 4 or 5. Mount rule: the path you mount the middleware at
 * (`req.baseUrl`) stands for the gateway's `basePath`, so `app.use('/atg', middleware)` serves
 * `/atg/mcp`, `/atg/tools`, … whatever `basePath` the gateway was created with. Mounted
 * without a path (`app.use(middleware)`), it serves the gateway's own `basePath` and passes
 * every other request to `next()`.
 *
 * Works with or without `express.json()` in front: a body a parser already consumed is
 * handed over as the bytes it was sent as (`req.rawBody`, a `Buffer` or string body) or,
 * for JSON, written back as JSON text, so the gateway answers it as it would the bytes
 * sent (an empty body stays empty; a number too large for a double is refused). The body
 * limit (by default the gateway's `maxBodyBytes`) applies either way. A client that
 * disconnects aborts the call; errors go to `next(error)`.
 *
 * The URLs the gateway names (the OAuth metadata a 401 points to) are under the mount. A
 * path URL parsing would rewrite (`/atg/tools/%2e%2e/admin`, a `\`) is refused with the
 * gateway's 400 `BAD_REQUEST`, as `createNodeHandler` refuses it.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { createExpressMiddleware } from 'agent-tool-gateway/express';
 *
 * const app = express();
 * app.use('/atg', createExpressMiddleware(gateway));
 * app.get('/health', (_req, res) => res.send('ok'));
 * app.listen(3000);
 * ```
 */
export function createExpressMiddleware(gateway: Gateway, options: ExpressMiddlewareOptions = {}): ExpressMiddleware {
  const maxBodyBytes = adapterBodyLimit(gateway, options.maxBodyBytes);
  const ownBasePath = gateway.basePath;
  return (req, res, next) => {
    const path = requestPath(req.url ?? '/');
    // Mounted at a path, Express took it off `req.url`: all that is left is the gateway's.
    const baseUrl = req.baseUrl ?? '';
    const mount = baseUrl === '' ? ownBasePath : '';
    if (path === undefined || !underMount(path, mount)) {
      next();
      return;
    }
    if (isMalformedPath(path)) {
      writeWebResponse(res, refusedPath()).catch(next);
      return;
    }
    serve(req, res, ownBasePath + path.slice(mount.length), baseUrl === '' ? ownBasePath : baseUrl).catch(next);
  };

  async function serve(req: ExpressRequestLike, res: ServerResponse, path: string, publicBasePath: string): Promise<void> {
    const preRead = bodyAlreadyRead(req, req as ParsedBody);
    let request: Request;
    try {
      request = await toWebRequest(req, res, { url: requestOrigin(req.protocol ?? 'http', hostOf(req)) + path, maxBodyBytes, preRead });
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      return writeWebResponse(res, bodyTooLarge(maxBodyBytes, req));
    }
    if (publicBasePath !== ownBasePath) setPublicBasePath(request, publicBasePath);
    await writeWebResponse(res, await answer(gateway, request));
  }
}
