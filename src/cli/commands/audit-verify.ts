import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
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
  index_mismatch: "the row's index columns, which filtered listings select by, disagree with its event",
  file_hash_mismatch: 'the export file does not match the SHA-256 in its manifest',
  manifest_mismatch: 'the export file does not match the range, count or hashes in its manifest',
};

/**
 * Prints the verdict. `start` is the first seq of the range verified: with a public key,
 * the entries from there (or from the last checkpoint whose signature verified) to
 * `through` are the unsigned ones that `--max-unsigned` bounds.
 */
function report(io: CliIo, line: CommandLine, result: AuditExportVerification, subject: string, start: number): number {
  const signed = line.publicKeyFile !== undefined;
  const signedThrough = 'signedThrough' in result ? result.signedThrough : undefined;
  const unsigned = signed && result.ok ? result.through - (signedThrough ?? start - 1) : undefined;
  const tooMany = unsigned !== undefined && line.maxUnsigned !== undefined && unsigned > line.maxUnsigned;
  const reach =
    signedThrough === undefined ? 'no signed checkpoint vouches for any entry' : `signed checkpoints vouch through seq ${signedThrough}`;
  // A chain that verifies with too long an unsigned tail is still `ok`; the JSON says why it failed.
  if (line.json) {
    writeJson(
      io.stdout,
      unsigned === undefined ? result : { ...result, unsignedEntries: unsigned, ...(tooMany ? { maxUnsignedExceeded: true } : {}) },
    );
  } else if (result.ok && result.through < 0) writeLine(io.stdout, `ok: ${subject} holds no entries`);
  else if (tooMany) {
    const entries = `${unsigned} unsigned entr${unsigned === 1 ? 'y' : 'ies'}`;
    const only = signedThrough === undefined ? reach : `signed checkpoints vouch only through seq ${signedThrough}`;
    writeLine(
      io.stdout,
      `unsigned: ${subject} intact through seq ${result.through}, but ${only}: ${entries}, more than --max-unsigned ${line.maxUnsigned}`,
    );
  } else if (result.ok) {
    writeLine(io.stdout, `ok: ${subject} intact through seq ${result.through}${signed ? `; ${reach}` : ''}`);
  } else {
    const where = 'brokenAt' in result ? `at seq ${result.brokenAt}` : 'as a whole';
    // `through` is one before the range when its first entry is the broken one: nothing in it verified.
    const intact = result.through < start ? 'no entry verified' : `intact through seq ${result.through}`;
    const columns = 'columns' in result && result.columns !== undefined ? `: ${result.columns.join(', ')}` : '';
    writeLine(io.stdout, `broken: ${subject} ${where}: ${reasons[result.reason] ?? result.reason} (${result.reason}${columns}); ${intact}`);
  }
  return result.ok && !tooMany ? ExitCode.ok : ExitCode.problems;
}

/** The first seq an export covers, as its manifest states it (null for an empty export). */
async function exportStart(manifestPath: string): Promise<number | null> {
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { fromSeq?: unknown };
  return typeof manifest.fromSeq === 'number' ? manifest.fromSeq : null;
}

async function verifyExport(line: CommandLine, io: CliIo, path: string): Promise<number> {
  const publicKey = line.publicKeyFile === undefined ? undefined : await readPublicKeys(line.publicKeyFile);
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch {
    throw new CommandError(`export not found: ${path}`);
  }
  const manifestPath = isDirectory ? join(path, 'manifest.json') : path;
  let result: AuditExportVerification;
  let start: number | null;
  try {
    result = await verifyAuditExport({ manifestPath, publicKey });
    start = await exportStart(manifestPath);
  } catch (error) {
    // An unreadable or foreign manifest, a JSONL file that is gone.
    throw new CommandError(`cannot read the export at ${path}: ${describeError(error)}`);
  }
  return report(io, line, result, 'export', start ?? result.through + 1);
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
    // The CLI's store keeps its whole chain: without --from, verification starts at seq 0.
    return report(io, line, result, 'audit chain', line.from ?? 0);
  } finally {
    await store.close();
  }
}
