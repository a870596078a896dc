import { describe, expect, it } from 'vitest';
import { generateAuditSigningKey } from '../../src/audit/keys.js';
import { type AuditLog, createAuditLog } from '../../src/audit/log.js';
import { memoryStore } from '../../src/store/memory.js';
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
