import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, computeEntryHash, hashCanonicalEvent } from '../../src/audit/hash.js';
import { generateAuditSigningKey, signCheckpoint, prepareSigningKey } from '../../src/audit/keys.js';
import { createAuditLog } from '../../src/audit/log.js';
import { verifyAuditChain, verifyAuditEntries } from '../../src/audit/verify.js';
import { memoryStore } from '../../src/store/memory.js';
import type { AuditCheckpoint, AuditEntry, Store } from '../../src/store/types.js';
import { canonicalJson } from '../../src/util/canonical-json.js';
import { sampleEvent, tamperedStore } from './helpers.js';

/** A chain of `count` entries with a signed checkpoint after every `checkpointEvery` entries (and on close). */
async function chainOf(count: number, options: { checkpointEvery?: number } = {}) {
  const store = memoryStore({ maxRecords: 10_000 });
  const key = await generateAuditSigningKey();
  const audit = createAuditLog({ store, checkpoints: { signingKey: key.privateJwk, everyEvents: 0, everyMs: 0 } });
  for (let index = 0; index < count; index++) {
    await audit.append(sampleEvent(index));
    if (options.checkpointEvery !== undefined && (index + 1) % options.checkpointEvery === 0) await audit.checkpoint();
  }
  await audit.close();
  return { store, key };
}

async function readAll(store: Store): Promise<AuditEntry[]> {
  return (await store.listAudit({ limit: 1000 })).items;
}

/** Rehashes entries from `from` on, as an attacker who knows the scheme would. */
function rehashFrom(entries: AuditEntry[], from: number): AuditEntry[] {
  const copy = structuredClone(entries);
  for (let index = from; index < copy.length; index++) {
    const entry = copy[index] as AuditEntry;
    if (index > 0) entry.prevHash = (copy[index - 1] as AuditEntry).hash;
    entry.hash = computeEntryHash(entry.seq, entry.prevHash, entry.event);
  }
  return copy;
}

describe('entry hashes', () => {
  it('computeEntryHash is SHA-256 over the canonical JSON of { seq, prevHash, event }', async () => {
    const event = {
      id: 'e1',
      type: 'admin.agent.created',
      at: '2030-01-01T00:00:00.000Z',
      actor: 'admin:alice',
      data: { b: 1, a: [1, 'x'] },
    };
    const { createHash } = await import('node:crypto');
    const expected = createHash('sha256')
      .update(canonicalJson({ seq: 7, prevHash: GENESIS_HASH, event }))
      .digest('hex');
    expect(computeEntryHash(7, GENESIS_HASH, event)).toBe(expected);
    expect(hashCanonicalEvent(7, GENESIS_HASH, canonicalJson(event))).toBe(expected);
    expect(GENESIS_HASH).toBe('0'.repeat(64));
  });
});

describe('verifyAuditChain', () => {
  it('an untouched chain verifies through its head, page by page; an empty one through -1', async () => {
    const { store, key } = await chainOf(30, { checkpointEvery: 10 });
    expect(await verifyAuditChain({ store, publicKey: key.publicJwk, pageSize: 7 })).toEqual({ ok: true, through: 29, signedThrough: 29 });
    expect(await verifyAuditChain({ store, from: 5, to: 12, pageSize: 3 })).toEqual({ ok: true, through: 12 });
    expect(await verifyAuditChain({ store, from: 5, to: 12, publicKey: key.publicJwk })).toEqual({
      ok: true,
      through: 12,
      signedThrough: 9,
    });
    // Key ids are hints: the same key under another name, or among others, still verifies.
    const other = await generateAuditSigningKey();
    const renamed = { ...key.publicJwk, kid: 'renamed' };
    expect(await verifyAuditChain({ store, publicKey: [other.publicJwk, renamed] })).toEqual({ ok: true, through: 29, signedThrough: 29 });
    expect(await verifyAuditChain({ store: memoryStore() })).toEqual({ ok: true, through: -1 });
  });

  it('an edited event is reported at its seq as edited', async () => {
    const { store, key } = await chainOf(20);
    const tampered = tamperedStore(store, (entries) => {
      const copy = structuredClone(entries);
      (copy[12] as AuditEntry).event.data = { index: 12, amount: 1_000_000 };
      return copy;
    });
    expect(await verifyAuditChain({ store: tampered, publicKey: key.publicJwk, pageSize: 5 })).toEqual({
      ok: false,
      through: 11,
      brokenAt: 12,
      reason: 'edited',
    });
  });

  it('an edit rehashed by the attacker breaks the link of the next entry', async () => {
    const { store } = await chainOf(20);
    const tampered = tamperedStore(store, (entries) => {
      const copy = structuredClone(entries);
      const entry = copy[12] as AuditEntry;
      entry.event.actor = 'admin:mallory';
      entry.hash = computeEntryHash(entry.seq, entry.prevHash, entry.event);
      return copy;
    });
    expect(await verifyAuditChain({ store: tampered })).toEqual({ ok: false, through: 12, brokenAt: 13, reason: 'bad_link' });
  });

  it('a deleted entry is reported at its seq as missing', async () => {
    const { store } = await chainOf(20);
    const tampered = tamperedStore(store, (entries) => entries.filter((entry) => entry.seq !== 7));
    expect(await verifyAuditChain({ store: tampered, pageSize: 4 })).toEqual({ ok: false, through: 6, brokenAt: 7, reason: 'missing' });
  });

  it('two swapped entries are reported as reordered at the first displaced seq', async () => {
    const { store } = await chainOf(20);
    const tampered = tamperedStore(store, (entries) => {
      const copy = [...entries];
      [copy[9], copy[10]] = [copy[10] as AuditEntry, copy[9] as AuditEntry];
      return copy;
    });
    expect(await verifyAuditChain({ store: tampered, pageSize: 10 })).toEqual({ ok: false, through: 8, brokenAt: 9, reason: 'reordered' });
  });

  it('swapped events with renumbered, rehashed entries are caught by a signed checkpoint', async () => {
    const { store, key } = await chainOf(20, { checkpointEvery: 10 });
    const tampered = tamperedStore(store, (entries) => {
      const copy = structuredClone(entries);
      const fourth = (copy[4] as AuditEntry).event;
      (copy[4] as AuditEntry).event = (copy[5] as AuditEntry).event;
      (copy[5] as AuditEntry).event = fourth;
      return rehashFrom(copy, 4);
    });
    expect(await verifyAuditChain({ store: tampered, publicKey: key.publicJwk })).toEqual({
      ok: false,
      through: 8,
      brokenAt: 9,
      reason: 'checkpoint_mismatch',
    });
  });

  it('a forged checkpoint is reported at its seq', async () => {
    const { store, key } = await chainOf(20, { checkpointEvery: 10 });
    const entries = await readAll(store);
    const forger = await prepareSigningKey((await generateAuditSigningKey()).privateJwk, key.keyId);
    const forged = await signCheckpoint({ seq: 14, hash: (entries[14] as AuditEntry).hash, at: '2030-01-01T00:00:00.000Z' }, forger);
    await store.appendCheckpoint(forged);
    expect(await verifyAuditChain({ store, publicKey: key.publicJwk })).toEqual({
      ok: false,
      through: 13,
      brokenAt: 14,
      reason: 'bad_checkpoint_signature',
      signedThrough: 9,
    });
  });

  it('a genuine signature copied onto another head does not verify', async () => {
    const { store, key } = await chainOf(20, { checkpointEvery: 10 });
    const [genuine] = await store.listCheckpoints({ fromSeq: 9, toSeq: 9 });
    const entries = await readAll(store);
    await store.appendCheckpoint({ ...(genuine as AuditCheckpoint), seq: 15, hash: (entries[15] as AuditEntry).hash });
    expect(await verifyAuditChain({ store, publicKey: key.publicJwk })).toMatchObject({
      ok: false,
      brokenAt: 15,
      reason: 'bad_checkpoint_signature',
    });
  });

  it('entries cut off the end are missing when a checkpoint names a later seq', async () => {
    const { store, key } = await chainOf(20, { checkpointEvery: 10 });
    const tampered = tamperedStore(store, (entries) => entries.slice(0, 15));
    expect(await verifyAuditChain({ store: tampered, publicKey: key.publicJwk })).toEqual({
      ok: false,
      through: 14,
      brokenAt: 15,
      reason: 'missing',
      signedThrough: 9,
    });
  });

  it('says how far signed checkpoints vouch: a rewrite whose checkpoints were deleted verifies, signed only before it', async () => {
    const { store, key } = await chainOf(30, { checkpointEvery: 10 });
    const rewritten = tamperedStore(store, (entries) => {
      const copy = structuredClone(entries);
      (copy[13] as AuditEntry).event.actor = 'admin:mallory';
      return rehashFrom(copy, 13);
    });
    expect(await verifyAuditChain({ store: rewritten, publicKey: key.publicJwk })).toEqual({
      ok: false,
      through: 18,
      brokenAt: 19,
      reason: 'checkpoint_mismatch',
      signedThrough: 9,
    });

    // Whoever rewrote the chain deletes the checkpoints it contradicts: nothing is broken any
    // more, but the signatures reach only as far as before the rewrite.
    const withCheckpointsBefore = (seq: number) =>
      Object.assign(Object.create(rewritten) as Store, {
        listCheckpoints: async (range?: { fromSeq?: number; toSeq?: number }) =>
          (await store.listCheckpoints(range)).filter((checkpoint) => checkpoint.seq < seq),
      });
    expect(await verifyAuditChain({ store: withCheckpointsBefore(13), publicKey: key.publicJwk })).toEqual({
      ok: true,
      through: 29,
      signedThrough: 9,
    });
    // All of them deleted: no signed checkpoint vouches for any entry, and the result says so by leaving it out.
    expect(await verifyAuditChain({ store: withCheckpointsBefore(0), publicKey: key.publicJwk })).toEqual({ ok: true, through: 29 });
    // Without a key nothing is signed for: signatures are not checked.
    expect(await verifyAuditChain({ store })).toEqual({ ok: true, through: 29 });

    // Checkpoints kept outside the store still catch the rewrite.
    const kept = await store.listCheckpoints();
    expect(await verifyAuditEntries(await readAll(rewritten), { checkpoints: kept, publicKey: key.publicJwk, fromSeq: 0 })).toEqual({
      ok: false,
      through: 18,
      brokenAt: 19,
      reason: 'checkpoint_mismatch',
      signedThrough: 9,
    });
  });

  it('a rewritten first entry must still carry the genesis prevHash', async () => {
    const { store } = await chainOf(5);
    const tampered = tamperedStore(store, (entries) => {
      const copy = structuredClone(entries);
      (copy[0] as AuditEntry).prevHash = 'f'.repeat(64);
      return rehashFrom(copy, 0);
    });
    expect(await verifyAuditChain({ store: tampered })).toEqual({ ok: false, through: -1, brokenAt: 0, reason: 'bad_link' });
  });

  it('a range anchors on the entry before it and reports a gap at its start', async () => {
    const { store } = await chainOf(20);
    const tampered = tamperedStore(store, (entries) => entries.filter((entry) => entry.seq !== 10));
    expect(await verifyAuditChain({ store: tampered, from: 10, to: 15 })).toEqual({
      ok: false,
      through: 9,
      brokenAt: 10,
      reason: 'missing',
    });
    expect(await verifyAuditChain({ store: tampered, from: 11, to: 15 })).toEqual({ ok: true, through: 15 });
  });

  it('refuses a range that starts past the last entry: there is nothing there to vouch for', async () => {
    const { store } = await chainOf(10);
    expect(await verifyAuditChain({ store, from: 9 })).toEqual({ ok: true, through: 9 });
    for (const from of [10, 11, 999_999]) {
      await expect(verifyAuditChain({ store, from }), `from ${from}`).rejects.toMatchObject({
        code: 'BAD_REQUEST',
        message: `Nothing to verify: from (${from}) is past the end of the chain (its last entry is 9)`,
      });
    }
    // An empty chain: from 0 holds no entries (through -1); anything later does not exist.
    expect(await verifyAuditChain({ store: memoryStore(), from: 0 })).toEqual({ ok: true, through: -1 });
    await expect(verifyAuditChain({ store: memoryStore(), from: 1 })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: 'Nothing to verify: from (1) is past the end of the chain (the chain is empty)',
    });
  });

  it('a trimmed memory store verifies from its first retained entry', async () => {
    const store = memoryStore({ maxRecords: 50 });
    const key = await generateAuditSigningKey();
    const audit = createAuditLog({ store, checkpoints: { signingKey: key.privateJwk, everyEvents: 25, everyMs: 0 } });
    for (let index = 0; index < 200; index++) await audit.append(sampleEvent(index));
    await audit.close();
    const first = (await store.listAudit({ limit: 1 })).items[0] as AuditEntry;
    expect(first.seq).toBeGreaterThan(0);
    expect(await verifyAuditChain({ store, publicKey: key.publicJwk })).toEqual({ ok: true, through: 199, signedThrough: 199 });
    // Insisting on the whole chain, the trimmed start is missing.
    expect(await verifyAuditChain({ store, wholeChain: true })).toEqual({ ok: false, through: -1, brokenAt: 0, reason: 'missing' });
  });

  it('a store that keeps the whole chain is verified from seq 0, unless told otherwise', async () => {
    const { store, key } = await chainOf(20, { checkpointEvery: 5 });
    const whole = Object.assign(
      tamperedStore(store, (all) => all.slice(6)),
      { keepsWholeAuditChain: true as const },
    );
    const missing = { ok: false, through: -1, brokenAt: 0, reason: 'missing' };
    expect(await verifyAuditChain({ store: whole })).toEqual(missing);
    expect(await verifyAuditChain({ store: whole, publicKey: key.publicJwk })).toEqual(missing);
    expect(await verifyAuditChain({ store: whole, wholeChain: false, publicKey: key.publicJwk })).toEqual({
      ok: true,
      through: 19,
      signedThrough: 19,
    });
    expect(await verifyAuditChain({ store: whole, from: 6 })).toEqual({ ok: true, through: 19 });
  });

  it('the entry at the head must carry the hash the store reports for its head', async () => {
    const { store } = await chainOf(4);
    const entries = await readAll(store);
    const replaced = rehashFrom(
      entries.map((entry) => (entry.seq === 3 ? { ...entry, event: { ...entry.event, data: { forged: true } } } : entry)),
      3,
    );
    const honestHead = entries[3] as AuditEntry;
    const withRecordedHead = Object.assign(
      tamperedStore(store, () => replaced),
      // Without the closing checkpoint, which would also catch it.
      { getAuditHead: async () => honestHead, listCheckpoints: async () => [] },
    );
    expect(await verifyAuditChain({ store: withRecordedHead })).toEqual({ ok: false, through: 2, brokenAt: 3, reason: 'edited' });
    expect(await verifyAuditEntries(replaced, { throughSeq: 3, throughHash: honestHead.hash })).toEqual({
      ok: false,
      through: 2,
      brokenAt: 3,
      reason: 'edited',
    });
  });
});

describe('verifyAuditEntries (offline)', () => {
  it('verifies an array, a generator and reports the exact break', async () => {
    const { store, key } = await chainOf(12, { checkpointEvery: 4 });
    const entries = await readAll(store);
    const checkpoints = await store.listCheckpoints();
    expect(await verifyAuditEntries(entries, { checkpoints, publicKey: key.publicJwk })).toEqual({
      ok: true,
      through: 11,
      signedThrough: 11,
    });

    async function* lazily() {
      for (const entry of entries) yield entry;
    }
    expect(await verifyAuditEntries(lazily(), { checkpoints })).toEqual({ ok: true, through: 11 });

    const swapped = [...entries];
    [swapped[2], swapped[3]] = [swapped[3] as AuditEntry, swapped[2] as AuditEntry];
    expect(await verifyAuditEntries(swapped)).toEqual({ ok: false, through: 1, brokenAt: 2, reason: 'reordered' });

    const duplicated = [...entries.slice(0, 6), entries[5] as AuditEntry, ...entries.slice(6)];
    expect(await verifyAuditEntries(duplicated)).toEqual({ ok: false, through: 5, brokenAt: 6, reason: 'reordered' });

    const withGarbage = [...entries.slice(0, 3), { nonsense: true } as unknown as AuditEntry, ...entries.slice(4)];
    expect(await verifyAuditEntries(withGarbage)).toEqual({ ok: false, through: 2, brokenAt: 3, reason: 'edited' });

    // A segment starting mid-chain is anchored on its first entry's prevHash.
    expect(await verifyAuditEntries(entries.slice(5), { checkpoints })).toEqual({ ok: true, through: 11 });
    expect(await verifyAuditEntries(entries.slice(5), { fromSeq: 4 })).toEqual({ ok: false, through: 3, brokenAt: 4, reason: 'missing' });
  });
});
