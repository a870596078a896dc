import { GatewayError } from '../errors.js';
import type { RateLimitCharge } from '../policy/rate-limit.js';
import type { PipelineDependencies } from './dependencies.js';
import type { CallContext } from './types.js';

/**
 * Takes a call from the rate-limit budgets its policy decision charges, or refuses it with
 * `RATE_LIMITED` and `Retry-After` (and marks it `refusedByRateLimit`). Undefined (nothing
 * to wait for) when the decision charges none or the limiter answered at once (the memory
 * limiter does): then a refusal is thrown here. Called only for calls that would run or ask
 * for approval, never for a repeat that replays an earlier call's outcome.
 */
export function takeRateLimits(deps: Pick<PipelineDependencies, 'rateLimiter' | 'now'>, context: CallContext): Promise<void> | undefined {
  const charged = context.decision?.rateLimits;
  if (charged === undefined || charged.length === 0) return undefined;
  const charges = distinctCharges(charged);
  const wait = deps.rateLimiter.take(charges, deps.now());
  if (typeof wait !== 'number') return Promise.resolve(wait).then((answered) => admit(context, charges, answered));
  admit(context, charges, wait);
  return undefined;
}

/**
 * The longest `Retry-After` given (2^31 s, about 68 years: RFC 9111's cap of delta-seconds).
 * A longer wait (a custom limiter's, or a custom engine's window of centuries) would print in
 * exponent notation, which is no delta-seconds.
 */
const MAX_RETRY_AFTER_SECONDS = 2_147_483_648;

/** The call goes on when the limiter took it (0), else it is refused until the wait is over. */
function admit(context: CallContext, charges: readonly RateLimitCharge[], wait: number): void {
  if (wait === 0) return;
  if (!(wait > 0) || !Number.isFinite(wait)) throw new TypeError(`the rate limiter answered ${String(wait)}, not a wait in milliseconds`);
  const retryAfter = Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, Math.ceil(wait / 1000)));
  context.refusedByRateLimit = true;
  const refusal = new GatewayError({
    code: 'RATE_LIMITED',
    message: `Rate limit reached: retry after ${retryAfter} s`,
    details: { rule: [...new Set(charges.map((charge) => charge.ruleId))], retryAfterSeconds: retryAfter },
    headers: { 'retry-after': String(retryAfter) },
  });
  refusals.add(refusal);
  throw refusal;
}

/** The errors {@link admit} threw: refusals by the gateway's own limits, not a tool's `RATE_LIMITED`. */
const refusals = new WeakSet<GatewayError>();

/**
 * The same refusal for a call identical to one the rate limits refused at this moment (same
 * agent, tool and input: the same budgets), as its own error; undefined for any other error.
 */
export function sameRefusal(error: unknown): GatewayError | undefined {
  if (!(error instanceof GatewayError) || !refusals.has(error)) return undefined;
  const copy = new GatewayError({
    code: error.code,
    message: error.message,
    details: error.details,
    ...(error.headers === undefined ? {} : { headers: { ...error.headers } }),
  });
  refusals.add(copy);
  return copy;
}

/**
 * A custom engine's budgets, checked before any limiter sees them, one per key: two charges
 * to one budget count the call once, under the smaller limit (the longer window on a tie).
 */
function distinctCharges(charges: readonly RateLimitCharge[]): readonly RateLimitCharge[] {
  let byKey: Map<string, RateLimitCharge> | undefined;
  for (const charge of charges) {
    if (
      typeof charge?.key !== 'string' ||
      typeof charge.ruleId !== 'string' ||
      !Number.isSafeInteger(charge.limit) ||
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
    if (other === undefined || charge.limit < other.limit || (charge.limit === other.limit && charge.windowMs > other.windowMs)) {
      byKey.set(charge.key, charge);
    }
  }
  return byKey === undefined || byKey.size === charges.length ? charges : [...byKey.values()];
}
