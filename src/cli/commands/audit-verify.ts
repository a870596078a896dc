import { stat } from 'node:fs/promises';
import type { AuditExportVerification } from '../../audit/export.js';
import { verifyAuditExport } from '../../audit/export.js';
import { verifyAuditChain } from '../../audit/verify.js';
import type { CommandLine, StoreSelection } from '../arguments.js';
import { type CliIo, CommandError, ExitCode, describeError, writeJson, writeLine } from '../io.js';
import { readPublicKeys } from '../public-keys.js';
import { openStore } from '../store-connection.js';

const reasons: Record<string, string> = {
  edited: 'an entry no longer matches its hash',
  missing: 'entries are missing',
  reordered: 'entries are out of order',
  bad_link: 'an entry does not link to the one before it',
  bad_checkpoint_signature: 'a checkpoint signature does not verify',
  checkpoint_mismatch: 'a signed checkpoint does not match the chain',
  file_hash_mismatch: 'the export file does not match the SHA-256 in its manifest',
  manifest_mismatch: 'the export file does not match the range, count or hashes in its manifest',
};

function report(io: CliIo, line: CommandLine, result: AuditExportVerification, subject: string): number {
  if (line.json) writeJson(io.stdout, result);
  else if (result.ok) {
    writeLine(io.stdout, result.through < 0 ? `ok: ${subject} holds no entries` : `ok: ${subject} intact through seq ${result.through}`);
  } else {
    const where = 'brokenAt' in result ? `at seq ${result.brokenAt}` : 'as a whole';
    const intact = result.through < 0 ? 'no entry verified' : `intact through seq ${result.through}`;
    writeLine(io.stdout, `broken: ${subject} ${where}: ${reasons[result.reason] ?? result.reason} (${result.reason}); ${intact}`);
  }
  return result.ok ? ExitCode.ok : ExitCode.problems;
}

async function verifyExport(line: CommandLine, io: CliIo, path: string): Promise<number> {
  const publicKey = line.publicKeyFile === undefined ? undefined : await readPublicKeys(line.publicKeyFile);
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch {
    throw new CommandError(`export not found: ${path}`);
  }
  let result: AuditExportVerification;
  try {
    result = await verifyAuditExport({ ...(isDirectory ? { dir: path } : { manifestPath: path }), publicKey });
  } catch (error) {
    // An unreadable or foreign manifest, a JSONL file that is gone.
    throw new CommandError(`cannot read the export at ${path}: ${describeError(error)}`);
  }
  return report(io, line, result, 'export');
}

/** `atg audit verify`: the chain in the database, or an export (`--file`) offline. */
export async function auditVerifyCommand(line: CommandLine, io: CliIo): Promise<number> {
  if (line.file !== undefined) return verifyExport(line, io, line.file);
  const publicKey = line.publicKeyFile === undefined ? undefined : await readPublicKeys(line.publicKeyFile);
  const store = await openStore(line.store as StoreSelection, { create: false });
  try {
    const result = await verifyAuditChain({
      store,
      ...(line.from === undefined ? {} : { from: line.from }),
      ...(line.to === undefined ? {} : { to: line.to }),
      ...(publicKey === undefined ? {} : { publicKey }),
    });
    return report(io, line, result, 'audit chain');
  } finally {
    await store.close();
  }
}
