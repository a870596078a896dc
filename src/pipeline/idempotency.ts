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
 * when it runs in this process, and is told to retry otherwise. A first call refused by a
 * rate limit ran nothing: the next call with the key runs (up to 8 such refusals per key).
 */
export function idempotencyStep(deps: PipelineDependencies): Step {
  // Without a key the step only passes the call on (no async frame on that path).
  return (context, next) => (context.idempotencyKey === undefined || context.agent === undefined ? next() : keyed(deps, context, next));
}

/**
 * Generations of one key a call walks at most: a call refused by a rate limit ran nothing,
 * so its key moves on to a next generation, which the retry takes.
 */
const MAX_KEY_GENERATIONS = 8;

async function keyed(deps: PipelineDependencies, context: CallContext, next: () => Promise<CallOutcome>): Promise<CallOutcome> {
  const agent = context.agent as NonNullable<CallContext['agent']>;
  const fingerprint = `${context.toolName}\u0000${context.inputDigest}`;
  let key = context.idempotencyKey as string;
  for (let generation = 1; ; generation++) {
    const { created, record } = await deps.store.reserveIdempotencyKey({
      agentId: agent.id,
      key,
      invocationId: context.invocationId,
      fingerprint,
      createdAt: new Date(deps.now()).toISOString(),
    });
    if (created) {
      const running = next();
      deps.inFlight.set(context.invocationId, running);
      try {
        return await running;
      } finally {
        deps.inFlight.delete(context.invocationId);
      }
    }
    if (record.fingerprint !== fingerprint) {
      throw new GatewayError({
        code: 'IDEMPOTENCY_CONFLICT',
        message: 'This idempotency key was used for a different call',
      });
    }
    context.replayed = true;
    const running = deps.inFlight.get(record.invocationId);
    if (running !== undefined) {
      const outcome = await running;
      return outcome.status === 'error' ? { ...outcome, invocationId: record.invocationId } : outcome;
    }
    const first = await deps.store.getInvocation(record.invocationId);
    if (first?.error?.code === 'RATE_LIMITED' && generation < MAX_KEY_GENERATIONS) {
      // Refused before anything ran: this call takes the key's next generation.
      context.replayed = false;
      key = `${context.idempotencyKey as string}\u0000after:${first.id}`;
      continue;
    }
    const outcome = first === undefined ? undefined : await outcomeOfRecord(deps, first);
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
