/**
 * The governed gateway every gateway scenario measures, built one way: agent-key
 * authentication, the tools' JSON Schemas, a policy whose rules test the arguments,
 * redaction of every response (default detectors plus field rules), a sealed upstream
 * credential, and the audit trail in the chosen store.
 */
import {
  type Gateway,
  type Store,
  createGateway,
  defineTool,
  generateEncryptionKey,
  httpTool,
  memoryStore,
  secret,
} from 'agent-tool-gateway';
import {
  approverToken,
  benchPolicy,
  customerInputSchema,
  customerRecord,
  customerRedaction,
  customerToolName,
  localCustomerToolName,
  localPingToolName,
  refundInputSchema,
  refundToolName,
  upstreamAuthorization,
} from './fixtures.js';

/** Which store holds the gateway's state. */
export type BenchStoreKind = 'memory' | 'pglite' | 'postgres';

/** A store opened for the bench, and how to release what it holds besides the store itself. */
export interface OpenedStore {
  store: Store;
  /** Released after `gateway.close()` (which closes the store). */
  release(): Promise<void>;
  /** SQL statements and transactions sent so far (SQL stores; zero for the memory store). */
  statements(): { statements: number; transactions: number };
}

interface StatementCounter {
  statements: number;
  transactions: number;
}

type Queryable = { query: (...args: unknown[]) => unknown };

/** Counts the statements sent through `target.query` (an instance property shadowing the method). */
function countQueries(target: Queryable, counter: StatementCounter): void {
  const query = target.query.bind(target);
  target.query = (...args: unknown[]) => {
    counter.statements++;
    return query(...args);
  };
}

/** Counts a PGlite instance's statements, inside transactions too. */
function countPGlite(
  database: Queryable & { transaction: (work: (transaction: Queryable) => unknown) => unknown },
  counter: StatementCounter,
): void {
  countQueries(database, counter);
  const transaction = database.transaction.bind(database);
  database.transaction = (work) => {
    counter.transactions++;
    return transaction((inner) => {
      countQueries(inner, counter);
      return work(inner);
    });
  };
}

/**
 * Counts a pg.Pool's statements on every client it lends (BEGIN and COMMIT included).
 * `pool.query` borrows a client through `connect(callback)`, so clients are counted, not the pool.
 */
function countPool(pool: { connect: (...args: unknown[]) => unknown }, counter: StatementCounter): void {
  const counted = new WeakSet<object>();
  const instrument = (client: Queryable) => {
    if (counted.has(client)) return;
    counted.add(client);
    const query = client.query.bind(client);
    client.query = (...args: unknown[]) => {
      counter.statements++;
      if (args[0] === 'BEGIN') counter.transactions++;
      return query(...args);
    };
  };
  const connect = pool.connect.bind(pool);
  pool.connect = (...args: unknown[]) => {
    const callback = args[0];
    if (typeof callback === 'function') {
      return connect((error: unknown, client: Queryable | undefined, release: unknown) => {
        if (client !== undefined) instrument(client);
        callback(error, client, release);
      });
    }
    return (connect() as Promise<Queryable>).then((client) => {
      instrument(client);
      return client;
    });
  };
}

/** Thrown when a store cannot be opened here (no Postgres URL): the scenario is skipped, not failed. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

/**
 * Opens the store of a scenario. The memory store keeps 10 000 records of each kind (its
 * default retention). PGlite runs in this process, in memory; Postgres is
 * `ATG_TEST_POSTGRES_URL`, in a schema of its own that is dropped afterwards.
 */
export async function openStore(kind: BenchStoreKind): Promise<OpenedStore> {
  const counter: StatementCounter = { statements: 0, transactions: 0 };
  const statements = () => ({ ...counter });
  if (kind === 'memory') return { store: memoryStore({ maxRecords: 10_000 }), release: async () => undefined, statements };
  const { sqlStore } = await import('agent-tool-gateway/sql');
  if (kind === 'pglite') {
    const { PGlite } = await import('@electric-sql/pglite');
    const client = new PGlite();
    await client.waitReady;
    countPGlite(client as unknown as Parameters<typeof countPGlite>[0], counter);
    return {
      store: sqlStore({ client }),
      release: async () => {
        if (!client.closed) await client.close();
      },
      statements,
    };
  }
  const url = process.env.ATG_TEST_POSTGRES_URL;
  if (url === undefined || url === '') throw new StoreUnavailableError('ATG_TEST_POSTGRES_URL is not set');
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, max: 16 });
  countPool(pool as unknown as Parameters<typeof countPool>[0], counter);
  const schema = `atg_bench_${process.pid}_${Date.now().toString(36)}`;
  return {
    statements,
    store: sqlStore({ client: pool, schema }),
    release: async () => {
      const cleanup = new pg.Pool({ connectionString: url, max: 1 });
      await cleanup.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
      await cleanup.end();
      await pool.end().catch(() => undefined);
    },
  };
}

/** A gateway ready to take calls, the key of its agent, and how to close it. */
export interface BenchGateway {
  gateway: Gateway;
  agentKey: string;
  /** SQL statements and transactions the store has sent so far. */
  statements(): { statements: number; transactions: number };
  close(): Promise<void>;
}

/**
 * Builds the governed gateway: the customer tool (HTTP, to `upstreamUrl`), the same record
 * from a local function, a local tool with a tiny output, and a refund tool whose large
 * amounts need approval.
 */
export async function createBenchGateway(options: { upstreamUrl: string; store: BenchStoreKind }): Promise<BenchGateway> {
  const opened = await openStore(options.store);
  const record = customerRecord();
  const gateway = createGateway({
    store: opened.store,
    encryptionKey: generateEncryptionKey(),
    tools: [
      httpTool({
        name: customerToolName,
        description: 'Get one customer record from the CRM',
        method: 'GET',
        url: `${options.upstreamUrl}/customers/{id}`,
        inputSchema: customerInputSchema,
        secretHeaders: { authorization: secret(upstreamAuthorization) },
        redact: customerRedaction,
        allowPrivateNetwork: true,
        timeoutMs: 10_000,
      }),
      defineTool({
        name: localCustomerToolName,
        description: 'Get one customer record from memory',
        inputSchema: customerInputSchema,
        redact: customerRedaction,
        handler: () => record,
      }),
      defineTool({
        name: localPingToolName,
        description: 'Answer { ok: true } for a customer id',
        inputSchema: customerInputSchema,
        redact: customerRedaction,
        handler: () => ({ ok: true }),
      }),
      httpTool({
        name: refundToolName,
        description: 'Refund a customer',
        method: 'POST',
        url: `${options.upstreamUrl}/refunds`,
        inputSchema: refundInputSchema,
        secretHeaders: { authorization: secret(upstreamAuthorization) },
        redact: customerRedaction,
        allowPrivateNetwork: true,
        timeoutMs: 10_000,
      }),
    ],
    policy: benchPolicy,
    admin: { tokens: [{ token: approverToken, id: 'bench-approver', roles: ['approver'] }] },
  });
  await gateway.ready();
  const { apiKey } = await gateway.admin.createAgent({ name: 'bench-agent', tags: ['support'] });
  return {
    gateway,
    agentKey: apiKey,
    statements: opened.statements,
    async close() {
      await gateway.close();
      await opened.release();
    },
  };
}
