/**
 * HTTP answers of the MCP endpoint: JSON-RPC bodies (always `application/json`, never SSE),
 * empty 202s for accepted notifications, and the gateway's own error body for rejections
 * that happen before any JSON-RPC is read.
 */
import type { GatewayError } from '../../errors.js';
import { JsonReply } from '../reply.js';
import { errorResponseJson, type JsonRpcId, resultResponseJson } from './json-rpc.js';

/** A JSON-RPC answer before it becomes a Response: HTTP status and JSON text. */
export interface Reply {
  status: number;
  json: string;
}

const jsonHeaders: Readonly<Record<string, string>> = Object.freeze({ 'content-type': 'application/json' });

/** A `200` reply carrying a result that is already serialised. */
export function resultReply(id: JsonRpcId, resultJson: string): Reply {
  return { status: 200, json: resultResponseJson(id, resultJson) };
}

/** A reply carrying a JSON-RPC error. */
export function errorReply(status: number, id: JsonRpcId | null, code: number, message: string, data?: unknown): Reply {
  return { status, json: errorResponseJson(id, code, message, data) };
}

/** The Response for a reply. */
export function replyResponse(reply: Reply): JsonReply {
  return new JsonReply(reply.status, reply.json, jsonHeaders);
}

/** `202 Accepted` with no body: an accepted notification or posted response. */
export function acceptedResponse(): JsonReply {
  return new JsonReply(202, null);
}

/** A pre-JSON-RPC rejection in the gateway's error format: `{ error: { code, message } }`. */
export function gatewayErrorResponse(error: GatewayError, extraHeaders?: Record<string, string>): JsonReply {
  const headers: Record<string, string> = { ...jsonHeaders, ...error.headers, ...extraHeaders };
  return new JsonReply(error.status, JSON.stringify({ error: error.toJSON() }), headers);
}
