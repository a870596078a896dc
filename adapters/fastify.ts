import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from '../src/gateway.js';
import { errorResponse, setPublicBasePath, unsupportedMediaType } from '../src/protocol/http.js';
import type { JsonReply } from '../src/protocol/reply.js';
import {
  BodyTooLargeError,
  adapterBodyLimit,
  answer,
  bodyTooLarge,
  isMalformedPath,
  outsideMount,
  refusedPath,
  requestOrigin,
  requestPath,
  toWebRequest,
  writeWebResponse,
} from './node.js';

/** Options of {@link fastifyGatewayPlugin} (next to Fastify's own `prefix`). */
export interface FastifyGatewayOptions {
  gateway: Gateway;
  /** Body limit in bytes, enforced while the raw body streams in. Default: the gateway's `maxBodyBytes`. */
  maxBodyBytes?: number;
}

/**
 * Serves a gateway from Fastify 4 or 5. Mount rule: the `prefix` you register the plugin with
 * stands for the gateway's `basePath`, so `{ prefix: '/atg' }` serves `/atg/mcp`,
 * `/atg/tools`, … whatever `basePath` the gateway was created with; without a prefix it
 * serves the gateway's own `basePath`. Every method is routed, for the prefix itself and
 * everything below it.
 *
 * The plugin is encapsulated: inside it, one content-type parser leaves every body unread,
 * so the gateway reads the raw bytes itself (no double parsing), and the host's parsers and
 * routes are untouched. The response is written to the raw reply (`reply.hijack()`),
 * streaming with backpressure, with the headers the host's hooks set on the reply
 * (`reply.header()`) under the gateway's own; `onSend` hooks do not run. A client that
 * disconnects aborts the call. Errors before the response starts go to Fastify's error handler.
 *
 * The URLs the gateway names (the OAuth metadata a 401 points to) are under the prefix. A
 * path URL parsing would rewrite (`/atg/tools/%2e%2e/admin`, a `\`) is refused with the
 * gateway's 400 `BAD_REQUEST`, as `createNodeHandler` refuses it; a path Fastify cannot
 * decode (`%zz`) it answers itself before the plugin runs (its `frameworkErrors` option can
 * answer it as the gateway would). Over HTTP/2 the host is `request.host` (`:authority`).
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { fastifyGatewayPlugin } from 'agent-tool-gateway/fastify';
 *
 * const app = Fastify();
 * await app.register(fastifyGatewayPlugin, { gateway, prefix: '/atg' });
 * app.get('/health', async () => 'ok');
 * await app.listen({ port: 3000 });
 * ```
 */
export const fastifyGatewayPlugin: FastifyPluginAsync<FastifyGatewayOptions> = async (fastify, options) => {
  const { gateway } = options;
  const maxBodyBytes = adapterBodyLimit(gateway, options.maxBodyBytes);
  // Fastify serves `{ prefix: '/atg/' }`'s routes at `/atg/tools`, as `/atg`'s.
  const fastifyPrefix = fastify.prefix.endsWith('/') ? fastify.prefix.slice(0, -1) : fastify.prefix;
  const mount = fastifyPrefix === '' ? gateway.basePath : '';
  // What precedes the gateway's own routes in a request URL: Fastify's prefix, or the mount.
  const routedPrefix = fastifyPrefix + mount;
  const routedPrefixLowerCase = routedPrefix.toLowerCase();

  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (_request, _payload, done) => done(null));
  // Fastify 5 refuses a Content-Type it cannot parse (empty, `json`, a list) before any
  // parser runs, and before the host's preValidation and preHandler hooks: the gateway's
  // own 415 answers it, and the gateway is not asked (the hooks have not let it through).
  fastify.setErrorHandler((error: Error & { code?: string }, _request, reply) => {
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return sendThroughFastify(reply, errorResponse(unsupportedMediaType()));
    throw error;
  });

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    // Fastify routes on the decoded path (`/%61tg/tools` reaches a plugin under `/atg`), the
    // gateway on the raw one: only a raw URL that spells the prefix out (in any case, for
    // `caseSensitive: false`) maps onto it. Others answer as an unknown path would.
    const path = requestPath(request.url);
    if (path === undefined) return sendThroughFastify(reply, outsideMount());
    const prefix = path.slice(0, routedPrefix.length);
    const rest = path.slice(routedPrefix.length);
    if (
      (prefix !== routedPrefix && prefix.toLowerCase() !== routedPrefixLowerCase) ||
      (rest !== '' && rest[0] !== '/' && rest[0] !== '?')
    ) {
      return sendThroughFastify(reply, outsideMount());
    }
    if (isMalformedPath(path)) return sendThroughFastify(reply, refusedPath());
    let webRequest: Request;
    try {
      // `request.host` (Fastify 5; Fastify 4's `hostname` holds the same): the Host header,
      // HTTP/2's `:authority`, or with `trustProxy` X-Forwarded-Host, port included.
      webRequest = await toWebRequest(request.raw, reply.raw, {
        url: requestOrigin(request.protocol, hostOfRequest(request)) + gateway.basePath + rest,
        maxBodyBytes,
      });
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      return sendThroughFastify(reply, bodyTooLarge(maxBodyBytes, request.raw));
    }
    if (prefix !== gateway.basePath) setPublicBasePath(webRequest, prefix);
    const response = await answer(gateway, webRequest);
    reply.hijack();
    keepHookHeaders(reply);
    await writeWebResponse(reply.raw, response);
    return reply;
  };

  fastify.all(mount === '' ? '/' : mount, handler);
  fastify.all(`${mount}/*`, handler);
};

/**
 * Headers the host's hooks set with `reply.header()` (a request id, CORS, security headers)
 * wait in the reply until Fastify sends it, which a hijacked reply never does: they go onto
 * the raw response, under the gateway's own (which win for a name both set). Headers that
 * describe a body are left out: a hook's would not describe the gateway's, and would label
 * an answer that has none (a 202 without a body, a HEAD).
 */
function keepHookHeaders(reply: FastifyReply): void {
  const headers = reply.getHeaders();
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && !BODY_HEADERS.has(name)) reply.raw.setHeader(name, value);
  }
}

/** Headers about a body's framing, type or coding (lower case, as `getHeaders` names them). */
const BODY_HEADERS: ReadonlySet<string> = new Set(['content-length', 'content-type', 'content-encoding', 'transfer-encoding']);

/** An answer made before the gateway is asked, sent through Fastify so its hooks see it. */
function sendThroughFastify(reply: FastifyReply, early: JsonReply): FastifyReply {
  return reply.code(early.status).headers(early.headerRecord).send(early.bodyText);
}

/** The host a request names, with its port: `host` on Fastify 5, `hostname` on Fastify 4 (which has no `host`). */
function hostOfRequest(request: FastifyRequest): string | undefined {
  return (request as { host?: string }).host ?? request.hostname;
}
