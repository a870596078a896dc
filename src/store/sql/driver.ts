import type { PGliteInterface, Transaction as PGliteTransaction } from '@electric-sql/pglite';
import type { Notification, Pool, PoolClient } from 'pg';
import { outage } from '../../errors.js';

/**
 * A `pg.Pool` (real Postgres), as far as the SQL store needs to recognise one. Declared
 * loosely so that neither `pg` nor its types are needed unless you use them.
 */
export interface PostgresPoolLike {
  connect(...args: never[]): unknown;
  query(...args: never[]): unknown;
  end(...args: never[]): unknown;
  readonly totalCount: number;
}

/** A PGlite instance (embedded Postgres, in memory or on a data directory), loosely declared. */
export interface PGliteLike {
  query(...args: never[]): unknown;
  transaction(...args: never[]): unknown;
  listen(...args: never[]): unknown;
  close(...args: never[]): unknown;
}

/** What `sqlStore` accepts as `client`: a `pg.Pool` or a PGlite instance. */
export type SqlClient = PostgresPoolLike | PGliteLike;

/** Runs one statement and returns its rows. */
export interface SqlQueryable {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
}

/**
 * The tiny surface the SQL store is written against: the same SQL runs on both engines.
 * `listen` reports a lost connection once through `onLost`; the caller listens again.
 */
export interface SqlDriver extends SqlQueryable {
  readonly engine: 'postgres' | 'pglite';
  /**
   * False for a pool of one connection: a listening session would hold it for good and
   * starve every query, so such a store does not watch (gateways still re-read periodically).
   */
  readonly canListen: boolean;
  transaction<T>(work: (queryable: SqlQueryable) => Promise<T>): Promise<T>;
  listen(channel: string, onPayload: (payload: string) => void, onLost: (error: unknown) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

function isPostgresPool(client: object): boolean {
  const candidate = client as Partial<Record<'connect' | 'query' | 'end', unknown>>;
  return (
    typeof candidate.connect === 'function' &&
    typeof candidate.query === 'function' &&
    typeof candidate.end === 'function' &&
    typeof (client as { totalCount?: unknown }).totalCount === 'number'
  );
}

function isPGlite(client: object): boolean {
  const candidate = client as Partial<Record<'query' | 'transaction' | 'listen' | 'close', unknown>>;
  return (
    typeof candidate.query === 'function' &&
    typeof candidate.transaction === 'function' &&
    typeof candidate.listen === 'function' &&
    typeof candidate.close === 'function'
  );
}

/** Wraps a `pg.Pool` or a PGlite instance, recognised by their shape. */
export function createSqlDriver(client: SqlClient): SqlDriver {
  if (typeof client === 'object' && client !== null) {
    if (isPostgresPool(client)) return postgresDriver(client as unknown as Pool);
    if (isPGlite(client)) return pgliteDriver(client as unknown as PGliteInterface);
  }
  throw new TypeError('sqlStore: `client` must be a pg.Pool or a PGlite instance');
}

/** A double-quoted identifier; callers only pass names checked against an identifier pattern. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Node's errors of a connection that could not be made or was lost. */
const connectionErrorCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
/**
 * What node-postgres says when it has no connection to give or lost the one it had, or got
 * no answer within the pool's `query_timeout` (a connection left half-open: Postgres would
 * have answered a statement of its own, even a cancelled one, within `statement_timeout`).
 */
const connectionErrorMessages =
  /^(?:timeout exceeded when trying to connect|Connection terminated|Client has encountered a connection error|Cannot use a pool after calling end|Query read timeout$)/;

/**
 * True when Postgres could not be reached or the connection was lost: a connection
 * exception (SQLSTATE class 08), the server shutting down or starting (57P01–57P03), too
 * many connections (53300), a socket error, the pool giving up on a connection, or a
 * statement that got no answer within the pool's `query_timeout`. Not errors of the
 * statements themselves.
 */
export function isConnectionFailure(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
    if (connectionErrorCodes.has(code)) return true;
  }
  const message = (error as { message?: unknown }).message;
  return typeof message === 'string' && connectionErrorMessages.test(message);
}

/** Connection failures become 503 `STORE_UNAVAILABLE`, so callers are told to come back, not that the gateway broke. */
async function reachable<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!isConnectionFailure(error)) throw error;
    throw outage('STORE_UNAVAILABLE', 'The store is unavailable', error);
  }
}

function postgresDriver(pool: Pool): SqlDriver {
  const queryOn =
    (target: Pool | PoolClient) =>
    async <Row>(text: string, params: readonly unknown[] = []): Promise<Row[]> =>
      (await target.query(text, params as unknown[])).rows as Row[];
  const transaction = async <T>(work: (queryable: SqlQueryable) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work({ query: queryOn(client) });
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        // The connection is unusable: do not hand it back to the pool.
        broken = rollbackError instanceof Error ? rollbackError : new Error('ROLLBACK failed');
      }
      throw error;
    } finally {
      client.release(broken);
    }
  };
  const query = queryOn(pool);
  const poolSize = (pool as { options?: { max?: unknown } }).options?.max;
  return {
    engine: 'postgres',
    canListen: typeof poolSize !== 'number' || poolSize >= 2,
    query: (text, params) => reachable(() => query(text, params)),
    transaction: (work) => reachable(() => transaction(work)),
    async listen(channel, onPayload, onLost) {
      // LISTEN belongs to one session: a client of its own, held until stop().
      const client = await pool.connect();
      let active = true;
      const onNotification = (message: Notification) => {
        if (message.channel === channel && message.payload !== undefined) onPayload(message.payload);
      };
      const lose = (error: unknown) => {
        if (!active) return;
        active = false;
        client.off('notification', onNotification);
        client.release(error instanceof Error ? error : new Error('connection ended'));
        onLost(error);
      };
      const onError = (error: Error) => lose(error);
      const onEnd = () => lose(new Error('connection ended'));
      client.on('notification', onNotification);
      client.on('error', onError);
      client.on('end', onEnd);
      try {
        await client.query(`LISTEN ${quoteIdentifier(channel)}`);
      } catch (error) {
        if (active) {
          active = false;
          client.off('notification', onNotification);
          client.off('end', onEnd);
          client.release(error instanceof Error ? error : true);
        }
        throw error;
      }
      return async () => {
        if (!active) return;
        active = false;
        client.off('notification', onNotification);
        client.off('end', onEnd);
        let failure: Error | undefined;
        try {
          await client.query(`UNLISTEN ${quoteIdentifier(channel)}`);
        } catch (error) {
          failure = error instanceof Error ? error : new Error('UNLISTEN failed');
        }
        client.release(failure);
        // Only now: until the pool has attached its own error listener, which it does as the
        // connection comes back to it, an error of the connection must find this one. Left on,
        // it would stay on a connection the pool hands out again, one more for each session.
        client.off('error', onError);
      };
    },
    close: () => pool.end(),
  };
}

function pgliteDriver(database: PGliteInterface): SqlDriver {
  const queryOn =
    (target: PGliteInterface | PGliteTransaction) =>
    async <Row>(text: string, params: readonly unknown[] = []): Promise<Row[]> =>
      (await target.query<Row>(text, params as unknown[])).rows;
  const run = queryOn(database);
  return {
    engine: 'pglite',
    canListen: true,
    // PGlite runs a statement on this thread, within the microtasks of the call that sent
    // it: nothing else runs from the moment it is sent until it has finished. Sent one turn
    // of the event loop later, a statement lets the other calls' I/O in first, and with it
    // their audit events and records, which the audit log and the invocation writes then
    // combine into the next statement instead of sending one each.
    query: async (text, params) => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      return run(text, params);
    },
    transaction: (work) => database.transaction((transaction) => work({ query: queryOn(transaction) })),
    async listen(channel, onPayload) {
      // PGlite runs in this process: its session cannot be lost, so `onLost` is never called.
      const stop = await database.listen(quoteIdentifier(channel), onPayload);
      return async () => {
        if (!database.closed) await stop();
      };
    },
    close: () => database.close(),
  };
}
