import { createHash } from 'node:crypto';
import { quoteIdentifier } from './driver.js';

/** The schema the SQL store uses when none is given. */
export const DEFAULT_SQL_SCHEMA = 'atg';

// Lower case only, so the name means the same quoted or not; short enough that the
// channel name derived from it stays within Postgres's 63-byte identifier limit.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,47}$/;

/** A validated schema name and the names derived from it. */
export interface SchemaNames {
  /** The schema name as given. */
  readonly schema: string;
  /** The schema name, double-quoted for SQL. */
  readonly quoted: string;
  /** The LISTEN/NOTIFY channel of change announcements in this schema. */
  readonly channel: string;
  /** The advisory lock key (a signed 64-bit integer, as text) that serialises migrations. */
  readonly migrationLockKey: string;
}

/** Checks a schema name and derives the quoted name, the channel and the lock key. */
export function schemaNames(schema: string = DEFAULT_SQL_SCHEMA): SchemaNames {
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw new TypeError(
      'sqlStore: `schema` must be 1 to 48 characters of lower-case letters, digits and underscores, not starting with a digit',
    );
  }
  // Postgres keeps `pg_*` for itself (it refuses to create such a schema) and owns
  // information_schema: the store would fail on every use.
  if (schema.startsWith('pg_') || schema === 'information_schema') {
    throw new TypeError(`sqlStore: \`schema\` "${schema}" is reserved by Postgres; choose another name`);
  }
  const digest = createHash('sha256').update(`agent-tool-gateway:migrations:${schema}`).digest();
  return {
    schema,
    quoted: quoteIdentifier(schema),
    channel: `atg_changes_${schema}`,
    migrationLockKey: digest.readBigInt64BE(0).toString(),
  };
}
