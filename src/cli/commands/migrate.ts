import type { CommandLine, StoreSelection } from '../arguments.js';
import { type CliIo, ExitCode, writeJson, writeLine } from '../io.js';
import { openStore } from '../store-connection.js';

/** `atg migrate`: creates the schema or applies the migrations it lacks. */
export async function migrateCommand(line: CommandLine, io: CliIo): Promise<number> {
  const store = await openStore(line.store as StoreSelection, { create: true });
  try {
    const result = await store.migrate();
    if (line.json) writeJson(io.stdout, result);
    else if (result.applied.length === 0) writeLine(io.stdout, `Schema "${result.schema}" is up to date (version ${result.to}).`);
    else writeLine(io.stdout, `Schema "${result.schema}" migrated from version ${result.from} to ${result.to}.`);
    return ExitCode.ok;
  } finally {
    await store.close();
  }
}
