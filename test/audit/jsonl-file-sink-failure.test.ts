import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { jsonlFileSink } from '../../src/audit/jsonl-file-sink.js';
import { createAuditLog } from '../../src/audit/log.js';
import type { AuditSink } from '../../src/audit/types.js';
import { memoryStore } from '../../src/store/memory.js';
import type { AuditEntry } from '../../src/store/types.js';
import { eventually, sampleEvent } from './helpers.js';

/**
 * A disk that can fill up: while `freeBytes` is set, a write past it stores what fits and then
 * fails with ENOSPC, as a real short write on a full file system does. `failTruncate` makes
 * truncation fail too. Everything else is the real file system.
 */
const disk = vi.hoisted(() => ({ freeBytes: undefined as number | undefined, failTruncate: false }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const noSpace = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const open: typeof actual.open = async (...args) => {
    const handle = await actual.open(...args);
    return new Proxy(handle, {
      get(target, property) {
        if (property === 'appendFile') {
          return async (data: string | Uint8Array) => {
            const bytes = Buffer.from(data);
            if (disk.freeBytes !== undefined && bytes.length > disk.freeBytes) {
              await target.appendFile(bytes.subarray(0, disk.freeBytes));
              disk.freeBytes = 0;
              throw noSpace();
            }
            if (disk.freeBytes !== undefined) disk.freeBytes -= bytes.length;
            await target.appendFile(bytes);
          };
        }
        if (property === 'truncate' && disk.failTruncate) {
          return async () => {
            throw Object.assign(new Error('EIO: i/o error, ftruncate'), { code: 'EIO' });
          };
        }
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
  return { ...actual, open };
});

async function entriesOf(count: number): Promise<AuditEntry[]> {
  const audit = createAuditLog({ store: memoryStore() });
  const entries = await Promise.all(Array.from({ length: count }, (_, index) => audit.append(sampleEvent(index))));
  await audit.close();
  return entries as AuditEntry[];
}

function lineBytes(entry: AuditEntry): number {
  return Buffer.byteLength(`${JSON.stringify(entry)}\n`);
}

/** The file's lines, each parsed: a line glued to a partial one does not parse. */
async function fileEntries(path: string): Promise<AuditEntry[]> {
  const text = await readFile(path, 'utf8');
  expect(text === '' || text.endsWith('\n')).toBe(true);
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as AuditEntry);
}

describe('jsonlFileSink when the disk fills up', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'atg-jsonl-full-'));
    disk.freeBytes = undefined;
    disk.failTruncate = false;
  });
  afterEach(async () => {
    disk.freeBytes = undefined;
    disk.failTruncate = false;
    await rm(dir, { recursive: true, force: true });
  });

  it('a failed write leaves no partial line: the file keeps whole lines and later entries follow them', async () => {
    const path = join(dir, 'audit.jsonl');
    const entries = await entriesOf(16);
    const sink = jsonlFileSink({ path });
    for (const entry of entries.slice(0, 8)) await sink.write([entry]);
    const goodSize = (await stat(path)).size;

    // Room for half of seq 8's line: it is cut short, and 9–11 find the disk full.
    disk.freeBytes = Math.floor(lineBytes(entries[8] as AuditEntry) / 2);
    for (const entry of entries.slice(8, 12)) await expect(sink.write([entry])).rejects.toMatchObject({ code: 'ENOSPC' });
    expect((await stat(path)).size).toBe(goodSize);

    // Space freed: the next entries start on a line of their own.
    disk.freeBytes = undefined;
    await sink.write(entries.slice(12, 14));
    await sink.write(entries.slice(14));
    await sink.close?.();
    expect(await fileEntries(path)).toEqual([...entries.slice(0, 8), ...entries.slice(12)]);
  });

  it('when cutting the partial line back fails too, the next write cuts it before appending', async () => {
    const path = join(dir, 'audit.jsonl');
    const entries = await entriesOf(4);
    const sink = jsonlFileSink({ path });
    await sink.write(entries.slice(0, 2));
    disk.freeBytes = 10;
    disk.failTruncate = true;
    await expect(sink.write([entries[2] as AuditEntry])).rejects.toMatchObject({ code: 'ENOSPC' });
    disk.freeBytes = undefined;
    disk.failTruncate = false;
    await sink.write([entries[3] as AuditEntry]);
    await sink.close?.();
    expect(await fileEntries(path)).toEqual([entries[0], entries[1], entries[3]]);
  });

  it('rotates correctly after a failed write: sizes count whole lines only', async () => {
    const path = join(dir, 'audit.jsonl');
    const entries = await entriesOf(12);
    const maxBytes = Math.max(...entries.map(lineBytes)) * 4;
    const sink = jsonlFileSink({ path, maxBytes, maxFiles: 3 });
    await sink.write(entries.slice(0, 2));
    disk.freeBytes = 30;
    await expect(sink.write(entries.slice(2, 3))).rejects.toMatchObject({ code: 'ENOSPC' });
    disk.freeBytes = undefined;
    for (const entry of entries.slice(3)) await sink.write([entry]);
    await sink.close?.();
    const kept = [...(await fileEntries(`${path}.2`)), ...(await fileEntries(`${path}.1`)), ...(await fileEntries(path))];
    expect(kept).toEqual([...entries.slice(0, 2), ...entries.slice(3)]);
    for (const name of [path, `${path}.1`, `${path}.2`]) expect((await stat(name)).size).toBeLessThanOrEqual(maxBytes);
  });

  it('as a sink of an audit log: the lost entries are reported with their seq range, later ones are written whole', async () => {
    const path = join(dir, 'audit.jsonl');
    const errors: unknown[] = [];
    const drops: unknown[] = [];
    const sink = jsonlFileSink({ path });
    const store = memoryStore();
    const audit = createAuditLog({
      store,
      sinks: [sink],
      onSinkError: (error) => errors.push(error),
      onSinkDrop: (count, droppedFrom, drop) => drops.push([count, droppedFrom === sink, drop]),
    });
    for (let index = 0; index < 8; index++) await audit.append(sampleEvent(index));
    await eventually(async () => (await readFile(path, 'utf8').catch(() => '')).split('\n').length === 9);
    disk.freeBytes = 100;
    await audit.append(sampleEvent(8));
    await eventually(() => drops.length === 1);
    disk.freeBytes = undefined;
    await audit.append(sampleEvent(9));
    await audit.close();

    const stored = (await store.listAudit({ limit: 100 })).items;
    expect(await fileEntries(path)).toEqual([...stored.slice(0, 8), stored[9]]);
    expect(errors).toHaveLength(1);
    expect(drops).toEqual([[1, true, { reason: 'write_failed', fromSeq: 8, toSeq: 8 }]]);
  });
});

describe('jsonlFileSink after close', () => {
  it('refuses writes instead of reopening the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'atg-jsonl-closed-'));
    try {
      const path = join(dir, 'audit.jsonl');
      const entries = await entriesOf(2);
      const sink: AuditSink = jsonlFileSink({ path });
      await sink.write([entries[0] as AuditEntry]);
      await sink.close?.();
      await rm(path);
      await expect(sink.write([entries[1] as AuditEntry])).rejects.toThrow(/closed/);
      await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
