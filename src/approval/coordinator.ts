import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { AdminPrincipal } from '../auth/admin-auth.js';
import { GatewayError, retryLater, toGatewayError } from '../errors.js';
import type { PipelineDependencies } from '../pipeline/dependencies.js';
import { runTool, upstreamStatusOf } from '../pipeline/execute.js';
import { sameRefusal, takeRateLimits } from '../pipeline/rate-limit.js';
import { checkedDecision, policyDenied } from '../pipeline/policy.js';
import { approvalEndedOutcome, approvalIsDue, cancelledOutcome, deniedOutcome, expiredOutcome } from './expiry.js';
import { redactToolError } from '../pipeline/redact.js';
import { outcomeOfRecord, releaseReservation, runOutlivedItsDeadline, startedRun, unrecordedRun } from '../pipeline/idempotency.js';
import { EVENT_FOR_STATUS, outcomeEventData, recordedError, statusForError, writeRecord } from '../pipeline/record.js';
import type { CallContext, CallOutcome, PolicyDecision } from '../pipeline/types.js';
import type { ResolvedTool } from '../tools/registry.js';
import type { AgentRecord, ApprovalRecord, AuditEntry, IdempotencyRecord, InvocationRecord } from '../store/types.js';
import { type CallAbort, NEVER_ABORTED } from '../util/call-abort.js';
import type { Approver, ApprovalNotice } from './approvers.js';
import { isSecretUnavailable } from '../secrets/vault.js';
import { type HeldInputSealing, markUnopenedHeldInput } from './held-input.js';

/**
 * Approval slots are idempotency reservations under the agent's id with this suffix: agent
 * ids are base62, so no agent's own keys can meet them.
 */
const APPROVAL_SLOT_SUFFIX = ':approval';
/** Slots one call takes over from failed requests (each freed by another call meanwhile) before it gives up (409). */
const MAX_SLOT_ATTEMPTS = 5;
/** A request that has neither an approval nor a final record after this long has failed. */
const STALLED_REQUEST_MS = 60_000;

/** Default lifetime of an approval request: 15 minutes. */
export const DEFAULT_APPROVAL_TTL_MS = 15 * 60 * 1000;

/**
 * An approval as approvers see it: the redacted input, never the held one nor its digest
 * (by default an unkeyed SHA-256 of the exact input, from which a short secret in it could
 * be recovered by trying every value). The invocation record, which admins and auditors
 * read, has the digest.
 */
export type ApprovalView = Omit<ApprovalRecord, 'heldInput' | 'inputDigest'>;

/** The answer "waits for a human" for a call held by `approval`. */
function pendingOutcome(approval: ApprovalRecord): CallOutcome {
  return { status: 'pending_approval', invocationId: approval.invocationId, approval: { id: approval.id, expiresAt: approval.expiresAt } };
}

export const toApprovalView = ({ heldInput: _heldInput, inputDigest: _inputDigest, ...view }: ApprovalRecord): ApprovalView => view;

/** What deciding an approval returns. */
export interface ApprovalDecisionResult {
  approval: ApprovalView;
  /** The outcome of the call: executed (approve) or refused (deny). */
  outcome: CallOutcome;
}

/** Options of the coordinator, from the gateway's options. */
export interface ApprovalCoordinatorOptions {
  defaultTtlMs: number;
  approver?: Approver;
  /** Keeps the held input at rest (sealed when the vault has a key) and opens it for execution. */
  sealing: HeldInputSealing;
  onError(error: unknown): void;
  /**
   * Told what an approved run failed with; it reports failures of the gateway, not refusals, as
   * the direct path does, and a held input no key opens (see markUnopenedHeldInput).
   */
  onFailure(error: unknown): void;
  /** Given each approver notification under way, so that the gateway's close() waits for it. */
  track?(work: Promise<unknown>): void;
  /**
   * Brings the store-held tools and rules up to date before an approved call is checked:
   * another instance may have changed them since this one last heard, and the call must run
   * only with the tool version that was approved, under the rules that hold now.
   */
  refresh?(): Promise<void>;
}

/**
 * The human-approval path. Requests approvals for calls policy sends to a human, recognises
 * repeats of a call already waiting or decided (same agent, tool, tool version and input
 * digest), takes decisions atomically (one wins, the rest 409), and executes an approved
 * call exactly once: the store's compare-and-set claim makes that hold across instances.
 */
export class ApprovalCoordinator {
  private deps!: PipelineDependencies;
  /** Resolvers waiting for an invocation to reach a final state, by invocation id. */
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Approval requests under way in this process, by the asking call's invocation id. */
  private readonly asking = new Map<string, Promise<CallOutcome>>();
  /** Set when the gateway closes: waits for an outcome end at once. */
  private stopped = false;

  constructor(private readonly options: ApprovalCoordinatorOptions) {}

  /** Late wiring: the coordinator and the pipeline dependencies refer to each other. */
  attach(deps: PipelineDependencies): void {
    this.deps = deps;
  }

  /**
   * The answer to a call policy sends to a human: the pending state or stored outcome of an
   * identical earlier call (same agent, tool, tool version and input digest), or a new
   * approval. Identical calls that arrive together would each find nothing and ask twice, so
   * asking takes a slot first, atomically in the store: the call that takes it asks, and
   * every other gets its answer. `context.replayed` is set when the answer is another call's.
   */
  async hold(context: CallContext): Promise<CallOutcome> {
    const { agent, tool, inputDigest } = context;
    if (agent === undefined || tool === undefined || inputDigest === undefined) throw new Error('approval runs after policy');
    for (let attempt = 0; attempt < MAX_SLOT_ATTEMPTS; attempt++) {
      const earlier = await this.findRepeat(agent.id, tool, inputDigest);
      if (earlier.outcome !== undefined) {
        context.replayed = true;
        return earlier.outcome;
      }
      // A slot per generation: after an approval ended unused (expired, cancelled), the next
      // identical call asks again, under the next slot.
      const generation = earlier.after ?? '-';
      const reservation = {
        agentId: `${agent.id}${APPROVAL_SLOT_SUFFIX}`,
        key: `${tool.version}:${inputDigest}:${generation}:${tool.name}`,
        invocationId: context.invocationId,
      };
      const { created, record: slot } = await this.deps.store.reserveIdempotencyKey({
        ...reservation,
        fingerprint: `${tool.name}\u0000${inputDigest}`,
        createdAt: new Date(this.deps.now()).toISOString(),
      });
      if (created) {
        // Only a call that asks is charged to its rate limits.
        const asking = (async () => {
          await takeRateLimits(this.deps, context);
          return this.request(context);
        })();
        this.asking.set(context.invocationId, asking);
        try {
          return await asking;
        } catch (error) {
          // Refused by the rate limits, the limiter failed, or the request failed before its
          // approval was stored (the audit trail or the store out of reach): nothing is waiting
          // for a decision, and the slot is free again for the next identical call, in this
          // generation. A release that fails leaves the slot to the next identical call, which
          // frees it once it sees the request failed (below).
          await releaseReservation(this.deps, reservation);
          throw error;
        } finally {
          this.asking.delete(context.invocationId);
        }
      }
      const answer = await this.answerOfSlot(slot);
      if (answer.refusal !== undefined) {
        // The identical call that took the slot was over its rate limits just now, and asked
        // nothing: so is this one, refused as a call of its own (its key, if any, is freed).
        context.refusedByRateLimit = true;
        throw answer.refusal;
      }
      if (!answer.failed) {
        // The asking call's answer, or its request still under way: this call has no record of its own.
        context.replayed = true;
        if (answer.outcome !== undefined) return answer.outcome;
        throw retryLater('An identical call is asking for approval right now; retry later');
      }
      // The call that took the slot failed to ask and could not free it (or its process
      // stopped): this call frees it, only while it still names that call, and takes it again.
      // (Moving on to a slot of its own instead would let failures add up: a few outages in a
      // row would leave every identical call walking past them, refused for good.)
      await this.deps.store.releaseIdempotencyKey({ agentId: slot.agentId, key: slot.key, invocationId: slot.invocationId });
    }
    throw retryLater('Identical calls keep failing to ask for approval; retry later');
  }

  /**
   * What the call that took an approval slot got: its outcome once its approval exists;
   * `failed` when it will never have one (its request failed, or stalled longer than any
   * request takes), so the slot's generation is over; `refusal` when the rate limits refused
   * it here, at this moment.
   */
  private async answerOfSlot(slot: IdempotencyRecord): Promise<{ outcome?: CallOutcome; failed: boolean; refusal?: GatewayError }> {
    const asking = this.asking.get(slot.invocationId);
    if (asking !== undefined) {
      try {
        return { outcome: await asking, failed: false };
      } catch (error) {
        const refusal = sameRefusal(error);
        if (refusal !== undefined) return { failed: false, refusal };
        // The asking call failed; its record says how, below.
      }
    }
    const record = await this.deps.store.getInvocation(slot.invocationId);
    const approval = record?.approvalId == null ? undefined : await this.deps.store.getApproval(record.approvalId);
    if (record !== undefined && approval !== undefined) {
      const outcome = await outcomeOfRecord(this.deps, record);
      if (outcome !== undefined) return { outcome, failed: false };
    }
    const final = record !== undefined && record.status !== 'pending_approval' && record.status !== 'running';
    const stalled = this.deps.now() - Date.parse(slot.createdAt) > STALLED_REQUEST_MS;
    return { failed: approval === undefined && (final || stalled) };
  }

  /**
   * The pending state or stored outcome of an identical earlier call, if there is one;
   * otherwise the id of the newest identical approval that ended unused (`after`).
   */
  private async findRepeat(
    agentId: string,
    tool: { name: string; version: string },
    inputDigest: string,
  ): Promise<{ outcome?: CallOutcome; after?: string }> {
    const { items } = await this.deps.store.listApprovals({ agentId, tool: tool.name, inputDigest, limit: 20 });
    let after: string | undefined;
    for (const approval of items) {
      if (approval.toolVersion !== tool.version) continue;
      if (approval.status === 'pending') {
        if (Date.parse(approval.expiresAt) > this.deps.now()) {
          return { outcome: pendingOutcome(approval) };
        }
        await this.expire(approval);
        after ??= approval.id;
        continue;
      }
      if (approval.status === 'expired' || approval.status === 'cancelled') {
        after ??= approval.id;
        continue;
      }
      // approved, executing, executed, denied: the one outcome of this call.
      const record = await this.deps.store.getInvocation(approval.invocationId);
      const outcome = record === undefined ? undefined : await outcomeOfRecord(this.deps, record);
      return { outcome: outcome ?? pendingOutcome(approval) };
    }
    return after === undefined ? {} : { after };
  }

  /** Stores a new pending approval holding the exact input, tells the approver, answers "pending". */
  private async request(context: CallContext): Promise<CallOutcome> {
    const { agent, tool, inputDigest, decision } = context;
    if (agent === undefined || tool === undefined || inputDigest === undefined || decision === undefined) {
      throw new Error('approval runs after policy');
    }
    const id = randomUUID();
    const now = this.deps.now();
    const expiresAt = new Date(now + (decision.approvalTtlMs ?? this.options.defaultTtlMs)).toISOString();
    const redaction = this.deps.redactors.forTool(tool, decision.redact);
    const approval: ApprovalRecord = {
      id,
      invocationId: context.invocationId,
      agentId: agent.id,
      tool: tool.name,
      toolVersion: tool.version,
      inputDigest,
      heldInput: this.options.sealing.seal(context.input, id),
      input: redaction.value(context.input),
      ruleIds: decision.ruleIds,
      status: 'pending',
      requestedAt: new Date(now).toISOString(),
      expiresAt,
      decidedAt: null,
      decidedBy: null,
      reason: null,
    };
    context.approvalId = id;
    const outcome: CallOutcome = { status: 'pending_approval', invocationId: context.invocationId, approval: { id, expiresAt } };
    // The invocation record and its event exist before the approval does, so a decision
    // (which may come at once) always finds the record it finishes.
    await writeRecord(this.deps, context, outcome);
    await this.deps.store.createApproval(approval);
    context.recorded = true;
    this.notify(toApprovalView(approval), agent.name);
    return outcome;
  }

  private notify(approval: ApprovalView, agentName: string): void {
    const approver = this.options.approver;
    if (approver === undefined) return;
    const notice: ApprovalNotice = { ...approval, agentName };
    // Never on the call path: the agent has its 202 whatever the approver does.
    const notified = new Promise<void>((resolve) => queueMicrotask(resolve))
      .then(() => approver.notify(notice))
      .catch((error: unknown) => this.options.onError(error));
    this.options.track?.(notified);
  }

  /**
   * Decides a pending approval. Exactly one of any number of concurrent decisions wins;
   * the others get 409 `APPROVAL_ALREADY_DECIDED`; an expired approval answers 409
   * `APPROVAL_EXPIRED`. Approving executes the held call once and returns its outcome.
   */
  async decide(
    id: string,
    decision: 'approve' | 'deny',
    principal: AdminPrincipal,
    reason: string | undefined,
  ): Promise<ApprovalDecisionResult> {
    if (!principal.roles.includes('approver') && !principal.roles.includes('admin')) {
      throw new GatewayError({ code: 'FORBIDDEN', message: 'Deciding approvals needs the approver or admin role' });
    }
    const current = await this.deps.store.getApproval(id);
    if (current === undefined) throw new GatewayError({ code: 'NOT_FOUND', message: 'Approval not found' });
    if (current.status === 'expired') throw approvalExpired();
    if (current.status !== 'pending') throw alreadyDecided();
    if (Date.parse(current.expiresAt) <= this.deps.now()) {
      await this.expire(current);
      throw approvalExpired();
    }
    const redaction = this.deps.redactors.fallback();
    const cleanReason = reason === undefined ? null : (redaction.text(reason.slice(0, 1000)) as string);
    // Approving claims the call for execution in the same compare-and-set: no state lies
    // between the decision and the claim that a failed write or a crash could strand.
    const decided = await this.deps.store.transitionApproval(id, 'pending', {
      status: decision === 'approve' ? 'executing' : 'denied',
      decidedAt: new Date(this.deps.now()).toISOString(),
      decidedBy: principal.id,
      reason: cleanReason,
    });
    if (decided === undefined) {
      const now = await this.deps.store.getApproval(id);
      throw now?.status === 'expired' ? approvalExpired() : alreadyDecided();
    }
    try {
      await this.deps.audit.append({
        type: 'approval.decided',
        actor: `admin:${principal.id}`,
        invocationId: decided.invocationId,
        agentId: decided.agentId,
        tool: decided.tool,
        data: { approvalId: id, decision, ...(cleanReason === null ? {} : { reason: cleanReason }) },
      });
    } catch (error) {
      // A decision the audit trail cannot record does not stand (fail-closed): the approval
      // goes back to pending, so that it can be decided again, or expire.
      await this.undecide(decided);
      throw error;
    }

    if (decision === 'deny') {
      const outcome = await this.finish(decided, deniedOutcome(decided), undefined);
      return { approval: toApprovalView(decided), outcome };
    }
    const outcome = await this.execute(decided);
    // The call has run (or was refused) and its outcome stands: a store that fails this read
    // leaves the approval as the decision claimed it, and onError is told.
    const latest = await this.deps.store.getApproval(id).catch((error: unknown) => this.options.onError(error));
    return { approval: toApprovalView(latest ?? decided), outcome };
  }

  /** Puts a decided (or cancelled) approval back to pending: a decision that does not stand. */
  private async undecide(approval: ApprovalRecord): Promise<void> {
    await this.deps.store
      .transitionApproval(approval.id, approval.status, { status: 'pending', decidedAt: null, decidedBy: null, reason: null })
      .catch((rollbackError: unknown) => this.options.onError(rollbackError));
  }

  /**
   * Runs a call its approval claimed (`executing`), once. What refuses it (a changed tool, an
   * agent gone, a held input that is not the approved one or that no key opens, a policy that
   * now denies) is its outcome. A failure before it starts (a store out of reach, a policy
   * engine that throws, a start the audit trail cannot record) means nothing ran: the decision
   * does not stand, the approval is pending again, and the approver is told.
   *
   * Once its start is recorded, the call takes the approval from `executing` to `executed`
   * before it runs: a recovery that reopened the approval meanwhile (see {@link reopen})
   * makes that fail, and the call does not run, so it never runs twice. While it runs, its
   * record is `running`.
   */
  private async execute(approval: ApprovalRecord): Promise<CallOutcome> {
    const started = this.deps.now();
    let prepared: PreparedRun | Refusal;
    try {
      prepared = await this.prepare(approval);
      if (!('refusal' in prepared)) {
        const { agent, tool, record } = prepared;
        await this.deps.audit.append({
          type: 'invocation.started',
          actor: `agent:${agent.id}`,
          invocationId: approval.invocationId,
          agentId: agent.id,
          tool: tool.name,
          data: {
            approvalId: approval.id,
            ...(record === undefined ? {} : { door: record.door }),
            inputDigest: approval.inputDigest,
            toolVersion: tool.version,
          },
        });
      }
    } catch (error) {
      await this.undecide(approval);
      throw error;
    }
    if ('refusal' in prepared) return this.refuse(approval, prepared, started);
    let upstreamStatus: number | undefined;
    let outcome: CallOutcome;
    let runs: ApprovalRecord | undefined;
    try {
      runs = await this.deps.store.transitionApproval(approval.id, 'executing', { status: 'executed' });
    } catch (error) {
      // Nothing ran; its start, in the trail, is left without an outcome (see incompleteInvocations).
      await this.undecide(approval);
      throw error;
    }
    if (runs === undefined) {
      throw new GatewayError({
        code: 'CONFLICT',
        message: 'This approval was reopened while its call was starting; the call did not run. Decide it again',
      });
    }
    const { agent, tool, input, decision } = prepared;
    if (prepared.record !== undefined) {
      // The record says the call runs, so that its repeats, its task and `GET /invocations`
      // no longer say it waits for a human. The call is claimed and its start recorded: a
      // failed write leaves the record as it was and the call runs all the same.
      const running: InvocationRecord = { ...prepared.record, status: 'running', updatedAt: new Date(this.deps.now()).toISOString() };
      try {
        await this.deps.store.putInvocation(running);
        prepared.record = running;
      } catch (error) {
        this.options.onError(error);
      }
    }
    try {
      const execution = await runTool(tool, input, {
        abort: NEVER_ABORTED,
        invocationId: approval.invocationId,
        agent,
        redact: decision.redact,
      });
      upstreamStatus = execution.upstreamStatus;
      const output = this.deps.redactors.output(tool, decision.redact, execution.output);
      outcome = { status: 'succeeded', invocationId: approval.invocationId, output };
    } catch (error) {
      // As on the direct path: a failed upstream's status is recorded, its excerpt redacted,
      // and a failure of the gateway or the tool's code (not a refusal) is told to onError.
      this.options.onFailure(error);
      upstreamStatus = upstreamStatusOf(error);
      outcome = {
        status: 'error',
        invocationId: approval.invocationId,
        error: toGatewayError(redactToolError(this.deps, tool, decision.redact, error)),
      };
    }
    await this.appendExecuted(approval, outcome);
    return this.finish(approval, outcome, { upstreamStatus, latencyMs: this.deps.now() - started }, prepared.record);
  }

  /**
   * Ends an approved call refused before it ran: its record says why first, then the approval
   * is used up. Nothing ran, so a record that cannot be written means the decision does not
   * stand, as for any failure before the start: the approval is pending again (a used-up
   * approval whose record still waits would read as waiting for a decision for good).
   */
  private async refuse(approval: ApprovalRecord, prepared: Refusal, started: number): Promise<CallOutcome> {
    this.options.onFailure(prepared.refusal);
    const outcome: CallOutcome = { status: 'error', invocationId: approval.invocationId, error: prepared.refusal };
    let updated: InvocationRecord | undefined;
    try {
      const record = await this.deps.store.getInvocation(approval.invocationId);
      if (record !== undefined) {
        updated = finishedRecord(
          record,
          outcome,
          { upstreamStatus: undefined, latencyMs: this.deps.now() - started },
          this.deps.now(),
          prepared.recorded,
        );
        await this.deps.store.putInvocation(updated);
      }
    } catch (error) {
      await this.undecide(approval);
      throw error;
    }
    // Used up; should this write fail, the approval stays claimed, and repeats read the
    // outcome from the record all the same.
    await this.deps.store
      .transitionApproval(approval.id, 'executing', { status: 'executed' })
      .catch((error: unknown) => this.options.onError(error));
    await this.appendExecuted(approval, outcome);
    if (updated !== undefined) await this.appendOutcome(approval, updated, `agent:${approval.agentId}`);
    this.wake(approval.invocationId);
    return outcome;
  }

  /** The `approval.executed` event of a call that ran or was refused; a failed append is told to onError. */
  private async appendExecuted(approval: ApprovalRecord, outcome: CallOutcome): Promise<void> {
    await this.deps.audit
      .append({
        type: 'approval.executed',
        actor: 'system',
        invocationId: approval.invocationId,
        agentId: approval.agentId,
        tool: approval.tool,
        data: { approvalId: approval.id, status: outcome.status === 'succeeded' ? 'succeeded' : 'failed' },
      })
      .catch((error: unknown) => this.options.onError(error));
  }

  /** What an approved call runs with, or why it may not run; throws only when that cannot be told. */
  private async prepare(approval: ApprovalRecord): Promise<PreparedRun | Refusal> {
    await this.options.refresh?.();
    const record = await this.deps.store.getInvocation(approval.invocationId);
    const tool = this.deps.tools.get(approval.tool);
    if (tool === undefined || tool.version !== approval.toolVersion) {
      return refusal('APPROVAL_TOOL_CHANGED', 'The tool changed since this call was approved; the call was not executed');
    }
    const agent = await this.deps.agents.byId(approval.agentId);
    if (agent === undefined) return refusal('FORBIDDEN', 'The agent is no longer active; the call was not executed');
    let input: unknown;
    try {
      input = this.options.sealing.open(approval.heldInput, approval.id);
    } catch (error) {
      if (isSecretUnavailable(error)) return { refusal: markUnopenedHeldInput(toGatewayError(error), approval.tool) };
      throw error;
    }
    // A sealed input cannot be changed unnoticed; a plain one (held without a key) must
    // still be the input that was approved.
    if (typeof approval.heldInput !== 'string' && this.deps.digestInput(input) !== approval.inputDigest) {
      return refusal('INTERNAL', 'The held input is not the one approved; the call was not executed');
    }
    const decision = checkedDecision(
      await this.deps.policy().evaluate({
        agent: { id: agent.id, name: agent.name, tags: agent.tags },
        tool: { name: tool.name, risk: tool.risk },
        input,
      }),
    );
    if (decision.effect === 'deny') {
      // The record and its event then say who denied it. Its input, redacted when the call
      // was held, is redacted again as the denial says: it only ever gains redaction.
      let redactedInput: unknown = null;
      try {
        if (record?.input != null) redactedInput = this.deps.redactors.forTool(tool, decision.redact).value(record.input);
      } catch {
        // Left out rather than stored less redacted, as the direct path does.
      }
      return { refusal: policyDenied(decision), recorded: { decision: 'deny', ruleIds: [...decision.ruleIds], input: redactedInput } };
    }
    if (decision.redact !== undefined) {
      // As on the direct path: a profile a custom engine decided with that does not compile
      // refuses the call before it runs, not after.
      try {
        this.deps.redactors.forTool(tool, decision.redact);
      } catch (error) {
        this.options.onError(error);
        return refusal('INTERNAL', "The policy's redaction for this call does not compile; the call was not executed");
      }
    }
    return { record, tool, agent, input, decision };
  }

  /** Writes the final state of an approved, denied or expired call and wakes its waiters. */
  private async finish(
    approval: ApprovalRecord,
    outcome: CallOutcome,
    execution: { upstreamStatus: number | undefined; latencyMs: number } | undefined,
    known?: InvocationRecord,
  ): Promise<CallOutcome> {
    try {
      const record = known ?? (await this.deps.store.getInvocation(approval.invocationId));
      if (record !== undefined) {
        const updated = finishedRecord(record, outcome, execution, this.deps.now());
        await this.deps.store.putInvocation(updated);
        await this.appendOutcome(approval, updated, execution === undefined ? 'system' : `agent:${approval.agentId}`);
      }
    } catch (error) {
      if (execution === undefined) throw error;
      // The call ran, and its outcome stands, as on the direct path: onError is told. Without
      // its outcome event the call is listed by incompleteInvocations, which is the truth; its
      // record reads as running until its deadline has passed, then as outcome_unknown.
      this.options.onError(error);
    }
    this.wake(approval.invocationId);
    return outcome;
  }

  /** The `invocation.*` event of a call's final record; a failed append is told to onError. */
  private async appendOutcome(approval: ApprovalRecord, updated: InvocationRecord, actor: string): Promise<void> {
    await this.deps.audit
      .append({
        type: EVENT_FOR_STATUS[updated.status],
        actor,
        invocationId: approval.invocationId,
        agentId: approval.agentId,
        tool: approval.tool,
        data: outcomeEventData(updated),
      })
      .catch((error: unknown) => this.options.onError(error));
  }

  /**
   * An invocation record as it stands now. A call whose approval is still pending but whose
   * time is up (by the gateway's clock), or already expired while its record was not yet
   * written, reads as {@link expire} leaves it: `expired`,
   * with the `APPROVAL_EXPIRED` error and the approval's expiry as its last update; one whose
   * approval was denied or cancelled while its record was not (yet) written reads as the
   * decision leaves it: `denied` with `APPROVAL_DENIED`, or `cancelled`. Nothing is written:
   * until someone expires the approval (the periodic sweep, a decision, a repeat), the store
   * still holds it pending. An approved call whose run started though its record could not
   * say so reads `running`; a `running` one past its tool's deadline and a minute more, whose
   * outcome was never stored, reads `outcome_unknown` (see runOutlivedItsDeadline). Every
   * other record is returned as it is; only a call waiting for approval costs a read (of its approval).
   */
  async asOfNow(record: InvocationRecord): Promise<InvocationRecord> {
    if (runOutlivedItsDeadline(this.deps, record)) return unrecordedRun(record, this.deps.now());
    if (record.status !== 'pending_approval' || record.approvalId === null) return record;
    const approval = await this.deps.store.getApproval(record.approvalId);
    if (approval === undefined) return record;
    const started = startedRun(record, approval);
    if (started !== undefined) return runOutlivedItsDeadline(this.deps, started) ? unrecordedRun(started, this.deps.now()) : started;
    // Ended already, its call not yet (the approval is written first, the record after it; a
    // write that failed, or an instance that stopped between the two, leaves it so), or due to.
    const ended = approvalEndedOutcome(approval, this.deps.now());
    if (ended === undefined) return record;
    // Never earlier than the record's own last update (an approval reopened after its expiry).
    return finishedRecord(record, ended.outcome, undefined, Math.max(Date.parse(record.updatedAt), ended.at));
  }

  /** Marks a pending approval expired (if it still is) and its call as expired. */
  async expire(approval: ApprovalRecord): Promise<void> {
    const expired = await this.deps.store.transitionApproval(approval.id, 'pending', { status: 'expired' });
    if (expired === undefined) return;
    await this.deps.audit
      .append({
        type: 'approval.expired',
        actor: 'system',
        invocationId: approval.invocationId,
        agentId: approval.agentId,
        tool: approval.tool,
        data: { approvalId: approval.id },
      })
      .catch((error: unknown) => this.options.onError(error));
    await this.finish(expired, expiredOutcome(approval), undefined);
  }

  /**
   * The agent that asked withdraws a call still waiting for approval: it will never run.
   * Only the requesting agent can; anyone else gets 404, and a decided call 409.
   */
  async cancel(invocationId: string, agentId: string): Promise<CallOutcome> {
    const record = await this.deps.store.getInvocation(invocationId);
    if (record === undefined || record.agentId !== agentId || record.approvalId === null) {
      throw new GatewayError({ code: 'NOT_FOUND', message: 'No such call waiting for approval' });
    }
    const cancelled = await this.deps.store.transitionApproval(record.approvalId, 'pending', {
      status: 'cancelled',
      decidedAt: new Date(this.deps.now()).toISOString(),
      decidedBy: `agent:${agentId}`,
      reason: 'cancelled by the agent',
    });
    if (cancelled === undefined) throw alreadyDecided();
    try {
      await this.deps.audit.append({
        type: 'approval.cancelled',
        actor: `agent:${agentId}`,
        invocationId,
        agentId,
        tool: cancelled.tool,
        data: { approvalId: cancelled.id },
      });
    } catch (error) {
      // Like a decision, a cancellation the audit trail cannot record does not stand.
      await this.undecide(cancelled);
      throw error;
    }
    return this.finish(cancelled, cancelledOutcome(cancelled), undefined);
  }

  /**
   * Seals the held input of every call still waiting to run (pending, approved, or claimed by
   * a decision and not yet started: `executing`, which a recovery reopens when its instance
   * stopped before the start) under the vault's active key, so that retired keys can leave the
   * keyring. Returns how many changed, and the ids of approvals whose input no key in the
   * keyring opens (left as they are: those calls cannot run). A call decided meanwhile is read
   * again; one that ran or ended needs its input no more.
   */
  async resealHeldInputs(): Promise<{ resealed: number; unreadable: string[] }> {
    let resealed = 0;
    const unreadable: string[] = [];
    const waiting = (status: ApprovalRecord['status']) => status === 'pending' || status === 'approved' || status === 'executing';
    for (const status of ['pending', 'approved', 'executing'] as const) {
      let cursor: string | undefined;
      do {
        const page = await this.deps.store.listApprovals({ status, limit: 200, ...(cursor ? { cursor } : {}) });
        for (const listed of page.items) {
          let approval: ApprovalRecord | undefined = listed;
          // Each retry follows a decision or a claim made meanwhile: a few at most.
          for (let attempt = 0; attempt < 5 && approval !== undefined && waiting(approval.status); attempt++) {
            let heldInput: unknown;
            try {
              heldInput = this.options.sealing.reseal(approval.heldInput, approval.id);
            } catch (error) {
              if (!isSecretUnavailable(error)) throw error;
              if (!unreadable.includes(approval.id)) unreadable.push(approval.id);
              break;
            }
            if (heldInput === undefined) break;
            const { status: current } = approval;
            if (await this.deps.store.transitionApproval(approval.id, current, { status: current, heldInput })) {
              resealed++;
              break;
            }
            approval = await this.deps.store.getApproval(approval.id);
          }
        }
        cursor = page.nextCursor;
      } while (cursor !== undefined);
    }
    return { resealed, unreadable };
  }

  /**
   * Approvals a decision claimed (`executing`, or `approved`) before `cutoff` whose call still
   * waits (its record is `pending_approval`): a call whose run either never started (the
   * process stopped between the decision and the start) or started and never finished.
   * The audit trail tells which (see {@link reopen}).
   */
  async claimedAndWaiting(cutoff: number): Promise<ApprovalRecord[]> {
    const found: ApprovalRecord[] = [];
    for (const status of ['executing', 'approved'] as const) {
      let cursor: string | undefined;
      do {
        const page = await this.deps.store.listApprovals({ status, limit: 200, ...(cursor ? { cursor } : {}) });
        for (const approval of page.items) {
          if (approval.decidedAt === null || Date.parse(approval.decidedAt) > cutoff) continue;
          const record = await this.deps.store.getInvocation(approval.invocationId);
          if (record?.status === 'pending_approval') found.push(approval);
        }
        cursor = page.nextCursor;
      } while (cursor !== undefined);
    }
    return found;
  }

  /**
   * Reopens an approval whose call never started (no `invocation.started` in the trail): its
   * decision does not stand, as if it had failed before the start. The approval is pending
   * again (or expired, when its time is up) and an `approval.reopened` event says so, which is
   * returned; undefined when the approval moved on meanwhile. A run that was only slow finds
   * its claim gone when it tries to start and does not run.
   */
  async reopen(approval: ApprovalRecord): Promise<AuditEntry | undefined> {
    const reopened = await this.deps.store.transitionApproval(approval.id, approval.status, {
      status: 'pending',
      decidedAt: null,
      decidedBy: null,
      reason: null,
    });
    if (reopened === undefined) return undefined;
    const entry = (await this.deps.audit.append({
      type: 'approval.reopened',
      actor: 'system',
      invocationId: approval.invocationId,
      agentId: approval.agentId,
      tool: approval.tool,
      data: { approvalId: approval.id, reason: 'not_started' },
    })) as AuditEntry | undefined;
    if (Date.parse(reopened.expiresAt) <= this.deps.now()) await this.expire(reopened);
    return entry;
  }

  /** Expires every pending approval whose time is up. Returns how many. */
  async sweepExpired(): Promise<number> {
    let count = 0;
    let cursor: string | undefined;
    const now = this.deps.now();
    do {
      const page = await this.deps.store.listApprovals({ status: 'pending', limit: 200, ...(cursor ? { cursor } : {}) });
      for (const approval of page.items) {
        if (Date.parse(approval.expiresAt) <= now) {
          await this.expire(approval);
          count++;
        }
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return count;
  }

  /**
   * Waits up to `ms` for a call to end: to leave `pending_approval` and, once approved,
   * `running`. Wakes at once for decisions
   * taken in this process and polls the store for those taken by other instances. The wait
   * is timed on the monotonic clock its timers run on, not the gateway's `now` (which judges
   * expiry): a clock given for tests, or one that steps, neither ends it early nor holds it for good.
   */
  async waitForOutcome(invocationId: string, ms: number, abort: CallAbort): Promise<CallOutcome | undefined> {
    const deadline = performance.now() + ms;
    for (;;) {
      const record = await this.deps.store.getInvocation(invocationId);
      if (
        record !== undefined &&
        record.status !== 'pending_approval' &&
        (record.status !== 'running' || runOutlivedItsDeadline(this.deps, record))
      ) {
        return outcomeOfRecord(this.deps, record);
      }
      if (record !== undefined && record.approvalId !== null) {
        const approval = await this.deps.store.getApproval(record.approvalId);
        if (approval !== undefined && approvalIsDue(approval, this.deps.now())) {
          await this.expire(approval);
          continue;
        }
        // Run, though its record could not say so, and past its deadline.
        const started = record.status === 'pending_approval' && approval !== undefined ? startedRun(record, approval) : undefined;
        if (started !== undefined && runOutlivedItsDeadline(this.deps, started)) return outcomeOfRecord(this.deps, started);
        // Denied or cancelled, though the record (written after the approval) does not say so.
        const ended =
          record.status === 'pending_approval' && approval !== undefined ? approvalEndedOutcome(approval, this.deps.now()) : undefined;
        if (ended !== undefined) return ended.outcome;
      }
      const left = deadline - performance.now();
      if (left <= 0 || abort.aborted || this.stopped) return undefined;
      await this.sleep(invocationId, Math.min(left, 500), abort);
    }
  }

  /** Ends every wait for an outcome now, and those asked later at once: the gateway is closing. */
  stopWaiting(): void {
    this.stopped = true;
    for (const set of [...this.waiters.values()]) for (const done of [...set]) done();
  }

  private sleep(invocationId: string, ms: number, abort: CallAbort): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(invocationId);
      if (set === undefined) {
        set = new Set();
        this.waiters.set(invocationId, set);
      }
      const waiters = set;
      const done = () => {
        clearTimeout(timer);
        stopListening();
        waiters.delete(done);
        if (waiters.size === 0) this.waiters.delete(invocationId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      const stopListening = abort.onAbort(done);
      waiters.add(done);
    });
  }

  private wake(invocationId: string): void {
    const set = this.waiters.get(invocationId);
    if (set === undefined) return;
    for (const done of [...set]) done();
  }
}

/** An approved call ready to run. */
interface PreparedRun {
  record: InvocationRecord | undefined;
  tool: ResolvedTool;
  agent: AgentRecord;
  input: unknown;
  decision: PolicyDecision;
}

/** Why an approved call may not run: its outcome. */
interface Refusal {
  refusal: GatewayError;
  /** What the record says of a refusal by policy: the new decision, and the input as it redacts it. */
  recorded?: Pick<InvocationRecord, 'decision' | 'ruleIds' | 'input'>;
}

function refusal(code: 'APPROVAL_TOOL_CHANGED' | 'FORBIDDEN' | 'INTERNAL', message: string): Refusal {
  return { refusal: new GatewayError({ code, message }) };
}

/** The record of a call that ended with `outcome`, last updated `at` (epoch ms). */
function finishedRecord(
  record: InvocationRecord,
  outcome: CallOutcome,
  execution: { upstreamStatus: number | undefined; latencyMs: number } | undefined,
  at: number,
  recorded?: Refusal['recorded'],
): InvocationRecord {
  return {
    ...record,
    ...recorded,
    status: outcome.status === 'succeeded' ? 'succeeded' : outcome.status === 'error' ? statusForError(outcome.error) : record.status,
    output: outcome.status === 'succeeded' ? outcome.output : null,
    error: outcome.status === 'error' ? recordedError(outcome.error, at) : null,
    upstreamStatus: execution?.upstreamStatus ?? record.upstreamStatus,
    latencyMs: execution?.latencyMs ?? record.latencyMs,
    updatedAt: new Date(at).toISOString(),
  };
}

function alreadyDecided(): GatewayError {
  return new GatewayError({ code: 'APPROVAL_ALREADY_DECIDED', message: 'This approval was already decided' });
}

function approvalExpired(): GatewayError {
  return new GatewayError({ code: 'APPROVAL_EXPIRED', message: 'This approval has expired' });
}
