import { GENESIS_HASH } from '../shared.js';
import type { SqlDriver, SqlQueryable } from './driver.js';
import type { SchemaNames } from './schema-name.js';

/** One forward-only step of the schema. Versions are consecutive from 1 and never edited once released. */
interface Migration {
  version: number;
  name: string;
  /** The statements, for the schema quoted as `s`. Run in one transaction with the version row. */
  statements(s: string): string[];
}

/*
 * Column conventions. Text columns hold strings as given, or, for the rare string Postgres
 * text cannot hold (U+0000, an unpaired surrogate) or one starting with a double quote,
 * its JSON encoding (see columns.ts). Timestamps are the ISO-8601 UTC strings of the records,
 * compared byte-wise (COLLATE "C"), exactly as the memory store compares them. Documents are
 * `json`, not `jsonb`: `json` keeps the text as written and accepts every string JSON can
 * carry, where `jsonb` refuses U+0000 and unpaired surrogates (which agents can send); the
 * store never queries inside documents, every filter has its own column. `seq` (bigserial)
 * is the insertion order that newest-first lists and their cursors follow.
 */
const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    statements: (s) => [
      `CREATE TABLE ${s}.agents (
        seq bigserial NOT NULL UNIQUE,
        id text COLLATE "C" PRIMARY KEY,
        name text NOT NULL,
        tags json NOT NULL,
        status text COLLATE "C" NOT NULL,
        key_hash text NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL,
        expires_at text COLLATE "C"
      )`,
      `CREATE TABLE ${s}.tools (
        name text COLLATE "C" PRIMARY KEY,
        definition json NOT NULL,
        version text NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL
      )`,
      `CREATE TABLE ${s}.policies (
        id text COLLATE "C" PRIMARY KEY,
        rule json NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL
      )`,
      `CREATE TABLE ${s}.invocations (
        seq bigserial NOT NULL UNIQUE,
        id text COLLATE "C" PRIMARY KEY,
        agent_id text COLLATE "C" NOT NULL,
        tool text COLLATE "C" NOT NULL,
        tool_version text,
        input_digest text COLLATE "C",
        input json,
        decision text,
        rule_ids json NOT NULL,
        approval_id text COLLATE "C",
        status text COLLATE "C" NOT NULL,
        door text NOT NULL,
        upstream_status integer,
        latency_ms double precision,
        output json,
        error json,
        idempotency_key text,
        created_at text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL
      )`,
      `CREATE INDEX invocations_agent_seq ON ${s}.invocations (agent_id, seq)`,
      `CREATE INDEX invocations_tool_seq ON ${s}.invocations (tool, seq)`,
      `CREATE INDEX invocations_status_seq ON ${s}.invocations (status, seq)`,
      `CREATE INDEX invocations_created_at ON ${s}.invocations (created_at)`,
      `CREATE TABLE ${s}.approvals (
        seq bigserial NOT NULL UNIQUE,
        id text COLLATE "C" PRIMARY KEY,
        invocation_id text COLLATE "C" NOT NULL,
        agent_id text COLLATE "C" NOT NULL,
        tool text COLLATE "C" NOT NULL,
        tool_version text NOT NULL,
        input_digest text COLLATE "C" NOT NULL,
        held_input json,
        input json,
        rule_ids json NOT NULL,
        status text COLLATE "C" NOT NULL,
        requested_at text COLLATE "C" NOT NULL,
        expires_at text COLLATE "C" NOT NULL,
        decided_at text COLLATE "C",
        decided_by text,
        reason text
      )`,
      `CREATE INDEX approvals_status_seq ON ${s}.approvals (status, seq)`,
      `CREATE INDEX approvals_agent_seq ON ${s}.approvals (agent_id, seq)`,
      `CREATE INDEX approvals_tool_seq ON ${s}.approvals (tool, seq)`,
      `CREATE INDEX approvals_input_digest_seq ON ${s}.approvals (input_digest, seq)`,
      `CREATE TABLE ${s}.idempotency_keys (
        agent_id text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        invocation_id text NOT NULL,
        fingerprint text NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        PRIMARY KEY (agent_id, key)
      )`,
      // The chain head as one row: an append is a compare-and-set on it. A writer that lost
      // a race may reserve the next append for a moment (see appendAudit and getAuditHead).
      `CREATE TABLE ${s}.audit_head (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        seq bigint NOT NULL,
        hash text NOT NULL,
        reserved_by text,
        reserved_until timestamptz
      )`,
      `INSERT INTO ${s}.audit_head (singleton, seq, hash) VALUES (true, -1, '${GENESIS_HASH}')`,
      `CREATE TABLE ${s}.audit_entries (
        seq bigint PRIMARY KEY CHECK (seq >= 0),
        prev_hash text NOT NULL,
        hash text NOT NULL,
        type text COLLATE "C" NOT NULL,
        agent_id text COLLATE "C",
        tool text COLLATE "C",
        at text COLLATE "C" NOT NULL,
        event json NOT NULL
      )`,
      `CREATE INDEX audit_entries_type_seq ON ${s}.audit_entries (type, seq)`,
      `CREATE INDEX audit_entries_agent_seq ON ${s}.audit_entries (agent_id, seq)`,
      `CREATE INDEX audit_entries_tool_seq ON ${s}.audit_entries (tool, seq)`,
      `CREATE TABLE ${s}.audit_checkpoints (
        id bigserial PRIMARY KEY,
        seq bigint NOT NULL,
        hash text NOT NULL,
        at text NOT NULL,
        signature text NOT NULL,
        key_id text NOT NULL
      )`,
      `CREATE INDEX audit_checkpoints_seq ON ${s}.audit_checkpoints (seq)`,
    ],
  },
  {
    version: 2,
    name: 'rate limit budgets',
    statements: (s) => [
      // One row per budget: the times (ms since the epoch) of its last `limit` calls, oldest
      // first, and when it will have been idle a whole window (the sweep deletes it then).
      `CREATE TABLE ${s}.rate_limit_budgets (
        key text COLLATE "C" PRIMARY KEY,
        times double precision[] NOT NULL,
        expires_at double precision NOT NULL
      )`,
      `CREATE INDEX rate_limit_budgets_expires_at ON ${s}.rate_limit_budgets (expires_at)`,
    ],
  },
];

/** The schema version this release of the SQL store reads and writes. */
export const SQL_SCHEMA_VERSION: number = migrations[migrations.length - 1]?.version ?? 0;

/** What a migration run did. */
export interface MigrationResult {
  schema: string;
  /** The version found (0: no schema yet). */
  from: number;
  /** The version now. */
  to: number;
  /** Versions applied by this run (empty when another instance or an earlier run did it). */
  applied: number[];
}

async function readVersion(queryable: SqlQueryable, names: SchemaNames): Promise<number> {
  const [presence] = await queryable.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [
    `${names.quoted}.schema_migrations`,
  ]);
  if (presence?.present !== true) return 0;
  const [row] = await queryable.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${names.quoted}.schema_migrations`);
  return row?.version ?? 0;
}

function newerSchemaError(names: SchemaNames, found: number): Error {
  return new Error(
    `The database schema "${names.schema}" is at version ${found}, newer than this version of agent-tool-gateway knows (${SQL_SCHEMA_VERSION}); upgrade agent-tool-gateway`,
  );
}

/**
 * Fails unless the schema is at exactly the version this release uses (stores started
 * with `migrate: false`, after `atg migrate` ran in a deploy step).
 */
export async function assertSchemaCurrent(driver: SqlDriver, names: SchemaNames): Promise<void> {
  const found = await readVersion(driver, names);
  if (found > SQL_SCHEMA_VERSION) throw newerSchemaError(names, found);
  if (found < SQL_SCHEMA_VERSION) {
    throw new Error(
      found === 0
        ? `The database has no agent-tool-gateway schema "${names.schema}" yet; run \`atg migrate\` or start the store with migrations on`
        : `The database schema "${names.schema}" is at version ${found}, this version of agent-tool-gateway needs ${SQL_SCHEMA_VERSION}; run \`atg migrate\``,
    );
  }
}

/**
 * Brings the schema to {@link SQL_SCHEMA_VERSION}. Cheap when it is current (one read, no
 * lock, no DDL). Otherwise one transaction holding an advisory lock derived from the schema
 * name applies what is missing, so instances starting together do not race: the second
 * waits, then finds nothing left to do. Forward only: a newer schema than this release
 * knows is refused.
 */
export async function migrateSchema(driver: SqlDriver, names: SchemaNames): Promise<MigrationResult> {
  const current = await readVersion(driver, names);
  if (current > SQL_SCHEMA_VERSION) throw newerSchemaError(names, current);
  if (current === SQL_SCHEMA_VERSION) return { schema: names.schema, from: current, to: current, applied: [] };

  return driver.transaction(async (transaction) => {
    await transaction.query('SELECT pg_advisory_xact_lock($1::bigint)', [names.migrationLockKey]);
    const [schemaRow] = await transaction.query<{ present: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS present',
      [names.schema],
    );
    if (schemaRow?.present !== true) await transaction.query(`CREATE SCHEMA ${names.quoted}`);
    await transaction.query(
      `CREATE TABLE IF NOT EXISTS ${names.quoted}.schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`,
    );
    const from = await readVersion(transaction, names);
    if (from > SQL_SCHEMA_VERSION) throw newerSchemaError(names, from);
    const applied: number[] = [];
    for (const migration of migrations) {
      if (migration.version <= from) continue;
      for (const statement of migration.statements(names.quoted)) await transaction.query(statement);
      await transaction.query(`INSERT INTO ${names.quoted}.schema_migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
    }
    return { schema: names.schema, from, to: SQL_SCHEMA_VERSION, applied };
  });
}
