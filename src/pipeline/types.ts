import type { GatewayError } from '../errors.js';
import type { AgentRecord, DecisionEffect } from '../store/types.js';
import type { ResolvedTool } from '../tools/registry.js';
import type { CallAbort } from '../util/call-abort.js';

/** Which door a call came through. */
export type Door = 'rest' | 'mcp' | 'invoke';

/** The policy decision of one call. */
export interface PolicyDecision {
  effect: DecisionEffect;
  /** Ids of the rules that produced the effect (empty when the default applied). */
  ruleIds: string[];
  /** Approval lifetime asked for by the deciding rule(s), in milliseconds. */
  approvalTtlMs?: number;
  /** Redaction profile the matching rules add for this call. */
  redact?: import('../tools/types.js').ToolRedaction;
  /** Budgets the call draws on; over any of them it is refused with `RATE_LIMITED`. */
  rateLimits?: import('../policy/rate-limit.js').RateLimitCharge[];
}

/** The public, agent-facing view of an authenticated agent. */
export type AgentPrincipal = Pick<AgentRecord, 'id' | 'name' | 'tags'>;

/** Everything a governed call carries through the pipeline. */
export interface CallContext {
  readonly invocationId: string;
  readonly door: Door;
  readonly startedAt: number;
  /** Aborts the call: the client went away, or the `invoke()` caller's signal fired. */
  readonly abort: CallAbort;
  /** The presented agent key (REST/MCP doors authenticate before the pipeline). */
  credential?: string;
  /** Resolved by the authenticate step (or set by a door that authenticated already). */
  agent?: AgentRecord;
  /** For programmatic `invoke({ agentId })`. */
  agentId?: string;
  readonly toolName: string;
  tool?: ResolvedTool;
  /** The input as received. */
  readonly rawInput: unknown;
  /** The validated input. */
  input?: unknown;
  inputDigest?: string;
  decision?: PolicyDecision;
  idempotencyKey?: string;
  /** Set by the execute step when it ran. */
  upstreamStatus?: number;
  /** Approval this call belongs to, when any. */
  approvalId?: string;
  /** True when this outcome is a replay of an earlier call (idempotency or repeat). */
  replayed?: boolean;
  /** True when a step already wrote this call's record (a pending approval does, before anyone can decide it). */
  recorded?: boolean;
  /** True when the gateway's rate limits refused this call: nothing ran, nothing was asked. */
  refusedByRateLimit?: boolean;
  /** True once the execute step has recorded `invocation.started`: from then on the tool may act. */
  started?: boolean;
}

/**
 * The result of a governed call, whatever door it came through. `running` is what a repeat of
 * an approved call gets while that call runs: approved under `approval.id`, not finished yet.
 */
export type CallOutcome =
  | { status: 'succeeded'; invocationId: string; output: unknown }
  | { status: 'pending_approval'; invocationId: string; approval: { id: string; expiresAt: string } }
  | { status: 'running'; invocationId: string; approval: { id: string } }
  | { status: 'error'; invocationId?: string; error: GatewayError };

/** One step of the pipeline (onion middleware). */
export type Step = (context: CallContext, next: () => Promise<CallOutcome>) => Promise<CallOutcome>;
