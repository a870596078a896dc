import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportAudit, verifyAuditExport } from '../../src/audit/export.js';
import { computeEntryHash } from '../../src/audit/hash.js';
import { generateAuditSigningKey } from '../../src/audit/keys.js';
import { createAuditLog } from '../../src/audit/log.js';
import { memoryStore } from '../../src/store/memory.js';
import type { AuditEntry, Store } from '../../src/store/types.js';
import { sampleEvent } from './helpers.js';

async function recordedChain(count: number) {
  const store = memoryStore();
  const key = await generateAuditSigningKey();
  const audit = createAuditLog({ store, checkpoints: { signingKey: key.privateJwk, everyEvents: 0, everyMs: 0 } });
  for (let index = 0; index < count; index++) {
    await audit.append(sampleEvent(index));
    if ((index + 1) % 10 === 0) await audit.checkpoint();
  }
  // close() signs the last head too.
  await audit.close();
  return { store, key };
}

describe('exportAudit and verifyAuditExport', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'atg-export-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes audit-<from>-<to>.jsonl and a manifest that verify offline', async () => {
    const { store, key } = await recordedChain(35);
    const manifest = await exportAudit({ store, dir, publicKey: key.publicJwk, pageSize: 8 });

    expect((await readdir(dir)).sort()).toEqual(['audit-0-34.jsonl', 'manifest.json']);
    const fileText = await readFile(join(dir, 'audit-0-34.jsonl'), 'utf8');
    const entries = (await store.listAudit({ limit: 100 })).items;
    expect(fileText).toBe(entries.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
    expect(manifest).toMatchObject({
      file: 'audit-0-34.jsonl',
      fromSeq: 0,
      toSeq: 34,
      count: 35,
      firstPrevHash: '0'.repeat(64),
      headHash: (entries[34] as AuditEntry).hash,
      sha256: createHash('sha256').update(fileText).digest('hex'),
      publicJwk: { kty: 'OKP', crv: 'Ed25519', x: key.publicJwk.x },
    });
    expect(manifest.checkpoints.map((checkpoint) => checkpoint.seq)).toEqual([9, 19, 29, 34]);
    expect(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'))).toEqual(manifest);

    expect(await verifyAuditExport({ dir, publicKey: key.publicJwk })).toEqual({ ok: true, through: 34, signedThrough: 34 });
    expect(await verifyAuditExport({ manifestPath: join(dir, 'manifest.json') })).toEqual({ ok: true, through: 34 });
  });

  it('exports a range, anchored on the entry before it', async () => {
    const { store, key } = await recordedChain(35);
    const manifest = await exportAudit({ store, dir, from: 12, to: 20 });
    expect(manifest).toMatchObject({ file: 'audit-12-20.jsonl', fromSeq: 12, toSeq: 20, count: 9 });
    expect(manifest.checkpoints.map((checkpoint) => checkpoint.seq)).toEqual([19]);
    expect(await verifyAuditExport({ dir, publicKey: key.publicJwk })).toEqual({ ok: true, through: 20, signedThrough: 19 });
  });

  it('on a store with retention starts at the first entry kept, unless `from` insists on an earlier start', async () => {
    const store = memoryStore({ maxRecords: 10 });
    const audit = createAuditLog({ store });
    for (let index = 0; index < 25; index++) await audit.append(sampleEvent(index));
    await audit.close();

    const retained = await exportAudit({ store, dir });
    expect(retained).toMatchObject({ fromSeq: 15, toSeq: 24, count: 10 });
    expect(await verifyAuditExport({ dir })).toEqual({ ok: true, through: 24 });

    // A range past the head ends at the head; one that starts before the entries kept has them missing.
    expect(await exportAudit({ store, dir, from: 20, to: 99 })).toMatchObject({ fromSeq: 20, toSeq: 24, count: 5 });
    expect(await exportAudit({ store, dir, from: 0 })).toMatchObject({ file: 'audit-0-24.jsonl', fromSeq: 0, toSeq: 24, count: 10 });
    expect(await verifyAuditExport({ dir })).toEqual({ ok: false, through: -1, brokenAt: 0, reason: 'missing' });
    expect(await exportAudit({ store, dir, wholeChain: true })).toMatchObject({ fromSeq: 0, count: 10 });
  });

  it('refuses a range that starts past the last entry, or after its end, and writes nothing', async () => {
    const { store } = await recordedChain(10);
    expect(await exportAudit({ store, dir, from: 9 })).toMatchObject({ file: 'audit-9-9.jsonl', fromSeq: 9, toSeq: 9, count: 1 });
    const target = join(dir, 'refused');
    for (const [range, message] of [
      [{ from: 10 }, 'Nothing to export: from (10) is past the end of the chain (its last entry is 9)'],
      [{ from: 30, to: 40 }, 'Nothing to export: from (30) is past the end of the chain (its last entry is 9)'],
      [{ from: 5, to: 2 }, 'Nothing to export: from (5) is after to (2)'],
    ] as const) {
      await expect(exportAudit({ store, dir: target, ...range }), message).rejects.toMatchObject({ code: 'BAD_REQUEST', message });
    }
    await expect(readdir(target)).rejects.toMatchObject({ code: 'ENOENT' });
    // An empty chain exports as empty from seq 0, and holds nothing later.
    expect(await exportAudit({ store: memoryStore(), dir, from: 0 })).toMatchObject({ fromSeq: null, count: 0 });
    await expect(exportAudit({ store: memoryStore(), dir, from: 1 })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: 'Nothing to export: from (1) is past the end of the chain (the chain is empty)',
    });
  });

  it('a store that fails mid-export leaves no partial file behind, and the error reaches the caller', async () => {
    const { store } = await recordedChain(30);
    const failing = Object.create(store) as Store;
    let pages = 0;
    failing.listAudit = async (filter) => {
      if (++pages === 3) throw new Error('connection lost');
      return store.listAudit(filter);
    };
    await expect(exportAudit({ store: failing, dir, pageSize: 5 })).rejects.toThrow('connection lost');
    expect(await readdir(dir)).toEqual([]);

    // Failing after the entries were written (reading the checkpoints) cleans up alike.
    const noCheckpoints = Object.create(store) as Store;
    noCheckpoints.listCheckpoints = async () => {
      throw new Error('checkpoints unreadable');
    };
    await expect(exportAudit({ store: noCheckpoints, dir })).rejects.toThrow('checkpoints unreadable');
    expect(await readdir(dir)).toEqual([]);
  });

  it('an export stopped by its signal rejects with the reason, reads no further and leaves no file', async () => {
    const { store } = await recordedChain(30);
    const stop = new AbortController();
    const reading = Object.create(store) as Store;
    let pages = 0;
    reading.listAudit = async (filter) => {
      // Stopped while the second page is read: the first is written already.
      if (++pages === 2) stop.abort(new Error('interrupted'));
      return store.listAudit(filter);
    };
    await expect(exportAudit({ store: reading, dir, pageSize: 5, signal: stop.signal })).rejects.toThrow('interrupted');
    expect(pages).toBe(2);
    expect(await readdir(dir)).toEqual([]);

    // Stopped while the checkpoints are read, after every entry was written.
    const late = new AbortController();
    const checkpointsRead = Object.create(store) as Store;
    checkpointsRead.listCheckpoints = async (filter) => {
      late.abort();
      return store.listCheckpoints(filter);
    };
    await expect(exportAudit({ store: checkpointsRead, dir, signal: late.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(await readdir(dir)).toEqual([]);

    // Already stopped: nothing is read.
    const unread = Object.create(store) as Store;
    unread.getAuditHead = async () => expect.unreachable('the head was read');
    await expect(exportAudit({ store: unread, dir, signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(await readdir(dir)).toEqual([]);
  });

  it('a tampered export file fails at the exact seq', async () => {
    const { store, key } = await recordedChain(30);
    await exportAudit({ store, dir });
    const path = join(dir, 'audit-0-29.jsonl');
    const lines = (await readFile(path, 'utf8')).split('\n');
    const edited = JSON.parse(lines[17] as string) as AuditEntry;
    edited.event.data = { index: 17, refund: 'approved by nobody' };
    lines[17] = JSON.stringify(edited);
    await writeFile(path, lines.join('\n'));
    expect(await verifyAuditExport({ dir, publicKey: key.publicJwk })).toEqual({
      ok: false,
      through: 16,
      brokenAt: 17,
      reason: 'edited',
      signedThrough: 9,
    });

    // Deleting a line.
    const deleted = lines.filter((_, index) => index !== 4);
    await writeFile(path, deleted.join('\n'));
    expect(await verifyAuditExport({ dir })).toEqual({ ok: false, through: 3, brokenAt: 4, reason: 'missing' });
  });

  it('a fully rehashed export is caught by its signed checkpoints; a cosmetic change by the file hash', async () => {
    const { store, key } = await recordedChain(30);
    await exportAudit({ store, dir });
    const path = join(dir, 'audit-0-29.jsonl');
    const original = await readFile(path, 'utf8');
    const entries = original
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as AuditEntry);

    const rewritten = structuredClone(entries);
    (rewritten[3] as AuditEntry).event.actor = 'admin:mallory';
    for (let index = 3; index < rewritten.length; index++) {
      const entry = rewritten[index] as AuditEntry;
      if (index > 0) entry.prevHash = (rewritten[index - 1] as AuditEntry).hash;
      entry.hash = computeEntryHash(entry.seq, entry.prevHash, entry.event);
    }
    await writeFile(path, rewritten.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
    expect(await verifyAuditExport({ dir, publicKey: key.publicJwk })).toEqual({
      ok: false,
      through: 8,
      brokenAt: 9,
      reason: 'checkpoint_mismatch',
    });

    await writeFile(path, original.replace('\n', '\r\n'));
    expect(await verifyAuditExport({ dir, publicKey: key.publicJwk })).toEqual({ ok: false, through: 29, reason: 'file_hash_mismatch' });
  });

  it('says how far signed checkpoints vouch, so checkpoints removed from the manifest show', async () => {
    const { store, key } = await recordedChain(30);
    const manifest = await exportAudit({ store, dir });
    expect(await verifyAuditExport({ dir, publicKey: key.publicJwk })).toEqual({ ok: true, through: 29, signedThrough: 29 });
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, checkpoints: manifest.checkpoints.slice(0, 1) }));
    expect(await verifyAuditExport({ dir, publicKey: key.publicJwk })).toEqual({ ok: true, through: 29, signedThrough: 9 });
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, checkpoints: [] }));
    expect(await verifyAuditExport({ dir, publicKey: key.publicJwk })).toEqual({ ok: true, through: 29 });
  });

  it('a manifest that disagrees with the file is reported', async () => {
    const { store } = await recordedChain(5);
    const manifest = await exportAudit({ store, dir });
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, count: 6 }));
    expect(await verifyAuditExport({ dir })).toEqual({ ok: false, through: 4, reason: 'manifest_mismatch' });
  });

  it('writes to streams, and an empty chain exports as an empty, valid segment', async () => {
    const { store } = await recordedChain(3);
    const entriesStream = new PassThrough();
    const manifestStream = new PassThrough();
    const chunks: string[] = [];
    entriesStream.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
    const manifestChunks: string[] = [];
    manifestStream.on('data', (chunk: Buffer) => manifestChunks.push(chunk.toString('utf8')));
    const manifest = await exportAudit({ store, output: { entries: entriesStream, manifest: manifestStream } });
    expect(chunks.join('').split('\n').filter(Boolean)).toHaveLength(3);
    expect(JSON.parse(manifestChunks.join(''))).toEqual(manifest);

    const empty = await exportAudit({ store: memoryStore(), dir });
    expect(empty).toMatchObject({ file: 'audit-empty.jsonl', count: 0, fromSeq: null, toSeq: null });
    expect(await verifyAuditExport({ dir })).toEqual({ ok: true, through: -1 });
  });
});
