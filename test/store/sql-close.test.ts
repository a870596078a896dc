import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createGateway } from '../../src/index.js';
import { sqlStore } from '../../src/store/sql/index.js';
import { postgresUrl, randomSchema } from '../e2e/fixtures/sql-engines.js';
import { echo, invocationRecord } from '../fixtures.js';
import { deferred } from '../helpers.js';

const database = new PGlite();
afterAll(() => database.close());
afterEach(() => {
  vi.useRealTimers();
});

/**
 * Makes the next write of an invocation record to `database` hang, as a statement blocked
 * behind a lock or sent on a connection that no longer answers does: `sent` settles when it
 * reaches the database, and `release()` lets it run after all.
 */
function hangInvocationWrite() {
  const query = database.query.bind(database);
  const sent = deferred();
  const gate = deferred();
  database.query = (async (...args: Parameters<PGlite['query']>) => {
    if (/^INSERT INTO "[^"]+"\.invocations/.test(args[0])) {
      database.query = query;
      sent.resolve();
      await gate.promise;
    }
    return query(...args);
  }) as PGlite['query'];
  return { sent: sent.promise, release: gate.resolve };
}

/** Settles to how the promise ended, without throwing. */
function outcome(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'fulfilled',
    (error: Error) => `rejected: ${error.message}`,
  );
}

describe('sqlStore.close() while a write does not return', () => {
  it('refuses new work at once, stops waiting after timeoutMs, and fails the writes still waiting', { timeout: 10_000 }, async () => {
    const store = sqlStore({ client: database, schema: randomSchema('atg_close_hang') });
    await store.migrate();
    const hanging = hangInvocationWrite();
    const inFlight = outcome(store.putInvocation(invocationRecord('w1')));
    await hanging.sent;
    // Waits for the statement in flight, to go out with the next one.
    const queued = outcome(store.putInvocation(invocationRecord('w2')));

    const closing = store.close({ timeoutMs: 20 });
    expect(store.close()).toBe(closing);
    // Close has begun: new work fails at once, not after the bound.
    expect(await outcome(store.putInvocation(invocationRecord('w3')))).toBe('rejected: sqlStore: store is closed');
    expect(await outcome(store.getInvocation('w1'))).toBe('rejected: sqlStore: store is closed');

    await closing;
    const abandoned =
      'rejected: sqlStore: store is closed; close() stopped waiting for this invocation write after 20 ms (a statement in flight may still be written)';
    expect(await inFlight).toBe(abandoned);
    expect(await queued).toBe(abandoned);

    // The statement returns at last: nothing more is sent, and nothing changes.
    hanging.release();
    expect(await outcome(store.putInvocation(invocationRecord('w4')))).toBe('rejected: sqlStore: store is closed');
  });

  it('waits 5 s by default: gateway.close() cannot hang for ever on its store', { timeout: 10_000 }, async () => {
    const store = sqlStore({ client: database, schema: randomSchema('atg_close_default') });
    await store.migrate();
    const hanging = hangInvocationWrite();
    const write = outcome(store.putInvocation(invocationRecord('w1')));
    await hanging.sent;
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let closed = false;
    const closing = store.close().then(() => {
      closed = true;
    });
    await vi.advanceTimersByTimeAsync(4_999);
    expect(closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await closing;
    expect(await write).toMatch(/^rejected: sqlStore: store is closed; close\(\) stopped waiting .* after 5000 ms/);
    hanging.release();
  });

  it('refuses a timeoutMs that is not a usable number of milliseconds', async () => {
    const store = sqlStore({ client: database, schema: randomSchema('atg_close_options') });
    for (const timeoutMs of [-1, Number.NaN, 2 ** 31, '5' as unknown as number]) {
      await expect(store.close({ timeoutMs }), String(timeoutMs)).rejects.toThrow(
        "sqlStore: close()'s timeoutMs must be a number from 0 to 2147483647",
      );
    }
    await store.close({ timeoutMs: 0 });
  });
});

describe('gateway.close({ timeoutMs }) on the SQL store', () => {
  it('gives the store what is left of timeoutMs (at least 1 s), not the store’s own 5 s', { timeout: 10_000 }, async () => {
    const store = sqlStore({ client: database, schema: randomSchema('atg_close_gateway') });
    const errors: unknown[] = [];
    const gateway = createGateway({
      store,
      tools: [echo],
      policy: [{ id: 'all', effect: 'allow' }],
      onError: (error) => errors.push(error),
    });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const hanging = hangInvocationWrite();
    const call = gateway.invoke({ agentKey: apiKey, tool: 'echo', input: { text: 'hi' } });
    await hanging.sent;
    await gateway.close({ timeoutMs: 50 });
    expect((await call).status).toBe('succeeded');
    // The call's record write was given up on by the store's close, bounded by the gateway's.
    expect(errors.map(String)).toContainEqual(
      expect.stringMatching(/sqlStore: store is closed; close\(\) stopped waiting for this invocation write after 1000 ms/),
    );
    hanging.release();
  });
});

describe.skipIf(postgresUrl === undefined)('sqlStore.close() on Postgres while a write waits for a lock', () => {
  it('resolves after timeoutMs, failing the write that waits for the lock', { timeout: 20_000 }, async () => {
    const url = postgresUrl as string;
    const schema = randomSchema('atg_close_lock');
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    const locker = new pg.Client({ connectionString: url });
    const observer = new pg.Client({ connectionString: url });
    await locker.connect();
    await observer.connect();
    try {
      const store = sqlStore({ client: pool, schema, closeClient: true });
      await store.migrate();
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${schema}".invocations IN ACCESS EXCLUSIVE MODE`);
      const write = outcome(store.putInvocation(invocationRecord('w1')));
      // The write is under way once Postgres shows it waiting for the lock (asked outside the
      // locker's transaction, which would see the activity as it was when first asked).
      for (;;) {
        // This test's own insert: another test's, waiting on its own schema, must not count.
        const { rows } = await observer.query(
          "SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
          [`INSERT INTO%${schema}%invocations%`],
        );
        if ((rows[0] as { waiting: number }).waiting > 0) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      await store.close({ timeoutMs: 50 });
      expect(await write).toMatch(/^rejected: sqlStore: store is closed; close\(\) stopped waiting/);
      await locker.query('ROLLBACK');
    } finally {
      await locker.end();
      await observer.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await observer.end();
    }
  });
});
