import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runStoreConformance } from '../../src/testing/store-conformance.js';
import { type SqlStore, sqlStore } from '../../src/store/sql/index.js';
import { eventually, postgresEngine, postgresUrl, randomSchema, tamperAuditIndexBy } from '../e2e/fixtures/sql-engines.js';
import { runSqlStoreBehaviour } from '../e2e/fixtures/sql-store-behaviour.js';
import { deferred } from '../helpers.js';

// Set ATG_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run these.
describe.skipIf(postgresUrl === undefined)('Postgres (ATG_TEST_POSTGRES_URL)', () => {
  const engine = postgresEngine(postgresUrl as string);
  afterAll(() => engine.close());

  runStoreConformance({
    name: 'sqlStore on Postgres',
    createStore: () => engine.store(randomSchema('atg_conformance')),
    // Another store with a pool of its own on the same schema, as another gateway instance.
    openSecondHandle: (store) => engine.store((store as SqlStore).schema),
    tamperAuditIndex: tamperAuditIndexBy((text, params) => engine.query(text, params)),
    cleanup: async (store) => {
      await store.close();
      await engine.dropSchema((store as SqlStore).schema);
    },
  });

  runSqlStoreBehaviour(() => postgresEngine(postgresUrl as string));

  it('reopens a lost listening session and tells watchers that anything may have changed', async () => {
    const schema = randomSchema('atg_relisten');
    const watcher = engine.store(schema);
    const announcer = engine.store(schema);
    try {
      const heard: string[] = [];
      watcher.watch((kind) => heard.push(kind));
      await eventually(async () => {
        await announcer.announce('tools');
        return heard.includes('tools');
      });

      heard.length = 0;
      const terminated = await engine.query<{ done: boolean }>(
        'SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE query = $1',
        [`LISTEN "atg_changes_${schema}"`],
      );
      expect(terminated).toEqual([{ done: true }]);
      await eventually(() => ['tools', 'policies', 'agents'].every((kind) => heard.includes(kind)));

      heard.length = 0;
      await eventually(async () => {
        await announcer.announce('policies');
        return heard.includes('policies');
      });
    } finally {
      await Promise.all([watcher.close(), announcer.close()]);
      await engine.dropSchema(schema);
    }
  });

  it("watching and unwatching again and again leaves nothing behind on the pool's connections", async () => {
    const schema = randomSchema('atg_rewatch');
    const pool = new pg.Pool({ connectionString: postgresUrl, max: 2 });
    const acquired = new Set<pg.PoolClient>();
    pool.on('acquire', (client) => acquired.add(client));
    const store = sqlStore({ client: pool, schema, closeClient: true });
    try {
      await store.listTools();
      for (let round = 0; round < 12; round++) {
        // Each session is opened, then closed, and its connection handed back to the pool.
        const released = new Promise((resolve) => pool.once('release', resolve));
        const stop = store.watch(() => undefined);
        stop();
        await released;
      }
      // What is left on each connection is the pool's own error listener, nothing of the sessions.
      expect([...acquired].map((client) => client.listenerCount('error'))).toEqual([...acquired].map(() => 1));
      expect([...acquired].map((client) => client.listenerCount('notification'))).toEqual([...acquired].map(() => 0));
    } finally {
      await store.close();
      await engine.dropSchema(schema);
    }
  });

  it('on a pool of one connection, watch is a no-op instead of holding the only connection', async () => {
    const schema = randomSchema('atg_small_pool');
    const store = sqlStore({ client: new pg.Pool({ connectionString: postgresUrl, max: 1 }), schema, closeClient: true });
    try {
      const stop = store.watch(() => undefined);
      await store.announce('tools');
      expect(await store.listTools()).toEqual([]);
      stop();
    } finally {
      await store.close();
      await engine.dropSchema(schema);
    }
  });

  it("a refused call's rate-limit budgets read back while a call charged to the same budgets holds one of them: no deadlock", async () => {
    const schema = randomSchema('atg_rate_clamp');
    const pool = new pg.Pool({ connectionString: postgresUrl, max: 4 });
    // The statement that brings times ahead of the clock back to it waits at this gate.
    const gate = { arrived: deferred(), open: deferred() };
    const query = pool.query.bind(pool) as (text: string, params?: unknown[]) => Promise<unknown>;
    (pool as unknown as { query: typeof query }).query = async (text, params) => {
      if (/^UPDATE .*rate_limit_budgets\s+SET times/s.test(text)) {
        gate.arrived.resolve();
        await gate.open.promise;
      }
      return query(text, params);
    };
    const store = sqlStore({ client: pool, schema, closeClient: true });
    const holder = new pg.Client({ connectionString: postgresUrl });
    await holder.connect();
    try {
      const charge = (key: string) => ({ key, limit: 1, windowMs: 60_000, ruleId: 'r' });
      // Rows stored b first, then a; both full, with a call stamped ahead of the clock below.
      expect(await store.rateLimiter.take([charge('b')], 10_000)).toBe(0);
      expect(await store.rateLimiter.take([charge('a')], 10_000)).toBe(0);
      const refused = store.rateLimiter.take([charge('a'), charge('b')], 5_000);
      await gate.arrived.promise;
      // Another call's transaction (as a take of [a, b] runs one, in key order) holds a, then wants b.
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM "${schema}".rate_limit_budgets WHERE key = 'a' FOR UPDATE`);
      gate.open.resolve();
      await eventually(async () => {
        const waiting = await engine.query<{ count: string }>(
          "SELECT count(*) AS count FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
          [`UPDATE "${schema}".rate_limit_budgets%`],
        );
        return Number(waiting[0]?.count) === 1;
      });
      await holder.query(`SELECT 1 FROM "${schema}".rate_limit_budgets WHERE key = 'b' FOR UPDATE`);
      await holder.query('COMMIT');
      expect(await refused).toBe(60_000);
    } finally {
      await holder.end();
      await store.close();
      await engine.dropSchema(schema);
    }
  });
});
