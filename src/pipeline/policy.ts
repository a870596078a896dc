import { GatewayError } from '../errors.js';
import type { RateLimitCharge } from '../policy/rate-limit.js';
import type { PipelineDependencies } from './dependencies.js';
import type { CallContext, CallOutcome, PolicyDecision, Step } from './types.js';

/**
 * Asks the policy engine; a denial stops the call with the rule ids that denied it. A call
 * the decision charges to rate-limit budgets goes on only if the limiter takes it, else it
 * is refused with `RATE_LIMITED` and `Retry-After`.
 */
export function policyStep(deps: PipelineDependencies): Step {
  return (context, next) => {
    const { agent, tool } = context;
    if (agent === undefined || tool === undefined) throw new Error('policy runs after resolve-tool');
    const decision = deps.policy().evaluate({
      agent: { id: agent.id, name: agent.name, tags: agent.tags },
      tool: { name: tool.name, risk: tool.risk },
      input: context.input,
    });
    // The built-in engine decides synchronously; a custom one may answer with a promise.
    return isPromiseLike(decision)
      ? Promise.resolve(decision).then((settled) => decide(deps, context, settled, next))
      : decide(deps, context, decision, next);
  };
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function decide(
  deps: PipelineDependencies,
  context: CallContext,
  decision: PolicyDecision,
  next: () => Promise<CallOutcome>,
): Promise<CallOutcome> {
  context.decision = decision;
  if (decision.effect === 'deny') {
    throw new GatewayError({
      code: 'POLICY_DENIED',
      message: decision.ruleIds.length > 0 ? 'Denied by policy' : 'Denied by policy: no rule allows this call',
      details: { rule: decision.ruleIds },
    });
  }
  const charged = decision.rateLimits;
  if (charged === undefined || charged.length === 0) return next();
  const charges = distinctCharges(charged);
  const wait = deps.rateLimiter.take(charges, deps.now());
  return isPromiseLike(wait) ? Promise.resolve(wait).then((settled) => admit(charges, settled, next)) : admit(charges, wait, next);
}

/** The call goes on when the limiter took it (0), else it is refused until the wait is over. */
function admit(charges: readonly RateLimitCharge[], wait: number, next: () => Promise<CallOutcome>): Promise<CallOutcome> {
  if (wait === 0) return next();
  if (!(wait > 0) || !Number.isFinite(wait)) throw new TypeError(`the rate limiter answered ${String(wait)}, not a wait in milliseconds`);
  const retryAfter = Math.max(1, Math.ceil(wait / 1000));
  throw new GatewayError({
    code: 'RATE_LIMITED',
    message: `Rate limit reached: retry after ${retryAfter} s`,
    details: { rule: [...new Set(charges.map((charge) => charge.ruleId))], retryAfterSeconds: retryAfter },
    headers: { 'retry-after': String(retryAfter) },
  });
}

/**
 * A custom engine's budgets, checked before any limiter sees them, one per key: two charges
 * to one budget count the call once, under the stricter limit.
 */
function distinctCharges(charges: readonly RateLimitCharge[]): readonly RateLimitCharge[] {
  let byKey: Map<string, RateLimitCharge> | undefined;
  for (const charge of charges) {
    if (
      typeof charge?.key !== 'string' ||
      typeof charge.ruleId !== 'string' ||
      !Number.isInteger(charge.limit) ||
      charge.limit < 1 ||
      !Number.isFinite(charge.windowMs) ||
      charge.windowMs <= 0
    ) {
      throw new TypeError(
        'the policy engine returned a rate limit without a string key and ruleId, a positive integer limit and a positive windowMs',
      );
    }
    if (charges.length === 1) return charges;
    byKey ??= new Map();
    const other = byKey.get(charge.key);
    if (other === undefined || charge.limit / charge.windowMs < other.limit / other.windowMs) byKey.set(charge.key, charge);
  }
  return byKey === undefined || byKey.size === charges.length ? charges : [...byKey.values()];
}
