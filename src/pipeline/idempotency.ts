import { GatewayError } from '../errors.js';
import type { InvocationRecord } from '../store/types.js';
import type { PipelineDependencies } from './dependencies.js';
import type { CallContext, CallOutcome, Step } from './types.js';

/** The outcome an invocation record stands for, as the agent first got it. */
export async function outcomeOfRecord(deps: PipelineDependencies, record: InvocationRecord): Promise<CallOutcome | undefined> {
  switch (record.status) {
    case 'succeeded':
      return { status: 'succeeded', invocationId: record.id, output: record.output };
    case 'pending_approval': {
      const approval = record.approvalId === null ? undefined : await deps.store.getApproval(record.approvalId);
      if (approval === undefined) return undefined;
      return { status: 'pending_approval', invocationId: record.id, approval: { id: approval.id, expiresAt: approval.expiresAt } };
    }
    case 'running':
    case 'outcome_unknown':
      return undefined;
    default: {
      const error = record.error ?? { code: 'INTERNAL', message: 'Internal error' };
      return {
        status: 'error',
        invocationId: record.id,
        error: new GatewayError({
          code: error.code as GatewayError['code'],
          message: error.message,
          ...(error.details === undefined ? {} : { details: error.details }),
        }),
      };
    }
  }
}

/**
 * With an idempotency key, the first call reserves it (atomically, in the store) and every
 * repeat gets the first call's outcome, never a second execution. Reusing a key for other
 * input is refused. A repeat that arrives while the first is still running waits for it
 * when it runs in this process, and is told to retry otherwise. A call refused by a rate
 * limit ran nothing, so it releases the key and the retry with that key runs.
 */
export function idempotencyStep(deps: PipelineDependencies): Step {
  // Without a key the step only passes the call on (no async frame on that path).
  return (context, next) => (context.idempotencyKey === undefined || context.agent === undefined ? next() : keyed(deps, context, next));
}

/**
 * Reservations a call tries at most. It tries again only after releasing one whose call
 * was refused by a rate limit and could not release it itself (the store failed then).
 */
const MAX_RESERVATIONS = 3;

async function keyed(deps: PipelineDependencies, context: CallContext, next: () => Promise<CallOutcome>): Promise<CallOutcome> {
  const agentId = (context.agent as NonNullable<CallContext['agent']>).id;
  const key = context.idempotencyKey as string;
  const fingerprint = `${context.toolName}\u0000${context.inputDigest}`;
  for (let attempt = 1; ; attempt++) {
    const { created, record } = await deps.store.reserveIdempotencyKey({
      agentId,
      key,
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
      context.replayed = true;
      const outcome = await running;
      return outcome.status === 'error' ? { ...outcome, invocationId: record.invocationId } : outcome;
    }
    const firstRecord = await deps.store.getInvocation(record.invocationId);
    if (firstRecord?.error?.code === 'RATE_LIMITED' && attempt < MAX_RESERVATIONS) {
      await deps.store.releaseIdempotencyKey({ agentId, key, invocationId: record.invocationId });
      continue;
    }
    context.replayed = true;
    const outcome = firstRecord === undefined ? undefined : await outcomeOfRecord(deps, firstRecord);
    if (outcome === undefined) {
      throw new GatewayError({
        code: 'CONFLICT',
        message: 'A call with this idempotency key is still in progress; retry later',
        headers: { 'retry-after': '1' },
      });
    }
    return outcome;
  }
}

/** Runs the call that reserved the key; one refused by a rate limit releases it. */
async function first(deps: PipelineDependencies, context: CallContext, next: () => Promise<CallOutcome>): Promise<CallOutcome> {
  const running = next();
  deps.inFlight.set(context.invocationId, running);
  try {
    return await running;
  } catch (error) {
    if (error instanceof GatewayError && error.code === 'RATE_LIMITED') {
      const reservation = {
        agentId: (context.agent as NonNullable<CallContext['agent']>).id,
        key: context.idempotencyKey as string,
        invocationId: context.invocationId,
      };
      // The refusal stands whatever the store says; a key left reserved is released by the retry.
      await deps.store.releaseIdempotencyKey(reservation).catch(deps.reportError);
    }
    throw error;
  } finally {
    deps.inFlight.delete(context.invocationId);
  }
}
