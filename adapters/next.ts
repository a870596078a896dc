import type { Gateway } from '../src/gateway.js';
import { checkedMount, errorResponse, routeNotFound, setPublicBasePath } from '../src/protocol/http.js';

/** Options of {@link toNextHandlers}. */
export interface NextHandlersOptions {
  /**
   * The URL path of the catch-all route's folder, as clients send it: `'/api/atg'` for
   * `app/api/atg/[...path]/route.ts` (with Next's `basePath` in front, if the app sets one).
   * It stands for the gateway's `basePath`.
   */
  basePath: string;
}

/** An App Router route handler. */
export type NextRouteHandler = (request: Request) => Promise<Response>;

/** The handlers a `route.ts` exports, one per HTTP method. */
export interface NextRouteHandlers {
  GET: NextRouteHandler;
  POST: NextRouteHandler;
  PUT: NextRouteHandler;
  PATCH: NextRouteHandler;
  DELETE: NextRouteHandler;
  HEAD: NextRouteHandler;
  OPTIONS: NextRouteHandler;
}

/**
 * Serves a gateway from a Next.js App Router catch-all route (Node.js runtime). The Web
 * `Request` goes straight to `gateway.fetch` (no Node bridge): only its path is rewritten,
 * from the route's `basePath` to the gateway's own, and its body, headers and abort signal
 * are passed through unread. Requests outside `basePath` answer 404. The URLs the gateway
 * names (the OAuth metadata a 401 points to) are under `basePath`.
 *
 * @example
 * ```ts
 * // app/api/atg/[...path]/route.ts
 * import { toNextHandlers } from 'agent-tool-gateway/next';
 * import { gateway } from '../../../../lib/gateway.js';
 *
 * export const runtime = 'nodejs';
 * export const dynamic = 'force-dynamic';
 * export const { GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS } = toNextHandlers(gateway, { basePath: '/api/atg' });
 * ```
 */
export function toNextHandlers(gateway: Gateway, options: NextHandlersOptions): NextRouteHandlers {
  const mount = checkedMount(options.basePath, 'toNextHandlers');
  const handler: NextRouteHandler = async (request) => {
    const url = new URL(request.url);
    const path = url.pathname;
    if (mount !== '' && path !== mount && !path.startsWith(`${mount}/`)) {
      return errorResponse(routeNotFound()).toResponse();
    }
    if (mount === gateway.basePath) return gateway.fetch(request);
    const init: RequestInit & { duplex?: 'half' } = { method: request.method, headers: request.headers, signal: request.signal };
    let bodyAlreadyRead = false;
    if (request.body !== null) {
      // A body host code read first cannot be handed on (`new Request` throws on it): the
      // gateway gets one read as well, and answers it as it answers such a request (500, told to onError).
      bodyAlreadyRead = request.bodyUsed || request.body.locked;
      init.body = bodyAlreadyRead ? new ReadableStream() : request.body;
      // Required by Node's fetch for a streamed body; it is read once, by the gateway.
      init.duplex = 'half';
    }
    const rewritten = new Request(url.origin + gateway.basePath + path.slice(mount.length) + url.search, init);
    if (bodyAlreadyRead) rewritten.body?.getReader();
    setPublicBasePath(rewritten, mount);
    return gateway.fetch(rewritten);
  };
  return { GET: handler, POST: handler, PUT: handler, PATCH: handler, DELETE: handler, HEAD: handler, OPTIONS: handler };
}
