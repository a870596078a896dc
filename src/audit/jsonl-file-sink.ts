import { type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditEntry } from '../store/types.js';
import { callGuarded } from '../util/guarded-callback.js';
import { numberOption } from '../util/number-option.js';
import type { AuditSink } from './types.js';

/** Options of {@link jsonlFileSink}. */
export interface JsonlFileSinkOptions {
  /** The file to append to; its directory is created when missing. */
  path: string;
  /** Rotate before the file would grow past this many bytes: an integer, 1 or more. Default 10 MiB. */
  maxBytes?: number;
  /** Rotated files kept (`path.1` newest … `path.<maxFiles>` oldest): an integer, 0 or more. Default 5; `0` keeps none. */
  maxFiles?: number;
  /**
   * Told of a problem the sink repaired or worked around without failing a write: a file that
   * ended in a partial line (a process killed mid-write) is cut back to its last whole line
   * when the sink opens it, and the error says how many bytes went; a file the process may
   * write but not read (mode `0200`) is appended to without that check, and the error says so.
   * A write that fails rejects instead, so the audit log tells `onSinkError` and reports its
   * entries dropped.
   */
  onError?: (error: Error) => void;
}

/** Where the file's whole lines end: just past its last `\n`, or 0 when it has none. */
async function endOfWholeLines(file: FileHandle, fileSize: number): Promise<number> {
  const last = Buffer.alloc(1);
  if (fileSize === 0 || ((await file.read(last, 0, 1, fileSize - 1)).bytesRead === 1 && last[0] === 0x0a)) return fileSize;
  const buffer = Buffer.alloc(Math.min(fileSize, 64 * 1024));
  for (let end = fileSize; end > 0; ) {
    const start = Math.max(0, end - buffer.length);
    const { bytesRead } = await file.read(buffer, 0, end - start, start);
    const newline = buffer.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (newline >= 0) return start + newline + 1;
    end = start;
  }
  return 0;
}

/** Bytes `start` to `end` of the file. */
async function readRange(file: FileHandle, start: number, end: number): Promise<Buffer> {
  const buffer = Buffer.alloc(end - start);
  let offset = 0;
  while (offset < buffer.length) {
    const { bytesRead } = await file.read(buffer, offset, buffer.length - offset, start + offset);
    if (bytesRead === 0) break;
    offset += bytesRead;
  }
  return buffer.subarray(0, offset);
}

/**
 * True when bytes `start` to `end` (a last line without its `\n`) are a whole JSON object, as
 * every line the sink writes is. A line cut short ends before its closing brace, so only a
 * line from `{` to `}` is read and parsed.
 */
async function isWholeEntry(file: FileHandle, start: number, end: number): Promise<boolean> {
  const first = await readRange(file, start, start + 1);
  const last = await readRange(file, end - 1, end);
  if (first[0] !== 0x7b || last[0] !== 0x7d) return false;
  try {
    const value: unknown = JSON.parse((await readRange(file, start, end)).toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

function isMissingFile(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/**
 * An audit sink that appends one JSON line per entry to a file, rotating by size:
 * the full file becomes `path.1`, `path.1` becomes `path.2`, and so on up to `maxFiles`.
 * A single line larger than `maxBytes` still gets written, alone in its file.
 * The lines are exactly the entries, so `verifyAuditEntries` can check a file offline.
 * A write that fails (a full disk, say) rejects, so the audit log reports its entries as
 * lost, and leaves no partial line: the file is cut back to its last whole line. A partial
 * last line found when the file is opened (a process killed mid-write) is cut off the same way,
 * and `onError` is told; a last line that is a whole entry without its `\n` gets one. The file
 * is opened for appending only (an append-only log the process cannot read works; its last
 * line is then not checked, and `onError` is told).
 * `maxBytes` or `maxFiles` that is not a whole number in range throws a `TypeError` naming it.
 * Files the sink creates have mode `0600`; an existing file keeps its mode.
 *
 * @example
 * ```ts
 * import { createGateway, jsonlFileSink } from 'agent-tool-gateway';
 *
 * const gateway = createGateway({
 *   auditSinks: [jsonlFileSink({ path: '/var/log/atg/audit.jsonl', maxBytes: 50_000_000, maxFiles: 10 })],
 * });
 * ```
 */
export function jsonlFileSink(options: JsonlFileSinkOptions): AuditSink {
  const { path } = options;
  const maxBytes = numberOption('jsonlFileSink', 'maxBytes', options.maxBytes, 10 * 1024 * 1024, { min: 1, integer: true });
  const maxFiles = numberOption('jsonlFileSink', 'maxFiles', options.maxFiles, 5, { min: 0, integer: true });
  let handle: FileHandle | undefined;
  /** Bytes of whole lines in the file: where it ends, or must be cut back to. */
  let size = 0;
  /** A failed write left bytes past `size` that could not be cut off yet: the next open does it. */
  let partialLine = false;
  let closed = false;
  // Writes run one after another, whoever calls.
  let tail: Promise<void> = Promise.resolve();

  async function openFile(): Promise<FileHandle> {
    if (handle !== undefined) return handle;
    await mkdir(dirname(path), { recursive: true });
    // Audit data: readable by the gateway's user only. An existing file keeps its mode. Opened
    // for appending only: an append-only log the process may write but not read still works.
    const opened = await open(path, 'a', 0o600);
    try {
      const actualSize = (await opened.stat()).size;
      if (partialLine && actualSize > size) {
        // What our own failed write left: its entries were reported lost already.
        await opened.truncate(size);
      } else {
        size = await repairLastLine(opened, actualSize);
      }
      partialLine = false;
    } catch (error) {
      await opened.close().catch(() => undefined);
      throw error;
    }
    handle = opened;
    return opened;
  }

  function tell(message: string): void {
    callGuarded(() => options.onError?.(new Error(`jsonlFileSink: ${path} ${message}`)));
  }

  /**
   * Makes the file end in a whole line and returns its size. A last line without its `\n` that
   * is a whole entry (a file written by another tool) gets the `\n`; one cut short by a writer
   * that stopped mid-write (a crash, a kill) was never a whole entry, and the next line would
   * be glued to it: it is cut off. The file is read through a handle of its own, read-only;
   * a file the process may not read is not checked.
   */
  async function repairLastLine(file: FileHandle, actualSize: number): Promise<number> {
    if (actualSize === 0) return 0;
    let reader: FileHandle;
    try {
      reader = await open(path, 'r');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? 'error';
      tell(`cannot be read (${reason}): appending to it without checking it for a partial last line`);
      return actualSize;
    }
    let wholeLines: number;
    let wholeEntry = false;
    try {
      wholeLines = await endOfWholeLines(reader, actualSize);
      if (wholeLines === actualSize) return actualSize;
      wholeEntry = await isWholeEntry(reader, wholeLines, actualSize);
    } finally {
      await reader.close().catch(() => undefined);
    }
    if (wholeEntry) {
      await file.appendFile('\n');
      return actualSize + 1;
    }
    await file.truncate(wholeLines);
    tell(`ended in a partial line; cut off its last ${actualSize - wholeLines} bytes (left by a writer that stopped mid-line)`);
    return wholeLines;
  }

  /**
   * Appends whole lines. A failed write (a full disk) may have stored part of them: the file is
   * cut back to its last whole line, so the next line does not continue a broken one, and is
   * reopened by the next write.
   */
  async function append(chunk: string, chunkBytes: number): Promise<void> {
    const file = await openFile();
    try {
      await file.appendFile(chunk);
    } catch (error) {
      handle = undefined;
      await file.truncate(size).catch(() => {
        partialLine = true;
      });
      await file.close().catch(() => undefined);
      throw error;
    }
    size += chunkBytes;
  }

  async function rotate(): Promise<void> {
    const file = handle;
    handle = undefined;
    await file?.close();
    if (maxFiles === 0) {
      await rm(path, { force: true });
    } else {
      await rm(`${path}.${maxFiles}`, { force: true });
      for (let index = maxFiles - 1; index >= 1; index--) {
        await rename(`${path}.${index}`, `${path}.${index + 1}`).catch((error: unknown) => {
          if (!isMissingFile(error)) throw error;
        });
      }
      await rename(path, `${path}.1`);
    }
    size = 0;
  }

  async function writeNow(entries: AuditEntry[]): Promise<void> {
    // Opened first to know the size, for the rotation check.
    await openFile();
    let chunk = '';
    let chunkBytes = 0;
    for (const entry of entries) {
      const line = `${JSON.stringify(entry)}\n`;
      const lineBytes = Buffer.byteLength(line);
      if (size + chunkBytes + lineBytes > maxBytes && size + chunkBytes > 0) {
        if (chunkBytes > 0) await append(chunk, chunkBytes);
        chunk = '';
        chunkBytes = 0;
        await rotate();
      }
      chunk += line;
      chunkBytes += lineBytes;
    }
    if (chunkBytes > 0) await append(chunk, chunkBytes);
  }

  return {
    write(entries) {
      // A write after close would reopen the file and leave its handle open.
      if (closed) return Promise.reject(new Error(`jsonlFileSink is closed: ${path}`));
      const run = tail.then(() => writeNow(entries));
      tail = run.catch(() => undefined);
      return run;
    },
    async close() {
      closed = true;
      await tail;
      const file = handle;
      handle = undefined;
      await file?.close();
    },
  };
}
