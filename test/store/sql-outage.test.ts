/**
 * Postgres going away under a running gateway: calls are answered 503 (retry later), never
 * 500, `onError` is told, and the gateway serves again once Postgres is back. Postgres is
 * reached through a TCP relay on loopback that the test cuts and restores.
 */
import { type Server, type Socket, connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConnectionFailure } from '../../src/store/sql/driver.js';
import { sqlStore } from '../../src/store/sql/index.js';
import { adminTokens, invocationRecord, testGateway } from '../fixtures.js';
import { jsonRequest, mcpHeaders } from '../helpers.js';
import { postgresEngine, postgresUrl, randomSchema } from '../e2e/fixtures/sql-engines.js';

/**
 * A TCP relay to Postgres that can be cut (connections refused, open ones dropped) and
 * restored on the same port, or frozen: connections stay open and nothing gets through, as
 * on a connection a failover or a partition left half-open.
 */
function relay(target: URL) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  let frozen = false;
  const start = () =>
    new Promise<void>((resolve) => {
      const listening = createServer((client) => {
        const upstream = connect(Number(target.port || 5432), target.hostname);
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
          socket.on('error', () => undefined);
        }
        client.on('data', (chunk) => {
          if (!frozen) upstream.write(chunk);
        });
        upstream.on('data', (chunk) => {
          if (!frozen) client.write(chunk);
        });
        client.on('end', () => upstream.end());
        upstream.on('end', () => client.end());
      });
      server = listening;
      listening.listen(port, '127.0.0.1', () => {
        port = (listening.address() as AddressInfo).port;
        resolve();
      });
    });
  return {
    start,
    get port() {
      return port;
    },
    cut: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server?.close(() => resolve());
      }),
    /** From now on nothing gets through, either way, until thaw(). */
    freeze: () => {
      frozen = true;
    },
    thaw: () => {
      frozen = false;
    },
  };
}

describe.skipIf(postgresUrl === undefined)('the SQL store when Postgres goes away (ATG_TEST_POSTGRES_URL)', () => {
  // The body is read to collect the tests even when they are skipped.
  const target = new URL(postgresUrl ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  const link = relay(target);
  const engine = postgresEngine(target.href);
  const schema = randomSchema('atg_outage');
  beforeAll(() => link.start());
  /** A pool that reaches Postgres through the relay. */
  const relayPool = (options: pg.PoolConfig = {}) => {
    const pool = new pg.Pool({
      host: '127.0.0.1',
      port: link.port,
      user: decodeURIComponent(target.username) || 'postgres',
      database: target.pathname.slice(1) || 'postgres',
      max: 4,
      ...options,
    });
    pool.on('error', () => undefined);
    return pool;
  };
  afterAll(async () => {
    await link.cut();
    await engine.dropSchema(schema);
    await engine.close();
  });

  it('answers 503 STORE_UNAVAILABLE while it is away, tells onError once every 5 s, and serves again when it is back', async () => {
    const errors: unknown[] = [];
    let clock = Date.now();
    const pool = relayPool();
    const gateway = testGateway({
      store: sqlStore({ client: pool, schema, closeClient: true }),
      agentCacheMs: 0,
      onError: (error) => errors.push(error),
      now: () => clock,
    });
    try {
      const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
      const invoke = () => gateway.fetch(jsonRequest('/tools/echo/invoke', { key: apiKey, body: { input: { text: 'hi' } } }));
      expect((await invoke()).status).toBe(200);

      await link.cut();
      errors.length = 0;
      const away = await invoke();
      expect(away.status).toBe(503);
      expect(away.headers.get('retry-after')).toBe('5');
      const body = (await away.json()) as { error: { code: string; message: string } };
      expect(body.error).toEqual({ code: 'STORE_UNAVAILABLE', message: 'The store is unavailable' });
      const mcp = await gateway.fetch(
        new Request('http://gateway.test/mcp', {
          method: 'POST',
          headers: mcpHeaders(apiKey),
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
        }),
      );
      expect(mcp.status).toBe(503);
      const admin = await gateway.fetch(jsonRequest('/admin/agents', { key: adminTokens.admin }));
      expect(admin.status).toBe(503);
      // Three calls refused alike within 5 s: told once, with the driver's reason as the cause.
      const outages = () => errors.filter((error) => (error as { code?: string }).code === 'STORE_UNAVAILABLE');
      expect(outages()).toHaveLength(1);
      expect(isConnectionFailure((outages()[0] as { cause?: unknown }).cause)).toBe(true);
      clock += 5000;
      expect((await invoke()).status).toBe(503);
      expect(outages()).toHaveLength(2);

      await link.start();
      expect((await invoke()).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });

  it('fails a batch of records Postgres could not be reached for at once, without retrying each record', async () => {
    const pool = relayPool();
    const sent: string[] = [];
    const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    (pool as { query: unknown }).query = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && /^INSERT INTO "[^"]+"\.invocations/.test(args[0])) sent.push(args[0]);
      return query(...args);
    };
    const store = sqlStore({ client: pool, schema, closeClient: true });
    try {
      await store.migrate();
      await link.cut();
      // Made in one turn, the three writes share one statement.
      const writes = await Promise.allSettled(['o1', 'o2', 'o3'].map((id) => store.putInvocation(invocationRecord(id))));
      for (const write of writes) expect(write).toMatchObject({ status: 'rejected', reason: { code: 'STORE_UNAVAILABLE' } });
      expect(sent).toHaveLength(1);
    } finally {
      await link.start();
      await store.close();
    }
  });

  it("answers 503 STORE_UNAVAILABLE when a statement gets no answer within the pool's query_timeout (a half-open connection)", async () => {
    const errors: unknown[] = [];
    // As docs/sql-store.md sets the pool up: the client gives up on a statement whose answer never comes.
    const pool = relayPool({ query_timeout: 500 });
    const gateway = testGateway({
      store: sqlStore({ client: pool, schema, closeClient: true }),
      agentCacheMs: 0,
      onError: (error) => errors.push(error),
    });
    try {
      const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
      const invoke = () => gateway.fetch(jsonRequest('/tools/echo/invoke', { key: apiKey, body: { input: { text: 'hi' } } }));
      expect((await invoke()).status).toBe(200);

      link.freeze();
      const away = await invoke();
      expect(away.status).toBe(503);
      expect(((await away.json()) as { error: { code: string } }).error.code).toBe('STORE_UNAVAILABLE');
      expect(errors.filter((error) => (error as { code?: string }).code === 'INTERNAL')).toEqual([]);

      link.thaw();
      // The connection that timed out was dropped; the pool serves from the others, or new ones.
      expect((await invoke()).status).toBe(200);
    } finally {
      link.thaw();
      await gateway.close();
    }
  });

  it('serves once Postgres is reachable when the gateway started without it', async () => {
    await link.cut();
    const pool = relayPool();
    const gateway = testGateway({ store: sqlStore({ client: pool, schema, closeClient: true }), onError: () => undefined });
    try {
      await expect(gateway.ready()).rejects.toThrow();
      const away = await gateway.fetch(jsonRequest('/admin/agents', { key: adminTokens.admin }));
      expect(away.status).toBe(503);
      expect(((await away.json()) as { error: { code: string } }).error.code).toBe('STORE_UNAVAILABLE');

      await link.start();
      expect((await gateway.fetch(jsonRequest('/admin/agents', { key: adminTokens.admin }))).status).toBe(200);
      const { apiKey } = await gateway.admin.createAgent({ name: 'late-bot' });
      expect((await gateway.fetch(jsonRequest('/tools/echo/invoke', { key: apiKey, body: { input: { text: 'hi' } } }))).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });
});

describe('isConnectionFailure', () => {
  it('tells connection failures from the statements’ own errors', () => {
    expect(isConnectionFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isConnectionFailure(Object.assign(new Error('terminating connection'), { code: '57P01' }))).toBe(true);
    expect(isConnectionFailure(Object.assign(new Error('connection failure'), { code: '08006' }))).toBe(true);
    expect(isConnectionFailure(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isConnectionFailure(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isConnectionFailure(new Error('Query read timeout'))).toBe(true);
    expect(isConnectionFailure(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBe(false);
    expect(isConnectionFailure(Object.assign(new Error('syntax error'), { code: '42601' }))).toBe(false);
    expect(isConnectionFailure('ECONNREFUSED')).toBe(false);
  });
});
