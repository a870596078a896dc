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
} from '../src/index.js';
import {
  approverToken,
  benchPolicy,
  customerInputSchema,
  customerRecord,
  customerRedaction,
  customerToolName,
  localCustomerToolName,
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
}

/** Thrown when the SQL store module is not there yet: the scenario is skipped, not failed. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

type SqlStoreFactory = (options: { client: unknown; schema?: string }) => Store;

async function loadSqlStore(): Promise<SqlStoreFactory> {
  // A variable specifier: the module may not exist yet, and the bench must still type-check.
  const specifier = '../src/store/sql/index.js';
  let module: { sqlStore?: SqlStoreFactory };
  try {
    module = (await import(specifier)) as { sqlStore?: SqlStoreFactory };
  } catch (error) {
    throw new StoreUnavailableError(`sql store not available (${(error as Error).message.split('\n')[0]})`);
  }
  if (typeof module.sqlStore !== 'function') throw new StoreUnavailableError('sql store not available (no sqlStore export)');
  return module.sqlStore;
}

/**
 * Opens the store of a scenario. The memory store keeps 10 000 records of each kind (its
 * default retention). PGlite runs in this process, in memory; Postgres is
 * `ATG_TEST_POSTGRES_URL`, in a schema of its own that is dropped afterwards.
 */
export async function openStore(kind: BenchStoreKind): Promise<OpenedStore> {
  if (kind === 'memory') return { store: memoryStore({ maxRecords: 10_000 }), release: async () => undefined };
  const sqlStore = await loadSqlStore();
  if (kind === 'pglite') {
    const { PGlite } = await import('@electric-sql/pglite');
    const client = new PGlite();
    await client.waitReady;
    return {
      store: sqlStore({ client }),
      release: async () => {
        if (!client.closed) await client.close();
      },
    };
  }
  const url = process.env.ATG_TEST_POSTGRES_URL;
  if (url === undefined || url === '') throw new StoreUnavailableError('ATG_TEST_POSTGRES_URL is not set');
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, max: 16 });
  const schema = `atg_bench_${process.pid}_${Date.now().toString(36)}`;
  return {
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
  close(): Promise<void>;
}

/**
 * Builds the governed gateway: the customer tool (HTTP, to `upstreamUrl`), the same record
 * from a local function, and a refund tool whose large amounts need approval.
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
    async close() {
      await gateway.close();
      await opened.release();
    },
  };
}
