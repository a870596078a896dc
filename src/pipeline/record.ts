import { type TokenIdentity, tokenIdentityOf } from '../auth/token-identity.js';
import { type GatewayError, toGatewayError } from '../errors.js';
import type { AgentRecord, InvocationRecord, InvocationStatus, RecordedError } from '../store/types.js';
import type { ResolvedTool } from '../tools/registry.js';
import type { ToolRedaction } from '../tools/types.js';
import { retryInstantOf } from '../util/retry-after.js';
import { isoTimestamp } from '../util/timestamps.js';
import type { PipelineDependencies } from './dependencies.js';
import { nestsDeeperThan } from './input-guard.js';
import type { CallContext, CallOutcome, Step } from './types.js';

/** The invocation status an error code leaves a call in. */
export function statusForError(error: GatewayError): InvocationStatus {
  switch (error.code) {
    case 'POLICY_DENIED':
    case 'RATE_LIMITED':
    case 'APPROVAL_DENIED':
      return 'denied';
    case 'INVALID_INPUT':
    case 'BAD_REQUEST':
    case 'TOOL_NOT_FOUND':
    case 'IDEMPOTENCY_CONFLICT':
      return 'invalid';
    case 'UPSTREAM_TIMEOUT':
      return 'timeout';
    case 'APPROVAL_EXPIRED':
      return 'expired';
    case 'CANCELLED':
      return 'cancelled';
    default:
      return 'failed';
  }
}

/**
 * The error a call's record keeps: what the caller was answered and, when that answer said
 * when to retry (`Retry-After`), the instant it named, so that the answer given again from
 * the record (see outcomeOfRecord) still says how long is left.
 */
export function recordedError(error: GatewayError, now: number): RecordedError {
  const recorded: RecordedError = error.toJSON();
  if (error.headers === undefined) return recorded;
  const retryAt = retryInstantOf(error, now);
  if (retryAt !== undefined) recorded.retryAt = new Date(retryAt).toISOString();
  return recorded;
}

/** The longest tool name a record or an event keeps of a call (no tool has a longer one). */
const MAX_RECORDED_TOOL_NAME = 256;

/**
 * The tool name a call's record and events keep: as asked, or, for a name no tool can have
 * (a call of an unknown tool, with a name of any length), its first 256 characters and `…`,
 * so that the record fits the store's index and the call is recorded like any other.
 */
function recordedToolName(context: CallContext): string {
  const name = context.toolName;
  if (name.length <= MAX_RECORDED_TOOL_NAME) return name;
  const cut = name.charCodeAt(MAX_RECORDED_TOOL_NAME - 1) >= 0xd800 && name.charCodeAt(MAX_RECORDED_TOOL_NAME - 1) <= 0xdbff ? 1 : 0;
  return `${name.slice(0, MAX_RECORDED_TOOL_NAME - cut)}…`;
}

/** The audit event that records a call reaching each status. */
export const EVENT_FOR_STATUS: Readonly<Record<InvocationStatus, string>> = {
  succeeded: 'invocation.completed',
  failed: 'invocation.failed',
  denied: 'invocation.denied',
  invalid: 'invocation.invalid',
  timeout: 'invocation.timeout',
  expired: 'invocation.expired',
  cancelled: 'invocation.cancelled',
  pending_approval: 'approval.requested',
  running: 'invocation.started',
  outcome_unknown: 'invocation.outcome_unknown',
};

/** `auth.failed`'s reason where a credential was not simply refused, as the HTTP doors give it. */
const AUTH_FAILURE_REASONS: Partial<Record<string, string>> = {
  AUTH_UNAVAILABLE: 'auth_unavailable',
  FORBIDDEN: 'insufficient_scope',
};

/**
 * The outermost step: whatever happens inside — a decision, a failure, a crash in a step —
 * it writes one invocation record and one audit event for the outcome. Input and output
 * are stored redacted.
 */
export function recordStep(deps: PipelineDependencies): Step {
  return async (context, next) => {
    let outcome: CallOutcome;
    try {
      outcome = await next();
    } catch (error) {
      outcome = { status: 'error', error: toGatewayError(error) };
    }
    if (context.replayed || context.recorded) return outcome;

    const agent = context.agent;
    if (agent === undefined) {
      const reason = outcome.status === 'error' ? AUTH_FAILURE_REASONS[outcome.error.code] : undefined;
      await deps.audit
        .append({
          type: 'auth.failed',
          actor: 'anonymous',
          data: { door: context.door, tool: recordedToolName(context), ...(reason === undefined ? {} : { reason }) },
        })
        .catch(() => undefined);
      return outcome.status === 'error' ? { status: 'error', error: outcome.error } : outcome;
    }

    try {
      await writeRecord(deps, context, outcome);
    } catch (error) {
      // The call has happened (or was refused) and its answer stands. A missing outcome
      // event leaves the call listed as incomplete, which is the truth; onError is told.
      deps.reportError(error);
    }
    return outcome.status === 'error' ? { ...outcome, invocationId: context.invocationId } : outcome;
  };
}

/** Stores the invocation record of a call and appends the audit event of its outcome. */
export async function writeRecord(deps: PipelineDependencies, context: CallContext, outcome: CallOutcome): Promise<void> {
  const record = buildRecord(deps, context, outcome);
  await deps.store.putInvocation(record);
  await deps.audit.append({
    type: EVENT_FOR_STATUS[record.status],
    actor: `agent:${record.agentId}`,
    invocationId: record.id,
    agentId: record.agentId,
    tool: record.tool,
    data: outcomeEventData(record, tokenIdentityOf(context.agent)),
  });
}

/**
 * The data of the audit event that records an invocation's outcome, from its record and,
 * for a call made with an access token, who the token names; members in sorted order, so
 * that the audit hash serialises it natively (see canonicalJson).
 */
export function outcomeEventData(record: InvocationRecord, token?: TokenIdentity): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  if (record.approvalId !== null) data.approvalId = record.approvalId;
  if (record.decision !== null) data.decision = record.decision;
  data.door = record.door;
  if (record.error !== null) data.error = { code: record.error.code };
  if (record.inputDigest !== null) data.inputDigest = record.inputDigest;
  if (record.latencyMs !== null) data.latencyMs = record.latencyMs;
  if (record.ruleIds.length > 0) data.ruleIds = record.ruleIds;
  data.status = record.status;
  if (token !== undefined) data.token = token;
  if (record.toolVersion !== null) data.toolVersion = record.toolVersion;
  if (record.upstreamStatus !== null) data.upstreamStatus = record.upstreamStatus;
  return data;
}

/**
 * The call's input as its record stores it, redacted with the tool's profile and what policy
 * adds: the decision's profile (a denial's too), or, for a call refused before policy
 * decided, what the rules for this agent and tool add whatever the input. Should that
 * redaction fail, the input is left out (`null`) rather than stored less redacted, and the
 * record is written all the same. So is an input never validated (a call of an unknown tool,
 * or one refused for its nesting) that nests deeper than `maxInputDepth`: copied and stored,
 * it could overflow the stack and lose the record, and its event with it.
 */
function recordedInput(deps: PipelineDependencies, context: CallContext): unknown {
  const input = context.input ?? context.rawInput;
  if (input === undefined) return null;
  if (context.input === undefined && nestsDeeperThan(input, deps.maxDepth)) return null;
  const tool = context.tool;
  try {
    if (tool === undefined) return deps.redactors.fallback().value(input);
    const decision = context.decision;
    const extra = decision !== undefined ? decision.redact : undecidedRedaction(deps, context.agent, tool);
    return deps.redactors.forTool(tool, extra).value(input);
  } catch {
    return null;
  }
}

/** What policy adds to the redaction of a call it has not decided (refused before it, or while it ran). */
export function undecidedRedaction(
  deps: PipelineDependencies,
  agent: AgentRecord | undefined,
  tool: ResolvedTool,
): ToolRedaction | undefined {
  const policy = deps.policy();
  if (agent === undefined || policy.redactionFor === undefined) return undefined;
  return policy.redactionFor({ id: agent.id, name: agent.name, tags: agent.tags }, { name: tool.name, risk: tool.risk });
}

function buildRecord(deps: PipelineDependencies, context: CallContext, outcome: CallOutcome): InvocationRecord {
  const tool = context.tool;
  const now = deps.now();
  const at = isoTimestamp(now);
  const status: InvocationStatus =
    outcome.status === 'succeeded'
      ? 'succeeded'
      : outcome.status === 'pending_approval' || outcome.status === 'running'
        ? outcome.status
        : statusForError(outcome.error);
  return {
    id: context.invocationId,
    agentId: (context.agent as { id: string }).id,
    tool: recordedToolName(context),
    toolVersion: tool?.version ?? null,
    inputDigest: context.inputDigest ?? null,
    input: recordedInput(deps, context),
    decision: context.decision?.effect ?? null,
    ruleIds: context.decision?.ruleIds ?? [],
    approvalId: context.approvalId ?? null,
    status,
    door: context.door,
    upstreamStatus: context.upstreamStatus ?? null,
    latencyMs: Math.round((now - context.startedAt) * 1000) / 1000,
    // The output in the outcome is already redacted by the redact step.
    output: outcome.status === 'succeeded' ? outcome.output : null,
    error: outcome.status === 'error' ? recordedError(outcome.error, now) : null,
    idempotencyKey: context.idempotencyKey ?? null,
    createdAt: isoTimestamp(context.startedAt),
    updatedAt: at,
  };
}
