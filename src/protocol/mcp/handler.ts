/**
 * The MCP Streamable HTTP endpoint of the gateway: one POST route that speaks the 2025
 * revisions (stateless `initialize` handshake) and 2026-07-28 (per-request `_meta`),
 * answering JSON only. The order of checks is the order a request meets them:
 *
 *   Host → Origin (a CORS preflight is answered here) → HTTP method → Accept →
 *   Content-Type → authentication → body size → JSON parse → envelope → era routing
 *   (headers vs body) → method → params
 */
import { GatewayError, toGatewayError } from '../../errors.js';
import type { AgentPrincipal } from '../../pipeline/types.js';
import { createCursorCodec } from './cursor.js';
import {
  legacyVersionFromHeader,
  type MirroredHeaders,
  protocolVersionMetaKey,
  readMirroredHeaders,
  routeNotification,
  routeRequest,
} from './era-routing.js';
import { isJsonContentType, readBodyText, unsupportedMediaType } from '../http.js';
import { acceptsJson, createCors, createHostGuard, createOriginGuard } from './http-guards.js';
import { classifyMessage, isJsonObject, JsonRpcErrorCode, type JsonRpcMessage } from './json-rpc.js';
import { createMethods, type Era, type MethodCall, type Methods } from './methods.js';
import { acceptedResponse, errorReply, gatewayErrorResponse, type Reply, replyResponse } from './replies.js';
import { createListingIndexer } from './tool-listing.js';
import type { McpBackend, McpHandler, McpOptions } from './types.js';
import { type Reply as HttpReply, JsonReply, withHeaders } from '../reply.js';
import { legacyFeatures } from './versions.js';
import type { CallAbort } from '../../util/call-abort.js';

/** Largest JSON-RPC batch accepted (2025-03-26 only). */
export const maxBatchLength = 100;

const defaultPageSize = 50;
const maxPageSize = 1000;
const defaultMaxBodyBytes = 1024 * 1024;

type RequestMessage = Extract<JsonRpcMessage, { kind: 'request' }>;

/**
 * Creates the MCP endpoint. Give `handle` every request of the MCP route (POST, GET,
 * DELETE and anything else); it never throws.
 *
 * @example
 * ```ts
 * import { createMcpHandler } from './protocol/mcp/index.js';
 *
 * const mcp = createMcpHandler(backend, {
 *   cursorSecret: crypto.getRandomValues(new Uint8Array(32)),
 *   serverInfo: { name: 'acme-gateway', version: '1.0.0' },
 * });
 * const response = await mcp.handle(request, abortOfSignal(request.signal));
 * ```
 */
export function createMcpHandler(backend: McpBackend, options: McpOptions): McpHandler {
  const pageSize = options.pageSize ?? defaultPageSize;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > maxPageSize) {
    throw new TypeError(`pageSize must be an integer from 1 to ${maxPageSize}`);
  }
  const { name, version } = options.serverInfo ?? {};
  if (typeof name !== 'string' || name.length === 0 || typeof version !== 'string' || version.length === 0) {
    throw new TypeError('serverInfo must have a non-empty name and version');
  }
  const methods = createMethods(backend, options, createListingIndexer(pageSize, createCursorCodec(options.cursorSecret)));
  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1) throw new TypeError('maxBodyBytes must be a positive integer');
  const hostAllowed = createHostGuard(options.allowedHosts);
  const originAllowed = createOriginGuard(options.allowedOrigins);
  const cors = createCors(options.allowedOrigins);
  const reportError = (error: unknown) => {
    try {
      options.onError?.(error);
    } catch {
      // A throwing reporter must not turn the 500 into a crash.
    }
  };

  function handle(request: Request, abort: CallAbort): Promise<HttpReply> {
    if (!hostAllowed(request)) {
      return Promise.resolve(gatewayErrorResponse(new GatewayError({ code: 'FORBIDDEN', message: 'Host not allowed' })));
    }
    const origin = request.headers.get('origin');
    if (!originAllowed(origin, request)) {
      return Promise.resolve(gatewayErrorResponse(new GatewayError({ code: 'FORBIDDEN', message: 'Origin not allowed' })));
    }
    // Without an Origin (every non-browser client) or an allow-list, no CORS work at all.
    if (origin === null || cors === undefined) return serve(request, abort);
    if (request.method === 'OPTIONS' && request.headers.get('access-control-request-method') !== null) {
      return Promise.resolve(new JsonReply(204, null, cors.preflight(origin, request.headers.get('access-control-request-headers'))));
    }
    return serve(request, abort).then((reply) => withHeaders(reply, cors.answer(origin)));
  }

  /** Everything after the Host and Origin checks. */
  async function serve(request: Request, abort: CallAbort): Promise<HttpReply> {
    if (request.method !== 'POST') {
      return gatewayErrorResponse(
        new GatewayError({ code: 'METHOD_NOT_ALLOWED', message: 'The MCP endpoint accepts POST only (no SSE stream, no sessions)' }),
        { allow: 'POST' },
      );
    }
    if (!acceptsJson(request.headers.get('accept'))) {
      return gatewayErrorResponse(new GatewayError({ code: 'NOT_ACCEPTABLE', message: 'The Accept header must allow application/json' }));
    }
    if (!isJsonContentType(request.headers.get('content-type'))) return gatewayErrorResponse(unsupportedMediaType());

    let agent: AgentPrincipal;
    try {
      agent = await backend.authenticate(request);
    } catch (error) {
      return gatewayErrorResponse(toGatewayError(error));
    }

    let text: string;
    try {
      // Read against the limit as it streams in (413), as every other route reads its body.
      text = await readBodyText(request, maxBodyBytes);
    } catch (error) {
      // Anything but a GatewayError is the host's failure (a body read before the gateway got
      // the request), not the caller's: a 500, told to onError, as on every other route.
      if (!(error instanceof GatewayError)) {
        reportError(error);
        return internalErrorResponse();
      }
      // A body over the limit keeps its 413; one that is not UTF-8 is no JSON text either.
      if (error.code !== 'BAD_REQUEST') return gatewayErrorResponse(error);
      return parseErrorResponse();
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return parseErrorResponse();
    }

    const headers = readMirroredHeaders(request.headers);
    if (Array.isArray(body)) return handleBatch(body, headers, agent, request.headers, abort);

    const message = classifyMessage(body);
    switch (message.kind) {
      case 'invalid':
        return replyResponse(errorReply(400, message.id, message.code, message.message));
      case 'response': {
        const version = legacyVersionFromHeader(headers);
        if (version === 'modern') {
          return replyResponse(
            errorReply(
              400,
              null,
              JsonRpcErrorCode.invalidRequest,
              'Invalid request: clients may not post JSON-RPC responses in this protocol version',
            ),
          );
        }
        return typeof version === 'string'
          ? acceptedResponse()
          : replyResponse(errorReply(version.status, null, version.code, version.message, version.data));
      }
      case 'notification': {
        const route = routeNotification(message.method, message.params, headers);
        return route.kind === 'accept'
          ? acceptedResponse()
          : replyResponse(errorReply(route.status, null, route.code, route.message, route.data));
      }
      case 'request':
        return replyResponse(await serveRequest(message, headers, agent, request.headers, abort));
    }
  }

  async function serveRequest(
    message: RequestMessage,
    headers: MirroredHeaders,
    agent: AgentPrincipal,
    requestHeaders: Headers,
    abort: CallAbort,
  ): Promise<Reply> {
    const route = routeRequest(message.method, message.params, headers);
    switch (route.kind) {
      case 'reject':
        return errorReply(route.status, message.id, route.code, route.message, route.data);
      case 'initialize':
        return methods.initialize(message.id, message.params);
      case 'legacy':
      case 'modern': {
        const era: Era = route.kind === 'legacy' ? { kind: 'legacy', version: route.version } : { kind: 'modern' };
        return dispatch(methods, { id: message.id, params: message.params, agent, era, headers: requestHeaders, abort }, message.method);
      }
    }
  }

  async function handleBatch(
    batch: unknown[],
    headers: MirroredHeaders,
    agent: AgentPrincipal,
    requestHeaders: Headers,
    abort: CallAbort,
  ): Promise<HttpReply> {
    const version = legacyVersionFromHeader(headers);
    if (typeof version === 'object') {
      return replyResponse(errorReply(version.status, null, version.code, version.message, version.data));
    }
    if (version !== '2025-03-26') {
      return replyResponse(
        errorReply(
          400,
          null,
          JsonRpcErrorCode.invalidRequest,
          `Invalid request: JSON-RPC batches are not supported in protocol version ${version === 'modern' ? headers.protocolVersion : version}`,
        ),
      );
    }
    if (batch.length === 0) {
      return replyResponse(errorReply(400, null, JsonRpcErrorCode.invalidRequest, 'Invalid request: empty batch'));
    }
    if (batch.length > maxBatchLength) {
      return replyResponse(
        errorReply(400, null, JsonRpcErrorCode.invalidRequest, `Invalid request: a batch may hold at most ${maxBatchLength} messages`),
      );
    }
    if (
      batch.some(
        (element) =>
          isJsonObject(element) &&
          isJsonObject(element.params) &&
          isJsonObject(element.params._meta) &&
          protocolVersionMetaKey in element.params._meta,
      )
    ) {
      return replyResponse(
        errorReply(400, null, JsonRpcErrorCode.invalidRequest, 'Invalid request: batches may not carry per-request protocol metadata'),
      );
    }
    const era: Era = { kind: 'legacy', version: '2025-03-26' };
    const replies = await Promise.all(
      batch.map(async (element): Promise<Reply | undefined> => {
        const message = classifyMessage(element);
        switch (message.kind) {
          case 'invalid':
            // A notification is never answered, not even when MCP cannot take its params.
            return message.notification ? undefined : errorReply(200, message.id, message.code, message.message);
          case 'response':
          case 'notification':
            return undefined;
          case 'request':
            if (message.method === 'initialize') {
              return errorReply(200, message.id, JsonRpcErrorCode.invalidRequest, 'Invalid request: initialize may not be part of a batch');
            }
            return dispatch(
              methods,
              { id: message.id, params: message.params, agent, era, headers: requestHeaders, abort },
              message.method,
            );
        }
      }),
    );
    const bodies = replies.filter((reply): reply is Reply => reply !== undefined).map((reply) => reply.json);
    if (bodies.length === 0) return acceptedResponse();
    return replyResponse({ status: 200, json: `[${bodies.join(',')}]` });
  }

  return {
    async handle(request, abort) {
      try {
        return await handle(request, abort);
      } catch (error) {
        reportError(error);
        return internalErrorResponse();
      }
    },
  };
}

/**
 * Tasks exist in 2025-11-25 (core: get, result, list, cancel) and in 2026-07-28 (the tasks
 * extension: get, update, cancel; `tasks/result` and `tasks/list` were removed there).
 */
function servesTasks(era: Era): boolean {
  return era.kind === 'modern' || legacyFeatures(era.version).tasks;
}

/** Runs one method of the era that serves the request; unknown methods are -32601. */
async function dispatch(methods: Methods, call: MethodCall, method: string): Promise<Reply> {
  switch (method) {
    case 'tools/list':
      return methods.listTools(call);
    case 'tools/call':
      return methods.callTool(call);
    case 'ping':
      if (call.era.kind === 'legacy') return methods.ping(call);
      break;
    case 'server/discover':
      if (call.era.kind === 'modern') return methods.discover(call);
      break;
    case 'tasks/get':
      if (servesTasks(call.era)) return methods.tasks.get(call);
      break;
    case 'tasks/cancel':
      if (servesTasks(call.era)) return methods.tasks.cancel(call);
      break;
    case 'tasks/result':
      if (call.era.kind === 'legacy' && servesTasks(call.era)) return methods.tasks.result(call);
      break;
    case 'tasks/list':
      if (call.era.kind === 'legacy' && servesTasks(call.era)) return methods.tasks.list(call);
      break;
    case 'tasks/update':
      if (call.era.kind === 'modern') return methods.tasks.update(call);
      break;
  }
  // The modern transport answers an unknown method with 404; the legacy one in-band.
  const status = call.era.kind === 'modern' ? 404 : 200;
  return errorReply(
    status,
    call.id,
    JsonRpcErrorCode.methodNotFound,
    `Method not found: ${method.length > 64 ? `${method.slice(0, 64)}…` : method}`,
  );
}

function parseErrorResponse(): HttpReply {
  return replyResponse(errorReply(400, null, JsonRpcErrorCode.parseError, 'Parse error: the body is not valid JSON'));
}

function internalErrorResponse(): HttpReply {
  return replyResponse(errorReply(500, null, JsonRpcErrorCode.internalError, 'Internal error'));
}
