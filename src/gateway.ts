import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  type AdminChange,
  AgentAdministration,
  type AgentView,
  type AgentWithKey,
  type CreateAgentInput,
  notFound,
} from './admin/agents.js';
import type { Approver } from './approval/approvers.js';
import {
  type ApprovalDecisionResult,
  ApprovalCoordinator,
  type ApprovalView,
  DEFAULT_APPROVAL_TTL_MS,
  toApprovalView,
} from './approval/coordinator.js';
import { PolicyAdministration, type PolicyAdminView } from './admin/policies.js';
import { ToolAdministration, type ToolAdminView, toolAdminView } from './admin/tools.js';
import { DEFAULT_INCOMPLETE_GRACE_MS, type IncompleteInvocation, scanIncomplete } from './audit/incomplete.js';
import {
  type AuditCheckpointOptions,
  type AuditLog,
  type AuditSink,
  type AuditSinkDrop,
  type AuditVerification,
  type AuditVerificationKey,
  type AuditExportManifest,
  createAuditLog,
  exportAudit,
  verifyAuditChain,
} from './audit/index.js';
import { AgentAuthenticator } from './auth/agent-authenticator.js';
import { InsufficientScopeError, type JwtAuthOptions, JwtVerifier, jwtAuthSchema, protectedResourcePath } from './auth/jwt.js';
import { bearerToken, parseAgentKey } from './auth/agent-keys.js';
import { type AdminAuthOption, type AdminPrincipal, adminAuthSchema, createAdminAuthenticator } from './auth/admin-auth.js';
import { GatewayError, toGatewayError, OUTAGE_RETRY_AFTER_SECONDS, outage, unauthenticated } from './errors.js';
import { approvalStep } from './pipeline/approval.js';
import { authenticateStep } from './pipeline/authenticate.js';
import { composeSteps } from './pipeline/compose.js';
import type { AuditEventInput, PipelineDependencies } from './pipeline/dependencies.js';
import { describeToolCodeFailure, executeStep, toolCodeFailureOf } from './pipeline/execute.js';
import { IDEMPOTENCY_KEY_RULE, idempotencyStep, isIdempotencyKey } from './pipeline/idempotency.js';
import { policyStep } from './pipeline/policy.js';
import { heldInputSealing, unopenedHeldInputToolOf } from './approval/held-input.js';
import { approvalIsDue } from './approval/expiry.js';
import { EVENT_FOR_STATUS, outcomeEventData, recordStep } from './pipeline/record.js';
import { redactStep } from './pipeline/redact.js';
import { RedactorCache } from './pipeline/redactors.js';
import { resolveToolStep } from './pipeline/resolve-tool.js';
import type { CallContext, CallOutcome } from './pipeline/types.js';
import { validateInputStep } from './pipeline/validate-input.js';
import { type RateLimiter, memoryRateLimiter } from './policy/rate-limit.js';
import { compilePolicy, enforceableStoredRules } from './policy/rules.js';
import type { PolicyEngine, PolicyRule } from './policy/types.js';
import { routeAdmin } from './protocol/admin.js';
import { decodePathSegment, errorResponse, jsonResponse, methodNotAllowed, publicBasePathOf, routeNotFound } from './protocol/http.js';
import { requestAbort } from './protocol/node-request.js';
import { JsonReply, type Reply, type ReplyHandler, handleReply, toWebResponse, withoutBody } from './protocol/reply.js';
import { createMcpHandler } from './protocol/mcp/index.js';
import type { McpServerInfo } from './protocol/mcp/types.js';
import { getInvocationRoute, invokeRoute, listToolsRoute } from './protocol/rest.js';
import type { CallRequest, GatewayRuntime } from './protocol/runtime.js';
import { type RedactorConfig, createRedactor } from './redaction/index.js';
import { KEY_GENERATION_COMMAND, type Keyring, type Vault, createVault } from './secrets/index.js';
import { sealSecretHeaders, unopenedSecretHeaderOf } from './secrets/tool-secrets.js';
import { type HttpToolDefinition, type HttpToolOptions, httpTool } from './tools/http-tool.js';
import { createHttpExecutor, createUpstreamClient } from './upstream/index.js';
import type { PrivateNetworkAllowance } from './upstream/network-policy.js';
import { PACKAGE_VERSION } from './version.js';
import { NEVER_ABORTED, abortOfSignal } from './util/call-abort.js';
import { callGuarded } from './util/guarded-callback.js';
import { canonicalJson, digestJson } from './util/canonical-json.js';
import { latestRun } from './util/latest-run.js';
import { hold, release } from './util/shared-holds.js';
import { type ChangeKind, listenToSameStore, tellSameStore } from './util/same-store-gateways.js';
import { MAX_TIMER_MS, within } from './util/timers.js';
import { memoryStore } from './store/memory.js';
import type {
  AuditEvent,
  ApprovalFilter,
  AuditFilter,
  AuditPage,
  InvocationFilter,
  InvocationRecord,
  InvocationStatus,
  ListOptions,
  Page,
  Store,
} from './store/types.js';
import {
  type AnyToolDefinition,
  type HttpExecutorFactory,
  type ResolvedTool,
  ToolRegistry,
  type ToolView,
  isCompiledFrom,
  resolveTool,
} from './tools/registry.js';
import { createSchemaCompiler } from './tools/schema-validator.js';

/** Options of {@link createGateway}. */
export interface GatewayOptions {
  /**
   * Where state lives. Default: `memoryStore()`. `close()` closes it, unless another gateway
   * in this process was given the same store and is still open: the last to close closes it.
   */
  store?: Store;
  /**
   * Key(s) that seal credentials and held approval inputs at rest: one base64 (or base64url)
   * 32-byte key, or a keyring `{ active, keys: { id: key } }` for rotation. Whitespace around
   * a key is ignored; anything else wrong is a `TypeError` saying what, never printing the key.
   * Required to register secrets.
   */
  encryptionKey?: string | Keyring;
  /** Development only: without `encryptionKey`, seal with an ephemeral key (warns once). */
  dev?: boolean;
  /**
   * Gateway-wide permission for HTTP tools to reach private networks: `true` (all but cloud
   * metadata endpoints) or CIDRs (a metadata endpoint only when an entry is that one address).
   * Default none.
   */
  allowPrivateNetwork?: PrivateNetworkAllowance;
  /** Upstream connection pools (one per origin). */
  upstream?: { connectionsPerOrigin?: number; keepAliveTimeoutMs?: number };
  /** Code-defined tools (`defineTool`, `httpTool`). */
  tools?: AnyToolDefinition[];
  /** Policy rules, or your own engine. Default: no rules, so every call is denied. */
  policy?: PolicyRule[] | PolicyEngine;
  /** What applies when no rule matches. Default `'deny'`. */
  defaultEffect?: PolicyRule['effect'];
  /**
   * Counts calls against the budgets of the policy's `rateLimit` rules. Default: the store's
   * own (the SQL store's budgets are shared by every instance on its schema), else
   * {@link memoryRateLimiter}, exact and in this process's memory.
   */
  rateLimiter?: RateLimiter;
  /** How admin routes authenticate. Without it, every admin route answers 401. */
  admin?: AdminAuthOption;
  /**
   * Agents may also present access tokens (JWTs) from your authorization server, each acting
   * as one of the gateway's agents; the gateway then serves RFC 9728 metadata at
   * `/.well-known/oauth-protected-resource` and points to it from every 401, as MCP
   * authorization asks. Gateway keys keep working.
   */
  jwt?: JwtAuthOptions;
  /** Mount point of every route, e.g. `'/atg'`. Default `''`. */
  basePath?: string;
  /**
   * Request body limit in bytes, for every route that reads a body (`/mcp`, REST invoke,
   * admin): a larger body is refused with 413 `PAYLOAD_TOO_LARGE` while it streams in.
   * Default 1 MiB.
   */
  maxBodyBytes?: number;
  /** Deepest nesting accepted in an input. Default 64. */
  maxInputDepth?: number;
  /**
   * Keys the input digest that records, audit events and sinks carry (and that binds
   * approvals and idempotency keys to an input): HMAC-SHA256 instead of SHA-256, so whoever
   * reads the audit trail cannot guess a short redacted value (a PIN, an SSN) back from it.
   * At least 32 characters, the same on every instance sharing a store; changing it makes
   * pending approvals and idempotency keys stop matching repeats of earlier calls. Default:
   * unkeyed SHA-256.
   */
  inputDigestKey?: string;
  /**
   * How often store-held tools and rules are re-read, so changes made by other instances
   * take effect here (sooner when the store announces them). Default 5000 ms; 0 disables;
   * at most 2,147,483,647 (the longest timer Node keeps).
   * Gateways of this process given the same store object need neither: a change made
   * through one applies in the others before it is answered.
   */
  refreshIntervalMs?: number;
  /**
   * How long an agent read from the store is reused to authenticate calls, on a store that
   * announces changes (`store.watch`: the SQL store). A key revoked, disabled or rotated on
   * this instance stops working here at once; on another instance as soon as it hears the
   * announcement (milliseconds on Postgres), and at the latest this long after the change
   * if the announcement is lost. A cached agent never causes a refusal: a key that does not
   * match it is checked against the store. Calls that arrive while an agent is being read
   * wait for that read. Default 1000 ms; 0 reads the agent from the
   * store on every call. Stores without `watch` (the memory store) are read on every call.
   */
  agentCacheMs?: number;
  /** Longest `Prefer: wait=N` honoured, in seconds. Default 60. */
  maxWaitSeconds?: number;
  /** Default lifetime of an approval in milliseconds. Default 15 minutes. */
  approvalTtlMs?: number;
  /**
   * Who is told about new approvals (`callbackApprover`, `webhookApprover`, or your own).
   * The gateway owns it: `close()` waits for notifications under way, then calls its `close()`
   * (when other gateways in this process share it, the last of them to close does).
   */
  approver?: Approver;
  /**
   * Where audit entries go besides the store (`jsonlFileSink`, `webhookSink`, yours). A slow or
   * failing sink never blocks calls. `close()` closes them, except a sink that another open
   * gateway in this process shares: the last of them to close closes it.
   */
  auditSinks?: AuditSink[];
  /**
   * Gateway-wide redaction settings, under every tool's own profile (as `createRedactor`
   * takes them): extra or fewer key names, which detectors, the default mode, and the
   * `hashKey` of `hash` mode. Give every instance the same `hashKey`, kept across restarts,
   * for hashes to correlate; without one each process makes its own.
   */
  redaction?: RedactorConfig;
  /** Audit trail settings. */
  audit?: {
    /** `'closed'` (default): a call whose start cannot be recorded does not run (503). */
    failMode?: 'closed' | 'open';
    /** How long an event may take to be recorded before it counts as lost (ms). Default 5,000; at most 2,147,483,647. */
    appendTimeoutMs?: number;
    /**
     * Told of every event the trail could not record (503 `AUDIT_UNAVAILABLE`, or with
     * `failMode: 'open'` the call went on unrecorded): the error and the event that was lost.
     * `onError` is told too.
     */
    onAuditError?: (error: GatewayError, event: AuditEvent) => void;
    /** Sign the chain head every N events or T ms with an Ed25519 key. */
    checkpoints?: AuditCheckpointOptions;
    /** Keys that verify checkpoints in `verifyAudit` (default: the checkpoint key's public half). */
    verificationKeys?: AuditVerificationKey[];
    /** Entries a sink may have waiting behind the batch it is writing before more are dropped. Default 10,000. */
    sinkQueueLimit?: number;
    /**
     * How long `close()` lets sinks finish their queues before the rest is dropped, and then
     * waits for each sink's own `close()` (ms). Default 10,000. `gateway.close()` gives them no
     * more than what is left of its `timeoutMs` (at least 1 s).
     */
    sinkCloseTimeoutMs?: number;
    /**
     * Told of every run of entries a sink did not get: its queue was full, its write failed,
     * the gateway closed first, or the store's write timed out and never proved to have landed.
     * `onError` is told too (a full queue at most once every 5 s per sink; a failed write
     * through the sink's error).
     */
    onSinkDrop?: (droppedEntries: number, sink: AuditSink, drop: AuditSinkDrop) => void;
  };
  /** MCP endpoint settings. */
  mcp?: {
    /**
     * Origins allowed to call `/mcp` from a browser (`'*'` allows any). Requests without
     * `Origin` are allowed. Listed origins also get CORS: preflights are answered, and
     * answers, the 401's `WWW-Authenticate` included, can be read. Default: same origin only.
     */
    allowedOrigins?: string[];
    /** When set, the `Host` header must be one of these (DNS-rebinding protection). */
    allowedHosts?: string[];
    /** `tools/list` page size. Default 50. */
    pageSize?: number;
    /**
     * Signs `tools/list` cursors. Instances behind one load balancer need the same one so a
     * cursor from one is good on another. Default: derived from `encryptionKey` when set,
     * else random per process.
     */
    cursorSecret?: string;
    /**
     * How the endpoint names itself to clients (`initialize`, `server/discover`, and the
     * `_meta` of every 2026-era result), with an optional display `title`, `websiteUrl`
     * (http or https), `description` and `icons` (each `src` an http(s) URL or a
     * `data:image/…` URI of at most 64 KiB; up to 8). The description and icons are sent
     * with `initialize` and `server/discover` only. Default
     * `{ name: 'agent-tool-gateway', version: <this package's version> }`.
     */
    serverInfo?: McpServerInfo;
    /** Guidance for the models using these tools, sent with `initialize` and `server/discover`. */
    instructions?: string;
  };
  /**
   * Told about unexpected errors and store outages (503 `STORE_UNAVAILABLE`, at most once every
   * 5 s while calls or background reloads keep meeting one); their causes stay out of
   * responses. Also told when an HTTP tool's secret header cannot be opened
   * (`SECRET_UNAVAILABLE`: a wrong or missing key, a damaged value), naming the tool and header
   * but never the value, at most once every 5 s per tool and header; and when an approved call
   * cannot run because no key in the keyring opens its held input (`SECRET_UNAVAILABLE`, naming
   * the approval), at most once every 5 s per tool. Also told, once per run of failures, when
   * the issuer's keys (`jwt.jwksUri`) cannot be fetched again while older ones still serve.
   */
  onError?: (error: unknown) => void;
  /**
   * Clock, for tests: it stamps records and events and judges expiry (approvals, agents).
   * Waits (`Prefer: wait`, MCP task results) run in real time whatever it says.
   */
  now?: () => number;
}

const optionsSchema = z
  .object({
    store: z
      .custom<Store>(
        (value) => typeof value === 'object' && value !== null && typeof (value as Store).appendAudit === 'function',
        'must be a Store',
      )
      .optional(),
    // Checked by the vault, whose messages say what is wrong and never print a key.
    encryptionKey: z.custom<string | Keyring>(() => true).optional(),
    dev: z.boolean().optional(),
    allowPrivateNetwork: z.union([z.boolean(), z.array(z.string())], { error: 'must be a boolean or an array of CIDR ranges' }).optional(),
    upstream: z
      .object({
        connectionsPerOrigin: z.number().int().min(1).max(10_000).optional(),
        keepAliveTimeoutMs: z.number().int().min(1).optional(),
      })
      .strict()
      .optional(),
    tools: z
      .array(
        z.custom<AnyToolDefinition>(
          (value) => typeof value === 'object' && value !== null && 'kind' in value,
          'must be made by defineTool() or httpTool()',
        ),
      )
      .optional(),
    policy: z
      .union(
        [
          z.array(z.record(z.string(), z.unknown())),
          z.custom<PolicyEngine>(
            (value) => typeof value === 'object' && value !== null && typeof (value as PolicyEngine).evaluate === 'function',
            'must be a PolicyEngine',
          ),
        ],
        { error: 'must be an array of rules or a PolicyEngine (an object with evaluate())' },
      )
      .optional(),
    defaultEffect: z.enum(['allow', 'deny', 'require_approval']).optional(),
    rateLimiter: z
      .custom<RateLimiter>(
        (value) => typeof value === 'object' && value !== null && typeof (value as RateLimiter).take === 'function',
        'must be a RateLimiter',
      )
      .optional(),
    admin: adminAuthSchema.optional(),
    jwt: jwtAuthSchema.optional(),
    basePath: z
      .string()
      .regex(/^(\/[^/?#]+)*$/, 'must be "" or start with "/" and not end with "/"')
      .optional(),
    maxBodyBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .optional(),
    maxInputDepth: z.number().int().min(1).max(1000).optional(),
    inputDigestKey: z.string().min(32, 'must be at least 32 characters').optional(),
    maxWaitSeconds: z.number().int().min(0).max(3600).optional(),
    // A longer Node timer fires every millisecond: a reload of the store's tools and rules each time.
    refreshIntervalMs: z.number().int().min(0).max(MAX_TIMER_MS).optional(),
    agentCacheMs: z.number().int().min(0).optional(),
    approvalTtlMs: z.number().int().min(1000).optional(),
    auditSinks: z
      .array(
        z.custom<AuditSink>(
          (value) => typeof value === 'object' && value !== null && typeof (value as AuditSink).write === 'function',
          'must have write(entries)',
        ),
      )
      .optional(),
    approver: z
      .custom<Approver>(
        (value) => typeof value === 'object' && value !== null && typeof (value as Approver).notify === 'function',
        'must have a notify(approval) method',
      )
      .optional(),
    redaction: z.record(z.string(), z.unknown()).optional(),
    audit: z
      .object({
        failMode: z.enum(['closed', 'open']).optional(),
        appendTimeoutMs: z.number().int().min(1).max(2_147_483_647).optional(),
        onAuditError: z.function().optional(),
        checkpoints: z.record(z.string(), z.unknown()).optional(),
        verificationKeys: z.array(z.unknown()).optional(),
        sinkQueueLimit: z.number().int().min(0).optional(),
        sinkCloseTimeoutMs: z.number().int().min(0).max(2_147_483_647).optional(),
        onSinkDrop: z.function().optional(),
      })
      .strict()
      .optional(),
    mcp: z
      .object({
        allowedOrigins: z.array(z.string()).optional(),
        allowedHosts: z.array(z.string()).optional(),
        pageSize: z.number().int().min(1).max(1000).optional(),
        cursorSecret: z.string().min(16, 'must be at least 16 characters').optional(),
        serverInfo: z
          .object({
            name: z.string().min(1),
            version: z.string().min(1),
            title: z.string().min(1).optional(),
            websiteUrl: z.url({ protocol: /^https?$/ }).optional(),
            description: z.string().min(1).optional(),
            icons: z
              .array(
                z
                  .object({
                    src: z
                      .union([z.url({ protocol: /^https?$/ }), z.string().regex(/^data:image\/[\w.+-]+[;,]/i, 'must be a data:image URI')])
                      .refine((src) => src.length <= 65_536, 'must be at most 64 KiB'),
                    mimeType: z.string().min(1).optional(),
                    sizes: z.array(z.string().regex(/^(?:\d+x\d+|any)$/, 'must be WxH or any')).optional(),
                    theme: z.enum(['light', 'dark']).optional(),
                  })
                  .strict(),
              )
              .max(8)
              .optional(),
          })
          .strict()
          .optional(),
        instructions: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    onError: z.function().optional(),
    now: z.function().optional(),
  })
  .strict();

/** Arguments of {@link Gateway.invoke}. */
export type InvokeArguments = ({ agentKey: string; agentId?: never } | { agentId: string; agentKey?: never }) & {
  tool: string;
  input?: unknown;
  signal?: AbortSignal;
  idempotencyKey?: string;
};

/**
 * Management operations, typed. Every change is audited as `admin.*`. A change of an agent,
 * a tool or a rule that the audit trail cannot record (fail-closed) does not stand: it is
 * undone and the call rejects with `AUDIT_UNAVAILABLE` (a created agent is revoked, its key
 * never handed out; a revocation, being final, stands and is recorded when sent again; so does
 * a secret rotation, see {@link GatewayAdmin.rotateSecrets}).
 */
export interface GatewayAdmin {
  createAgent(input: CreateAgentInput, principal?: AdminPrincipal): Promise<AgentWithKey>;
  getAgent(id: string): Promise<AgentView>;
  listAgents(options?: ListOptions): Promise<Page<AgentView>>;
  disableAgent(id: string, principal?: AdminPrincipal): Promise<AgentView>;
  enableAgent(id: string, principal?: AdminPrincipal): Promise<AgentView>;
  revokeAgent(id: string, principal?: AdminPrincipal): Promise<AgentView>;
  /**
   * A new key, returned once; the old key stops working at once. Of two rotations of one
   * agent at the same moment, one wins and the other rejects with 409 `CONFLICT`.
   */
  rotateAgentKey(id: string, principal?: AdminPrincipal): Promise<AgentWithKey>;
  /**
   * Calls as their agents read them: one whose approval's time is up reads `expired` (with
   * `APPROVAL_EXPIRED`) before the background sweep records it.
   */
  listInvocations(filter?: InvocationFilter): Promise<Page<InvocationRecord>>;
  getInvocation(id: string): Promise<InvocationRecord>;
  /**
   * Approvals as they stand now: one still pending whose time is up is expired (recorded, with
   * its `approval.expired` event) before it is shown, so a list of pending ones holds only
   * those that can still be decided.
   */
  listApprovals(filter?: ApprovalFilter): Promise<Page<ApprovalView>>;
  getApproval(id: string): Promise<ApprovalView>;
  /**
   * Approves or denies a pending approval as `principal` (who needs the approver or admin
   * role). One decision wins; the rest get 409. Approving executes the held call once and
   * returns its outcome.
   */
  decide(
    id: string,
    decision: { decision: 'approve' | 'deny'; reason?: string },
    principal: AdminPrincipal,
  ): Promise<ApprovalDecisionResult>;
  /**
   * Withdraws a call that waits for approval, on behalf of the agent that made it (the MCP
   * `tasks/cancel` door uses this). It will never run; other agents' calls are a 404.
   */
  cancelInvocation(invocationId: string, agentId: string): Promise<CallOutcome>;
  /** Expires every pending approval whose time is up (the gateway also does this periodically). */
  expireApprovals(): Promise<number>;
  /**
   * Calls whose start was recorded but whose outcome never was (the process crashed or was
   * killed mid-call). Each is marked `outcome_unknown` (record and audit event), so it is
   * reported once; a call whose record already holds its outcome (only the outcome's audit
   * event was lost) keeps it, and the chain gets that outcome's event with
   * `data.recovered: true`. An approved call whose run never started (the process stopped
   * between the decision and the start) has its approval reopened (`approval.reopened`;
   * `status: 'pending_approval'` and `approvalId`): it did not run and can be decided again.
   * `status` says which. Calls younger than `graceMs` (default 5 minutes) may still be running
   * and are left alone. Runs at the same time (several instances, the CLI beside them) each
   * claim a call in the store before marking it, so each call is marked and listed by one.
   */
  incompleteInvocations(options?: { graceMs?: number }): Promise<IncompleteInvocation[]>;
  /**
   * A page of the audit chain, ascending by seq (`GET /admin/audit`). On the SQL store, whose
   * filters select by index columns the hashes do not cover, a page names the entries read whose
   * index disagrees with their event (`indexMismatches`), and a filtered page leaves out those
   * whose event does not match the filter; `verifyAudit` reports every such entry.
   */
  listAudit(filter?: AuditFilter): Promise<AuditPage>;
  /**
   * Recomputes the audit chain (and checkpoint signatures): intact through N, or the first
   * broken seq and why. A `from` after `to`, or past the chain's last entry, is refused
   * (`BAD_REQUEST`).
   */
  verifyAudit(range?: { from?: number; to?: number }): Promise<AuditVerification>;
  /**
   * Writes a range of the audit chain as evidence into `dir`: `audit-<from>-<to>.jsonl` and a
   * `manifest.json` (range, head hash, checkpoints, the file's SHA-256) that
   * `verifyAuditExport` or `atg audit verify --file` checks offline. An aborted `signal` stops
   * it before its next page and removes its unfinished file.
   */
  exportAudit(options: { dir: string; from?: number; to?: number; signal?: AbortSignal }): Promise<AuditExportManifest>;
  /** Every tool, code-defined ones marked read-only; secrets shown as `***`. */
  listTools(): Promise<ToolAdminView[]>;
  getTool(name: string): Promise<ToolAdminView>;
  /**
   * Adds an HTTP tool held in the store; secret headers (strings or `secret(...)` values) are
   * sealed with the vault. Sealed values are not taken (400).
   */
  createTool(definition: HttpToolOptions | Record<string, unknown>, principal?: AdminPrincipal): Promise<ToolAdminView>;
  /**
   * Changes a stored HTTP tool: the fields `patch` has; one set to `null` is removed (a
   * required one is refused, 400). A secret header sent as `***` keeps its stored value; a
   * string or `secret(...)` replaces it; sealed values are not taken (400). `source`,
   * `readOnly` and `version` may be sent back as `getTool` answers them; with another value they
   * are refused (400).
   */
  updateTool(name: string, patch: Record<string, unknown>, principal?: AdminPrincipal): Promise<ToolAdminView>;
  deleteTool(name: string, principal?: AdminPrincipal): Promise<void>;
  /** Every rule: code-defined (read-only) and stored. */
  listPolicies(): Promise<PolicyAdminView[]>;
  getPolicy(id: string): Promise<PolicyAdminView>;
  /** Adds a rule held in the store. Of racing creates of one id one wins; the others get 409 `CONFLICT`. */
  createPolicy(rule: PolicyRule | Record<string, unknown>, principal?: AdminPrincipal): Promise<PolicyAdminView>;
  /**
   * Changes a stored rule: the fields `patch` has; one set to `null` is removed
   * (`{ rateLimit: null }`; `id` and `effect` cannot be, 400). Written only over the rule it
   * read: one changed or deleted meanwhile answers 409 `CONFLICT` (read it again and retry),
   * never overwritten or brought back. `source`, `readOnly`, `createdAt` and `updatedAt` may be
   * sent back as `getPolicy` answers them; with another value they are refused (400).
   */
  updatePolicy(id: string, patch: Record<string, unknown>, principal?: AdminPrincipal): Promise<PolicyAdminView>;
  deletePolicy(id: string, principal?: AdminPrincipal): Promise<void>;
  /**
   * Re-seals every stored secret under the active key (after adding a new key to the
   * keyring, optionally passed here) and reports the counts: tools read, secret headers
   * re-sealed and already current, tools whose secrets no key in the keyring opens
   * (`unreadable`, left as they are: send their secrets again), held inputs of calls
   * awaiting approval or execution re-sealed (`approvals`; those held before the vault had
   * a key are sealed now), and approvals whose held input no key opens
   * (`unreadableApprovals`: those calls cannot run). Unreadable items never stop the rotation.
   * Without an encryption key (none configured, none passed) it is refused with 400
   * `BAD_REQUEST` and nothing is changed.
   *
   * A rotation the audit trail cannot record (fail-closed) stands, unlike the other changes:
   * putting the secrets back under the previous key would undo the retirement of a key that
   * may be exposed, held inputs sealed for the first time would go back to rest in clear, and
   * a keyring passed here cannot be taken back without stranding what was sealed under it
   * meanwhile. The call rejects with `AUDIT_UNAVAILABLE` whose message says the rotation stands
   * and whose `details` are the counts, and `onError` is told. Send it again to have it recorded
   * (it then finds the secrets current: `unchanged`).
   */
  rotateSecrets(
    options?: { encryptionKey?: string | Keyring },
    principal?: AdminPrincipal,
  ): Promise<{
    tools: number;
    resealed: number;
    unchanged: number;
    unreadable: string[];
    approvals: number;
    unreadableApprovals: string[];
  }>;
}

/** @internal The default request body limit (`maxBodyBytes`): 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** @internal The key of a gateway's request body limit (`maxBodyBytes`): the Node adapters' default limit. */
export const bodyLimit: unique symbol = Symbol('agent-tool-gateway.bodyLimit');

/** An embeddable gateway: one `fetch` for every route, `invoke` for in-process calls. */
export interface Gateway {
  /** Answers every route (see SPEC): `/mcp`, `/tools`, `/invocations/{id}`, `/admin/...`. */
  fetch(request: Request): Promise<Response>;
  /**
   * A governed call from code: the same pipeline as the HTTP doors. Its outcome says how it
   * ended; it rejects only when the gateway itself fails. Arguments of the wrong shape (a
   * `tool` that is not a string, say, from JavaScript) answer `BAD_REQUEST` before the
   * pipeline, unrecorded, as a REST body of the wrong shape does.
   */
  invoke(call: InvokeArguments): Promise<CallOutcome>;
  readonly admin: GatewayAdmin;
  /** The mount point, as configured. */
  readonly basePath: string;
  /**
   * Resolves once the gateway has loaded the tools and policies its store holds; `fetch` and
   * `invoke` wait for it. If that load fails (the store is not reachable yet), it rejects, and
   * the next call of `ready`, `fetch` or `invoke` (or the periodic refresh) tries again.
   * Once `close()` was called, a gateway that never loaded rejects with `GATEWAY_CLOSED`.
   */
  ready(): Promise<void>;
  /**
   * Shuts the gateway down, in this order:
   * - New requests, `invoke()` calls, decisions and every admin operation that writes
   *   records or events (agents, tools, rules, `rotateSecrets`, `cancelInvocation`,
   *   `expireApprovals`, `incompleteInvocations`, and `getApproval` or `listApprovals` when
   *   they find an approval whose time is up and would expire it) are refused at once with
   *   503 `GATEWAY_CLOSED`; those already under way are waited for like calls.
   * - Waits for an approval's outcome (`Prefer: wait`, MCP `tasks/result`) end at once with
   *   the pending state.
   * - Calls under way, admin changes, approval notifications being delivered and background
   *   work (a reload of tools or rules, the expiry sweep) get up to `timeoutMs` (default
   *   10,000; a whole number of milliseconds up to 2,147,483,647, else `close()` rejects with
   *   a `TypeError` and closes nothing) to finish and record their outcomes; any still
   *   running then is reported to `onError` (its outcome may go unrecorded, and
   *   `incompleteInvocations` finds it).
   * - Timers stop, and the approver (`close()`, if it has one, waited for at most what is left
   *   of `timeoutMs` and at least 1 s: `webhookApprover` gives up on deliveries still under
   *   way, telling its `onError` and the gateway's which approvals were not delivered), the
   *   audit trail (flushing sinks, likewise within what is then left of `timeoutMs` and at
   *   least 1 s, however long `audit.sinkCloseTimeoutMs` is: what a sink did not get by then
   *   is told to `onSinkDrop` and `onError` as `closed`), the upstream pools and the store are
   *   closed. An upstream call still running then is cut off (`UPSTREAM_ERROR`), not waited
   *   for up to its tool's deadline. The store's `close()` is given what is then left of `timeoutMs`, at
   *   least 1 s, as its own `timeoutMs`: the SQL store waits no longer for the invocation
   *   records it still writes.
   * - A store, approver or audit sink that another gateway in this process was also given,
   *   and that has not closed yet, is left open for it (its own notifications and sink
   *   queues are still waited for as above): the last gateway to close closes it.
   *
   * Calling it again returns the same promise.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
  /** @internal The Node bridge's entry: like `fetch`, without the Web Response round trip. */
  readonly [handleReply]?: ReplyHandler;
  /** @internal The request body limit in bytes (`maxBodyBytes`). */
  readonly [bodyLimit]?: number;
}

/**
 * Creates a gateway. Options are checked here: a wrong option throws a TypeError naming it.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createGateway, defineTool } from 'agent-tool-gateway';
 * import { createNodeHandler } from 'agent-tool-gateway/node';
 *
 * const echo = defineTool({
 *   name: 'echo',
 *   description: 'Echo the text back',
 *   inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } as const,
 *   handler: ({ text }) => ({ text }),
 * });
 * const gateway = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }] });
 * const { apiKey } = await gateway.admin.createAgent({ name: 'demo' });
 * createServer(createNodeHandler(gateway)).listen(3000);
 * ```
 */
export function createGateway(options: GatewayOptions = {}): Gateway {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'options';
    throw new TypeError(`createGateway: ${where}: ${issue?.message ?? 'invalid'}`);
  }

  const now = options.now ?? Date.now;
  const store = options.store ?? memoryStore();
  const basePath = options.basePath ?? '';
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxWaitSeconds = options.maxWaitSeconds ?? 60;
  // A failing error hook, async or not, must not take the gateway down.
  const reportError = (error: unknown) => callGuarded(() => options.onError?.(error));
  // Some failures fail every call alike until they are fixed, and onError hears of each once
  // every 5 s, not once per call: the store out of reach (5 s is the Retry-After its callers
  // get); a tool's credential that does not open (a wrong or missing key, a damaged value),
  // per tool and header; the held input of approved calls to a tool, held under a key the
  // keyring lacks, per tool. Entries older than that are dropped whenever one is added.
  const reportedAt = new Map<string, number>();
  const reportThrottled = (error: unknown, key: string) => {
    const at = now();
    const last = reportedAt.get(key);
    if (last !== undefined && at - last < OUTAGE_REPORT_MS) return;
    for (const [reported, when] of reportedAt) {
      if (at - when >= OUTAGE_REPORT_MS) reportedAt.delete(reported);
    }
    reportedAt.set(key, at);
    reportError(error);
  };
  /** Tells onError of a failure a call met, if it is the gateway's (see isUnexpected). */
  const reportUnexpected = (error: unknown, reported: unknown = error) => {
    // A tool whose code threw: what it threw (redacted as the call's records are), which the
    // caller was not shown.
    const failure = toolCodeFailureOf(error);
    if (failure !== undefined) {
      const thrown = (error as GatewayError).cause;
      reportError(describeToolCodeFailure(failure.tool.name, thrown, () => redactors.forTool(failure.tool, failure.redact)));
      return;
    }
    // The error names the tool and header (or the approval), never the value; its cause says no more.
    const unopened = unopenedSecretHeaderOf(error);
    if (unopened !== undefined) {
      reportThrottled(error, `header\u0000${unopened.toolId}\u0000${unopened.header}`);
      return;
    }
    const heldFor = unopenedHeldInputToolOf(error);
    if (heldFor !== undefined) {
      reportThrottled(error, `held input\u0000${heldFor}`);
      return;
    }
    if (!isUnexpected(error)) return;
    if (error instanceof GatewayError && error.code === 'STORE_UNAVAILABLE') reportThrottled(reported, 'store');
    else reportError(reported);
  };

  // A failed fetch of the issuer's keys answers every token call for 5 s: onError hears of it
  // once, whichever door the calls came through.
  const reportedAuthFailures = new WeakSet<object>();
  const reportAuthOutage = (error: GatewayError) => {
    const cause = error.cause;
    if (typeof cause === 'object' && cause !== null) {
      if (reportedAuthFailures.has(cause)) return;
      reportedAuthFailures.add(cause);
    }
    reportError(error);
  };

  let redactor: ReturnType<typeof createRedactor>;
  try {
    redactor = createRedactor(options.redaction);
  } catch (error) {
    throw new TypeError(`createGateway: redaction: ${(error as Error).message}`);
  }
  const redactors = new RedactorCache(redactor);

  let vault: Vault;
  try {
    vault = createVault({
      ...(options.encryptionKey === undefined ? {} : { encryptionKey: options.encryptionKey }),
      ...(options.dev === undefined ? {} : { dev: options.dev }),
    });
  } catch (error) {
    throw new TypeError(`createGateway: encryptionKey: ${(error as Error).message}`);
  }
  const upstream = createUpstreamClient(options.upstream ?? {});
  const scrubText = (text: string) => redactors.fallback().text(text);
  // A definition in an admin event keeps a credential put in plain `headers` (not
  // `secretHeaders`, masked already) or in the URL out of the trail. Only those are
  // redacted: the schemas stay as defined, a property named `password` included.
  const redactedDefinition = (view: ToolAdminView): Record<string, unknown> => {
    const redaction = redactors.fallback();
    const { headers, url } = view as { headers?: unknown; url?: unknown };
    return {
      ...view,
      ...(headers === undefined ? {} : { headers: redaction.value(headers) }),
      ...(typeof url === 'string' ? { url: redaction.text(url) } : {}),
    };
  };
  const compiler = createSchemaCompiler();
  const httpExecutor: HttpExecutorFactory = (definition) =>
    createHttpExecutor(definition as unknown as HttpToolDefinition, {
      client: upstream,
      vault,
      scrub: scrubText,
      // runTool aborts the tool's signal at the tool's timeoutMs, the executor's deadline too.
      callerEnforcesDeadline: true,
      ...(options.allowPrivateNetwork === undefined ? {} : { allowPrivateNetwork: options.allowPrivateNetwork }),
    });
  const resolveCode = (definition: AnyToolDefinition) => {
    if (definition.kind !== 'http') return resolveTool(definition, 'code', compiler.compile, httpExecutor);
    let sealed: HttpToolDefinition;
    try {
      // Secrets of code-defined tools are sealed too: plaintext lives only in the executor.
      sealed = sealSecretHeaders(definition as unknown as HttpToolDefinition, vault);
    } catch (error) {
      throw new TypeError(`createGateway: tool "${definition.name}": ${(error as Error).message}`);
    }
    const resolved = resolveTool(sealed as unknown as AnyToolDefinition, 'code', compiler.compile, httpExecutor);
    // Opened now, under the key that sealed them: a code-defined tool is never stored, so no
    // rotation re-seals it, and a keyring changed later (rotateSecrets) must not cost it the
    // credentials its code gave, whether or not it was called before.
    resolved.secretValues();
    return resolved;
  };
  const resolveStored = (definition: HttpToolDefinition) =>
    resolveTool(definition as unknown as AnyToolDefinition, 'store', compiler.compile, httpExecutor);
  const tools = new ToolRegistry((options.tools ?? []).map(resolveCode));

  const defaultEffect = options.defaultEffect ?? 'deny';
  const codeRules = Array.isArray(options.policy) ? options.policy : options.policy === undefined ? [] : undefined;
  let policy: PolicyEngine;
  try {
    policy = codeRules === undefined ? (options.policy as PolicyEngine) : compilePolicy(codeRules, { defaultEffect });
  } catch (error) {
    throw new TypeError(`createGateway: policy: ${(error as Error).message}`);
  }

  // A stuck sink drops batch after batch: onError hears of a full queue once every 5 s per
  // sink, with what was dropped since, and of the rest at close(). Other drops are told each
  // time; a failed write was told through onSinkError already.
  const tellSinkDrop = (droppedEntries: number, reason: string, toSeq: number) =>
    reportError(new Error(`An audit sink did not get ${droppedEntries} audit entries (${reason}; the last up to seq ${toSeq})`));
  const queueFullDrops = new Map<AuditSink, { reportedAt: number; unreported: number; toSeq: number }>();
  const tellQueueFull = (state: { unreported: number; toSeq: number }) => {
    if (state.unreported === 0) return;
    tellSinkDrop(state.unreported, 'queue_full', state.toSeq);
    state.unreported = 0;
  };
  const reportSinkDrop = (droppedEntries: number, sink: AuditSink, drop: AuditSinkDrop) => {
    if (drop.reason === 'write_failed') return;
    if (drop.reason !== 'queue_full') return tellSinkDrop(droppedEntries, drop.reason, drop.toSeq);
    let state = queueFullDrops.get(sink);
    if (state === undefined) {
      state = { reportedAt: Number.NEGATIVE_INFINITY, unreported: 0, toSeq: -1 };
      queueFullDrops.set(sink, state);
    }
    state.unreported += droppedEntries;
    state.toSeq = drop.toSeq;
    const at = now();
    if (at - state.reportedAt < OUTAGE_REPORT_MS) return;
    state.reportedAt = at;
    tellQueueFull(state);
  };
  const audit: AuditLog = createAuditLog({
    store,
    failMode: options.audit?.failMode ?? 'closed',
    ...(options.audit?.appendTimeoutMs === undefined ? {} : { appendTimeoutMs: options.audit.appendTimeoutMs }),
    ...(options.auditSinks === undefined ? {} : { sinks: options.auditSinks }),
    ...(options.audit?.checkpoints === undefined ? {} : { checkpoints: options.audit.checkpoints }),
    // The log guards these callbacks, a throwing or rejecting one included: what they return goes back to it.
    onAuditError: (error, event) => {
      reportError(error);
      return options.audit?.onAuditError?.(error, event);
    },
    ...(options.audit?.sinkQueueLimit === undefined ? {} : { sinkQueueLimit: options.audit.sinkQueueLimit }),
    ...(options.audit?.sinkCloseTimeoutMs === undefined ? {} : { sinkCloseTimeoutMs: options.audit.sinkCloseTimeoutMs }),
    onSinkError: (error: unknown) => reportError(error),
    onSinkDrop: (droppedEntries, sink, drop) => {
      try {
        return options.audit?.onSinkDrop?.(droppedEntries, sink, drop);
      } finally {
        reportSinkDrop(droppedEntries, sink, drop);
      }
    },
  });

  // Store-held tools and rules: loaded before the first call, reloaded on every change here,
  // on a change announced by another instance (store.watch), and every refreshIntervalMs.
  // Reloads of one kind never overlap (latestRun): one that read the store earlier but
  // finished later would put back what a newer one had replaced.
  let generation = 0;
  const reloadTools = latestRun(async () => {
    const records = await store.listTools();
    const resolved: ResolvedTool[] = [];
    let changed = records.length !== tools.storeToolCount();
    for (const record of records) {
      const current = tools.get(record.name);
      // Unchanged tools keep their compiled form (validators, executor, redaction cache).
      if (current !== undefined && isCompiledFrom(current, record.version, record.definition)) {
        resolved.push(current);
        continue;
      }
      changed = true;
      try {
        resolved.push(resolveStored(httpTool(record.definition as unknown as HttpToolOptions)));
      } catch (error) {
        reportError(error);
      }
    }
    if (!changed) return;
    tools.setStoreTools(resolved);
    generation++;
  });
  let storedRulesJson = '[]';
  const reloadPolicies = latestRun(async () => {
    if (codeRules === undefined) return;
    const records = await store.listPolicies();
    const json = JSON.stringify(records.map((record) => record.rule));
    if (json === storedRulesJson) return;
    const { rules: stored, problems } = enforceableStoredRules(records, codeRules);
    for (const problem of problems) reportError(new Error(problem));
    policy = compilePolicy([...codeRules, ...stored], { defaultEffect });
    storedRulesJson = json;
    generation++;
  });

  // Agents are cached only where other instances' changes are announced (see agentCacheMs).
  const tokens = options.jwt === undefined ? undefined : new JwtVerifier(options.jwt, now, reportError);
  const agents = new AgentAuthenticator(store, now, store.watch === undefined ? 0 : (options.agentCacheMs ?? 1000), tokens);
  const approvals = new ApprovalCoordinator({
    defaultTtlMs: options.approvalTtlMs ?? DEFAULT_APPROVAL_TTL_MS,
    ...(options.approver === undefined ? {} : { approver: options.approver }),
    sealing: heldInputSealing(vault),
    onError: reportError,
    onFailure: (error) => reportUnexpected(error),
    // Told once the approval exists, by a call close() already waits for: never refused.
    track: (work) => {
      active++;
      void work.finally(settle);
    },
    // Read anew before an approved call runs: another instance may have changed a tool or a
    // rule since, and its announcement may not have been heard yet (or cannot be).
    refresh: async () => {
      await Promise.all([reloadTools(), reloadPolicies()]);
    },
  });
  const deps: PipelineDependencies = {
    store,
    tools,
    policy: () => policy,
    rateLimiter: options.rateLimiter ?? store.rateLimiter ?? memoryRateLimiter(),
    audit: { append: (event: AuditEventInput) => audit.append(event) },
    agents,
    redactors,
    approvals,
    maxDepth: options.maxInputDepth ?? 64,
    digestInput: inputDigester(options.inputDigestKey),
    inFlight: new Map(),
    now,
    reportError,
  };
  approvals.attach(deps);

  const pipeline = composeSteps([
    recordStep(deps),
    authenticateStep(deps),
    resolveToolStep(deps),
    validateInputStep(deps),
    idempotencyStep(deps),
    policyStep(deps),
    approvalStep(deps),
    redactStep(deps),
    executeStep(deps),
  ]);

  // The gateway is ready once one load of the store's tools and policies has succeeded.
  // Until then each request waits for a load, and a load that fails is retried by the next
  // request or refresh, never kept: a store that was not up when the gateway started must
  // not leave it failing for good.
  let loaded = false;
  let loading: Promise<void> | undefined;
  const refresh = () =>
    Promise.all([reloadTools(), reloadPolicies()]).then(() => {
      loaded = true;
    });
  const ready = (): Promise<void> => {
    if (loaded) return RESOLVED;
    loading ??= refresh().finally(() => {
      loading = undefined;
    });
    return loading;
  };
  let closed = false;
  let closing: Promise<void> | undefined;
  // Requests, invoke() calls, decisions and background work under way: close() lets them
  // finish (and record their outcomes) before it closes the audit trail and the store.
  let active = 0;
  let idle: (() => void) | undefined;
  const settle = () => {
    if (--active === 0) idle?.();
  };
  // Background work meets a store out of reach as calls do: onError hears of it with them,
  // once every 5 s, not once per reload.
  const reportBackgroundFailure = (error: unknown) => {
    if (error instanceof GatewayError && error.code === 'STORE_UNAVAILABLE') reportThrottled(error, 'store');
    else reportError(error);
  };
  /** Runs background work (a reload, the expiry sweep) that close() waits for; none once closing. Never rejects. */
  const inBackground = (work: () => Promise<unknown>): Promise<void> => {
    if (closed) return RESOLVED;
    active++;
    return work()
      .then(() => undefined, reportBackgroundFailure)
      .finally(settle);
  };

  /** A change another instance made: applied here once the promise settles (it never rejects). */
  const heardChange = (kind: ChangeKind): Promise<void> => {
    if (kind === 'tools') return inBackground(reloadTools);
    if (kind === 'policies') return inBackground(reloadPolicies);
    if (kind === 'agents') agents.forget();
    return RESOLVED;
  };

  const call = async (request: CallRequest): Promise<CallOutcome> => {
    const context: CallContext = {
      invocationId: randomUUID(),
      door: request.door,
      startedAt: now(),
      abort: request.abort,
      toolName: request.toolName,
      rawInput: request.input,
    };
    if (request.agent !== undefined) context.agent = request.agent;
    if (request.credential !== undefined) context.credential = request.credential;
    if (request.agentId !== undefined) context.agentId = request.agentId;
    if (request.idempotencyKey !== undefined) context.idempotencyKey = request.idempotencyKey;
    const outcome = await pipeline(context);
    // A replayed outcome was reported when it happened.
    if (outcome.status === 'error' && context.replayed !== true) {
      // invoke() checks its credential in the pipeline; the HTTP doors report theirs before it.
      if (outcome.error.code === 'AUTH_UNAVAILABLE') reportAuthOutage(outcome.error);
      else reportUnexpected(outcome.error, outcome.error.cause ?? outcome.error);
    }
    return outcome;
  };

  // What each agent may see, computed once per tools/policy generation: listing is on the
  // hot path of every MCP client, and the MCP layer caches pages by the array's identity.
  const visibleCache = new Map<string, { generation: number; tools: readonly ResolvedTool[]; views: readonly ToolView[] }>();
  const visibleFor = (agent: { id: string; name: string; tags: string[] }) => {
    const key = agent.tags.length === 0 ? agent.id : `${agent.id}\u0000${agent.tags.join('\u0000')}`;
    const cached = visibleCache.get(key);
    if (cached !== undefined && cached.generation === generation) return cached;
    const engine = deps.policy();
    const canSee = engine.canSee?.bind(engine);
    const visible = canSee === undefined ? tools.all() : tools.all().filter((tool) => canSee(agent, { name: tool.name, risk: tool.risk }));
    const entry = { generation, tools: Object.freeze(visible), views: Object.freeze(visible.map((tool) => tool.view)) };
    if (visibleCache.size >= 10_000) visibleCache.clear();
    visibleCache.set(key, entry);
    return entry;
  };
  const visibleTools = (agent: { id: string; name: string; tags: string[] }) => visibleFor(agent).tools;

  /**
   * With JWT auth, every refusal at the agent doors points to the resource's metadata (RFC
   * 9728, as MCP authorization asks) and names the scopes a token needs. The metadata's URL
   * is the one clients reach it at: under the path an adapter mounts the gateway at, which
   * stands for `basePath` in the URLs clients send.
   */
  const challenge = (request: Request, error?: string) => {
    if (tokens === undefined) return undefined;
    const metadata =
      tokens.metadataUrl ?? new URL(`${requestUrl(request).origin}${publicBasePathOf(request) ?? basePath}${protectedResourcePath}`).href;
    const scope = tokens.challengeScope;
    return `Bearer realm="agent-tool-gateway"${error === undefined ? '' : `, error="${error}"`}${
      scope === undefined ? '' : `, scope="${scope}"`
    }, resource_metadata="${metadata}"`;
  };
  const authFailed = (request: Request, reason?: string) =>
    audit
      .append({
        type: 'auth.failed',
        actor: 'anonymous',
        data: { path: new URL(request.url).pathname.slice(0, 256), ...(reason === undefined ? {} : { reason }) },
      })
      .catch(() => undefined);
  const authenticateRequest = async (request: Request) => {
    let agent: Awaited<ReturnType<AgentAuthenticator['fromRequest']>>;
    try {
      agent = await agents.fromRequest(request);
    } catch (error) {
      if (error instanceof InsufficientScopeError) {
        await authFailed(request, 'insufficient_scope');
        throw new GatewayError({
          code: 'FORBIDDEN',
          message: error.message,
          headers: { 'www-authenticate': challenge(request, 'insufficient_scope') as string },
        });
      }
      if (error instanceof GatewayError && error.code === 'AUTH_UNAVAILABLE') {
        reportAuthOutage(error);
        await authFailed(request, 'auth_unavailable');
      }
      throw error;
    }
    if (agent !== undefined) return agent;
    await authFailed(request);
    throw unauthenticated(challenge(request));
  };

  const runtime: GatewayRuntime = {
    store,
    maxBodyBytes,
    maxWaitSeconds,
    authenticateRequest,
    visibleTools,
    call,
    waitForOutcome: (invocationId, ms, signal) => approvals.waitForOutcome(invocationId, ms, signal),
    invocationAsOfNow: (record) => approvals.asOfNow(record),
  };

  /**
   * The MCP door answers its backend's failures itself (a 401, or JSON-RPC -32603) and never
   * throws them on: unexpected ones (a store out of reach, a policy engine that throws) are
   * told to onError here, as the other routes tell theirs.
   */
  const toldOnFailure =
    <A extends unknown[], R>(method: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await method(...args);
      } catch (error) {
        reportUnexpected(error);
        throw error;
      }
    };

  const mcp = createMcpHandler(
    {
      // On every request: a catch on its promise, not another async frame.
      authenticate: (request) =>
        authenticateRequest(request).catch((error: unknown) => {
          reportUnexpected(error);
          throw error;
        }),
      listTools: async (agent) => {
        try {
          return visibleFor(agent as { id: string; name: string; tags: string[] }).views;
        } catch (error) {
          reportUnexpected(error);
          throw error;
        }
      },
      callTool: (agent, mcpCall) =>
        call({
          door: 'mcp',
          agent: agent as CallRequest['agent'] & object,
          toolName: mcpCall.name,
          input: mcpCall.arguments,
          abort: mcpCall.abort,
        }),
      // MCP tasks are this agent's invocations; other agents' are never found. Both read them
      // as they stand now, as GET /invocations/{id} does: an approval whose time is up is expired.
      getInvocation: toldOnFailure(async (agent, invocationId) => {
        const record = await store.getInvocation(invocationId);
        return record?.agentId === agent.id ? approvals.asOfNow(record) : undefined;
      }),
      listInvocations: toldOnFailure(async (agent, cursor) => {
        const page = await store.listInvocations({ agentId: agent.id, limit: 50, ...(cursor === undefined ? {} : { cursor }) });
        return { ...page, items: await Promise.all(page.items.map((record) => approvals.asOfNow(record))) };
      }),
      waitForOutcome: toldOnFailure(async (agent, invocationId, ms, signal) => {
        const record = await store.getInvocation(invocationId);
        return record?.agentId === agent.id ? approvals.waitForOutcome(invocationId, ms, signal) : undefined;
      }),
      cancelInvocation: toldOnFailure((agent, invocationId) => approvals.cancel(invocationId, agent.id)),
      now,
    },
    {
      cursorSecret: mcpCursorSecret(options),
      serverInfo: options.mcp?.serverInfo ?? { name: 'agent-tool-gateway', version: PACKAGE_VERSION },
      ...(options.mcp?.instructions === undefined ? {} : { instructions: options.mcp.instructions }),
      maxBodyBytes,
      ...(options.mcp?.allowedOrigins === undefined ? {} : { allowedOrigins: options.mcp.allowedOrigins }),
      ...(options.mcp?.allowedHosts === undefined ? {} : { allowedHosts: options.mcp.allowedHosts }),
      ...(options.mcp?.pageSize === undefined ? {} : { pageSize: options.mcp.pageSize }),
      onError: (error) => reportUnexpected(error),
    },
  );

  /**
   * Tells the other instances that something changed here. The change itself is done and
   * recorded whatever becomes of this: a lost announcement only delays the others (until
   * their next refresh or agentCacheMs), so it is told to onError, never thrown.
   */
  const announce = async (kind: ChangeKind) => {
    await Promise.all([store.announce?.(kind).catch(reportError), tellSameStore(store, kind, heardChange)]);
  };
  const agentAdministration = new AgentAdministration(store, now);
  const toolAdministration = new ToolAdministration({
    store,
    vault,
    now,
    resolve: resolveStored,
    isCodeTool: (name) => tools.isCodeTool(name),
    get: (name) => tools.get(name),
    reload: async () => {
      await reloadTools();
      await announce('tools');
    },
  });
  const policyAdministration = new PolicyAdministration({
    store,
    now,
    codeRules,
    reload: async () => {
      await reloadPolicies();
      await announce('policies');
    },
  });
  /**
   * An admin change's event. `subject` names the agent or tool changed in the event's own
   * `agentId` or `tool`, so that `GET /admin/audit?agentId=` (or `?tool=`) lists it beside the
   * calls.
   */
  const adminEvent = async (
    type: string,
    principal: AdminPrincipal | undefined,
    data: Record<string, unknown>,
    subject: { agentId?: string; tool?: string } = {},
  ) => {
    await audit.append({ type, actor: principal ? `admin:${principal.id}` : 'system', ...subject, data });
  };

  /**
   * Records a change made in the store with its admin event. A change the audit trail cannot
   * record (fail-closed) does not stand: it is undone (an undo that fails is told to
   * `onError`), and the caller gets the trail's error.
   */
  const recordChange = async <T>(
    change: AdminChange<T>,
    type: string,
    principal: AdminPrincipal | undefined,
    data: Record<string, unknown>,
    subject: { agentId?: string; tool?: string },
    undone?: () => Promise<void>,
  ): Promise<T> => {
    try {
      await adminEvent(type, principal, data, subject);
    } catch (error) {
      await change.undo().then(undone).catch(reportError);
      throw error;
    }
    return change.value;
  };

  /** After an agent changed here: this instance forgets it at once, the others when they hear the announcement. */
  const forgetAgent = async (id: string) => {
    agents.forget(id);
    await announce('agents');
  };
  /** An agent change, announced, then recorded with its admin event (or undone, and announced again). */
  const agentChanged = async <T>(id: string, change: AdminChange<T>, type: string, principal: AdminPrincipal | undefined) => {
    await forgetAgent(id);
    return recordChange(change, type, principal, { agentId: id }, { agentId: id }, () => forgetAgent(id));
  };
  const setAgentStatus = async (
    id: string,
    status: 'active' | 'disabled' | 'revoked',
    type: string,
    principal: AdminPrincipal | undefined,
  ) => agentChanged(id, await agentAdministration.setStatus(id, status), type, principal);

  /**
   * Claims the marking of an incomplete call for the run `run`, atomically across instances:
   * a reservation in the store's idempotency keys under an agent id no agent has, holding the
   * run's token. A claim older than a minute whose call is still incomplete belonged to a run
   * that stopped: it is released by its own token (so two runs cannot both take it over) and
   * claimed again.
   */
  const claimIncomplete = async (invocationId: string, run: string): Promise<boolean> => {
    const claim = () =>
      store.reserveIdempotencyKey({
        agentId: INCOMPLETE_CLAIMS,
        key: invocationId,
        invocationId: run,
        fingerprint: 'incomplete',
        createdAt: new Date(now()).toISOString(),
      });
    const first = await claim();
    if (first.created) return true;
    if (now() - Date.parse(first.record.createdAt) <= INCOMPLETE_CLAIM_STALE_MS) return false;
    await releaseIncompleteClaim(invocationId, first.record.invocationId);
    return (await claim()).created;
  };
  const releaseIncompleteClaim = (invocationId: string, run: string) =>
    store.releaseIdempotencyKey({ agentId: INCOMPLETE_CLAIMS, key: invocationId, invocationId: run });

  /** Marks one incomplete call: its recorded outcome given to the chain, or `outcome_unknown`. */
  const markIncomplete = async (call: IncompleteInvocation): Promise<void> => {
    const existing = await store.getInvocation(call.invocationId);
    if (existing !== undefined && KNOWN_OUTCOMES.has(existing.status)) {
      // The record was stored but its outcome event was lost (the store's write went
      // through, the chain's did not): the outcome is known, so it is what the chain gets.
      await audit.append({
        type: EVENT_FOR_STATUS[existing.status],
        actor: 'system',
        invocationId: existing.id,
        agentId: existing.agentId,
        tool: existing.tool,
        data: { ...outcomeEventData(existing), recovered: true },
      });
      call.status = existing.status;
      return;
    }
    call.status = 'outcome_unknown';
    const at = new Date(now()).toISOString();
    const error = { code: 'INTERNAL', message: 'The gateway stopped before the outcome of this call was recorded' };
    await store.putInvocation(
      existing !== undefined
        ? { ...existing, status: 'outcome_unknown', error, updatedAt: at }
        : {
            id: call.invocationId,
            agentId: call.agentId ?? 'unknown',
            tool: call.tool ?? 'unknown',
            toolVersion: null,
            inputDigest: null,
            input: null,
            decision: null,
            ruleIds: [],
            approvalId: null,
            status: 'outcome_unknown',
            door: call.door ?? 'invoke',
            upstreamStatus: null,
            latencyMs: null,
            output: null,
            error,
            idempotencyKey: null,
            createdAt: call.startedAt,
            updatedAt: at,
          },
    );
    await audit.append({
      type: 'invocation.outcome_unknown',
      actor: 'system',
      invocationId: call.invocationId,
      ...(call.agentId === undefined ? {} : { agentId: call.agentId }),
      ...(call.tool === undefined ? {} : { tool: call.tool }),
      data: { startSeq: call.startSeq },
    });
  };

  /** Runs an operation that writes records and events: refused once the gateway closes, waited for by close(). */
  const whileOpen = async <T>(operation: () => Promise<T>): Promise<T> => {
    if (closed) throw gatewayClosed();
    active++;
    try {
      return await operation();
    } finally {
      settle();
    }
  };

  /** `admin.incompleteInvocations`: see its TSDoc on {@link GatewayAdmin}. */
  const markIncompleteInvocations = async (incompleteOptions: { graceMs?: number }): Promise<IncompleteInvocation[]> => {
    const at = now();
    // Approved calls whose run never started: the chain, read once, tells them apart.
    const claimed = await approvals.claimedAndWaiting(at - (incompleteOptions.graceMs ?? DEFAULT_INCOMPLETE_GRACE_MS));
    const { incomplete: found, started } = await scanIncomplete(
      store,
      { ...incompleteOptions, now: at },
      new Set(claimed.map((approval) => approval.invocationId)),
    );
    const marked: IncompleteInvocation[] = [];
    const run = randomUUID();
    for (const call of found) {
      // Another run (another instance, or the CLI) may be marking the same call: one claims it.
      if (!(await claimIncomplete(call.invocationId, run))) continue;
      try {
        await markIncomplete(call);
      } catch (error) {
        // Not marked: the next run may try at once.
        await releaseIncompleteClaim(call.invocationId, run).catch(reportError);
        throw error;
      }
      marked.push(call);
    }
    for (const approval of claimed) {
      if (started.has(approval.invocationId)) continue;
      const reopened = await approvals.reopen(approval);
      if (reopened === undefined) continue;
      marked.push({
        invocationId: approval.invocationId,
        agentId: approval.agentId,
        tool: approval.tool,
        door: (await store.getInvocation(approval.invocationId))?.door,
        startedAt: approval.decidedAt as string,
        startSeq: reopened.seq,
        status: 'pending_approval',
        approvalId: approval.id,
      });
    }
    return marked;
  };

  /** An admin operation that writes records and events, run as {@link whileOpen} runs one. */
  const writes =
    <A extends unknown[], R>(operation: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      whileOpen(() => operation(...args));

  const admin: GatewayAdmin = {
    createAgent: writes(async (input, principal) => {
      const created = await agentAdministration.create(input);
      const { agent } = created.value;
      return recordChange(created, 'admin.agent.created', principal, { agentId: agent.id, name: agent.name }, { agentId: agent.id });
    }),
    getAgent: (id) => agentAdministration.get(id),
    listAgents: (listOptions) => agentAdministration.list(listOptions),
    disableAgent: writes((id, principal) => setAgentStatus(id, 'disabled', 'admin.agent.disabled', principal)),
    enableAgent: writes((id, principal) => setAgentStatus(id, 'active', 'admin.agent.enabled', principal)),
    revokeAgent: writes((id, principal) => setAgentStatus(id, 'revoked', 'admin.agent.revoked', principal)),
    rotateAgentKey: writes(async (id, principal) =>
      agentChanged(id, await agentAdministration.rotate(id), 'admin.agent.rotated', principal),
    ),
    // Calls and approvals read as the agent reads them: one whose approval's time is up is
    // expired, though the background sweep has not come to it yet.
    async listInvocations(filter) {
      const page = await store.listInvocations(filter);
      return { ...page, items: await Promise.all(page.items.map((record) => approvals.asOfNow(record))) };
    },
    async getInvocation(id) {
      const record = await store.getInvocation(id);
      if (record === undefined) throw notFound('Invocation');
      return approvals.asOfNow(record);
    },
    async listApprovals(filter) {
      // Those the store still holds pending are not on a page of expired ones: expire them first.
      // Expiring writes records and events: as every such write, refused once the gateway
      // closes and waited for by close(), so that none is cut off halfway by it.
      if (filter?.status === 'expired') await whileOpen(() => approvals.sweepExpired());
      const expired = new Set<string>();
      for (;;) {
        const page = await store.listApprovals(filter);
        const due = page.items.filter((approval) => approvalIsDue(approval, now()) && !expired.has(approval.id));
        if (due.length === 0) return { ...page, items: page.items.map(toApprovalView) };
        // Expired before they are shown, so no approver is offered one that can no longer be
        // decided, and a page of pending ones stays full; then the page is read again.
        for (const approval of due) {
          expired.add(approval.id);
          await whileOpen(() => approvals.expire(approval));
        }
      }
    },
    async getApproval(id) {
      let record = await store.getApproval(id);
      if (record !== undefined && approvalIsDue(record, now())) {
        const due = record;
        await whileOpen(() => approvals.expire(due));
        record = await store.getApproval(id);
      }
      if (record === undefined) throw notFound('Approval');
      return toApprovalView(record);
    },
    async decide(id, { decision, reason }, principal) {
      if (decision !== 'approve' && decision !== 'deny') throw new TypeError('decision must be "approve" or "deny"');
      return whileOpen(() => approvals.decide(id, decision, principal, reason));
    },
    expireApprovals: writes(() => approvals.sweepExpired()),
    cancelInvocation: writes((invocationId, agentId) => approvals.cancel(invocationId, agentId)),
    incompleteInvocations: writes((incompleteOptions = {}) => markIncompleteInvocations(incompleteOptions)),
    listAudit: (filter) => store.listAudit(filter),
    async verifyAudit(range = {}) {
      const ownKey = options.audit?.checkpoints ? await audit.publicJwk() : undefined;
      const publicKey = options.audit?.verificationKeys ?? (ownKey === undefined ? undefined : [ownKey]);
      return verifyAuditChain({
        store,
        ...(range.from === undefined ? {} : { from: range.from }),
        ...(range.to === undefined ? {} : { to: range.to }),
        ...(publicKey === undefined ? {} : { publicKey: publicKey as AuditVerificationKey[] }),
      });
    },
    async exportAudit(exportOptions) {
      const publicKey = options.audit?.checkpoints ? await audit.publicJwk() : undefined;
      return exportAudit({ store, ...exportOptions, ...(publicKey === undefined ? {} : { publicKey }) });
    },
    async listTools() {
      await ready();
      return tools.all().map(toolAdminView);
    },
    async getTool(name) {
      await ready();
      const tool = tools.get(name);
      if (tool === undefined) throw notFound('Tool');
      return toolAdminView(tool);
    },
    createTool: writes(async (definition, principal) => {
      await ready();
      const created = await toolAdministration.create(definition);
      const view = created.value;
      return recordChange(
        created,
        'admin.tool.created',
        principal,
        { tool: view.name, version: view.version, definition: redactedDefinition(view) },
        { tool: view.name },
      );
    }),
    updateTool: writes(async (name, patch, principal) => {
      await ready();
      const updated = await toolAdministration.update(name, patch);
      const view = updated.value;
      return recordChange(
        updated,
        'admin.tool.updated',
        principal,
        { tool: name, version: view.version, definition: redactedDefinition(view) },
        { tool: name },
      );
    }),
    deleteTool: writes(async (name, principal) => {
      await ready();
      await recordChange(await toolAdministration.remove(name), 'admin.tool.deleted', principal, { tool: name }, { tool: name });
    }),
    listPolicies: () => policyAdministration.list(),
    getPolicy: (id) => policyAdministration.get(id),
    createPolicy: writes(async (rule, principal) => {
      const created = await policyAdministration.create(rule);
      return recordChange(
        created,
        'admin.policy.created',
        principal,
        { policyId: created.value.id, rule: redactors.fallback().value(created.value) as Record<string, unknown> },
        {},
      );
    }),
    updatePolicy: writes(async (id, patch, principal) => {
      const updated = await policyAdministration.update(id, patch);
      return recordChange(
        updated,
        'admin.policy.updated',
        principal,
        { policyId: id, rule: redactors.fallback().value(updated.value) as Record<string, unknown> },
        {},
      );
    }),
    deletePolicy: writes(async (id, principal) => {
      await recordChange(await policyAdministration.remove(id), 'admin.policy.deleted', principal, { policyId: id }, {});
    }),
    rotateSecrets: writes(async (rotation = {}, principal) => {
      if (rotation.encryptionKey !== undefined) {
        try {
          vault.setEncryptionKey(rotation.encryptionKey);
        } catch (error) {
          throw new GatewayError({ code: 'BAD_REQUEST', message: (error as Error).message });
        }
      }
      // Without a key every sealed secret would be reported unreadable, as if it had to be sent again.
      if (!vault.hasKey) {
        throw new GatewayError({
          code: 'BAD_REQUEST',
          message: `There is no encryption key to re-seal with: configure encryptionKey (create a key with: ${KEY_GENERATION_COMMAND}), or pass one as rotateSecrets({ encryptionKey })`,
        });
      }
      const tools = await toolAdministration.reseal();
      const held = await approvals.resealHeldInputs();
      const counts = { ...tools, approvals: held.resealed, unreadableApprovals: held.unreadable };
      try {
        await adminEvent('admin.secrets.rotated', principal, { ...counts, activeKeyId: vault.activeKeyId ?? null });
      } catch (error) {
        // Unlike other admin changes, a rotation is not undone (see rotateSecrets): the admin
        // and onError are told that it stands, unrecorded, and what it did.
        const failure = toGatewayError(error);
        const stands = new GatewayError({
          code: failure.code,
          message: `The secrets were re-sealed under the active key and stay so, but the audit trail could not record it (${failure.message}): send the rotation again to have it recorded`,
          details: counts,
          ...(failure.headers === undefined ? {} : { headers: failure.headers }),
          cause: error,
        });
        reportError(stands);
        throw stands;
      }
      return counts;
    }),
  };

  const authenticateAdmin = createAdminAuthenticator(options.admin, reportError);

  // RFC 9728 metadata, with JWT auth: at the SPEC's route under basePath (where 401s point),
  // and where a client that inserts the resource's path after the well-known prefix looks
  // (§3.1), the `resource` being the one that path names.
  const metadataPaths = new Set(tokens === undefined ? [] : [`${basePath}${protectedResourcePath}`, tokens.resourceMetadataPath]);
  const metadataCors = { 'access-control-allow-origin': '*' };
  const protectedResourceMetadata = (method: string): Reply => {
    // Public, and read by browser-based clients from other origins (which ask first when
    // they send MCP's headers).
    if (method === 'OPTIONS') {
      return new JsonReply(204, null, {
        ...metadataCors,
        'access-control-allow-methods': 'GET, HEAD, OPTIONS',
        'access-control-allow-headers': '*',
        'access-control-max-age': '86400',
      });
    }
    if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed('GET, OPTIONS');
    return jsonResponse(200, tokens?.metadata, { 'cache-control': 'max-age=3600', ...metadataCors });
  };

  const route = async (request: Request): Promise<Reply> => {
    const url = requestUrl(request);
    let path = url.pathname;
    if (metadataPaths.has(path)) return protectedResourceMetadata(request.method);
    if (basePath !== '') {
      if (path !== basePath && !path.startsWith(`${basePath}/`)) return errorResponse(routeNotFound());
      path = path.slice(basePath.length) || '/';
    }
    // HEAD is GET without the body (RFC 9110): routes answer it as GET, `handle` drops the body.
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    if (path === '/mcp') return mcp.handle(request, requestAbort(request));
    if (path === '/tools') {
      if (method !== 'GET') return methodNotAllowed('GET');
      return listToolsRoute(runtime, request);
    }
    const invokeMatch = /^\/tools\/([^/]+)\/invoke$/.exec(path);
    if (invokeMatch) {
      if (method !== 'POST') return methodNotAllowed('POST');
      return invokeRoute(runtime, request, decodePathSegment(invokeMatch[1] as string));
    }
    const invocationMatch = /^\/invocations\/([^/]+)$/.exec(path);
    if (invocationMatch) {
      if (method !== 'GET') return methodNotAllowed('GET');
      return getInvocationRoute(runtime, request, decodePathSegment(invocationMatch[1] as string));
    }
    if (path === '/admin' || path.startsWith('/admin/')) {
      // Agent keys and agents' access tokens never open admin routes, whatever the host's
      // authenticate hook would say.
      const token = bearerToken(request.headers.get('authorization'));
      const agentCredential = token !== undefined && (parseAgentKey(token) !== undefined || tokens?.isMeantForAgents(token) === true);
      // Audited as the agent doors' refusals are: the door and the path, never the credential;
      // a lost event does not change the answer.
      const adminAuthFailed = (reason?: string) =>
        audit
          .append({
            type: 'auth.failed',
            actor: 'anonymous',
            data: { door: 'admin', path: url.pathname.slice(0, 256), ...(reason === undefined ? {} : { reason }) },
          })
          .catch(() => undefined);
      let principal: AdminPrincipal | null;
      try {
        principal = agentCredential ? null : await authenticateAdmin(request);
      } catch (error) {
        // The host's hook could not say (its session store is down): an outage, as when an
        // agent cannot be resolved, not a refusal a client would act on, nor a crash of ours.
        const failure = outage('AUTH_UNAVAILABLE', 'Admin authentication is unavailable', error);
        reportAuthOutage(failure);
        await adminAuthFailed('auth_unavailable');
        throw failure;
      }
      if (principal === null) {
        await adminAuthFailed();
        throw unauthenticated();
      }
      return routeAdmin({ admin, principal, request, method, path: path.slice('/admin'.length), url, maxBodyBytes });
    }
    return errorResponse(routeNotFound());
  };

  const handle = async (request: Request): Promise<Reply> => {
    if (closed) return errorResponse(gatewayClosed());
    let reply: Reply;
    active++;
    try {
      if (!loaded) await ready();
      reply = await route(request);
    } catch (error) {
      reportUnexpected(error);
      reply = errorResponse(error);
    } finally {
      settle();
    }
    return request.method === 'HEAD' ? withoutBody(reply) : reply;
  };

  // Background work starts only now that nothing is left to throw: a createGateway() that
  // throws leaves no timer reloading the store, nor a listening session holding a connection.
  inBackground(ready);
  const refreshIntervalMs = options.refreshIntervalMs ?? 5000;
  const refreshTimer =
    refreshIntervalMs > 0
      ? setInterval(() => {
          inBackground(refresh);
        }, refreshIntervalMs)
      : undefined;
  refreshTimer?.unref();
  // Pending approvals whose time is up are expired in the background too, so lists and
  // waiting agents see it without anyone touching them.
  const sweeper = setInterval(() => {
    inBackground(() => approvals.sweepExpired());
  }, 30_000);
  sweeper.unref();
  const unwatch = store.watch?.((kind) => {
    void heardChange(kind);
  });
  // Other gateways of this process given this very store object hear of changes made here
  // directly, before the change is answered: the store does not announce to itself.
  const unlistenSameStore = listenToSameStore(store, heardChange);

  // The store and the approver may be shared with other gateways in this process: each
  // holds them while open, and the last to close closes them (the audit log does the same
  // for its sinks).
  hold(store);
  if (options.approver !== undefined) hold(options.approver);

  const fetch = async (request: Request) => toWebResponse(await handle(request));
  return {
    basePath,
    fetch,
    [handleReply]: Object.assign((request: Request) => handle(request), { fetch }),
    [bodyLimit]: maxBodyBytes,
    async invoke(invocation) {
      if (closed) return { status: 'error', error: gatewayClosed() };
      active++;
      try {
        return await invokeOnce(invocation);
      } finally {
        settle();
      }
    },
    admin,
    // Not tried again once closing: the store is closed, or about to be.
    ready: () => (closed && !loaded ? Promise.reject(gatewayClosed()) : ready()),
    close(closeOptions) {
      // Called again: the same promise, whatever options it is given.
      if (closing !== undefined) return closing;
      const timeoutMs = closeOptions?.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
      // A longer Node timer fires at once, and NaN or a negative count would not wait at all.
      if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > MAX_TIMER_MS) {
        return Promise.reject(new TypeError(`close(): timeoutMs must be a whole number of milliseconds from 0 to ${MAX_TIMER_MS}`));
      }
      closing = closeGateway(timeoutMs);
      return closing;
    },
  };

  async function invokeOnce(invocation: InvokeArguments): Promise<CallOutcome> {
    if (!loaded) {
      try {
        await ready();
      } catch (error) {
        // As fetch answers it: the store's outage (or the gateway's failure), nothing run.
        reportUnexpected(error);
        return { status: 'error', error: toGatewayError(error) };
      }
    }
    const problem = invalidInvocation(invocation);
    if (problem !== undefined) return { status: 'error', error: new GatewayError({ code: 'BAD_REQUEST', message: problem }) };
    const request: CallRequest = {
      door: 'invoke',
      toolName: invocation.tool,
      input: invocation.input ?? {},
      abort: invocation.signal === undefined ? NEVER_ABORTED : abortOfSignal(invocation.signal),
    };
    if (invocation.agentKey !== undefined) request.credential = invocation.agentKey;
    else if (invocation.agentId !== undefined) request.agentId = invocation.agentId;
    if (invocation.idempotencyKey !== undefined) request.idempotencyKey = invocation.idempotencyKey;
    return call(request);
  }

  async function closeGateway(timeoutMs: number): Promise<void> {
    const closeStartedAt = performance.now();
    closed = true;
    clearInterval(sweeper);
    if (refreshTimer !== undefined) clearInterval(refreshTimer);
    unwatch?.();
    unlistenSameStore();
    // Waits for an approval's outcome answer now with the pending state.
    approvals.stopWaiting();
    let drained = true;
    if (active > 0) {
      let timer: NodeJS.Timeout | undefined;
      drained = await new Promise<boolean>((resolve) => {
        idle = () => resolve(true);
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      clearTimeout(timer);
      idle = undefined;
      if (!drained) {
        reportError(
          new Error(
            `close(): ${active} call(s), admin change(s) or background task(s) still under way after ${timeoutMs} ms; closing anyway, their outcomes may go unrecorded`,
          ),
        );
      }
    }
    // What is left of timeoutMs, and at least a second: for the approver, the audit trail,
    // then the store. The approver gives up on notifications still being delivered (each is
    // told to onError); the audit trail on sinks still draining (their drops are told too).
    const timeLeft = () => Math.max(1000, Math.round(closeStartedAt + timeoutMs - performance.now()));
    const approver = options.approver;
    if (approver !== undefined && release(approver) && approver.close !== undefined) {
      const left = timeLeft();
      const closedInTime = await within(
        Promise.resolve()
          .then(() => approver.close?.())
          .then(
            () => true,
            (error: unknown) => {
              reportError(error);
              return true;
            },
          ),
        left,
        false,
        true,
      );
      if (!closedInTime) reportError(new Error(`close(): the approver's close() did not settle within ${left} ms; closing anyway`));
    }
    await audit.close({ timeoutMs: timeLeft() });
    for (const state of queueFullDrops.values()) tellQueueFull(state);
    // Upstream calls still running past timeoutMs are cut: the pools' own close() would wait
    // for them, up to each tool's deadline.
    await (drained ? upstream.close() : upstream.destroy());
    // A store that waits for its last writes (the SQL store) waits no longer than that.
    if (release(store)) await store.close({ timeoutMs: timeLeft() });
  }
}

/** How long `close()` waits for requests under way, by default (ms). */
const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;

/** The answer to a request that reaches a gateway that is closing or closed. */
function gatewayClosed(): GatewayError {
  return new GatewayError({ code: 'GATEWAY_CLOSED', message: 'The gateway is shutting down' });
}

/**
 * What is wrong with the arguments of `invoke()` as JavaScript may pass them, whatever the
 * types say; undefined when nothing is. The call is then refused before the pipeline, as a
 * REST body of the wrong shape is.
 */
function invalidInvocation(invocation: unknown): string | undefined {
  if (typeof invocation !== 'object' || invocation === null)
    return 'invoke() takes { tool, input?, agentKey | agentId, idempotencyKey?, signal? }';
  const { tool, input, agentKey, agentId, idempotencyKey, signal } = invocation as Record<string, unknown>;
  if (typeof tool !== 'string' || tool === '') return '"tool" must be a non-empty string';
  if (input !== undefined && (input === null || typeof input !== 'object' || Array.isArray(input))) return '"input" must be an object';
  if (agentKey !== undefined && typeof agentKey !== 'string') return '"agentKey" must be a string';
  if (agentId !== undefined && typeof agentId !== 'string') return '"agentId" must be a string';
  if (idempotencyKey !== undefined && !isIdempotencyKey(idempotencyKey)) return IDEMPOTENCY_KEY_RULE;
  if (signal !== undefined && !isAbortSignalLike(signal)) return '"signal" must be an AbortSignal';
  return undefined;
}

/** An AbortSignal, also one from another realm or a polyfill: what the call's abort reads of it. */
function isAbortSignalLike(value: unknown): boolean {
  const signal = value as Partial<AbortSignal> | null;
  return (
    typeof signal === 'object' &&
    signal !== null &&
    typeof signal.aborted === 'boolean' &&
    typeof signal.addEventListener === 'function' &&
    typeof signal.removeEventListener === 'function'
  );
}

/**
 * The request's URL. The Node adapters build it from the `Host` header, which a client can
 * send malformed (`a:b:c`, a port over 65535): a 400, never an error of the gateway's.
 */
function requestUrl(request: Request): URL {
  try {
    return new URL(request.url);
  } catch {
    throw new GatewayError({ code: 'BAD_REQUEST', message: 'Malformed request URL: check the Host header' });
  }
}

/**
 * How often `onError` is told of an ongoing failure, at most (ms): a store out of reach (as
 * often as its callers retry), a sink whose queue keeps overflowing.
 */
const OUTAGE_REPORT_MS = OUTAGE_RETRY_AFTER_SECONDS * 1000;

const RESOLVED: Promise<void> = Promise.resolve();

/** The agent id under which runs of `incompleteInvocations` claim the calls they mark (agent ids have no `:`). */
const INCOMPLETE_CLAIMS = 'atg:incomplete';

/** How old a claim of an incomplete call may be before another run takes it over (ms). */
const INCOMPLETE_CLAIM_STALE_MS = 60_000;

/** Record statuses that are a call's outcome: an incomplete call holding one is not unknown. */
const KNOWN_OUTCOMES: ReadonlySet<InvocationStatus> = new Set([
  'succeeded',
  'failed',
  'denied',
  'invalid',
  'timeout',
  'expired',
  'cancelled',
]);

/** What `onError` is told of: a failure of the gateway or of its store, not a refusal. */
function isUnexpected(error: unknown): boolean {
  return !(error instanceof GatewayError) || error.code === 'INTERNAL' || error.code === 'STORE_UNAVAILABLE';
}

/** The input digest: SHA-256 over the canonical JSON, or with a key HMAC-SHA256 over it. */
function inputDigester(key: string | undefined): (input: unknown) => string {
  if (key === undefined) return digestJson;
  return (input) => createHmac('sha256', key).update(canonicalJson(input)).digest('hex');
}

/** The key that signs MCP cursors: configured, derived from the encryption key, or random. */
function mcpCursorSecret(options: GatewayOptions): Uint8Array {
  if (options.mcp?.cursorSecret !== undefined) return createHash('sha256').update(options.mcp.cursorSecret).digest();
  const key = options.encryptionKey;
  if (key === undefined) return randomBytes(32);
  // Trimmed as the vault trims it: instances given the same key agree on the cursors.
  const material = (typeof key === 'string' ? key : (key.keys[key.active] ?? key.active)).trim();
  return createHash('sha256').update('agent-tool-gateway mcp cursor\u0000').update(material).digest();
}
