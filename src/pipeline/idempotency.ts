import { approvalEndedOutcome } from '../approval/expiry.js';
import { GatewayError, retryLater } from '../errors.js';
import type { ApprovalRecord, IdempotencyRecord, InvocationRecord, RecordedError } from '../store/types.js';
import { DEFAULT_TIMEOUT_MS } from '../tools/registry.js';
import { retryAfterAt } from '../util/retry-after.js';
import type { PipelineDependencies } from './dependencies.js';
import type { CallContext, CallOutcome, Step } from './types.js';

/**
 * The outcome an invocation record stands for, as the agent first got it (for a call whose
 * outcome is unknown, the error that says so; for an error whose answer said when to retry,
 * a `Retry-After` of the seconds left until the instant it named); `APPROVAL_EXPIRED`,
 * `APPROVAL_DENIED` or `CANCELLED` for a call whose approval has expired, was denied or was
 * cancelled, though its record may still say pending; `running` for an
 * approved call whose run has started and not finished; undefined while any other call runs.
 */
export async function outcomeOfRecord(deps: PipelineDependencies, record: InvocationRecord): Promise<CallOutcome | undefined> {
  switch (record.status) {
    case 'pending_approval': {
      const approval = record.approvalId === null ? undefined : await deps.store.getApproval(record.approvalId);
      if (approval === undefined) return undefined;
      // Its time is up, or its expiry, denial or cancellation wrote the approval and not (yet)
      // this record: it has ended, as the call reads (see ApprovalCoordinator.asOfNow).
      const ended = approvalEndedOutcome(approval, deps.now());
      if (ended !== undefined) return ended.outcome;
      const started = startedRun(record, approval);
      if (started !== undefined) return outcomeOfRecord(deps, started);
      return { status: 'pending_approval', invocationId: record.id, approval: { id: approval.id, expiresAt: approval.expiresAt } };
    }
    case 'running':
      // Only an approved call's run writes this status (a direct call's record is written at its end).
      if (record.approvalId === null) return undefined;
      if (runOutlivedItsDeadline(deps, record)) return endedOutcomeOfRecord(unrecordedRun(record, deps.now()), deps.now());
      return { status: 'running', invocationId: record.id, approval: { id: record.approvalId } };
    default:
      return endedOutcomeOfRecord(record, deps.now());
  }
}

/**
 * The outcome of a record that has ended (any status but `pending_approval` and `running`):
 * its output, or the error it ended with; an error whose first answer named a time to retry
 * (`retryAt`) says so again as `Retry-After`, in the seconds left at `now`. Reads nothing.
 */
export function endedOutcomeOfRecord(record: InvocationRecord, now: number): CallOutcome {
  if (record.status === 'succeeded') return { status: 'succeeded', invocationId: record.id, output: record.output };
  // outcome_unknown holds the error that says so (see incompleteInvocations); one without it still says so.
  const error: RecordedError =
    record.error ??
    (record.status === 'outcome_unknown'
      ? { code: 'INTERNAL', message: 'The outcome of this call is unknown: the gateway stopped while the tool was running' }
      : { code: 'INTERNAL', message: 'Internal error' });
  const headers = error.retryAt === undefined ? undefined : retryAfterAt(error.retryAt, now);
  return {
    status: 'error',
    invocationId: record.id,
    error: new GatewayError({
      code: error.code as GatewayError['code'],
      message: error.message,
      ...(error.details === undefined ? {} : { details: error.details }),
      ...(headers === undefined ? {} : { headers }),
    }),
  };
}

/**
 * True for the `running` record of an approved call past its tool's deadline and the time a
 * record write may take: its run has ended (or its process stopped), and the write of its
 * outcome failed. It will never say more by itself (`incompleteInvocations` marks it).
 */
export function runOutlivedItsDeadline(deps: Pick<PipelineDependencies, 'tools' | 'now'>, record: InvocationRecord): boolean {
  if (record.status !== 'running' || record.approvalId === null) return false;
  const since = Date.parse(record.updatedAt);
  const deadline = (deps.tools.get(record.tool)?.timeoutMs ?? DEFAULT_TIMEOUT_MS) + RECORD_WRITE_GRACE_MS;
  return Number.isFinite(since) && deps.now() - since > deadline;
}

/**
 * The record of an approved call whose run has started though its record still says
 * `pending_approval` (the write that says `running` comes after the claim, and may fail) as it
 * reads: `running`, since its decision. Undefined for any other record.
 */
export function startedRun(record: InvocationRecord, approval: ApprovalRecord): InvocationRecord | undefined {
  if (record.status !== 'pending_approval' || approval.status !== 'executed') return undefined;
  return { ...record, status: 'running', updatedAt: approval.decidedAt ?? record.updatedAt };
}

/**
 * The record of a run that outlived its deadline (see {@link runOutlivedItsDeadline}) as it
 * reads: `outcome_unknown`, as `incompleteInvocations` would mark it. Nothing is written.
 */
export function unrecordedRun(record: InvocationRecord, now: number): InvocationRecord {
  return {
    ...record,
    status: 'outcome_unknown',
    error: { code: 'INTERNAL', message: 'The outcome of this call is unknown: it ran and its outcome was not recorded' },
    updatedAt: new Date(Math.max(now, Date.parse(record.updatedAt))).toISOString(),
  };
}

/** What an idempotency key must be, at every door. */
export const IDEMPOTENCY_KEY_RULE = '"idempotencyKey" must be a string of 1 to 255 characters';

/** True for a string of 1 to 255 characters. */
export function isIdempotencyKey(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= 255;
}

/**
 * With an idempotency key, the first call reserves it (atomically, in the store) and every
 * repeat gets the first call's outcome, never a second execution. Reusing a key for other
 * input is refused. A repeat that arrives while the first is still running waits for it
 * when it runs in this process, and is told to retry otherwise. A call refused by the
 * gateway's rate limits ran nothing, so it releases the key and the retry with that key runs;
 * so does one that failed before its start was recorded because the audit trail or the store
 * was out of reach, the caller went away or the gateway failed.
 * A call answered with an identical earlier call's approval moves its key onto that call.
 */
export function idempotencyStep(deps: PipelineDependencies): Step {
  // Without a key the step only passes the call on (no async frame on that path).
  return (context, next) => (context.idempotencyKey === undefined || context.agent === undefined ? next() : keyed(deps, context, next));
}

async function keyed(deps: PipelineDependencies, context: CallContext, next: () => Promise<CallOutcome>): Promise<CallOutcome> {
  const fingerprint = `${context.toolName}\u0000${context.inputDigest}`;
  const { created, record } = await deps.store.reserveIdempotencyKey({
    agentId: (context.agent as NonNullable<CallContext['agent']>).id,
    key: context.idempotencyKey as string,
    invocationId: context.invocationId,
    fingerprint,
    createdAt: new Date(deps.now()).toISOString(),
  });
  if (created) return first(deps, context, next);
  if (record.fingerprint !== fingerprint) {
    throw new GatewayError({
      code: 'IDEMPOTENCY_CONFLICT',
      message: 'This idempotency key was used for a different call',
    });
  }
  const running = deps.inFlight.get(record.invocationId);
  if (running !== undefined) {
    // The answer is the first call's, whatever it is: this call leaves no record of its own.
    context.replayed = true;
    let outcome: CallOutcome;
    try {
      outcome = await running;
    } catch (error) {
      // The first call failed (a rate limit refused it, say): its error, under its invocation id.
      if (!(error instanceof GatewayError)) throw error;
      return { status: 'error', invocationId: record.invocationId, error };
    }
    return outcome.status === 'error' ? { ...outcome, invocationId: record.invocationId } : outcome;
  }
  // A store that fails here fails this call, which is recorded and reported as such.
  const firstRecord = await deps.store.getInvocation(record.invocationId);
  const outcome = firstRecord === undefined ? undefined : await outcomeOfRecord(deps, firstRecord);
  context.replayed = true;
  if (outcome === undefined) {
    if (firstRecord === undefined && outlivedItsCall(deps, context, record)) {
      throw new GatewayError({
        code: 'INTERNAL',
        message:
          'The outcome of the call made with this idempotency key was not recorded: check what the tool did before retrying with a new key',
      });
    }
    throw retryLater('A call with this idempotency key is still in progress; retry later');
  }
  return outcome;
}

/** How long past its tool's deadline a call may still be writing its record (ms). */
const RECORD_WRITE_GRACE_MS = 60_000;

/**
 * True when the call that reserved a key has had every chance to write its record and has
 * none: its record write failed (the store was out of reach), or its process stopped. It will
 * never be in progress again, so repeats are told so instead of to retry for good.
 */
function outlivedItsCall(deps: PipelineDependencies, context: CallContext, reservation: IdempotencyRecord): boolean {
  const reservedAt = Date.parse(reservation.createdAt);
  const deadline = (context.tool?.timeoutMs ?? 0) + RECORD_WRITE_GRACE_MS;
  return Number.isFinite(reservedAt) && deps.now() - reservedAt > deadline;
}

/**
 * Releases a reservation (an idempotency key, an approval slot) whose call the rate limits
 * refused before it ran. The refusal stands whatever the store says: a store that fails, or
 * lacks the method, is told to `onError`.
 */
export function releaseReservation(
  deps: Pick<PipelineDependencies, 'store' | 'reportError'>,
  reservation: Pick<IdempotencyRecord, 'agentId' | 'key' | 'invocationId'>,
): Promise<void> {
  return Promise.resolve()
    .then(() => deps.store.releaseIdempotencyKey(reservation))
    .then(() => undefined, deps.reportError);
}

/**
 * Runs the call that reserved the key. A call refused by the gateway's rate limits ran
 * nothing and releases the key, as does one that failed before it started for a reason of
 * the moment (see {@link ranNothingForAMoment}). One answered with an identical earlier call's approval or
 * outcome has no record of its own: its key is moved onto that call, whose record every
 * repeat with the key then replays (the pending state, later the outcome).
 */
async function first(deps: PipelineDependencies, context: CallContext, next: () => Promise<CallOutcome>): Promise<CallOutcome> {
  const running = next();
  deps.inFlight.set(context.invocationId, running);
  try {
    const outcome = await running;
    if (context.replayed === true) await moveKey(deps, context, outcome.invocationId);
    return outcome;
  } catch (error) {
    // A release that failed leaves the key with this answer (its repeats replay it).
    if (context.refusedByRateLimit === true || context.replayed === true || ranNothingForAMoment(context, error)) {
      await moveKey(deps, context, undefined);
    }
    throw error;
  } finally {
    deps.inFlight.delete(context.invocationId);
  }
}

/**
 * Errors that say nothing about the call itself: the gateway could not go on for now (its
 * audit trail or store out of reach, the caller gone, the gateway failing).
 */
const MOMENTARY_FAILURES: ReadonlySet<string> = new Set(['AUDIT_UNAVAILABLE', 'STORE_UNAVAILABLE', 'CANCELLED', 'INTERNAL']);

/**
 * True when a call failed before its start was recorded, for a reason of the moment rather
 * than a decision about it (a denial, invalid input, an approval's refusal): nothing ran, and
 * the retry with its key should run, not replay this answer.
 */
function ranNothingForAMoment(context: CallContext, error: unknown): boolean {
  if (context.started === true) return false;
  // Anything else thrown (a rate limiter or policy engine that failed) is the gateway failing: 500 INTERNAL.
  return !(error instanceof GatewayError) || MOMENTARY_FAILURES.has(error.code);
}

/** Moves the key this call reserved onto the call that answered it; without one, releases it. */
async function moveKey(deps: PipelineDependencies, context: CallContext, answeredBy: string | undefined): Promise<void> {
  const reservation = {
    agentId: (context.agent as NonNullable<CallContext['agent']>).id,
    key: context.idempotencyKey as string,
    invocationId: context.invocationId,
  };
  if (answeredBy === undefined || answeredBy === context.invocationId) return releaseReservation(deps, reservation);
  const store = deps.store;
  if (store.moveIdempotencyKey !== undefined) {
    // A move that failed leaves the key naming this call, which has no record: its repeats are
    // told to retry later.
    await Promise.resolve()
      .then(() => store.moveIdempotencyKey?.(reservation, answeredBy))
      .then(() => undefined, deps.reportError);
    return;
  }
  await releaseReservation(deps, reservation);
  // A store without an atomic move: a call with this key that comes in between takes it.
  await Promise.resolve()
    .then(() =>
      store.reserveIdempotencyKey({
        ...reservation,
        invocationId: answeredBy,
        fingerprint: `${context.toolName}\u0000${context.inputDigest}`,
        createdAt: new Date(deps.now()).toISOString(),
      }),
    )
    .then(() => undefined, deps.reportError);
}
