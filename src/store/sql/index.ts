/**
 * The SQL store: `agent-tool-gateway/sql`. One implementation for real Postgres (a `pg.Pool`,
 * for several gateway instances on one database) and PGlite (embedded Postgres, for one
 * process, persisted in a data directory or in memory). Neither driver is loaded unless you
 * pass its client.
 *
 * @packageDocumentation
 */
export { sqlStore } from './store.js';
export type { SqlStore, SqlStoreOptions } from './store.js';
export type { PGliteLike, PostgresPoolLike, SqlClient } from './driver.js';
export { SQL_SCHEMA_VERSION } from './migrations.js';
export type { MigrationResult } from './migrations.js';
export { DEFAULT_SQL_SCHEMA } from './schema-name.js';
export type { ChangeKind } from './notifications.js';
