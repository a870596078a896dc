/**
 * One budget a call draws on: at most `limit` calls in any `windowMs`, shared by every call
 * that names the same `key`. The built-in policy charges one per matching rule with a
 * `rateLimit`; a custom {@link PolicyEngine} may return its own.
 */
export interface RateLimitCharge {
  /** Identifies the budget: calls with the same key count together. */
  key: string;
  /** Calls allowed in any window of `windowMs`. A positive integer. */
  limit: number;
  /** The window's length in milliseconds. */
  windowMs: number;
  /** The rule that set the limit: named in the `RATE_LIMITED` error's `details.rule`. */
  ruleId: string;
}

/**
 * Counts calls against budgets. `take` either counts the call in every budget it is charged
 * to and answers 0, or counts it in none and answers how many milliseconds to wait until
 * every budget would take it. Plug in a shared one (Redis, SQL) to limit across gateway
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
  const recent = times.filter((time) => time + windowMs > now).sort((left, right) => left - right);
  if (recent.length < limit) return 0;
  return Math.min(windowMs, Math.max(0, (recent[recent.length - limit] as number) + windowMs - now));
}

/** The times of a budget's recent calls, oldest first from `head`, as a ring once full. */
interface Budget {
  limit: number;
  windowMs: number;
  times: number[];
  head: number;
  /** The newest call's time: the budget is idle once this is a window old. */
  newest: number;
}

/** The budget's call times in order, oldest first. */
function orderedTimes(budget: Budget): number[] {
  return budget.times.length < budget.limit ? budget.times : [...budget.times.slice(budget.head), ...budget.times.slice(0, budget.head)];
}

/**
 * An exact sliding-window limiter in this process's memory: a budget of `limit` per
 * `windowMs` never lets more than `limit` calls through in any window of that length. It
 * keeps the times of each budget's last `limit` calls (8 bytes each). With several gateway
 * instances each counts its own calls: plug in a shared {@link RateLimiter} to count across
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

  function sweep(now: number): void {
    for (const [key, budget] of budgets) if (budget.newest + budget.windowMs <= now) budgets.delete(key);
    // Budgets in use stay: sweep again only once as many more have come.
    nextSweep = Math.max(sweepAbove, budgets.size * 2);
  }

  /** The budget of `key` for `charge`'s limit: one whose rule changed keeps its calls still in the new window. */
  function budgetFor(charge: RateLimitCharge, now: number): Budget | undefined {
    const budget = budgets.get(charge.key);
    if (budget === undefined || (budget.limit === charge.limit && budget.windowMs === charge.windowMs)) return budget;
    const kept = orderedTimes(budget).filter((time) => time + charge.windowMs > now);
    const conformed = {
      limit: charge.limit,
      windowMs: charge.windowMs,
      times: kept.slice(Math.max(0, kept.length - charge.limit)),
      head: 0,
      newest: budget.newest,
    };
    budgets.set(charge.key, conformed);
    return conformed;
  }

  /** Milliseconds until `budget` takes one more call (0: now); never more than a window. */
  function waitOf(budget: Budget | undefined, now: number): number {
    if (budget === undefined || budget.times.length < budget.limit) return 0;
    return Math.min(budget.windowMs, Math.max(0, (budget.times[budget.head] as number) + budget.windowMs - now));
  }

  function record(charge: RateLimitCharge, now: number): void {
    let budget = budgets.get(charge.key);
    if (budget === undefined) {
      if (budgets.size >= nextSweep) sweep(now);
      budget = { limit: charge.limit, windowMs: charge.windowMs, times: [], head: 0, newest: now };
      budgets.set(charge.key, budget);
    }
    if (budget.times.length < budget.limit) budget.times.push(now);
    else {
      budget.times[budget.head] = now;
      budget.head = (budget.head + 1) % budget.limit;
    }
    budget.newest = now;
  }

  return {
    take(charges, now) {
      let wait = 0;
      for (const charge of charges) wait = Math.max(wait, waitOf(budgetFor(charge, now), now));
      if (wait > 0) return wait;
      for (const charge of charges) record(charge, now);
      return 0;
    },
  };
}
