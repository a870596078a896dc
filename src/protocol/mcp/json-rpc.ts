/**
 * The JSON-RPC 2.0 envelope: hand-written shape checks (no schema library on the hot path)
 * and string-building serialisers for responses.
 */

/** The JSON-RPC error codes this endpoint answers with. */
export const JsonRpcErrorCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** 2026-07-28: HTTP headers disagree with the body, or a required header is missing. */
  headerMismatch: -32020,
  /** 2026-07-28: the request needs a client capability the client did not declare (HTTP 400). */
  missingRequiredClientCapability: -32021,
  /** 2026-07-28: the request names a protocol version we do not speak. */
  unsupportedProtocolVersion: -32022,
  /**
   * Implementation-defined: `tasks/result` held the request as long as it may and the task
   * is still working. Not the task's result; the client asks again.
   */
  requestTimeout: -32001,
} as const;

/**
 * A request id: MCP allows strings and integers, never null. Integer ids are accepted from
 * -(2^53 - 1) to 2^53 - 1: beyond that, JSON parsing has already rounded the id, and the
 * answer would carry one the client never sent.
 */
export type JsonRpcId = string | number;

/** A JSON object. */
export type JsonObject = Record<string, unknown>;

/** One JSON-RPC message after the envelope check. */
export type JsonRpcMessage =
  | { kind: 'request'; id: JsonRpcId; method: string; params: JsonObject | undefined; raw: JsonObject }
  | { kind: 'notification'; method: string; params: JsonObject | undefined; raw: JsonObject }
  | { kind: 'response' }
  | {
      kind: 'invalid';
      id: JsonRpcId | null;
      code: number;
      message: string;
      /**
       * Set for a well-formed JSON-RPC 2.0 notification that MCP cannot take (by-position
       * params). JSON-RPC never answers a notification, so a batch leaves it out of its
       * answer; posted alone, it is refused with HTTP 400, as MCP lets a server refuse a
       * notification it cannot accept.
       */
      notification?: true;
    };

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isRequestId(value: unknown): value is JsonRpcId {
  return typeof value === 'string' || Number.isSafeInteger(value);
}

/** Classifies one parsed JSON value as a request, notification, response or invalid message. */
export function classifyMessage(value: unknown): JsonRpcMessage {
  if (!isJsonObject(value)) {
    return invalid(null, JsonRpcErrorCode.invalidRequest, 'Invalid request: a JSON-RPC message must be a JSON object');
  }
  const hasId = 'id' in value;
  const id = hasId && isRequestId(value.id) ? value.id : null;
  if (value.jsonrpc !== '2.0') {
    return invalid(id, JsonRpcErrorCode.invalidRequest, 'Invalid request: "jsonrpc" must be "2.0"');
  }
  const method = value.method;
  if (method === undefined) {
    if (hasId && ('result' in value || 'error' in value)) return { kind: 'response' };
    return invalid(id, JsonRpcErrorCode.invalidRequest, 'Invalid request: "method" is missing');
  }
  if (typeof method !== 'string' || method.length === 0) {
    return invalid(id, JsonRpcErrorCode.invalidRequest, 'Invalid request: "method" must be a non-empty string');
  }
  if (hasId && id === null) {
    return invalid(
      null,
      JsonRpcErrorCode.invalidRequest,
      'Invalid request: "id" must be a string or an integer from -(2^53 - 1) to 2^53 - 1',
    );
  }
  const params = value.params;
  // JSON-RPC 2.0 allows by-position (array) params: such a request is valid, and its params
  // are what is wrong for MCP, whose methods all take named ones (-32602); a notification
  // with them is a valid one, which is never answered (see `notification`). Any other
  // non-object is no valid request at all (-32600).
  if (params !== undefined && !isJsonObject(params)) {
    if (!Array.isArray(params)) return invalid(id, JsonRpcErrorCode.invalidRequest, 'Invalid request: "params" must be an object');
    return hasId
      ? invalid(id, JsonRpcErrorCode.invalidParams, 'Invalid params: "params" must be an object')
      : {
          kind: 'invalid',
          id: null,
          code: JsonRpcErrorCode.invalidRequest,
          message: 'Invalid request: "params" must be an object',
          notification: true,
        };
  }
  return hasId
    ? { kind: 'request', id: id as JsonRpcId, method, params, raw: value }
    : { kind: 'notification', method, params, raw: value };
}

function invalid(id: JsonRpcId | null, code: number, message: string): JsonRpcMessage {
  return { kind: 'invalid', id, code, message };
}

/** The JSON text of a success response whose result is already serialised. */
export function resultResponseJson(id: JsonRpcId, resultJson: string): string {
  return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${resultJson}}`;
}

/** The JSON text of an error response. */
export function errorResponseJson(id: JsonRpcId | null, code: number, message: string, data?: unknown): string {
  const error = data === undefined ? { code, message } : { code, message, data };
  return JSON.stringify({ jsonrpc: '2.0', id, error });
}
