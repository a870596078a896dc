import { randomUUID } from 'node:crypto';
import { GatewayError, retryLater } from '../../errors.js';
import type { RateLimiter } from '../../policy/rate-limit.js';
import { MAX_PAGE_SIZE, agentIsAsExpected, auditEventMatches, clampLimit, decodeCursor, encodeCursor, revives } from '../shared.js';
import type {
  AgentRecord,
  ApprovalFilter,
  AuditEntry,
  AuditFilter,
  AuditIndexMismatch,
  InvocationFilter,
  ListOptions,
  Page,
  Store,
} from '../types.js';
import {
  AGENT_COLUMNS,
  AGENT_PATCH_COLUMNS,
  APPROVAL_COLUMNS,
  APPROVAL_INSERT_COLUMNS,
  APPROVAL_PATCH_COLUMNS,
  APPROVAL_PLACEHOLDERS,
  AUDIT_COLUMNS,
  AUDIT_LISTED_COLUMNS,
  type AgentRow,
  type ApprovalRow,
  type AuditListedRow,
  type AuditRow,
  CHECKPOINT_COLUMNS,
  type CheckpointRow,
  IDEMPOTENCY_COLUMNS,
  INVOCATION_CASTS,
  INVOCATION_COLUMNS,
  INVOCATION_INSERT_COLUMNS,
  type IdempotencyRow,
  type InvocationRow,
  POLICY_COLUMNS,
  type PolicyRow,
  TOOL_COLUMNS,
  type ToolRow,
  agentFromRow,
  agentParams,
  approvalFromRow,
  approvalParams,
  auditColumnArrays,
  auditEntryFromRow,
  auditIndexMismatch,
  checkpointFromRow,
  checkpointParams,
  decodeText,
  encodeJson,
  encodeText,
  idempotencyFromRow,
  idempotencyParams,
  invocationFromRow,
  invocationParams,
  policyFromRow,
  policyParams,
  storedAsIs,
  toNumber,
  toolFromRow,
  toolParams,
} from './columns.js';
import { type SqlClient, type SqlDriver, createSqlDriver } from './driver.js';
import { type MigrationResult, assertSchemaCurrent, migrateSchema } from './migrations.js';
import { type ChangeKind, ChangeNotifier } from './notifications.js';
import { Conditions, ValuesRows, patchAssignments } from './query-building.js';
import { sqlRateLimiter } from './rate-limits.js';
import { schemaNames } from './schema-name.js';
import { WriteCombiner } from './write-combiner.js';
import { MAX_TIMER_MS, within } from '../../util/timers.js';

/** Options of {@link sqlStore}. */
export interface SqlStoreOptions {
  /**
   * A `pg.Pool` (real Postgres: several gateway instances on one database) or a PGlite
   * instance (embedded Postgres, in memory or on a data directory: one process).
   */
  client: SqlClient;
  /**
   * The Postgres schema that holds every table: lower-case letters, digits and underscores,
   * at most 48 characters. Default `'atg'`. Several gateways (or test runs) can share one
   * database in different schemas.
   */
  schema?: string;
  /**
   * Apply pending migrations when the store is first used (default `true`). With `false`,
   * the store only checks the schema version and refuses to work until `atg migrate` (or
   * `store.migrate()`) has brought it up to date: for deployments that migrate as a step of
   * their own, with a database role that cannot run DDL.
   */
  migrate?: boolean;
  /** Also end the pool / close the PGlite instance in `close()`. Default `false`: the client is yours. */
  closeClient?: boolean;
}

/** The SQL store: every {@link Store} operation, plus migrations and cross-instance change announcements. */
export interface SqlStore extends Store {
  /** The schema this store lives in. */
  readonly schema: string;
  /** Which engine the client is. */
  readonly engine: 'postgres' | 'pglite';
  /**
   * Always `true` (see {@link Store.keepsWholeAuditChain}): the SQL store never removes audit
   * entries, so `verifyAuditChain`, `atg audit verify` and `GET /admin/audit/verify` report
   * entries deleted from the start as `missing` at 0.
   */
  readonly keepsWholeAuditChain: true;
  /**
   * Rate-limit budgets in the schema, shared by every gateway instance on it (see
   * {@link Store.rateLimiter}): a budget costs one SQL statement per call it is charged.
   */
  readonly rateLimiter: RateLimiter;
  /** Brings the schema up to date now (normally done on first use) and says what was applied. */
  migrate(): Promise<MigrationResult>;
  /**
   * Calls `onChange` when another store on this database announces a change (LISTEN/NOTIFY),
   * and with each kind whenever it starts listening (first, and after a lost connection):
   * what was announced before it listened was not heard.
   */
  watch(onChange: (kind: ChangeKind) => void): () => void;
  /** Tells the stores watching this database's schema that tools, policies or agents changed. */
  announce(kind: ChangeKind): Promise<void>;
  /**
   * Closes the store. From the call on, every new operation fails with `sqlStore: store is
   * closed`; invocation records accepted before it (`putInvocation`) are still written, for
   * up to `timeoutMs` (default 5000 ms, 5 s). A statement that has
   * not returned by then (blocked behind a lock, on a connection that no longer answers) is
   * not waited for: the store is closed, the writes still waiting fail with an error saying
   * so (one in flight may still be written), and `close()` resolves. With `closeClient`, the
   * pool then ends in the background, once that statement returns. Calling `close()` again
   * returns the same promise. `gateway.close({ timeoutMs })` passes what is left of its own
   * `timeoutMs` (at least 1 s).
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
}

/**
 * How long {@link SqlStore.close} waits by default for the invocation records accepted before
 * it to be written (ms). A bound, so that a statement that never returns cannot keep the
 * store from closing.
 */
const SQL_STORE_CLOSE_TIMEOUT_MS = 5_000;

const UNIQUE_VIOLATION = '23505';

/**
 * How long a writer that lost an audit append race holds the next append for itself. Its
 * relinked batch normally follows within milliseconds; if it never does (the process died),
 * the others wait at most this long.
 */
const auditReservationMs = 500;

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === UNIQUE_VIOLATION;
}

/**
 * A store on Postgres, or on PGlite (embedded Postgres), with the same SQL for both. Every
 * table lives in one schema, created and migrated on first use. The atomic operations are
 * single statements: approval decisions and execution claims are `UPDATE … WHERE status =
 * expected`, idempotency keys `INSERT … ON CONFLICT DO NOTHING` (released with a `DELETE`
 * that names the reserving call), audit appends a
 * compare-and-set on the chain's head row together with the insert of the batch. So any
 * number of gateway instances can share one Postgres schema.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { createGateway } from 'agent-tool-gateway';
 * import { sqlStore } from 'agent-tool-gateway/sql';
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const gateway = createGateway({ store: sqlStore({ client: pool }), tools: [] });
 * ```
 *
 * @example
 * ```ts
 * import { PGlite } from '@electric-sql/pglite';
 * import { sqlStore } from 'agent-tool-gateway/sql';
 *
 * // One process, persisted in a directory.
 * const store = sqlStore({ client: new PGlite('./data/atg'), closeClient: true });
 * ```
 */
export function sqlStore(options: SqlStoreOptions): SqlStore {
  if (typeof options !== 'object' || options === null) throw new TypeError('sqlStore: options are required');
  const names = schemaNames(options.schema);
  const driver: SqlDriver = createSqlDriver(options.client);
  const s = names.quoted;
  const migrateOnStart = options.migrate ?? true;

  let readiness: Promise<void> | undefined;
  let closed = false;
  let closing: Promise<void> | undefined;
  /** Identifies this store's audit appends in the head row's reservation. */
  const writerId = randomUUID();
  /** True while this store's most recent audit append lost the race for the head. */
  let lostLastAppend = false;

  const storeClosed = () => new Error('sqlStore: store is closed');
  /** True from the moment close() is called: new work is refused. */
  const refusing = () => closed || closing !== undefined;

  /**
   * Resolves once the schema is known to be current; a failure is retried by the next
   * operation. Refuses once close() was called, except (`acceptedBeforeClose`) for the
   * statements of writes accepted before, until the store is closed.
   */
  const ready = (acceptedBeforeClose = false): Promise<void> => {
    if (closed || (!acceptedBeforeClose && closing !== undefined)) return Promise.reject(storeClosed());
    readiness ??= (migrateOnStart ? migrateSchema(driver, names).then(() => undefined) : assertSchemaCurrent(driver, names)).catch(
      (error: unknown) => {
        readiness = undefined;
        throw error;
      },
    );
    return readiness;
  };

  const query = async <Row>(text: string, params: readonly unknown[] = []): Promise<Row[]> => {
    await ready();
    return driver.query<Row>(text, params);
  };

  /** A statement of an invocation write accepted before close(): it still goes out while the store closes. */
  const acceptedWriteQuery = async (text: string, params: readonly unknown[]): Promise<void> => {
    await ready(true);
    await driver.query(text, params);
  };

  const notifier = new ChangeNotifier(driver, names.channel, () => ready());
  const rateLimiter = sqlRateLimiter({
    s,
    query,
    transaction: async (work) => {
      await ready();
      return driver.transaction(work);
    },
  });

  // A call's record is written when it ends; concurrent calls' records share one upsert.
  // Each write is encoded when it is made (a record changed afterwards is not what is
  // written). A replaced record keeps its place (its seq) in newest-first lists.
  const invocationRows = new ValuesRows(INVOCATION_CASTS);
  const insertInvocations = (count: number) =>
    `INSERT INTO ${s}.invocations (${INVOCATION_INSERT_COLUMNS.join(', ')}) VALUES ${invocationRows.rows(count)}`;
  const upsertInvocations = (count: number) =>
    `${insertInvocations(count)} ON CONFLICT (id) DO UPDATE SET ${INVOCATION_UPSERT_ASSIGNMENTS}`;
  const insertOneInvocation = insertInvocations(1);
  const upsertOneInvocation = upsertInvocations(1);
  const invocationWrites = new WriteCombiner<unknown[]>({
    one: (params) => acceptedWriteQuery(upsertOneInvocation, params),
    many: (rows) => acceptedWriteQuery(upsertInvocations(rows.length), rows.flat()),
    // The encoded id.
    keyOf: (params) => params[0] as string,
    // 500 rows of 18 parameters stay well below the protocol's 65,535 parameters per statement.
    maxBatch: 500,
    // Postgres out of reach is no record's fault: one by one, each would only fail again.
    retryEach: (error) => !(error instanceof GatewayError && error.code === 'STORE_UNAVAILABLE'),
  });

  const newestFirst = async <Row extends { seq: string | number }, Item>(
    table: string,
    columns: string,
    conditions: Conditions,
    options: ListOptions,
    fromRow: (row: Row) => Item,
  ): Promise<Page<Item>> => {
    const limit = clampLimit(options.limit, MAX_PAGE_SIZE);
    if (options.cursor !== undefined) conditions.add('seq < $?', decodeCursor(options.cursor));
    const limitParam = conditions.param(limit + 1);
    const rows = await query<Row>(
      `SELECT ${columns} FROM ${s}.${table} ${conditions.where()} ORDER BY seq DESC LIMIT ${limitParam}`,
      conditions.params,
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    const items = page.map(fromRow);
    return rows.length > limit && last !== undefined ? { items, nextCursor: encodeCursor(toNumber(last.seq)) } : { items };
  };

  const getAgent = async (id: string): Promise<AgentRecord | undefined> => {
    const [row] = await query<AgentRow>(`SELECT ${AGENT_COLUMNS} FROM ${s}.agents WHERE id = $1`, [encodeText(id)]);
    return row && agentFromRow(row);
  };

  return {
    schema: names.schema,
    engine: driver.engine,
    keepsWholeAuditChain: true,
    rateLimiter,

    async migrate() {
      if (refusing()) throw storeClosed();
      const result = await migrateSchema(driver, names);
      readiness = Promise.resolve();
      return result;
    },

    // Agents

    async createAgent(agent) {
      try {
        await query(
          `INSERT INTO ${s}.agents (id, name, tags, status, key_hash, created_at, updated_at, expires_at)
           VALUES ($1, $2, $3::json, $4, $5, $6, $7, $8)`,
          agentParams(agent),
        );
      } catch (error) {
        if (isUniqueViolation(error)) throw new Error(`agent ${agent.id} exists`);
        throw error;
      }
    },
    getAgent,
    async updateAgent(id, patch, expected) {
      const params: unknown[] = [encodeText(id)];
      const assignments = patchAssignments(patch, AGENT_PATCH_COLUMNS, params);
      if (assignments.length === 0) {
        const agent = await getAgent(id);
        return agent !== undefined && (expected === undefined || agentIsAsExpected(agent, expected)) ? agent : undefined;
      }
      // Revocation is final: under the row's lock, a racing re-enable finds it revoked.
      let conditions = revives(patch) ? ` AND status <> 'revoked'` : '';
      // Compare-and-set on the key: a racing rotation re-checks the row it waited for and misses.
      if (expected !== undefined) {
        params.push(encodeText(expected.keyHash));
        conditions += ` AND key_hash = $${params.length}`;
        if (expected.status !== undefined) {
          params.push(encodeText(expected.status));
          conditions += ` AND status = $${params.length}`;
        }
        if (expected.updatedAt !== undefined) {
          params.push(encodeText(expected.updatedAt));
          conditions += ` AND updated_at = $${params.length}`;
        }
      }
      const [row] = await query<AgentRow>(
        `UPDATE ${s}.agents SET ${assignments.join(', ')} WHERE id = $1${conditions} RETURNING ${AGENT_COLUMNS}`,
        params,
      );
      return row && agentFromRow(row);
    },
    async listAgents(listOptions: ListOptions = {}) {
      const limit = clampLimit(listOptions.limit, MAX_PAGE_SIZE);
      const after = listOptions.cursor === undefined ? 0 : decodeCursor(listOptions.cursor);
      const rows = await query<AgentRow>(`SELECT ${AGENT_COLUMNS} FROM ${s}.agents WHERE seq > $1 ORDER BY seq LIMIT $2`, [
        after,
        limit + 1,
      ]);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      const items = page.map(agentFromRow);
      return rows.length > limit && last !== undefined ? { items, nextCursor: encodeCursor(toNumber(last.seq)) } : { items };
    },

    // Tools and policies

    async putTool(tool) {
      await query(
        `INSERT INTO ${s}.tools (name, definition, version, created_at, updated_at) VALUES ($1, $2::json, $3, $4, $5)
         ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition, version = EXCLUDED.version,
           created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at`,
        toolParams(tool),
      );
    },
    async replaceTool(tool, expected) {
      if (expected === null) {
        const inserted = await query(
          `INSERT INTO ${s}.tools (name, definition, version, created_at, updated_at) VALUES ($1, $2::json, $3, $4, $5)
           ON CONFLICT (name) DO NOTHING RETURNING name`,
          toolParams(tool),
        );
        return inserted.length === 1;
      }
      // The json column keeps the text as written: the definition is compared as that text.
      const rows = await query(
        `UPDATE ${s}.tools SET definition = $2::json, version = $3, created_at = $4, updated_at = $5
         WHERE name = $1 AND definition::text = $6 RETURNING name`,
        [...toolParams(tool), encodeJson(expected.definition)],
      );
      return rows.length === 1;
    },
    async getTool(name) {
      const [row] = await query<ToolRow>(`SELECT ${TOOL_COLUMNS} FROM ${s}.tools WHERE name = $1`, [encodeText(name)]);
      return row && toolFromRow(row);
    },
    async deleteTool(name, expected) {
      if (expected === undefined) {
        const rows = await query(`DELETE FROM ${s}.tools WHERE name = $1 RETURNING name`, [encodeText(name)]);
        return rows.length > 0;
      }
      // Compared as replaceTool compares: the definition's text as written.
      const rows = await query(`DELETE FROM ${s}.tools WHERE name = $1 AND definition::text = $2 RETURNING name`, [
        encodeText(name),
        encodeJson(expected.definition),
      ]);
      return rows.length === 1;
    },
    async listTools() {
      const rows = await query<ToolRow>(`SELECT ${TOOL_COLUMNS} FROM ${s}.tools`);
      // Sorted here, by UTF-16 code units, exactly as the memory store sorts.
      return rows.map(toolFromRow).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
    async putPolicy(policy) {
      await query(
        `INSERT INTO ${s}.policies (id, rule, created_at, updated_at) VALUES ($1, $2::json, $3, $4)
         ON CONFLICT (id) DO UPDATE SET rule = EXCLUDED.rule, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at`,
        policyParams(policy),
      );
    },
    async replacePolicy(policy, expected) {
      if (expected === null) {
        const inserted = await query(
          `INSERT INTO ${s}.policies (id, rule, created_at, updated_at) VALUES ($1, $2::json, $3, $4)
           ON CONFLICT (id) DO NOTHING RETURNING id`,
          policyParams(policy),
        );
        return inserted.length === 1;
      }
      // The stored text is compared as it was read (parsed), so that a rule stored with other
      // spacing (written by hand) can be changed; the write then takes place only over that
      // exact text (the json column keeps the text as written).
      const [row] = await query<{ rule: string }>(`SELECT rule::text AS rule FROM ${s}.policies WHERE id = $1`, [encodeText(policy.id)]);
      if (row === undefined || encodeJson(JSON.parse(row.rule)) !== encodeJson(expected.rule)) return false;
      const rows = await query(
        `UPDATE ${s}.policies SET rule = $2::json, created_at = $3, updated_at = $4
         WHERE id = $1 AND rule::text = $5 RETURNING id`,
        [...policyParams(policy), row.rule],
      );
      return rows.length === 1;
    },
    async getPolicy(id) {
      const [row] = await query<PolicyRow>(`SELECT ${POLICY_COLUMNS} FROM ${s}.policies WHERE id = $1`, [encodeText(id)]);
      return row && policyFromRow(row);
    },
    async deletePolicy(id, expected) {
      if (expected === undefined) {
        const rows = await query(`DELETE FROM ${s}.policies WHERE id = $1 RETURNING id`, [encodeText(id)]);
        return rows.length > 0;
      }
      // Compared as replacePolicy compares: the stored text as read (parsed), then deleted only
      // while it is still that exact text.
      const [row] = await query<{ rule: string }>(`SELECT rule::text AS rule FROM ${s}.policies WHERE id = $1`, [encodeText(id)]);
      if (row === undefined || encodeJson(JSON.parse(row.rule)) !== encodeJson(expected.rule)) return false;
      const rows = await query(`DELETE FROM ${s}.policies WHERE id = $1 AND rule::text = $2 RETURNING id`, [encodeText(id), row.rule]);
      return rows.length === 1;
    },
    async listPolicies() {
      const rows = await query<PolicyRow>(`SELECT ${POLICY_COLUMNS} FROM ${s}.policies`);
      return rows.map(policyFromRow).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },

    // Invocations

    async createInvocation(record) {
      try {
        await query(insertOneInvocation, invocationParams(record));
      } catch (error) {
        if (isUniqueViolation(error)) throw new Error(`invocation ${record.id} exists`);
        throw error;
      }
    },
    async putInvocation(record) {
      // Writes accepted before close() still go out; none is accepted after.
      if (refusing()) throw storeClosed();
      return invocationWrites.write(invocationParams(record));
    },
    async getInvocation(id) {
      const [row] = await query<InvocationRow>(`SELECT ${INVOCATION_COLUMNS} FROM ${s}.invocations WHERE id = $1`, [encodeText(id)]);
      return row && invocationFromRow(row);
    },
    async listInvocations(filter: InvocationFilter = {}) {
      const conditions = new Conditions();
      conditions.equals('agent_id', filter.agentId);
      conditions.equals('tool', filter.tool);
      conditions.equals('status', filter.status);
      if (filter.from !== undefined) conditions.add('created_at >= $?', encodeText(filter.from));
      if (filter.to !== undefined) conditions.add('created_at < $?', encodeText(filter.to));
      return newestFirst('invocations', INVOCATION_COLUMNS, conditions, filter, invocationFromRow);
    },

    // Approvals

    async createApproval(record) {
      try {
        await query(
          `INSERT INTO ${s}.approvals (${APPROVAL_INSERT_COLUMNS.join(', ')}) VALUES (${APPROVAL_PLACEHOLDERS})`,
          approvalParams(record),
        );
      } catch (error) {
        if (isUniqueViolation(error)) throw new Error(`approval ${record.id} exists`);
        throw error;
      }
    },
    async getApproval(id) {
      const [row] = await query<ApprovalRow>(`SELECT ${APPROVAL_COLUMNS} FROM ${s}.approvals WHERE id = $1`, [encodeText(id)]);
      return row && approvalFromRow(row);
    },
    async listApprovals(filter: ApprovalFilter = {}) {
      const conditions = new Conditions();
      conditions.equals('status', filter.status);
      conditions.equals('agent_id', filter.agentId);
      conditions.equals('tool', filter.tool);
      conditions.equals('input_digest', filter.inputDigest);
      return newestFirst('approvals', APPROVAL_COLUMNS, conditions, filter, approvalFromRow);
    },
    async transitionApproval(id, expected, patch) {
      const params: unknown[] = [encodeText(id), encodeText(expected)];
      const assignments = patchAssignments(patch, APPROVAL_PATCH_COLUMNS, params);
      // An empty patch still has to check the state: assign status to itself.
      if (assignments.length === 0) assignments.push('status = status');
      // One statement: Postgres re-checks `status` after waiting for a concurrent update of
      // the row, so of any number of concurrent transitions from `expected` one matches.
      const [row] = await query<ApprovalRow>(
        `UPDATE ${s}.approvals SET ${assignments.join(', ')} WHERE id = $1 AND status = $2 RETURNING ${APPROVAL_COLUMNS}`,
        params,
      );
      return row && approvalFromRow(row);
    },

    // Idempotency

    async reserveIdempotencyKey(record) {
      const params = idempotencyParams(record);
      // A few rounds at most: each ends with a reservation unless the one in the way was
      // released between the statement and the read that follows it.
      for (let round = 1; ; round++) {
        const [row] = await query<IdempotencyRow & { created: boolean }>(
          `WITH inserted AS (
             INSERT INTO ${s}.idempotency_keys (${IDEMPOTENCY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (agent_id, key) DO NOTHING
             RETURNING ${IDEMPOTENCY_COLUMNS}
           )
           SELECT true AS created, ${IDEMPOTENCY_COLUMNS} FROM inserted
           UNION ALL
           SELECT false AS created, ${IDEMPOTENCY_COLUMNS} FROM ${s}.idempotency_keys
           WHERE agent_id = $1 AND key = $2 AND NOT EXISTS (SELECT 1 FROM inserted)`,
          params,
        );
        if (row !== undefined) return { created: row.created === true, record: idempotencyFromRow(row) };
        // The conflicting row was committed by another transaction after this statement's
        // snapshot was taken: it exists now, read it with a fresh snapshot.
        const [existing] = await query<IdempotencyRow>(
          `SELECT ${IDEMPOTENCY_COLUMNS} FROM ${s}.idempotency_keys WHERE agent_id = $1 AND key = $2`,
          [params[0], params[1]],
        );
        if (existing !== undefined) return { created: false, record: idempotencyFromRow(existing) };
        // Released meanwhile (its call was refused by a rate limit): try to take it again.
        if (round === 5) {
          throw retryLater('Calls with this idempotency key keep racing; retry later');
        }
      }
    },

    async releaseIdempotencyKey({ agentId, key, invocationId }) {
      const rows = await query(`DELETE FROM ${s}.idempotency_keys WHERE agent_id = $1 AND key = $2 AND invocation_id = $3 RETURNING key`, [
        encodeText(agentId),
        encodeText(key),
        encodeText(invocationId),
      ]);
      return rows.length > 0;
    },

    async moveIdempotencyKey({ agentId, key, invocationId }, to) {
      const rows = await query(
        `UPDATE ${s}.idempotency_keys SET invocation_id = $4 WHERE agent_id = $1 AND key = $2 AND invocation_id = $3 RETURNING key`,
        [encodeText(agentId), encodeText(key), encodeText(invocationId), encodeText(to)],
      );
      return rows.length > 0;
    },

    // Audit chain

    async getAuditHead(options) {
      if (lostLastAppend && options?.forAppend === true) {
        // This store's last append lost the race and its writer reads the head to relink the
        // batch: reserve the next append, unless another writer holds the reservation. Without
        // it, a writer that appends back to back (it knows its own head) could beat the
        // relinked batch every time, and the loser would give up. A read that only looks
        // (verify, export) reserves nothing: no append would follow to release it.
        await query(
          `UPDATE ${s}.audit_head SET reserved_by = $1, reserved_until = clock_timestamp() + interval '${auditReservationMs} milliseconds'
           WHERE singleton AND (reserved_by IS NULL OR reserved_by = $1 OR reserved_until < clock_timestamp())`,
          [writerId],
        );
      }
      // The head row is the chain's own record of its head, and the anchor appends must
      // link onto: normally the last entry, joined here to return it.
      const [row] = await query<HeadRow & Partial<AuditRow>>(
        `SELECT h.seq AS head_seq, h.hash AS head_hash, e.seq, e.prev_hash, e.hash, e.event::text AS event
         FROM ${s}.audit_head h LEFT JOIN ${s}.audit_entries e ON e.seq = h.seq AND e.hash = h.hash
         WHERE h.singleton`,
      );
      if (row === undefined) {
        // The head row itself was deleted: appends fail (see appendAudit); verification still
        // runs over the entries there are.
        const [last] = await query<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM ${s}.audit_entries ORDER BY seq DESC LIMIT 1`);
        return last && auditEntryFromRow(last);
      }
      const headSeq = toNumber(row.head_seq);
      if (headSeq < 0) return undefined;
      if (row.seq !== null && row.seq !== undefined) return auditEntryFromRow(row as AuditRow);
      // The entry the head records is gone (entries were cut off the end of the chain) or was
      // replaced. New entries still link onto the recorded head, so the gap stays in the chain
      // for verification to report; this stand-in carries the recorded seq and hash only.
      return cutHeadStandIn(headSeq, decodeText(row.head_hash));
    },
    async appendAudit(entries) {
      if (entries.length === 0) return true;
      const first = entries[0] as AuditEntry;
      for (let index = 1; index < entries.length; index++) {
        const entry = entries[index] as AuditEntry;
        const previous = entries[index - 1] as AuditEntry;
        if (entry.seq !== previous.seq + 1 || entry.prevHash !== previous.hash) {
          throw new Error('appendAudit: entries are not consecutive');
        }
      }
      const last = entries[entries.length - 1] as AuditEntry;
      // One statement, so all or nothing: a compare-and-set moves the head row from the
      // entry before the batch to its last entry, and the batch is inserted only if it did.
      // A concurrent append waits for the head row, re-reads it, no longer matches, and
      // inserts nothing. `seq` as primary key backs this up: the chain cannot fork. While
      // another writer holds a live reservation (see getAuditHead), appends of others fail.
      const rows = await query<{ seq: string | number }>(
        `WITH head AS (
           UPDATE ${s}.audit_head SET seq = $1, hash = $2, reserved_by = NULL, reserved_until = NULL
           WHERE singleton AND seq = $3 AND hash = $4
             AND (reserved_by IS NULL OR reserved_by = $13 OR reserved_until < clock_timestamp())
           RETURNING seq
         )
         INSERT INTO ${s}.audit_entries (seq, prev_hash, hash, type, agent_id, tool, at, event)
         SELECT entry.seq, entry.prev_hash, entry.hash, entry.type, entry.agent_id, entry.tool, entry.at, events.event
         FROM unnest($5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[]) WITH ORDINALITY
           AS entry (seq, prev_hash, hash, type, agent_id, tool, at, position)
         JOIN json_array_elements($12::json) WITH ORDINALITY AS events (event, position) USING (position)
         WHERE EXISTS (SELECT 1 FROM head)
         RETURNING seq`,
        [last.seq, encodeText(last.hash), first.seq - 1, encodeText(first.prevHash), ...auditColumnArrays(entries), writerId],
      );
      lostLastAppend = rows.length !== entries.length;
      if (!lostLastAppend) return true;
      // Refused. Normally another writer moved the head first, but the head may also name an
      // entry that is no longer there: say so rather than let the caller retry in vain.
      const [head] = await query<HeadRow & { present: boolean }>(
        `SELECT h.seq AS head_seq, h.hash AS head_hash, EXISTS (SELECT 1 FROM ${s}.audit_entries e WHERE e.seq = h.seq) AS present
         FROM ${s}.audit_head h WHERE h.singleton`,
      );
      if (head === undefined) {
        throw new Error(`appendAudit: the audit chain's head row (${names.schema}.audit_head) is missing; no entry can be appended`);
      }
      const headSeq = toNumber(head.head_seq);
      if (headSeq >= 0 && !head.present && headSeq !== first.seq - 1) {
        throw new Error(
          `appendAudit: the audit chain was cut: its recorded head, seq ${headSeq}, is not in ${names.schema}.audit_entries ` +
            `(entries were deleted); new entries link onto the recorded head (getAuditHead), leaving the gap for verification to report`,
        );
      }
      return false;
    },
    async listAudit(filter: AuditFilter = {}) {
      const limit = clampLimit(filter.limit, MAX_PAGE_SIZE);
      const conditions = new Conditions();
      const cursorSeq = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
      const fromSeq = Math.max(filter.fromSeq ?? 0, cursorSeq ?? 0);
      if (fromSeq > 0) conditions.add('seq >= $?', fromSeq);
      if (filter.toSeq !== undefined) conditions.add('seq <= $?', filter.toSeq);
      if (filter.type !== undefined) {
        if (storedAsIs(filter.type)) {
          // The type itself or a sub-type (`approval` matches `approval.decided`): '/' follows '.'.
          conditions.add('(type = $? OR (type >= $? AND type < $?))', filter.type, `${filter.type}.`, `${filter.type}/`);
        } else {
          conditions.equals('type', filter.type);
        }
      }
      conditions.equals('agent_id', filter.agentId);
      conditions.equals('tool', filter.tool);
      if (filter.from !== undefined) conditions.add('at >= $?', encodeText(filter.from));
      if (filter.to !== undefined) conditions.add('at < $?', encodeText(filter.to));
      const limitParam = conditions.param(limit + 1);
      const rows = await query<AuditListedRow>(
        `SELECT ${AUDIT_LISTED_COLUMNS} FROM ${s}.audit_entries ${conditions.where()} ORDER BY seq LIMIT ${limitParam}`,
        conditions.params,
      );
      // The filters select by the index columns, which the chain's hashes do not cover: each
      // row read is checked against its event. One that disagrees is reported on the page, and
      // left out when its event does not match the filter (a forged copy selected it).
      const items: AuditEntry[] = [];
      let indexMismatches: AuditIndexMismatch[] | undefined;
      for (const row of rows.slice(0, limit)) {
        const entry = auditEntryFromRow(row);
        const columns = auditIndexMismatch(row, entry.event);
        if (columns !== undefined) {
          (indexMismatches ??= []).push({ seq: entry.seq, columns });
          if (!auditEventMatches(entry.event, filter)) continue;
        }
        items.push(entry);
      }
      const next = rows[limit];
      return {
        items,
        ...(next === undefined ? {} : { nextCursor: encodeCursor(toNumber(next.seq)) }),
        ...(indexMismatches === undefined ? {} : { indexMismatches }),
      };
    },
    async appendCheckpoint(checkpoint) {
      await query(`INSERT INTO ${s}.audit_checkpoints (${CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5)`, checkpointParams(checkpoint));
    },
    async listCheckpoints(range = {}) {
      const conditions = new Conditions();
      if (range.fromSeq !== undefined) conditions.add('seq >= $?', range.fromSeq);
      if (range.toSeq !== undefined) conditions.add('seq <= $?', range.toSeq);
      const rows = await query<CheckpointRow>(
        `SELECT ${CHECKPOINT_COLUMNS} FROM ${s}.audit_checkpoints ${conditions.where()} ORDER BY seq, id`,
        conditions.params,
      );
      return rows.map(checkpointFromRow);
    },

    // Changes made by other instances

    watch(onChange) {
      return notifier.watch(onChange);
    },
    async announce(kind) {
      await ready();
      await notifier.announce(kind);
    },

    close(closeOptions) {
      const timeoutMs = closeOptions?.timeoutMs ?? SQL_STORE_CLOSE_TIMEOUT_MS;
      if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0 && timeoutMs <= MAX_TIMER_MS)) {
        return Promise.reject(new TypeError(`sqlStore: close()'s timeoutMs must be a number from 0 to ${MAX_TIMER_MS}`));
      }
      closing ??= (async () => {
        const shutdown = (async () => {
          // Invocation writes accepted before close() still go out (they wait a microtask,
          // or for the statement in flight) before the store refuses them too.
          await invocationWrites.settled();
          closed = true;
          await notifier.close();
          if (options.closeClient === true) await driver.close();
        })();
        if (
          await within(
            shutdown.then(() => true),
            timeoutMs,
            false,
            false,
          )
        )
          return;
        // A statement that does not return (a lock, a connection that no longer answers) must
        // not hold close() up for ever. What is left goes on without being waited for: the
        // listening session's end, and the pool's, which waits for that statement.
        shutdown.catch(() => undefined);
        closed = true;
        invocationWrites.abandon(
          new Error(
            `sqlStore: store is closed; close() stopped waiting for this invocation write after ${timeoutMs} ms (a statement in flight may still be written)`,
          ),
        );
      })();
      return closing;
    },
  };
}

interface HeadRow {
  head_seq: string | number;
  head_hash: string;
}

/**
 * What `getAuditHead` answers when the entry the head row records is not in the table: the
 * recorded seq and hash (all an append links onto), an empty `prevHash`, and an event of
 * type `audit.head_missing` that is no entry of the chain.
 */
function cutHeadStandIn(seq: number, hash: string): AuditEntry {
  return {
    seq,
    prevHash: '',
    hash,
    event: {
      id: '',
      type: 'audit.head_missing',
      at: '',
      actor: 'system',
      data: { reason: 'the entry at the recorded head is not stored' },
    },
  };
}

const INVOCATION_UPSERT_ASSIGNMENTS = INVOCATION_INSERT_COLUMNS.filter((column) => column !== 'id')
  .map((column) => `${column} = EXCLUDED.${column}`)
  .join(', ');
