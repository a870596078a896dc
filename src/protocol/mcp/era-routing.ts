/**
 * Decides, per message, which protocol era serves it, and rejects what neither may serve.
 *
 * The body decides: a request whose `params._meta` carries
 * `io.modelcontextprotocol/protocolVersion` claims the per-request (2026-07-28) mechanism;
 * `initialize` and every request without that claim are legacy (2025) traffic. The
 * `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers are cross-checks: a
 * disagreement with the body is a `HeaderMismatch` (400, -32020) and a version we do not
 * speak is an `UnsupportedProtocolVersion` error (400, -32022) listing what we do speak.
 */
import { decodeMirroredHeaderValue, trimOptionalWhiteSpace } from './header-values.js';
import { isJsonObject, type JsonObject, JsonRpcErrorCode } from './json-rpc.js';
import {
  headerlessLegacyProtocolVersion,
  isLegacyProtocolVersion,
  isModernProtocolVersion,
  type LegacyProtocolVersion,
  type ModernProtocolVersion,
  supportedProtocolVersions,
} from './versions.js';

/** The `_meta` key of the protocol version a modern request uses. */
export const protocolVersionMetaKey = 'io.modelcontextprotocol/protocolVersion';
/** The `_meta` key of the capabilities a modern client declares for one request. */
export const clientCapabilitiesMetaKey = 'io.modelcontextprotocol/clientCapabilities';
/** The `_meta` key of the client's name and version. */
export const clientInfoMetaKey = 'io.modelcontextprotocol/clientInfo';
/** The `_meta` key of the server's name and version on modern results. */
export const serverInfoMetaKey = 'io.modelcontextprotocol/serverInfo';

/** The values of the headers that mirror the body, already trimmed; `undefined` when absent. */
export interface MirroredHeaders {
  protocolVersion: string | undefined;
  method: string | undefined;
  name: string | undefined;
}

/** Reads the mirrored headers of a request. */
export function readMirroredHeaders(headers: Headers): MirroredHeaders {
  const protocolVersion = headers.get('mcp-protocol-version');
  const method = headers.get('mcp-method');
  const name = headers.get('mcp-name');
  return {
    protocolVersion: protocolVersion === null ? undefined : trimOptionalWhiteSpace(protocolVersion),
    method: method === null ? undefined : trimOptionalWhiteSpace(method),
    name: name === null ? undefined : name,
  };
}

/** A rejection: the HTTP status and the JSON-RPC error to answer with. */
export interface Rejection {
  kind: 'reject';
  status: number;
  code: number;
  message: string;
  data?: unknown;
}

/** Where one request goes. */
export type RequestRoute =
  | { kind: 'initialize' }
  | { kind: 'legacy'; version: LegacyProtocolVersion }
  | { kind: 'modern'; version: ModernProtocolVersion }
  | Rejection;

/** Where one notification goes (either era accepts it with 202). */
export type NotificationRoute = { kind: 'accept' } | Rejection;

function reject(status: number, code: number, message: string, data?: unknown): Rejection {
  return data === undefined ? { kind: 'reject', status, code, message } : { kind: 'reject', status, code, message, data };
}

function headerMismatch(message: string): Rejection {
  return reject(400, JsonRpcErrorCode.headerMismatch, `Header mismatch: ${message}`);
}

function unsupportedVersion(requested: string): Rejection {
  return reject(400, JsonRpcErrorCode.unsupportedProtocolVersion, `Unsupported protocol version: ${clip(requested)}`, {
    supported: supportedProtocolVersions,
    requested,
  });
}

function clip(value: string): string {
  return value.length > 64 ? `${value.slice(0, 64)}…` : value;
}

function metaOf(params: JsonObject | undefined): JsonObject | undefined {
  const meta = params?._meta;
  return isJsonObject(meta) ? meta : undefined;
}

/**
 * The problem with a modern `_meta` envelope, or `undefined` when it is well formed:
 * the protocol version must be a string, client capabilities an object, and client info,
 * when present, a name and version.
 */
function envelopeProblem(meta: JsonObject): string | undefined {
  if (typeof meta[protocolVersionMetaKey] !== 'string') return `_meta["${protocolVersionMetaKey}"] must be a string`;
  const capabilities = meta[clientCapabilitiesMetaKey];
  if (capabilities === undefined) return `_meta["${clientCapabilitiesMetaKey}"] is required`;
  if (!isJsonObject(capabilities)) return `_meta["${clientCapabilitiesMetaKey}"] must be an object`;
  const info = meta[clientInfoMetaKey];
  if (info !== undefined && !(isJsonObject(info) && typeof info.name === 'string' && typeof info.version === 'string')) {
    return `_meta["${clientInfoMetaKey}"] must have a string name and version`;
  }
  return undefined;
}

function invalidEnvelope(problem: string): Rejection {
  return reject(400, JsonRpcErrorCode.invalidParams, `Invalid params: ${problem}`);
}

/** Routes one request (a message with an id). */
export function routeRequest(method: string, params: JsonObject | undefined, headers: MirroredHeaders): RequestRoute {
  const meta = metaOf(params);
  const claim = meta === undefined ? undefined : meta[protocolVersionMetaKey];
  const hasClaim = meta !== undefined && protocolVersionMetaKey in meta;
  const headerVersion = headers.protocolVersion;

  if (method === 'initialize' && !(typeof claim === 'string' && isModernProtocolVersion(claim))) {
    if (headerVersion !== undefined && isModernProtocolVersion(headerVersion)) {
      return headerMismatch(`initialize (a legacy handshake) was sent with MCP-Protocol-Version ${headerVersion}`);
    }
    return { kind: 'initialize' };
  }

  if (!hasClaim) {
    if (headerVersion === undefined) return { kind: 'legacy', version: headerlessLegacyProtocolVersion };
    if (isLegacyProtocolVersion(headerVersion)) return { kind: 'legacy', version: headerVersion };
    if (isModernProtocolVersion(headerVersion)) {
      const missing =
        meta === undefined ? '_meta' : [protocolVersionMetaKey, clientCapabilitiesMetaKey].filter((key) => !(key in meta)).join(', ');
      return invalidEnvelope(`protocol version ${headerVersion} requires the per-request _meta fields (missing: ${missing})`);
    }
    return unsupportedVersion(headerVersion);
  }

  const problem = envelopeProblem(meta);
  if (problem !== undefined) return invalidEnvelope(problem);
  const version = claim as string;
  if (headerVersion !== undefined && headerVersion !== version) {
    return headerMismatch(`MCP-Protocol-Version is ${clip(headerVersion)} but _meta names ${clip(version)}`);
  }
  if (headers.method !== undefined && headers.method !== method) {
    return headerMismatch(`Mcp-Method is ${clip(headers.method)} but the body method is ${clip(method)}`);
  }
  if (isLegacyProtocolVersion(version)) return { kind: 'legacy', version };
  if (!isModernProtocolVersion(version)) return unsupportedVersion(version);
  if (headerVersion === undefined) return headerMismatch('the required MCP-Protocol-Version header is missing');
  if (headers.method === undefined) return headerMismatch('the required Mcp-Method header is missing');
  const nameProblem = mcpNameProblem(method, params, headers.name);
  if (nameProblem !== undefined) return headerMismatch(nameProblem);
  return { kind: 'modern', version };
}

/**
 * The body field `Mcp-Name` mirrors, per method: `params.name` for `tools/call` (SEP-2243),
 * `params.taskId` for the task methods of the tasks extension (SEP-2663). Methods we do not
 * serve are left out: they end as -32601 whatever their headers say.
 */
const mcpNameSources: ReadonlyMap<string, string> = new Map([
  ['tools/call', 'name'],
  ['tasks/get', 'taskId'],
  ['tasks/update', 'taskId'],
  ['tasks/cancel', 'taskId'],
]);

/** Checks `Mcp-Name` against the body field it mirrors. */
function mcpNameProblem(method: string, params: JsonObject | undefined, header: string | undefined): string | undefined {
  const field = mcpNameSources.get(method);
  if (field === undefined) return undefined;
  const value = params?.[field];
  const bodyValue = typeof value === 'string' ? value : undefined;
  if (header === undefined) {
    return bodyValue === undefined ? undefined : 'the required Mcp-Name header is missing';
  }
  const decoded = decodeMirroredHeaderValue(header);
  if (decoded === undefined) return 'the Mcp-Name header is malformed';
  if (bodyValue !== undefined && decoded !== bodyValue) {
    return `Mcp-Name is ${clip(decoded)} but params.${field} is ${clip(bodyValue)}`;
  }
  return undefined;
}

/** Routes one notification (a message without an id). */
export function routeNotification(method: string, params: JsonObject | undefined, headers: MirroredHeaders): NotificationRoute {
  const meta = metaOf(params);
  const headerVersion = headers.protocolVersion;
  let version = headerVersion;
  if (meta !== undefined && protocolVersionMetaKey in meta) {
    const claim = meta[protocolVersionMetaKey];
    if (typeof claim !== 'string') return invalidEnvelope(`_meta["${protocolVersionMetaKey}"] must be a string`);
    if (headerVersion !== undefined && headerVersion !== claim) {
      return headerMismatch(`MCP-Protocol-Version is ${clip(headerVersion)} but _meta names ${clip(claim)}`);
    }
    version = claim;
  }
  if (version === undefined || isLegacyProtocolVersion(version)) return { kind: 'accept' };
  if (!isModernProtocolVersion(version)) return unsupportedVersion(version);
  if (headers.method !== undefined && headers.method !== method) {
    return headerMismatch(`Mcp-Method is ${clip(headers.method)} but the body method is ${clip(method)}`);
  }
  return { kind: 'accept' };
}

/**
 * Checks the `MCP-Protocol-Version` header of a message that is neither request nor
 * notification (a posted response, or a batch): returns the legacy version it stands for,
 * or a rejection.
 */
export function legacyVersionFromHeader(headers: MirroredHeaders): LegacyProtocolVersion | Rejection | 'modern' {
  const headerVersion = headers.protocolVersion;
  if (headerVersion === undefined) return headerlessLegacyProtocolVersion;
  if (isLegacyProtocolVersion(headerVersion)) return headerVersion;
  if (isModernProtocolVersion(headerVersion)) return 'modern';
  return unsupportedVersion(headerVersion);
}
