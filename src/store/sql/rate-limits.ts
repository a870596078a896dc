import { type RateLimitCharge, type RateLimiter, budgetWait } from '../../policy/rate-limit.js';
import { encodeText } from './columns.js';
import type { SqlQueryable } from './driver.js';

/** What the limiter needs of its store: queries and transactions once the schema is ready. */
export interface RateLimitTables {
  /** The quoted schema. */
  readonly s: string;
  query: SqlQueryable['query'];
  transaction<T>(work: (queryable: SqlQueryable) => Promise<T>): Promise<T>;
}

/** Takes between sweeps of idle budgets. */
const SWEEP_EVERY = 1000;

/** Thrown inside the transaction of several budgets to roll back the ones already taken. */
class Refused extends Error {}

/**
 * Rate-limit budgets in the SQL store's `rate_limit_budgets` table, shared by every gateway
 * instance on the schema, with the semantics of {@link memoryRateLimiter}: an exact sliding
 * window, a call taken from all its budgets or from none. A budget's row holds the times of
 * its last `limit` calls. One budget costs one statement, an upsert that takes the call only
 * while fewer than `limit` calls are in the window, atomic under the row's lock; several run
 * in one transaction, in key order, so two calls never wait on each other's rows. A refused
 * call reads the rows once more for its wait. Times are each instance's clock, so instances
 * should keep theirs in sync (NTP); a time ahead of the clock (it stepped back) is kept as
 * now. Idle budgets are swept every 1,000 takes, skipping rows a take holds. A take costs
 * time in proportion to the calls in its budget's window (the row holds them all).
 */
export function sqlRateLimiter(tables: RateLimitTables): RateLimiter {
  const { s } = tables;
  // $1 key, $2 now, $3 window, $4 limit. The kept times stay oldest first, the new call last.
  const take = `INSERT INTO ${s}.rate_limit_budgets AS b (key, times, expires_at)
    VALUES ($1, ARRAY[$2::double precision], $2::double precision + $3::double precision)
    ON CONFLICT (key) DO UPDATE SET
      times = ARRAY(
        SELECT t FROM (
          SELECT LEAST(t, $2::double precision) AS t FROM unnest(b.times) AS t
          WHERE t > $2::double precision - $3::double precision ORDER BY t DESC LIMIT $4::bigint - 1
        ) AS kept ORDER BY t
      ) || $2::double precision,
      expires_at = GREATEST(b.expires_at, $2::double precision + $3::double precision)
    WHERE (SELECT count(*) FROM unnest(b.times) AS t WHERE t > $2::double precision - $3::double precision) < $4::bigint
    RETURNING 1 AS taken`;
  const read = `SELECT key, times FROM ${s}.rate_limit_budgets WHERE key = ANY($1::text[])`;
  // After the clock stepped back: times ahead of it become now, so they expire a window later.
  // One row per statement: a statement that locked one row and waited for another (rows are
  // visited in the table's order) could deadlock with a take, which locks them in key order.
  const clamp = `UPDATE ${s}.rate_limit_budgets
    SET times = ARRAY(SELECT LEAST(t, $2::double precision) FROM unnest(times) AS t ORDER BY 1)
    WHERE key = $1 AND times[array_upper(times, 1)] > $2::double precision`;
  // Rows a take holds are skipped: locking them here too, in another order, could deadlock.
  const sweep = `DELETE FROM ${s}.rate_limit_budgets WHERE key IN (
    SELECT key FROM ${s}.rate_limit_budgets WHERE expires_at <= $1 FOR UPDATE SKIP LOCKED)`;
  let takes = 0;

  const takeOne = async (queryable: SqlQueryable, charge: RateLimitCharge, now: number): Promise<boolean> =>
    (await queryable.query(take, [encodeText(charge.key), now, charge.windowMs, charge.limit])).length === 1;

  /** The wait of a refused call: the longest of its budgets', read after the refusal. */
  const waitFor = async (charges: readonly RateLimitCharge[], now: number): Promise<number> => {
    const keys = charges.map((charge) => encodeText(charge.key));
    const rows = await tables.query<{ key: string; times: number[] }>(read, [keys]);
    for (const row of rows) if (row.times.some((time) => Number(time) > now)) await tables.query(clamp, [row.key, now]);
    const timesByKey = new Map(rows.map((row) => [row.key, row.times.map(Number)]));
    let wait = 0;
    for (const charge of charges) {
      wait = Math.max(wait, budgetWait(timesByKey.get(encodeText(charge.key)) ?? [], charge.limit, charge.windowMs, now));
    }
    // The budget freed up between the refusal and the read: the caller may retry at once.
    return Math.max(wait, 1);
  };

  return {
    async take(charges, now) {
      if (charges.length === 0) return 0;
      if (++takes % SWEEP_EVERY === 0) {
        // Housekeeping: a failure only leaves idle rows for the next sweep.
        tables.query(sweep, [now]).catch(() => {});
      }
      let taken: boolean;
      if (charges.length === 1) taken = await takeOne(tables, charges[0] as RateLimitCharge, now);
      else {
        const ordered = [...charges].sort((left, right) => (left.key < right.key ? -1 : left.key > right.key ? 1 : 0));
        taken = await tables
          .transaction(async (transaction) => {
            for (const charge of ordered) if (!(await takeOne(transaction, charge, now))) throw new Refused();
            return true;
          })
          .catch((error: unknown) => {
            if (error instanceof Refused) return false;
            throw error;
          });
      }
      return taken ? 0 : waitFor(charges, now);
    },
  };
}
