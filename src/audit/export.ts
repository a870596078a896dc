import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { JWK } from 'jose';
import type { AuditCheckpoint, AuditEntry, AuditPage, Store } from '../store/types.js';
import { type AuditVerificationKey, getAuditPublicJwk } from './keys.js';
import type { AuditVerification } from './types.js';
import { auditRangeStart, firstPageReaching, overtakenByRetention, refuseRangePastHead, verifyAuditEntries } from './verify.js';

/** `format` of an audit export manifest. */
export const auditExportFormat = 'agent-tool-gateway/audit-export';

/** The `manifest.json` written next to an exported chain segment. */
export interface AuditExportManifest {
  format: typeof auditExportFormat;
  version: 1;
  /** Name of the JSONL file (one `AuditEntry` per line), in the manifest's directory. */
  file: string;
  /**
   * The range the export covers, inclusive; null when it was empty. On an intact chain these
   * are the first and last exported sequence numbers. The end is the store's recorded head
   * (or `to`), and on a store that keeps its whole chain the start is seq 0 (or `from`): so
   * entries missing from the store inside the range are missing from the export too, and
   * {@link verifyAuditExport} reports them as `missing`.
   */
  fromSeq: number | null;
  toSeq: number | null;
  /** Entries in the file: `toSeq - fromSeq + 1` when none is missing. */
  count: number;
  /** `prevHash` of the first exported entry: the anchor that ties the segment to earlier entries. */
  firstPrevHash: string | null;
  /** Hash of the entry at `toSeq`: the store's recorded head hash when the export ends at the head. */
  headHash: string | null;
  /** SHA-256 (hex) of the JSONL file's bytes. */
  sha256: string;
  /** Signed checkpoints whose seq lies in the exported range. */
  checkpoints: AuditCheckpoint[];
  /** The checkpoint public key, when one was given at export. Informational: verify with a key you trust. */
  publicJwk?: JWK;
  exportedAt: string;
}

/** Options of {@link exportAudit}. */
export interface ExportAuditOptions {
  store: Store;
  /**
   * First sequence number (inclusive). Default: seq 0 on a store that keeps its whole chain
   * (see `wholeChain`), else the first retained entry.
   */
  from?: number;
  /**
   * Without `from`, start the range at seq 0, so entries deleted from the start are `missing`
   * when the export is verified. Default: the store's `keepsWholeAuditChain` (true for the SQL
   * store). Give `from` instead for a chain you pruned on purpose.
   */
  wholeChain?: boolean;
  /** Last sequence number (inclusive). Default: the store's recorded head when the export starts. */
  to?: number;
  /** Directory to write `audit-<from>-<to>.jsonl` and `manifest.json` into (created when missing). */
  dir?: string;
  /**
   * Streams to write the JSONL and the manifest to instead of files (an HTTP response, an
   * archive). They are written to, not ended.
   */
  output?: { entries: Writable; manifest?: Writable };
  /** The checkpoint public key, copied into the manifest for convenience. */
  publicKey?: AuditVerificationKey;
  /** Entries read per `listAudit` page. Default 500. */
  pageSize?: number;
  /** Clock for `exportedAt`. */
  now?: () => Date;
  /**
   * Stops the export when aborted: it rejects with the signal's reason before the next page is
   * read or written, and with `dir` removes its unfinished file, so no partial export is left.
   */
  signal?: AbortSignal;
}

async function writeChunk(stream: Writable, chunk: string): Promise<void> {
  if (!stream.write(chunk)) await once(stream, 'drain');
}

/**
 * Writes a segment of the audit chain as evidence: a JSONL file of entries and a
 * `manifest.json` with the range, count, first `prevHash`, head hash, the file's SHA-256,
 * the checkpoints in range and (optionally) the public key. Reads the store page by page.
 * Check it anywhere with {@link verifyAuditExport}. Backs `atg audit export`. Throws
 * `GatewayError` `BAD_REQUEST` for a `from` after `to`, or past the chain's last entry, as
 * `verifyAuditChain` does. With `dir`, the entries are written to a temporary file renamed
 * into place when complete: an export that fails (the store goes away mid-way) leaves no
 * partial file behind; so does one stopped by `signal`.
 *
 * On a store with retention (the memory store), appends made during the export can push out
 * entries it has not read yet. The head and the first page are asked for together, before any
 * file is made, which such a store answers from one state (the memory store answers each at
 * once); every later page is read by cursor, and the store marks a page whose cursor it
 * trimmed past (`droppedByRetention`). The export then throws `GatewayError` `CONFLICT`
 * naming the dropped entries, and writes no manifest
 * (nor, with `dir`, any file): the entries before them are written already and cannot be
 * taken back, and going on after the gap would make evidence with a hole that reads as a
 * deleted entry, `missing`, though nothing was tampered with. Export again (a retry starts
 * at the first entry then kept), or keep more entries in the store. With `output`, discard
 * what the streams received. Entries deleted from the chain are exported as the store holds
 * them, and verify as `missing`.
 *
 * @example
 * ```ts
 * import { exportAudit } from 'agent-tool-gateway';
 *
 * const manifest = await exportAudit({ store, dir: './evidence', publicKey: publicJwk });
 * console.log(`${manifest.count} entries in ${manifest.file}`);
 * ```
 */
export async function exportAudit(options: ExportAuditOptions): Promise<AuditExportManifest> {
  const { store } = options;
  if (options.dir === undefined && options.output === undefined) {
    throw new TypeError('exportAudit needs `dir` or `output`');
  }
  options.signal?.throwIfAborted();
  const pageSize = options.pageSize ?? 500;
  const from = auditRangeStart(store, options, 'export');
  // The head and the first page are asked for together, before any file is touched: a store
  // with retention answers both from one state (the memory store answers each at once), so no
  // append can push out entries between them unseen. Every later page is read by cursor, and
  // such a store marks a page whose cursor it trimmed past.
  const firstRange = { fromSeq: from, toSeq: options.to, limit: pageSize };
  const [head, listed] = await Promise.all([store.getAuditHead(), store.listAudit(firstRange)]);
  refuseRangePastHead(from, head, 'export');
  // A fixed end, so appends during the export do not make it chase the head. The recorded
  // head, not the last row present: entries cut off the end stay inside the range.
  const to = head === undefined ? undefined : Math.min(head.seq, options.to ?? head.seq);
  // Read side by side with the head, the first page may predate appends it shows.
  const firstPage = await firstPageReaching(store, listed, to, firstRange);

  const range = { from, to, head, pageSize, firstPage };
  const { output } = options;
  if (output !== undefined) {
    // A caller's streams stay open (they may carry more): they are written to, never ended.
    return writeExport(options, range, {
      writeEntries: (chunk) => writeChunk(output.entries, chunk),
      finish: async (_file, manifestText) => {
        if (output.manifest !== undefined) await writeChunk(output.manifest, manifestText);
      },
    });
  }
  const dir = options.dir as string;
  await mkdir(dir, { recursive: true });
  // The entries go to a temporary file, renamed into place once complete; a failure removes it.
  const temporaryPath = join(dir, `audit-export-${process.pid}-${Date.now()}-${randomBytes(4).toString('hex')}.partial`);
  const file = await open(temporaryPath, 'wx');
  let renamed = false;
  try {
    return await writeExport(options, range, {
      writeEntries: (chunk) => writeAll(file, chunk),
      finish: async (name, manifestText) => {
        await file.close();
        await rename(temporaryPath, join(dir, name));
        renamed = true;
        await writeFile(join(dir, 'manifest.json'), manifestText);
      },
    });
  } finally {
    if (!renamed) {
      await file.close().catch(() => undefined);
      await rm(temporaryPath, { force: true });
    }
  }
}

/** Writes all of `chunk` to `file` at its current position. */
async function writeAll(file: FileHandle, chunk: string): Promise<void> {
  const bytes = Buffer.from(chunk, 'utf8');
  let offset = 0;
  while (offset < bytes.length) offset += (await file.write(bytes, offset)).bytesWritten;
}

/** Where {@link writeExport} puts the JSONL and the manifest. */
interface ExportTarget {
  writeEntries(chunk: string): Promise<void>;
  /** Called once every entry was written, with the file name and the manifest's text. */
  finish(file: string, manifestText: string): Promise<void>;
}

/** Reads the range page by page into `target`, then builds the manifest and hands it over. */
async function writeExport(
  options: ExportAuditOptions,
  range: { from: number | undefined; to: number | undefined; head: AuditEntry | undefined; pageSize: number; firstPage: AuditPage },
  output: ExportTarget,
): Promise<AuditExportManifest> {
  const { store } = options;
  const { from, to, head, pageSize } = range;
  const fileHash = createHash('sha256');
  let first: AuditEntry | undefined;
  let last: AuditEntry | undefined;
  let count = 0;
  const inRange = to !== undefined && (from === undefined || from <= to);
  // The first page was read before the head bounded the range, each later one by cursor.
  for (let page: AuditPage | undefined = inRange ? range.firstPage : undefined; page !== undefined; ) {
    // Entries written cannot be taken back, and an export that skipped these would have a hole.
    if (page.droppedByRetention !== undefined) throw overtakenByRetention('export', page.droppedByRetention);
    let chunk = '';
    let pastTheEnd = false;
    for (const entry of page.items) {
      // Appended after the head was read (by another instance, on a shared database).
      if (entry.seq > (to as number)) {
        pastTheEnd = true;
        break;
      }
      first ??= entry;
      last = entry;
      count++;
      chunk += `${JSON.stringify(entry)}\n`;
    }
    options.signal?.throwIfAborted();
    if (chunk !== '') {
      fileHash.update(chunk);
      await output.writeEntries(chunk);
    }
    const cursor: string | undefined = pastTheEnd ? undefined : page.nextCursor;
    page = cursor === undefined ? undefined : await store.listAudit({ fromSeq: from, toSeq: to, limit: pageSize, cursor });
  }

  // The range covered: the chain's own bounds where they are known, else what was read. With
  // no bound known and nothing read (an empty store, or an empty retained range), it is empty.
  const fromSeq = inRange ? (from ?? first?.seq ?? null) : null;
  const toSeq = fromSeq === null ? null : (to as number);
  const endsAtHead = toSeq !== null && head !== undefined && toSeq === head.seq;
  const file = fromSeq === null ? 'audit-empty.jsonl' : `audit-${fromSeq}-${toSeq}.jsonl`;
  const checkpoints = fromSeq === null ? [] : await store.listCheckpoints({ fromSeq, toSeq: toSeq as number });
  const manifest: AuditExportManifest = {
    format: auditExportFormat,
    version: 1,
    file,
    fromSeq,
    toSeq,
    count,
    firstPrevHash: first?.prevHash ?? null,
    headHash: endsAtHead ? head.hash : last?.seq === toSeq ? last.hash : null,
    sha256: fileHash.digest('hex'),
    checkpoints: checkpoints.sort((left, right) => left.seq - right.seq),
    exportedAt: (options.now?.() ?? new Date()).toISOString(),
  };
  if (options.publicKey !== undefined) manifest.publicJwk = await getAuditPublicJwk(options.publicKey);
  options.signal?.throwIfAborted();
  await output.finish(file, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Where {@link verifyAuditExport} finds an export. */
export interface VerifyAuditExportOptions {
  /** A directory holding `manifest.json` and the JSONL file it names. */
  dir?: string;
  /** The manifest's path (instead of `dir`). */
  manifestPath?: string;
  /** The JSONL file's path. Default: the file the manifest names, next to it. */
  entriesPath?: string;
  /** The checkpoint public key you trust. Without one, checkpoint signatures are not checked. */
  publicKey?: AuditVerificationKey | AuditVerificationKey[];
}

/**
 * The outcome of {@link verifyAuditExport}: a chain verdict (with `signedThrough` when a
 * public key was given), or a file that does not match its manifest.
 */
export type AuditExportVerification =
  | AuditVerification
  | {
      ok: false;
      through: number;
      /** `file_hash_mismatch`: the JSONL bytes changed; `manifest_mismatch`: count, range or hashes disagree. */
      reason: 'file_hash_mismatch' | 'manifest_mismatch';
    };

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Checks an export offline: every entry's hash and link, sequence continuity, the
 * checkpoints (signatures with `publicKey`, hashes against the chain), the file's SHA-256
 * and the manifest's range, count and hashes. Chain damage is reported with its exact
 * sequence number, as by `verifyAuditChain`; with `publicKey`, `signedThrough` says how far
 * valid checkpoints vouch. The manifest is not signed: an export whose checkpoints were
 * removed from it verifies as intact, signed through an earlier seq (or none). Backs
 * `atg audit verify --file`.
 *
 * @example
 * ```ts
 * import { verifyAuditExport } from 'agent-tool-gateway';
 *
 * const result = await verifyAuditExport({ dir: './evidence', publicKey: trustedPublicJwk });
 * ```
 */
export async function verifyAuditExport(options: VerifyAuditExportOptions): Promise<AuditExportVerification> {
  const manifestPath = options.manifestPath ?? (options.dir === undefined ? undefined : join(options.dir, 'manifest.json'));
  if (manifestPath === undefined) throw new TypeError('verifyAuditExport needs `dir` or `manifestPath`');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as AuditExportManifest;
  if (manifest.format !== auditExportFormat || typeof manifest.file !== 'string') {
    throw new TypeError('Not an agent-tool-gateway audit export manifest');
  }
  // The manifest names a file in its own directory, never a path elsewhere.
  const entriesPath = options.entriesPath ?? join(dirname(manifestPath), basename(manifest.file));

  let count = 0;
  let last: AuditEntry | undefined;
  async function* entries(): AsyncGenerator<AuditEntry> {
    const input = createReadStream(entriesPath, 'utf8');
    const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
    try {
      yield* parseLines(lines);
    } finally {
      lines.close();
      input.destroy();
    }
  }
  async function* parseLines(lines: AsyncIterable<string>): AsyncGenerator<AuditEntry> {
    for await (const line of lines) {
      if (line === '') continue;
      let entry: AuditEntry;
      try {
        entry = JSON.parse(line) as AuditEntry;
      } catch {
        // An unparseable line is damage at this position: the verifier reports it as edited.
        entry = {} as AuditEntry;
      }
      count++;
      last = entry;
      yield entry;
    }
  }

  const chain = await verifyAuditEntries(entries(), {
    checkpoints: Array.isArray(manifest.checkpoints) ? manifest.checkpoints : [],
    publicKey: options.publicKey,
    fromSeq: manifest.fromSeq ?? undefined,
    anchorHash: manifest.firstPrevHash ?? undefined,
    throughSeq: manifest.toSeq ?? undefined,
    // A last entry replaced and rehashed no longer matches the head recorded at export: edited.
    ...(typeof manifest.headHash === 'string' ? { throughHash: manifest.headHash } : {}),
  });
  if (!chain.ok) return chain;
  const lastEntry = last as AuditEntry | undefined;
  if (count !== manifest.count || (lastEntry?.seq ?? null) !== manifest.toSeq || (lastEntry?.hash ?? null) !== manifest.headHash) {
    return { ok: false, through: chain.through, reason: 'manifest_mismatch' };
  }
  if ((await fileSha256(entriesPath)) !== manifest.sha256) {
    return { ok: false, through: chain.through, reason: 'file_hash_mismatch' };
  }
  return chain;
}
