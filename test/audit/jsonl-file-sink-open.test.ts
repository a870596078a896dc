import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { jsonlFileSink } from '../../src/audit/jsonl-file-sink.js';
import { createAuditLog } from '../../src/audit/log.js';
import { verifyAuditEntries } from '../../src/audit/verify.js';
import { memoryStore } from '../../src/store/memory.js';
import type { AuditEntry } from '../../src/store/types.js';
import { sampleEvent } from './helpers.js';

/**
 * Files the process may append to but not read, as a file of mode 0200 is to a user other
 * than root (root reads any file, so the tests run as root could not see the difference).
 */
const writeOnly = vi.hoisted(() => new Set<string>());

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof actual.open = async (path, flags, mode) => {
    if (writeOnly.has(String(path)) && /[r+]/.test(String(flags ?? 'r'))) {
      throw Object.assign(new Error(`EACCES: permission denied, open '${String(path)}'`), { code: 'EACCES' });
    }
    return actual.open(path, flags, mode);
  };
  return { ...actual, open };
});

async function entriesOf(count: number): Promise<AuditEntry[]> {
  const audit = createAuditLog({ store: memoryStore() });
  const entries = await Promise.all(Array.from({ length: count }, (_, index) => audit.append(sampleEvent(index))));
  await audit.close();
  return entries as AuditEntry[];
}

const line = (entry: AuditEntry | undefined) => `${JSON.stringify(entry)}\n`;

describe('jsonlFileSink opening a file it did not write last', () => {
  let dir: string;
  let path: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'atg-jsonl-open-'));
    path = join(dir, 'audit.jsonl');
  });
  afterEach(async () => {
    writeOnly.clear();
    await rm(dir, { recursive: true, force: true });
  });

  it('appends to a file it may write but not read, and tells onError the last line went unchecked', async () => {
    const entries = await entriesOf(4);
    await writeFile(path, line(entries[0]) + line(entries[1]));
    writeOnly.add(path);
    const errors: string[] = [];
    const sink = jsonlFileSink({ path, onError: (error) => errors.push(error.message) });
    await sink.write(entries.slice(2));
    await sink.close?.();
    writeOnly.clear();
    expect(await readFile(path, 'utf8')).toBe(entries.map(line).join(''));
    expect(errors).toEqual([`jsonlFileSink: ${path} cannot be read (EACCES): appending to it without checking it for a partial last line`]);
  });

  it.skipIf(process.getuid?.() === 0)('appends to a file of mode 0200 (not run as root, who reads any file)', async () => {
    const entries = await entriesOf(2);
    await writeFile(path, line(entries[0]), { mode: 0o200 });
    await chmod(path, 0o200);
    const sink = jsonlFileSink({ path });
    await sink.write(entries.slice(1));
    await sink.close?.();
    await chmod(path, 0o600);
    expect(await readFile(path, 'utf8')).toBe(entries.map(line).join(''));
  });

  it('ends a whole last entry without its newline with one, instead of cutting it off', async () => {
    const entries = await entriesOf(3);
    // A valid one-entry file as other tools write it (`jq -c`, an editor): no final newline.
    await writeFile(path, JSON.stringify(entries[0]));
    const errors: Error[] = [];
    const sink = jsonlFileSink({ path, onError: (error) => errors.push(error) });
    await sink.write(entries.slice(1));
    await sink.close?.();
    const text = await readFile(path, 'utf8');
    expect(text).toBe(entries.map(line).join(''));
    expect(
      await verifyAuditEntries(
        text
          .trimEnd()
          .split('\n')
          .map((each) => JSON.parse(each) as AuditEntry),
      ),
    ).toEqual({
      ok: true,
      through: 2,
    });
    expect(errors).toEqual([]);
  });

  it('still cuts off a last line that only looks whole: braces at both ends, but no JSON object', async () => {
    const entries = await entriesOf(2);
    const fragment = '{"seq":1,"prevHash":"}';
    await writeFile(path, line(entries[0]) + fragment);
    const errors: string[] = [];
    const sink = jsonlFileSink({ path, onError: (error) => errors.push(error.message) });
    await sink.write(entries.slice(1));
    await sink.close?.();
    expect(await readFile(path, 'utf8')).toBe(entries.map(line).join(''));
    expect(errors).toEqual([
      `jsonlFileSink: ${path} ended in a partial line; cut off its last ${fragment.length} bytes (left by a writer that stopped mid-line)`,
    ]);
  });
});
