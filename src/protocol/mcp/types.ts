import type { AgentPrincipal, CallOutcome } from '../../pipeline/types.js';
import type { InvocationRecord } from '../../store/types.js';
import type { Reply as HttpReply } from '../reply.js';
import type { CallAbort } from '../../util/call-abort.js';

/**
 * One tool as the MCP door shows it to an agent: the wire fields of an MCP `Tool`.
 *
 * @example
 * ```ts
 * const view: McpToolView = {
 *   name: 'refund_order',
 *   description: 'Refunds an order',
 *   inputSchema: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] },
 * };
 * ```
 */
export interface McpToolView {
  name: string;
  title?: string;
  description: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  /** `'mcp-content'`: the call's output is already `{ content, structuredContent? }` and is passed through. */
  outputFormat?: 'mcp-content';
  annotations?: Record<string, unknown>;
  /**
   * Checks a value against `outputSchema`: `undefined` when it conforms, else the issues
   * (JSON Pointer paths into the value). When a view has it, a succeeded call's redacted
   * output is checked before it is sent as `structuredContent`: redaction may have changed
   * fields the schema describes (a number masked to `"***"`, a required member removed),
   * and the official clients reject a result whose structured content does not conform.
   * Such a result withholds the structured content (see docs/mcp.md). The gateway's views
   * carry their tool's compiled check here, as a non-enumerable property.
   */
  validateOutput?: (value: unknown) => ReadonlyArray<{ path: string; message: string }> | undefined;
}

/**
 * What the MCP door needs from the gateway core. The door never governs anything itself:
 * it authenticates through `authenticate`, lists through `listTools` and calls through
 * `callTool`, which runs the whole governed pipeline. MCP tasks are invocations seen
 * through the four invocation methods; each of them answers only for the agent's own calls.
 *
 * @example
 * ```ts
 * const backend: McpBackend = {
 *   authenticate: async (request) => principalFor(request),
 *   listTools: async (agent) => toolsVisibleTo(agent),
 *   callTool: async (agent, call) => pipeline.run({ agent, tool: call.name, input: call.arguments, abort: call.abort }),
 *   getInvocation: async (agent, id) => {
 *     const record = await store.getInvocation(id);
 *     return record?.agentId === agent.id ? record : undefined;
 *   },
 *   listInvocations: (agent, cursor) => store.listInvocations({ agentId: agent.id, cursor, limit: 50 }),
 *   waitForOutcome: async (agent, id, ms, abort) =>
 *     (await store.getInvocation(id))?.agentId === agent.id ? approvals.waitForOutcome(id, ms, abort) : undefined,
 *   cancelInvocation: (agent, id) => approvals.cancel(id, agent.id),
 * };
 * ```
 */
export interface McpBackend {
  /** Throws GatewayError UNAUTHENTICATED (with headers['www-authenticate']) on a bad/missing key. */
  authenticate(request: Request): Promise<AgentPrincipal>;
  /** The tools this agent may call, already in deterministic order (by name). */
  listTools(agent: AgentPrincipal): Promise<readonly McpToolView[]>;
  /** Runs the governed pipeline. Unknown/invisible tool → outcome error code TOOL_NOT_FOUND. */
  callTool(agent: AgentPrincipal, call: { name: string; arguments: unknown; abort: CallAbort }): Promise<CallOutcome>;
  /**
   * The record of one of this agent's calls as it stands now (a call whose approval's time is
   * up reads as expired, before anything records it; a task is answered from it);
   * `undefined` for an unknown id or another agent's call.
   */
  getInvocation(agent: AgentPrincipal, invocationId: string): Promise<InvocationRecord | undefined>;
  /**
   * One page of this agent's calls, newest first, each as it stands now (as `getInvocation`).
   * Throws GatewayError BAD_REQUEST for a cursor that is not one of this listing's.
   */
  listInvocations(agent: AgentPrincipal, cursor?: string): Promise<{ items: InvocationRecord[]; nextCursor?: string }>;
  /**
   * The final outcome of one of this agent's calls: at once when it is final already,
   * otherwise after waiting up to `ms` (or until `abort` fires) for the approval decision
   * and the execution that follows. `undefined` when it is still not final, and for
   * another agent's call.
   */
  waitForOutcome(agent: AgentPrincipal, invocationId: string, ms: number, abort: CallAbort): Promise<CallOutcome | undefined>;
  /**
   * Withdraws one of this agent's calls that is still waiting for approval: it will never
   * run. Returns its final (CANCELLED) outcome. Throws GatewayError NOT_FOUND when there is
   * no such waiting call of this agent, APPROVAL_ALREADY_DECIDED when a decision came first.
   */
  cancelInvocation(agent: AgentPrincipal, invocationId: string): Promise<CallOutcome>;
  /** The clock a recorded time to retry is counted down by, in epoch ms. Default `Date.now`. */
  now?(): number;
}

/**
 * Options of {@link createMcpHandler}.
 *
 * @example
 * ```ts
 * const options: McpOptions = {
 *   cursorSecret: crypto.getRandomValues(new Uint8Array(32)),
 *   serverInfo: { name: 'acme-gateway', version: '1.4.0' },
 *   allowedOrigins: ['https://console.acme.example'],
 * };
 * ```
 */
export interface McpOptions {
  /**
   * Browser origins allowed to call the endpoint (`https://app.example.com`; `'*'` allows
   * any). A request without an `Origin` header is always allowed. When unset, only an
   * `Origin` equal to the origin of the request URL is allowed. Listed origins get CORS:
   * a preflight (`OPTIONS` with `Access-Control-Request-Method`) gets a 204 allowing POST,
   * and every answer after the Host check names the origin back (`*` with `'*'`) and exposes
   * `WWW-Authenticate` and `Retry-After`.
   */
  allowedOrigins?: string[];
  /**
   * DNS-rebinding protection: the `Host` values the endpoint answers to (`localhost`,
   * `127.0.0.1:3000`, `[::1]`). An entry without a port matches any port; an IPv6 address
   * without a port may leave out its brackets (`::1`). Unset: no Host check.
   */
  allowedHosts?: string[];
  /**
   * Largest request body in bytes; a larger one is refused with 413 `PAYLOAD_TOO_LARGE`
   * while it streams in, before any of it is parsed. Default 1 MiB.
   */
  maxBodyBytes?: number;
  /** Tools per `tools/list` page; default 50. */
  pageSize?: number /* default 50 */;
  /** HMAC key for tamper-proof cursors (at least 16 bytes). */
  cursorSecret: Uint8Array /* HMAC key for tamper-proof cursors */;
  /** What the server reports about itself: name and version, and optionally a title, website, description and icons. */
  serverInfo: McpServerInfo;
  /** Natural-language guidance for models, sent in `initialize` and `server/discover` results. */
  instructions?: string;
  /**
   * Told of a failure of the endpoint itself, which it answers with 500 and JSON-RPC
   * `-32603` without details (it never throws): a request body the host read before the
   * endpoint got the request, or a bug. Failures of the backend are the backend's to report.
   */
  onError?: (error: unknown) => void;
}

/**
 * The MCP endpoint: give it every request that reaches the MCP route (any HTTP method).
 *
 * @example
 * ```ts
 * const mcp = createMcpHandler(backend, options);
 * const response = await mcp.handle(request, abortOfSignal(AbortSignal.timeout(60_000)));
 * ```
 */
export interface McpHandler {
  /** Answers one HTTP request; never throws. `abort` (the client went away) aborts a running tool call. */
  handle(request: Request, abort: CallAbort): Promise<HttpReply>;
}

/** An icon a client may show for the server (MCP `Icon`). */
export interface McpIcon {
  /** An `https:` or `http:` URL, or a `data:` URI of the image. */
  src: string;
  /** The image's media type, such as `image/png` or `image/svg+xml`. */
  mimeType?: string;
  /** Sizes it suits, as `WxH` (`48x48`) or `any` for a scalable image. */
  sizes?: string[];
  /** The background it is drawn for. */
  theme?: 'light' | 'dark';
}

/** How the MCP endpoint names itself to clients (MCP `Implementation`). */
export interface McpServerInfo {
  name: string;
  version: string;
  /** A display name. */
  title?: string;
  /** The server's website (`http:` or `https:`). */
  websiteUrl?: string;
  /** What the server is for, in a sentence or two. */
  description?: string;
  /** Icons a client may show for it. */
  icons?: McpIcon[];
}
