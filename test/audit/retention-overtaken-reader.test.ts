import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportAudit, verifyAuditExport } from '../../src/audit/export.js';
import { generateAuditSigningKey } from '../../src/audit/keys.js';
import { type AuditLog, createAuditLog } from '../../src/audit/log.js';
import { verifyAuditChain } from '../../src/audit/verify.js';
import { memoryStore } from '../../src/store/memory.js';
import { sqlStore } from '../../src/store/sql/index.js';
import type { AuditFilter, AuditPage, Store } from '../../src/store/types.js';
import { sampleEvent } from './helpers.js';

// A memory store keeping 100 entries holds seqs 0-99. A reader of pages of 30 reads 0-29 and
// is handed a cursor at 30; then 50 more entries come in, and retention drops 0-49, so the
// reader's next page goes on at 50 with 30-49 never read.
const maxRecords = 100;
const pageSize = 30;

/** A memory store holding seqs 0 to `count - 1`, with signed checkpoints at `checkpointsAt`; its log stays open. */
async function memoryChain(count: number, checkpointsAt: number[] = []) {
  const store = memoryStore({ maxRecords });
  const key = await generateAuditSigningKey();
  const audit = createAuditLog({ store, checkpoints: { signingKey: key.privateJwk, everyEvents: 0, everyMs: 0 } });
  await appendEntries(audit, count, checkpointsAt);
  return { store, audit, publicKey: key.publicJwk };
}

/** Appends `count` entries through `audit`, signing a checkpoint when the head reaches a seq in `checkpointsAt`. */
async function appendEntries(audit: AuditLog, count: number, checkpointsAt: number[] = []) {
  for (let index = 0; index < count; index++) {
    const entry = await audit.append(sampleEvent(index));
    if (entry !== undefined && checkpointsAt.includes(entry.seq)) await audit.checkpoint();
  }
}

/**
 * `inner`, running `between` once, just before the first page read with a cursor: what the
 * reader does next happens after it, as if other calls had been made while it was away.
 */
function betweenPages(inner: Store, between: () => Promise<void>): Store {
  const store = Object.create(inner) as Store;
  let done = false;
  store.listAudit = async (filter: AuditFilter = {}) => {
    if (filter.cursor !== undefined && !done) {
      done = true;
      await between();
    }
    return inner.listAudit(filter);
  };
  return store;
}

/**
 * `inner`, running `after` once, once it has read the head and before it answers with it: what
 * the reader does next (read its first page, create its files) happens after `after`, as if
 * other calls had been made while the head was on its way.
 */
function afterHead(inner: Store, after: () => Promise<void>): Store {
  const store = Object.create(inner) as Store;
  let done = false;
  store.getAuditHead = async () => {
    const head = await inner.getAuditHead();
    if (!done) {
      done = true;
      await after();
    }
    return head;
  };
  return store;
}

/** `inner`, running `before` once, before it reads its first page: other calls made meanwhile. */
function beforeFirstPage(inner: Store, before: () => Promise<void>): Store {
  const store = Object.create(inner) as Store;
  let done = false;
  store.listAudit = async (filter?: AuditFilter) => {
    if (!done) {
      done = true;
      await before();
    }
    return inner.listAudit(filter);
  };
  return store;
}

/** `inner` with the entry at `seq` deleted from its chain; what its pages say otherwise is kept. */
function withoutEntry(inner: Store, seq: number): Store {
  const store = Object.create(inner) as Store;
  store.listAudit = async (filter?: AuditFilter): Promise<AuditPage> => {
    const page = await inner.listAudit(filter);
    return { ...page, items: page.items.filter((entry) => entry.seq !== seq) };
  };
  return store;
}

describe('memoryStore listAudit after retention overtook a cursor', () => {
  it('goes on with the first entry kept and names the entries dropped; a cursor still kept is not marked', async () => {
    const { store, audit } = await memoryChain(100);
    const first = await store.listAudit({ limit: pageSize });
    expect(first.items.map((entry) => entry.seq)).toEqual([...Array(30).keys()]);
    const cursor = first.nextCursor as string;
    const intact = await store.listAudit({ limit: pageSize, cursor });
    expect(intact.items[0]?.seq).toBe(30);
    expect(intact).not.toHaveProperty('droppedByRetention');

    await appendEntries(audit, 50);
    const overtaken = await store.listAudit({ limit: pageSize, cursor });
    expect(overtaken.items[0]?.seq).toBe(50);
    expect(overtaken.droppedByRetention).toEqual({ fromSeq: 30, toSeq: 49 });
    // Within the filter's range only; a range now entirely gone holds nothing.
    expect(await store.listAudit({ limit: pageSize, cursor, toSeq: 40 })).toEqual({
      items: [],
      droppedByRetention: { fromSeq: 30, toSeq: 40 },
    });
    // A first page asking for entries before those kept is not marked: its first seq shows it.
    expect(await store.listAudit({ fromSeq: 0, limit: 1 })).toEqual({
      items: [expect.objectContaining({ seq: 50 })],
      nextCursor: expect.any(String),
    });
  });
});

describe('verifyAuditChain while retention trims a memory store', () => {
  it('an untouched chain verifies from the first entry still kept, never missing', async () => {
    const { store, audit, publicKey } = await memoryChain(100, [19, 79]);
    const busy = betweenPages(store, () => appendEntries(audit, 50));
    // Checkpoints 19 (dropped since) and 79 were listed when verification began; the stretch
    // verified is 50-149, and 79 is the last checkpoint in it.
    expect(await verifyAuditChain({ store: busy, publicKey, pageSize })).toEqual({ ok: true, through: 149, signedThrough: 79 });
  });

  it('vouches with no checkpoint from before the restart: their link to what is kept was never checked', async () => {
    const { store, audit, publicKey } = await memoryChain(100, [19]);
    const busy = betweenPages(store, () => appendEntries(audit, 50));
    expect(await verifyAuditChain({ store: busy, publicKey, pageSize })).toEqual({ ok: true, through: 149 });
    // As a verification started now says.
    expect(await verifyAuditChain({ store, publicKey })).toEqual({ ok: true, through: 149 });
  });

  it('a range that must start at `from` (or seq 0) cannot be verified whole: CONFLICT naming the dropped entries', async () => {
    // From 10, the first page is 10-39: the entries not read are 40-49.
    const cases = [
      { range: { from: 0 }, dropped: { fromSeq: 30, toSeq: 49 } },
      { range: { from: 10 }, dropped: { fromSeq: 40, toSeq: 49 } },
      { range: { wholeChain: true }, dropped: { fromSeq: 30, toSeq: 49 } },
    ];
    for (const { range, dropped } of cases) {
      const { store, audit } = await memoryChain(100);
      const busy = betweenPages(store, () => appendEntries(audit, 50));
      await expect(verifyAuditChain({ store: busy, pageSize, ...range }), JSON.stringify(range)).rejects.toMatchObject({
        code: 'CONFLICT',
        message: `Cannot verify the audit range: the store's retention dropped entries ${dropped.fromSeq}-49 before they were read, as newer entries came in. The chain is not damaged; verify again, or keep more entries in the store`,
        details: { droppedByRetention: dropped },
      });
    }
  });

  it('a range whose rest was dropped before it was read: with `from`, CONFLICT; without, nothing kept to verify', async () => {
    {
      const { store, audit } = await memoryChain(100);
      const busy = betweenPages(store, () => appendEntries(audit, 50));
      await expect(verifyAuditChain({ store: busy, pageSize, from: 0, to: 40 })).rejects.toMatchObject({
        code: 'CONFLICT',
        details: { droppedByRetention: { fromSeq: 30, toSeq: 40 } },
      });
    }
    {
      // Verified from the first entry kept, as when it is overtaken mid-range: that is past 40.
      const { store, audit } = await memoryChain(100);
      const busy = betweenPages(store, () => appendEntries(audit, 50));
      expect(await verifyAuditChain({ store: busy, pageSize, to: 40 })).toEqual({ ok: true, through: -1 });
      // As a verification started now says, and the export of that range holds.
      expect(await verifyAuditChain({ store, pageSize, to: 40 })).toEqual({ ok: true, through: -1 });
      const dir = await mkdtemp(join(tmpdir(), 'atg-retention-nothing-kept-'));
      try {
        expect(await exportAudit({ store, dir, pageSize, to: 40 })).toMatchObject({ fromSeq: null, toSeq: null, count: 0 });
        expect(await verifyAuditExport({ dir })).toEqual({ ok: true, through: -1 });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  });

  it('a range the store still holds in part is verified from its first entry kept, not reported missing at 0', async () => {
    const { store, audit } = await memoryChain(100);
    await appendEntries(audit, 50);
    expect(await verifyAuditChain({ store, pageSize, to: 60 })).toEqual({ ok: true, through: 60 });
    // With `from`, an absent first entry is still `missing`: the range asked for does not start there.
    expect(await verifyAuditChain({ store, pageSize, from: 10, to: 60 })).toEqual({
      ok: false,
      through: 9,
      brokenAt: 10,
      reason: 'missing',
    });
  });

  it('an entry deleted from the middle is still missing, before and after retention overtook the reader', async () => {
    {
      const { store, audit } = await memoryChain(100);
      const busy = betweenPages(withoutEntry(store, 70), () => appendEntries(audit, 50));
      expect(await verifyAuditChain({ store: busy, pageSize })).toEqual({ ok: false, through: 69, brokenAt: 70, reason: 'missing' });
    }
    {
      // In the stretch read before the pages were overtaken.
      const { store, audit } = await memoryChain(100);
      const busy = betweenPages(withoutEntry(store, 20), () => appendEntries(audit, 50));
      expect(await verifyAuditChain({ store: busy, pageSize })).toEqual({ ok: false, through: 19, brokenAt: 20, reason: 'missing' });
    }
    {
      // The first entry the store says it still keeps: a gap longer than what retention dropped.
      const { store, audit } = await memoryChain(100);
      const busy = betweenPages(withoutEntry(store, 50), () => appendEntries(audit, 50));
      expect(await verifyAuditChain({ store: busy, pageSize })).toEqual({ ok: false, through: 49, brokenAt: 50, reason: 'missing' });
    }
  });
});

describe('appends made once the head is read cannot overtake the first page unseen', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'atg-retention-first-page-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('verify from `from`: the first page is what was kept with the head; what retention drops after is CONFLICT', async () => {
    {
      const { store, audit } = await memoryChain(100);
      const busy = afterHead(store, () => appendEntries(audit, 50));
      // The first page, 10-39, was read with the head; 40-49 went before the next.
      await expect(verifyAuditChain({ store: busy, pageSize, from: 10 })).rejects.toMatchObject({
        code: 'CONFLICT',
        details: { droppedByRetention: { fromSeq: 40, toSeq: 49 } },
      });
    }
    {
      // A first page that holds the whole range: verified as it was when the head was read.
      const { store, audit } = await memoryChain(100);
      const busy = afterHead(store, () => appendEntries(audit, 50));
      expect(await verifyAuditChain({ store: busy, pageSize: 500, from: 10 })).toEqual({ ok: true, through: 99 });
    }
  });

  it('export from `from`: reads its first page before any file is made, and never writes a gapped export', async () => {
    {
      const { store, audit } = await memoryChain(100);
      const busy = afterHead(store, () => appendEntries(audit, 50));
      await expect(exportAudit({ store: busy, dir, pageSize, from: 10 })).rejects.toMatchObject({
        code: 'CONFLICT',
        details: { droppedByRetention: { fromSeq: 40, toSeq: 49 } },
      });
      expect(await readdir(dir)).toEqual([]);
    }
    {
      const { store, audit } = await memoryChain(100);
      const busy = afterHead(store, () => appendEntries(audit, 50));
      expect(await exportAudit({ store: busy, dir, pageSize: 500, from: 10 })).toMatchObject({ fromSeq: 10, toSeq: 99, count: 90 });
      expect(await verifyAuditExport({ dir })).toEqual({ ok: true, through: 99 });
    }
  });

  it('export: entries appended between the head and the first page (another instance) stay out of the range', async () => {
    const store = memoryStore({ maxRecords: 1000 });
    const audit = createAuditLog({ store });
    await appendEntries(audit, 100);
    const busy = beforeFirstPage(store, () => appendEntries(audit, 50));
    expect(await exportAudit({ store: busy, dir, pageSize: 500 })).toMatchObject({ fromSeq: 0, toSeq: 99, count: 100 });
    expect(await verifyAuditExport({ dir })).toEqual({ ok: true, through: 99 });
  });
});

describe('exportAudit while retention trims a memory store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'atg-retention-export-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fails with CONFLICT and leaves no file, rather than write evidence with a hole; exported again, it verifies', async () => {
    const { store, audit, publicKey } = await memoryChain(100, [79]);
    const busy = betweenPages(store, () => appendEntries(audit, 50));
    await expect(exportAudit({ store: busy, dir, pageSize })).rejects.toMatchObject({
      code: 'CONFLICT',
      message:
        "Cannot export the audit range: the store's retention dropped entries 30-49 before they were read, as newer entries came in. The chain is not damaged; export again, or keep more entries in the store",
      details: { droppedByRetention: { fromSeq: 30, toSeq: 49 } },
    });
    expect(await readdir(dir)).toEqual([]);

    const manifest = await exportAudit({ store, dir, pageSize });
    expect(manifest).toMatchObject({ fromSeq: 50, toSeq: 149, count: 100 });
    expect(await verifyAuditExport({ dir, publicKey })).toEqual({ ok: true, through: 149, signedThrough: 79 });
  });

  it('to streams: fails before any manifest is written', async () => {
    const { store, audit } = await memoryChain(100);
    const busy = betweenPages(store, () => appendEntries(audit, 50));
    const output = { entries: new PassThrough(), manifest: new PassThrough() };
    output.entries.resume();
    await expect(exportAudit({ store: busy, output, pageSize })).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(output.manifest.read()).toBeNull();
  });

  it('an entry deleted from the middle is exported as the store holds it, and verifies missing', async () => {
    const { store } = await memoryChain(100);
    expect(await exportAudit({ store: withoutEntry(store, 70), dir, pageSize })).toMatchObject({ fromSeq: 0, toSeq: 99, count: 99 });
    expect(await verifyAuditExport({ dir })).toEqual({ ok: false, through: 69, brokenAt: 70, reason: 'missing' });
  });
});

describe('the SQL store keeps its whole chain: entries gone between two pages are missing', () => {
  let database: PGlite | undefined;
  afterAll(async () => {
    await database?.close();
  });

  it('verification and export report them, and its pages never say retention dropped them', async () => {
    database ??= new PGlite();
    const engine = database;
    const schema = `retention_${Date.now().toString(36)}`;
    const store = sqlStore({ client: engine, schema });
    await store.migrate();
    // A fresh embedded database can be slow to answer the first writes on a busy machine.
    const audit = createAuditLog({ store, appendTimeoutMs: 60_000 });
    // Group-committed: a few writes instead of a hundred.
    await Promise.all(Array.from({ length: 100 }, (_, index) => audit.append(sampleEvent(index))));
    await audit.close();
    // Deleted while the reader is between pages 0-29 and 30-59, as retention would have dropped them.
    const deleting = betweenPages(store, async () => {
      await engine.query(`DELETE FROM "${schema}".audit_entries WHERE seq BETWEEN 30 AND 49`);
    });
    expect(await verifyAuditChain({ store: deleting, pageSize })).toEqual({ ok: false, through: 29, brokenAt: 30, reason: 'missing' });

    const page = await store.listAudit({ fromSeq: 29, limit: 1 });
    expect(page).toEqual({ items: [expect.objectContaining({ seq: 29 })], nextCursor: expect.any(String) });
    expect((await store.listAudit({ cursor: page.nextCursor, limit: 1 })).items[0]?.seq).toBe(50);

    const dir = await mkdtemp(join(tmpdir(), 'atg-retention-sql-'));
    try {
      expect(await exportAudit({ store, dir, pageSize })).toMatchObject({ fromSeq: 0, toSeq: 99, count: 80 });
      expect(await verifyAuditExport({ dir })).toEqual({ ok: false, through: 29, brokenAt: 30, reason: 'missing' });
    } finally {
      await rm(dir, { recursive: true, force: true });
      await store.close();
    }
  });
});
