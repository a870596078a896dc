import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Gateway } from '../src/gateway.js';
import { BodyTooLargeError, adapterBodyLimit, answer, toWebRequest, writeWebResponse } from './node.js';

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

/** What body parsers leave on a request: the parsed `body`, and raw bytes some keep as `rawBody`. */
interface ParsedBody {
  body?: unknown;
  rawBody?: unknown;
}

/** A Connect-style middleware, as `app.use` and `router.use` take it. */
export type ExpressMiddleware = (req: ExpressRequestLike, res: ServerResponse, next: (error?: unknown) => void) => void;

const VALID_HOST = /^[A-Za-z0-9.\-:[\]]+$/;
const JSON_MEDIA_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Serves a gateway from Express 4 or 5. Mount rule: the path you mount the middleware at
 * (`req.baseUrl`) stands for the gateway's `basePath`, so `app.use('/atg', middleware)` serves
 * `/atg/mcp`, `/atg/tools`, … whatever `basePath` the gateway was created with. Mounted
 * without a path (`app.use(middleware)`), it serves the gateway's own `basePath` and passes
 * every other request to `next()`.
 *
 * Works with or without `express.json()` in front: a body a parser already consumed is
 * handed over as the bytes it was sent as (`req.rawBody`, a `Buffer` or string body) or,
 * for JSON, re-serialised with `JSON.stringify`, which keeps its JSON meaning. The body
 * limit applies either way. A client that disconnects aborts the call; errors go to `next(error)`.
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
    const url = req.url ?? '/';
    let rest = url;
    if ((req.baseUrl ?? '') === '' && ownBasePath !== '') {
      if (url !== ownBasePath && !url.startsWith(`${ownBasePath}/`) && !url.startsWith(`${ownBasePath}?`)) {
        next();
        return;
      }
      rest = url.slice(ownBasePath.length);
    }
    serve(req, res, ownBasePath + rest).catch(next);
  };

  async function serve(req: ExpressRequestLike, res: ServerResponse, path: string): Promise<void> {
    const declared = Number(req.headers['content-length'] ?? 0);
    const preRead = bodyAlreadyRead(req);
    let request: Request;
    try {
      if (declared > maxBodyBytes) throw new BodyTooLargeError();
      const host = req.headers.host;
      const origin = `${req.protocol ?? 'http'}://${host !== undefined && VALID_HOST.test(host) ? host : 'localhost'}`;
      request = await toWebRequest(req, res, { url: origin + path, maxBodyBytes, ...(preRead === undefined ? {} : { preRead }) });
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      const body = JSON.stringify({ error: { code: 'PAYLOAD_TOO_LARGE', message: `Request body exceeds ${maxBodyBytes} bytes` } });
      res.writeHead(413, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
      res.end(body);
      return;
    }
    if (preRead !== undefined) {
      // The bytes may differ from what was sent (re-serialised, or inflated by the parser).
      request.headers.set('content-length', String(preRead.byteLength));
      request.headers.delete('content-encoding');
      request.headers.delete('transfer-encoding');
    }
    await writeWebResponse(res, await answer(gateway, request));
  }
}

/** The body as bytes when a parser already consumed the stream; undefined when the stream is untouched. */
function bodyAlreadyRead(req: ExpressRequestLike): Buffer | undefined {
  if (!req.readableEnded) return undefined;
  // A parser turns an empty JSON body into `{}`: keep it empty.
  if (req.headers['content-length'] === '0') return Buffer.alloc(0);
  const { rawBody, body } = req as ParsedBody;
  if (Buffer.isBuffer(rawBody)) return rawBody;
  if (typeof rawBody === 'string') return Buffer.from(rawBody, 'utf8');
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body !== undefined && JSON_MEDIA_TYPE.test(req.headers['content-type'] ?? '')) return Buffer.from(JSON.stringify(body), 'utf8');
  // Consumed by a parser for a media type the gateway does not take: it answers 415 or 400.
  return Buffer.alloc(0);
}
