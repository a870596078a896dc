import { type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditEntry } from '../store/types.js';
import type { AuditSink } from './types.js';

/** Options of {@link jsonlFileSink}. */
export interface JsonlFileSinkOptions {
  /** The file to append to; its directory is created when missing. */
  path: string;
  /** Rotate before the file would grow past this many bytes. Default 10 MiB. */
  maxBytes?: number;
  /** Rotated files kept (`path.1` newest … `path.<maxFiles>` oldest). Default 5; `0` keeps none. */
  maxFiles?: number;
}

function isMissingFile(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/**
 * An audit sink that appends one JSON line per entry to a file, rotating by size:
 * the full file becomes `path.1`, `path.1` becomes `path.2`, and so on up to `maxFiles`.
 * A single line larger than `maxBytes` still gets written, alone in its file.
 * The lines are exactly the entries, so `verifyAuditEntries` can check a file offline.
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
  const maxBytes = Math.max(1, options.maxBytes ?? 10 * 1024 * 1024);
  const maxFiles = Math.max(0, Math.floor(options.maxFiles ?? 5));
  let handle: FileHandle | undefined;
  let size = 0;
  // Writes run one after another, whoever calls.
  let tail: Promise<void> = Promise.resolve();

  async function openFile(): Promise<FileHandle> {
    if (handle !== undefined) return handle;
    await mkdir(dirname(path), { recursive: true });
    handle = await open(path, 'a');
    size = (await handle.stat()).size;
    return handle;
  }

  async function rotate(): Promise<void> {
    await handle?.close();
    handle = undefined;
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
    let file = await openFile();
    let chunk = '';
    let chunkBytes = 0;
    for (const entry of entries) {
      const line = `${JSON.stringify(entry)}\n`;
      const lineBytes = Buffer.byteLength(line);
      if (size + chunkBytes + lineBytes > maxBytes && size + chunkBytes > 0) {
        if (chunkBytes > 0) await file.appendFile(chunk);
        size += chunkBytes;
        chunk = '';
        chunkBytes = 0;
        await rotate();
        file = await openFile();
      }
      chunk += line;
      chunkBytes += lineBytes;
    }
    if (chunkBytes > 0) {
      await file.appendFile(chunk);
      size += chunkBytes;
    }
  }

  return {
    write(entries) {
      const run = tail.then(() => writeNow(entries));
      tail = run.catch(() => undefined);
      return run;
    },
    async close() {
      await tail;
      await handle?.close();
      handle = undefined;
    },
  };
}
