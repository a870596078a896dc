import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { exportAudit } from '../../audit/export.js';
import { type CommandLine, type StoreSelection, UsageError } from '../arguments.js';
import { type CliIo, CommandError, ExitCode, type InterruptSignal, interruptedExitCode, writeJson, writeLine } from '../io.js';
import { readPublicKeys } from '../public-keys.js';
import { openStore } from '../store-connection.js';

/**
 * Refuses an `--out` that is a file, or a directory that holds an export already: writing
 * there would replace its manifest and leave its entries file with none, evidence that
 * could no longer be verified.
 */
async function checkOutputDirectory(out: string): Promise<void> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(out)).isDirectory();
  } catch {
    return; // Not there yet: the export creates it.
  }
  if (!isDirectory) throw new UsageError(`--out must be a directory, and ${out} is a file`);
  const exported = (await readdir(out)).filter((name) => name === 'manifest.json' || /^audit-.*\.jsonl$/.test(name));
  if (exported.length > 0) {
    const names = exported.sort().slice(0, 3).join(', ') + (exported.length > 3 ? ', …' : '');
    throw new UsageError(`${out} already holds an audit export (${names}); give --out a new or empty directory, or move that export away`);
  }
}

/** `atg audit export`: a range of the chain as JSONL plus a manifest, for verification anywhere. */
export async function auditExportCommand(line: CommandLine, io: CliIo): Promise<number> {
  const out = line.out as string;
  await checkOutputDirectory(out);
  let publicKey: Awaited<ReturnType<typeof readPublicKeys>>[number] | undefined;
  if (line.publicKeyFile !== undefined) {
    const keys = await readPublicKeys(line.publicKeyFile);
    if (keys.length !== 1) throw new CommandError('--public-key for an export must hold exactly one key');
    publicKey = keys[0];
  }
  const store = await openStore(line.store as StoreSelection, { create: false });
  // An interrupt stops the export and removes its unfinished file, rather than leave it behind.
  const interrupted = new AbortController();
  let interruptedBy: InterruptSignal | undefined;
  const stopListening = io.onInterrupt?.((signal) => {
    interruptedBy = signal;
    interrupted.abort();
  });
  try {
    let manifest: Awaited<ReturnType<typeof exportAudit>>;
    try {
      manifest = await exportAudit({
        store,
        dir: out,
        signal: interrupted.signal,
        ...(line.from === undefined ? {} : { from: line.from }),
        ...(line.to === undefined ? {} : { to: line.to }),
        ...(publicKey === undefined ? {} : { publicKey }),
      });
    } catch (error) {
      if (interruptedBy === undefined) throw error;
      writeLine(io.stderr, `atg: interrupted (${interruptedBy}): the export was stopped, and its unfinished file removed`);
      return interruptedExitCode(interruptedBy);
    } finally {
      stopListening?.();
    }
    if (line.json) writeJson(io.stdout, manifest);
    else if (manifest.fromSeq === null) writeLine(io.stdout, `No audit entries in range; wrote an empty export to ${out}.`);
    else {
      writeLine(
        io.stdout,
        `Exported ${manifest.count} audit entries (seq ${manifest.fromSeq} to ${manifest.toSeq}) to ${join(out, manifest.file)}; manifest: ${join(out, 'manifest.json')}.`,
      );
    }
    const expected = manifest.fromSeq === null ? 0 : (manifest.toSeq as number) - manifest.fromSeq + 1;
    if (manifest.count < expected) {
      // The evidence is written as the store holds it; verifying it reports the gap.
      writeLine(
        io.stderr,
        `warning: the store holds ${manifest.count} of the ${expected} entries in that range: the audit chain is missing entries. \`atg audit verify\` names the first.`,
      );
    }
    return ExitCode.ok;
  } finally {
    await store.close();
  }
}
