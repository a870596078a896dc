import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type SqlStore, sqlStore } from '../store/sql/index.js';
import { type StoreSelection, UsageError } from './arguments.js';
import { CommandError } from './io.js';

function isModuleNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

async function postgresPool(databaseUrl: string) {
  let module: typeof import('pg');
  try {
    module = await import('pg');
  } catch (error) {
    if (isModuleNotFound(error)) throw new CommandError('--database-url needs the pg package: npm install pg');
    throw error;
  }
  // pg is CommonJS: its classes are on the default export, and on the namespace when bundled.
  const { Pool } = ((module as unknown as { default?: typeof import('pg') }).default ?? module) as typeof import('pg');
  const pool = new Pool({ connectionString: databaseUrl, max: 4, connectionTimeoutMillis: 10_000 });
  // An idle connection that breaks must not crash the command; the next query reports it.
  pool.on('error', () => undefined);
  return pool;
}

async function pglite(dataDir: string) {
  let module: typeof import('@electric-sql/pglite');
  try {
    module = await import('@electric-sql/pglite');
  } catch (error) {
    if (isModuleNotFound(error)) {
      throw new CommandError('--data-dir needs the @electric-sql/pglite package: npm install @electric-sql/pglite');
    }
    throw error;
  }
  return new module.PGlite(dataDir);
}

/**
 * Opening a directory that holds no database writes a new one into it: only `atg migrate`
 * may, and only into a new or empty directory (as initdb), never among someone's files.
 */
function checkDataDirectory(dataDir: string, options: { create: boolean }): void {
  if (!existsSync(dataDir)) {
    if (!options.create) throw new CommandError(`data directory not found: ${dataDir}`);
    // PGlite makes the directory itself, not the ones above it.
    mkdirSync(dirname(resolve(dataDir)), { recursive: true });
    return;
  }
  if (existsSync(join(dataDir, 'PG_VERSION'))) return;
  if (!options.create) {
    throw new CommandError(`not a database directory (no PG_VERSION): ${dataDir}; atg migrate --data-dir creates one`);
  }
  if (!statSync(dataDir).isDirectory()) throw new UsageError(`not a directory: ${dataDir}`);
  if (readdirSync(dataDir).length > 0) {
    throw new UsageError(
      `not a database directory (no PG_VERSION) and not empty: ${dataDir}; atg migrate creates a database only in a new or empty directory`,
    );
  }
}

/**
 * Opens the store a command line names. `create` (for `atg migrate`) lets a new PGlite data
 * directory (in a new or empty directory) and a new schema come into being; every other command wants an existing,
 * current schema and never changes its structure. The store owns its client: closing the
 * store ends the pool or closes PGlite.
 */
export async function openStore(selection: StoreSelection, options: { create: boolean }): Promise<SqlStore> {
  if (selection.engine === 'pglite') checkDataDirectory(selection.dataDir, options);
  const client = selection.engine === 'postgres' ? await postgresPool(selection.databaseUrl) : await pglite(selection.dataDir);
  return sqlStore({ client, schema: selection.schema, migrate: options.create, closeClient: true });
}
