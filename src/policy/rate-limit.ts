/**
 * One budget a call draws on: at most `limit` calls in any `windowMs`, shared by every call
 * that names the same `key`. The built-in policy charges one per matching rule with a
 * `rateLimit`; a custom {@link PolicyEngine} may return its own.
 */
export interface RateLimitCharge {
  /** Identifies the budget: calls with the same key count together. */
  key: string;
  /** Calls allowed in any window of `windowMs`. A positive integer, at most `Number.MAX_SAFE_INTEGER`. */
  limit: number;
  /** The window's length in milliseconds. */
  windowMs: number;
  /** The rule that set the limit: named in the `RATE_LIMITED` error's `details.rule`. */
  ruleId: string;
}

/**
 * Counts calls against budgets. `take` either counts the call in every budget it is charged
 * to and answers 0, or counts it in none and answers how many milliseconds to wait until
 * every budget would take it (the refusal's `Retry-After` is that wait in whole seconds, rounded
 * up: at least 1, at most 2^31). Plug in a shared one (Redis, SQL) to limit across gateway
 * instances; the default, {@link memoryRateLimiter}, counts in this process.
 */
export interface RateLimiter {
  take(charges: readonly RateLimitCharge[], now: number): number | Promise<number>;
}

/** Options of {@link memoryRateLimiter}. */
export interface MemoryRateLimiterOptions {
  /**
   * Budgets kept before idle ones (no call within their window) are swept. Default 10,000.
   * Budgets still in use are never dropped, so it is not a hard cap.
   */
  sweepAbove?: number;
}

/**
 * Milliseconds until a budget whose calls were at `times` (any order) takes one more at
 * `now`: 0 while fewer than `limit` are in the window, else until the oldest of the newest
 * `limit` leaves it. Never more than a window, even when the clock went back.
 */
export function budgetWait(times: readonly number[], limit: number, windowMs: number, now: number): number {
  // A time ahead of the clock (it stepped back) counts as now.
  const recent = times
    .filter((time) => time + windowMs > now)
    .map((time) => Math.min(time, now))
    .sort((left, right) => left - right);
  if (recent.length < limit) return 0;
  return untilItLeaves(recent[recent.length - limit] as number, windowMs, now);
}

/**
 * Milliseconds until a call counted at `oldest` leaves its window: at least 1 (a full budget
 * never answers "now"), at most a window.
 */
function untilItLeaves(oldest: number, windowMs: number, now: number): number {
  return Math.min(windowMs, Math.max(1, oldest + windowMs - now));
}

/** The times of a budget's calls still in its window, oldest first from `start`. */
interface Budget {
  /** The window of the last charge: idle budgets are swept after it. */
  windowMs: number;
  times: number[];
  start: number;
}

/**
 * An exact sliding-window limiter in this process's memory: a budget of `limit` per
 * `windowMs` never lets more than `limit` calls through in any window of that length. It
 * keeps the times of each budget's calls still in the window (8 bytes each, at most the
 * highest `limit` it was charged with in that window), and forgets a budget once it is idle
 * for a window. With several gateway instances each counts its own calls: plug in a shared
 * {@link RateLimiter} (the SQL store's, which gateways on it use by default) to count across
 * them.
 *
 * @example
 * ```ts
 * const gateway = createGateway({ tools, policy, rateLimiter: memoryRateLimiter() });
 * ```
 */
export function memoryRateLimiter(options: MemoryRateLimiterOptions = {}): RateLimiter {
  const sweepAbove = options.sweepAbove ?? 10_000;
  if (!Number.isInteger(sweepAbove) || sweepAbove < 1) throw new TypeError('memoryRateLimiter: sweepAbove must be a positive integer');
  const budgets = new Map<string, Budget>();
  let nextSweep = sweepAbove;

  /**
   * Drops the calls that left the window. Every call still in it stays, however low this
   * charge's limit: a budget charged with a higher limit again (a rule loosened, or another
   * call of a custom engine's shared budget) must still count them all.
   */
  function prune(budget: Budget, charge: RateLimitCharge, now: number): void {
    const { times } = budget;
    // The clock stepped back: calls stamped ahead of it count as made now, not for the whole step.
    if ((times[times.length - 1] as number) > now) {
      for (let index = budget.start; index < times.length; index++) if ((times[index] as number) > now) times[index] = now;
    }
    let start = budget.start;
    while (start < times.length && (times[start] as number) + charge.windowMs <= now) start++;
    if (start > 32 && start * 2 > times.length) {
      times.splice(0, start);
      start = 0;
    }
    budget.start = start;
    budget.windowMs = charge.windowMs;
  }

  function sweep(now: number): void {
    for (const [key, budget] of budgets) {
      const newest = budget.times[budget.times.length - 1];
      if (newest === undefined || newest + budget.windowMs <= now) budgets.delete(key);
    }
    // Budgets in use stay: sweep again only once as many more have come.
    nextSweep = Math.max(sweepAbove, budgets.size * 2);
  }

  /** Milliseconds until `charge`'s budget takes one more call (0: now); never more than a window. */
  function waitOf(charge: RateLimitCharge, now: number): number {
    const budget = budgets.get(charge.key);
    if (budget === undefined) return 0;
    prune(budget, charge, now);
    const held = budget.times.length - budget.start;
    if (held < charge.limit) return 0;
    // The oldest of the newest `limit` calls is the one that has to leave.
    return untilItLeaves(budget.times[budget.times.length - charge.limit] as number, charge.windowMs, now);
  }

  function record(charge: RateLimitCharge, now: number): void {
    let budget = budgets.get(charge.key);
    if (budget === undefined) {
      if (budgets.size >= nextSweep) sweep(now);
      budget = { windowMs: charge.windowMs, times: [], start: 0 };
      budgets.set(charge.key, budget);
    }
    budget.times.push(now);
  }

  return {
    take(charges, now) {
      let wait = 0;
      for (const charge of charges) wait = Math.max(wait, waitOf(charge, now));
      if (wait > 0) return wait;
      for (const charge of charges) record(charge, now);
      return 0;
    },
  };
}
