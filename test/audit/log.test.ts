import { describe, expect, it, vi } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { GENESIS_HASH, computeEntryHash } from '../../src/audit/hash.js';
import { generateAuditSigningKey } from '../../src/audit/keys.js';
import { createAuditLog } from '../../src/audit/log.js';
import type { AuditSink } from '../../src/audit/types.js';
import { verifyAuditChain } from '../../src/audit/verify.js';
import { memoryStore } from '../../src/store/memory.js';
import type { AuditEntry, AuditEvent, Store } from '../../src/store/types.js';
import { countingStore, eventually, sampleEvent } from './helpers.js';

async function allEntries(store: Store): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listAudit({ limit: 1000, cursor });
    entries.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return entries;
}

describe('createAuditLog', () => {
  it('appends linked entries: seq from 0, genesis prevHash, hash over { seq, prevHash, event }', async () => {
    const store = memoryStore();
    const audit = createAuditLog({ store, now: () => new Date('2030-01-01T00:00:00.000Z') });
    const first = await audit.append(sampleEvent(0));
    const second = await audit.append({ ...sampleEvent(1), id: 'event-fixed', at: '2030-02-02T00:00:00.000Z' });

    expect(first?.seq).toBe(0);
    expect(first?.prevHash).toBe(GENESIS_HASH);
    expect(first?.event.at).toBe('2030-01-01T00:00:00.000Z');
    expect(first?.event.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(first?.hash).toBe(computeEntryHash(0, GENESIS_HASH, first?.event as AuditEvent));
    expect(second).toEqual({
      seq: 1,
      prevHash: first?.hash,
      hash: computeEntryHash(1, first?.hash as string, { ...sampleEvent(1), id: 'event-fixed', at: '2030-02-02T00:00:00.000Z' }),
      event: { ...sampleEvent(1), id: 'event-fixed', at: '2030-02-02T00:00:00.000Z' },
    });
    expect(await allEntries(store)).toEqual([first, second]);
    await audit.close();
  });

  it('stores the event as hashed: later changes by the caller do not reach the chain', async () => {
    const store = memoryStore();
    const audit = createAuditLog({ store });
    const input = { ...sampleEvent(0), data: { nested: { value: 1 } } };
    const pending = audit.append(input);
    input.data.nested.value = 2;
    const entry = (await pending) as AuditEntry;
    expect(entry.event.data).toEqual({ nested: { value: 1 } });
    expect(await verifyAuditChain({ store })).toEqual({ ok: true, through: 0 });
    await audit.close();
  });

  it('1,000 concurrent appends form one intact chain in append order, group-committed', async () => {
    const store = countingStore(memoryStore({ maxRecords: 5000 }));
    const audit = createAuditLog({ store });
    const entries = await Promise.all(Array.from({ length: 1000 }, (_, index) => audit.append(sampleEvent(index))));

    expect(entries.map((entry) => entry?.seq)).toEqual(Array.from({ length: 1000 }, (_, index) => index));
    expect(entries.map((entry) => ((entry as AuditEntry).event.data as { index: number }).index)).toEqual(
      Array.from({ length: 1000 }, (_, index) => index),
    );
    expect(store.appendedEntries).toBe(1000);
    expect(store.appendCalls).toBeLessThan(1000);
    expect(store.appendCalls).toBeLessThanOrEqual(10);
    expect(await verifyAuditChain({ store })).toEqual({ ok: true, through: 999 });
    await audit.close();
  });

  it('batches events that arrive while a write is in flight into the next write', async () => {
    const inner = memoryStore();
    let releaseFirstWrite: () => void = () => undefined;
    const firstWriteHeld = new Promise<void>((resolve) => {
      releaseFirstWrite = resolve;
    });
    const batchSizes: number[] = [];
    const store = Object.create(inner) as Store;
    store.appendAudit = async (entries) => {
      batchSizes.push(entries.length);
      if (batchSizes.length === 1) await firstWriteHeld;
      return inner.appendAudit(entries);
    };
    const audit = createAuditLog({ store });
    const first = audit.append(sampleEvent(0));
    await eventually(() => batchSizes.length === 1);
    const rest = Array.from({ length: 25 }, (_, index) => audit.append(sampleEvent(index + 1)));
    releaseFirstWrite();
    await Promise.all([first, ...rest]);
    expect(batchSizes).toEqual([1, 25]);
    expect(await verifyAuditChain({ store: inner })).toEqual({ ok: true, through: 25 });
    await audit.close();
  });

  it('two instances over one store build one unbroken chain', async () => {
    const store = memoryStore({ maxRecords: 5000 });
    const instanceA = createAuditLog({ store });
    const instanceB = createAuditLog({ store });
    const appended: Array<AuditEntry | undefined> = [];
    for (let wave = 0; wave < 10; wave++) {
      const results = await Promise.all([
        ...Array.from({ length: 30 }, (_, index) => instanceA.append({ ...sampleEvent(index), actor: `a:${wave}` })),
        ...Array.from({ length: 30 }, (_, index) => instanceB.append({ ...sampleEvent(index), actor: `b:${wave}` })),
      ]);
      appended.push(...results);
    }
    expect(appended.every((entry) => entry !== undefined)).toBe(true);
    const seqs = appended.map((entry) => entry?.seq as number).sort((left, right) => left - right);
    expect(seqs).toEqual(Array.from({ length: 600 }, (_, index) => index));
    expect(await verifyAuditChain({ store })).toEqual({ ok: true, through: 599 });
    // Each entry an instance returned is the one in the store at that seq.
    const stored = await allEntries(store);
    for (const entry of appended) expect(stored[(entry as AuditEntry).seq]).toEqual(entry);
    await Promise.all([instanceA.close(), instanceB.close()]);
  });

  it('after another writer appended, it reloads the head and links on top of it', async () => {
    const store = memoryStore();
    const audit = createAuditLog({ store });
    await audit.append(sampleEvent(0));
    const other = createAuditLog({ store });
    await other.append(sampleEvent(1));
    await other.close();
    const entry = await audit.append(sampleEvent(2));
    expect(entry?.seq).toBe(2);
    expect(await verifyAuditChain({ store })).toEqual({ ok: true, through: 2 });
    await audit.close();
  });

  it('reads the head to relink with forAppend, so that the store may favour that append; verification does not', async () => {
    const inner = memoryStore();
    const reads: Array<{ forAppend?: boolean } | undefined> = [];
    const store = Object.create(inner) as Store;
    store.getAuditHead = (options) => {
      reads.push(options);
      return inner.getAuditHead();
    };
    const audit = createAuditLog({ store });
    await audit.append(sampleEvent(0));
    const other = createAuditLog({ store: inner });
    await other.append(sampleEvent(1));
    await other.close();
    await audit.append(sampleEvent(2));
    expect(reads).toEqual([{ forAppend: true }, { forAppend: true }]);
    await verifyAuditChain({ store });
    expect(reads).toHaveLength(3);
    expect(reads[2]).toBeUndefined();
    await audit.close();
  });

  it('fail-closed: a failing store rejects with AUDIT_UNAVAILABLE (503) and reports the event', async () => {
    const store = Object.create(memoryStore()) as Store;
    store.appendAudit = async () => {
      throw new Error('connection refused: password=hunter2');
    };
    const onAuditError = vi.fn();
    const audit = createAuditLog({ store, onAuditError });
    const error = await audit.append(sampleEvent(0)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('AUDIT_UNAVAILABLE');
    expect((error as GatewayError).status).toBe(503);
    expect((error as GatewayError).message).not.toContain('hunter2');
    expect(onAuditError).toHaveBeenCalledTimes(1);
    expect(onAuditError.mock.calls[0]?.[1]).toMatchObject({ type: 'invocation.started', invocationId: 'inv-0' });
    await audit.close();
  });

  it('fail-closed: a store that never answers rejects once appendTimeoutMs has passed', async () => {
    const store = Object.create(memoryStore()) as Store;
    store.appendAudit = () => new Promise<boolean>(() => undefined);
    const audit = createAuditLog({ store, appendTimeoutMs: 50 });
    const results = await Promise.allSettled([audit.append(sampleEvent(0)), audit.append(sampleEvent(1))]);
    for (const result of results) {
      expect(result.status).toBe('rejected');
      expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    }
    // A later append is not stuck behind the abandoned write.
    await expect(audit.append(sampleEvent(2))).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    await audit.close();
  });

  it('fail-open: a failing store resolves undefined and calls onAuditError for each event', async () => {
    const inner = memoryStore();
    const store = Object.create(inner) as Store;
    let storeDown = true;
    store.appendAudit = async (entries) => {
      if (storeDown) throw new Error('down');
      return inner.appendAudit(entries);
    };
    const onAuditError = vi.fn();
    const audit = createAuditLog({ store, failMode: 'open', onAuditError });
    const results = await Promise.all([audit.append(sampleEvent(0)), audit.append(sampleEvent(1))]);
    expect(results).toEqual([undefined, undefined]);
    expect(onAuditError).toHaveBeenCalledTimes(2);
    expect(onAuditError.mock.calls[0]?.[0]).toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    expect(onAuditError.mock.calls.map((call) => (call[1] as AuditEvent).invocationId)).toEqual(['inv-0', 'inv-1']);

    storeDown = false;
    const recovered = await audit.append(sampleEvent(2));
    expect(recovered?.seq).toBe(0);
    expect(await verifyAuditChain({ store: inner })).toEqual({ ok: true, through: 0 });
    await audit.close();
  });

  it('gives up after bounded retries when it keeps losing the race for the head', async () => {
    const store = Object.create(memoryStore()) as Store;
    let attempts = 0;
    store.appendAudit = async () => {
      attempts++;
      return false;
    };
    const audit = createAuditLog({ store, maxConflictRetries: 3 });
    await expect(audit.append(sampleEvent(0))).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    expect(attempts).toBe(4);
    await audit.close();
  });

  it('rejects appends after close, and close waits for queued appends', async () => {
    const store = memoryStore();
    const audit = createAuditLog({ store });
    const pending = Array.from({ length: 10 }, (_, index) => audit.append(sampleEvent(index)));
    await audit.close();
    expect((await Promise.all(pending)).map((entry) => entry?.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await expect(audit.append(sampleEvent(10))).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
  });
});

describe('audit sinks', () => {
  it('a sink whose write never resolves does not delay appends; overflow is reported as drops', async () => {
    const stuckSink: AuditSink = { write: () => new Promise<void>(() => undefined) };
    const received: number[] = [];
    const healthySink: AuditSink = {
      write(entries) {
        received.push(...entries.map((entry) => entry.seq));
      },
    };
    const drops: number[] = [];
    const audit = createAuditLog({
      store: memoryStore(),
      sinks: [stuckSink, healthySink],
      sinkQueueLimit: 100,
      sinkCloseTimeoutMs: 50,
      onSinkDrop: (dropped, sink) => {
        if (sink === stuckSink) drops.push(dropped);
      },
    });
    for (let round = 0; round < 20; round++) {
      const entries = await Promise.all(Array.from({ length: 10 }, (_, index) => audit.append(sampleEvent(round * 10 + index))));
      expect(entries.every((entry) => entry !== undefined)).toBe(true);
    }
    await eventually(() => received.length === 200);
    expect(received).toEqual(Array.from({ length: 200 }, (_, index) => index));
    // One batch stuck in write, 100 queued, the rest dropped and reported.
    expect(drops.reduce((sum, count) => sum + count, 0)).toBe(90);
    await audit.close();
  });

  it('a failing sink is reported and keeps receiving later batches', async () => {
    const errors: unknown[] = [];
    const calls: number[][] = [];
    const flakySink: AuditSink = {
      write(entries) {
        calls.push(entries.map((entry) => entry.seq));
        if (calls.length === 1) throw new Error('sink down');
      },
    };
    const audit = createAuditLog({ store: memoryStore(), sinks: [flakySink], onSinkError: (error) => errors.push(error) });
    await audit.append(sampleEvent(0));
    await eventually(() => calls.length === 1);
    await audit.append(sampleEvent(1));
    await eventually(() => calls.length === 2);
    expect(calls).toEqual([[0], [1]]);
    expect(errors).toHaveLength(1);
    await audit.close();
  });

  it('close drains sinks and closes them', async () => {
    const received: number[] = [];
    let closed = false;
    const sink: AuditSink = {
      async write(entries) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        received.push(...entries.map((entry) => entry.seq));
      },
      async close() {
        closed = true;
      },
    };
    const audit = createAuditLog({ store: memoryStore(), sinks: [sink] });
    await Promise.all(Array.from({ length: 5 }, (_, index) => audit.append(sampleEvent(index))));
    await audit.close();
    expect(received).toEqual([0, 1, 2, 3, 4]);
    expect(closed).toBe(true);
  });
});

describe('signed checkpoints', () => {
  it('signs the head every N events and verifies with the public key', async () => {
    const store = memoryStore();
    const key = await generateAuditSigningKey();
    const audit = createAuditLog({ store, checkpoints: { signingKey: key.privateJwk, everyEvents: 10, everyMs: 0 } });
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, index) => audit.append(sampleEvent(round * 10 + index))));
      await eventually(async () => (await store.listCheckpoints()).length === round + 1);
    }
    // Nine more events do not reach the next checkpoint.
    await Promise.all(Array.from({ length: 9 }, (_, index) => audit.append(sampleEvent(30 + index))));
    const checkpoints = await store.listCheckpoints();
    expect(checkpoints.map((checkpoint) => checkpoint.seq)).toEqual([9, 19, 29]);
    expect(checkpoints.every((checkpoint) => checkpoint.keyId === key.keyId)).toBe(true);
    expect(await audit.publicJwk()).toEqual({ kty: 'OKP', crv: 'Ed25519', x: key.publicJwk.x, kid: key.keyId });
    // The last nine entries are not signed yet.
    expect(await verifyAuditChain({ store, publicKey: key.publicJwk })).toEqual({ ok: true, through: 38, signedThrough: 29 });

    const stranger = await generateAuditSigningKey();
    const withWrongKey = await verifyAuditChain({ store, publicKey: stranger.publicJwk });
    expect(withWrongKey).toEqual({ ok: false, through: 8, brokenAt: 9, reason: 'bad_checkpoint_signature' });
    await audit.close();
  });

  it('signs on the timer when the head moved, and once more on close', async () => {
    const store = memoryStore();
    const key = await generateAuditSigningKey();
    const audit = createAuditLog({ store, checkpoints: { signingKey: key.privateKey, everyEvents: 0, everyMs: 20 } });
    await audit.append(sampleEvent(0));
    await eventually(async () => (await store.listCheckpoints()).length === 1);
    expect((await store.listCheckpoints())[0]?.seq).toBe(0);
    await audit.append(sampleEvent(1));
    await audit.close();
    const seqs = (await store.listCheckpoints()).map((checkpoint) => checkpoint.seq);
    expect(seqs).toContain(1);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(await verifyAuditChain({ store, publicKey: key.publicJwk })).toEqual({ ok: true, through: 1, signedThrough: 1 });
  });

  it('a checkpoint that cannot be stored is reported and appends go on', async () => {
    const inner = memoryStore();
    const store = Object.create(inner) as Store;
    store.appendCheckpoint = async () => {
      throw new Error('checkpoint table missing');
    };
    const key = await generateAuditSigningKey();
    const onError = vi.fn();
    const audit = createAuditLog({ store, checkpoints: { signingKey: key.privateJwk, everyEvents: 1, everyMs: 0, onError } });
    await audit.append(sampleEvent(0));
    await eventually(() => onError.mock.calls.length > 0);
    expect((await audit.append(sampleEvent(1)))?.seq).toBe(1);
    await audit.close();
  });
});

describe('options a Node timer cannot hold', () => {
  const longestTimerMs = 2 ** 31 - 1;

  it('refuses an appendTimeoutMs that is not a positive number a timer can hold, with a TypeError naming it', () => {
    const store = memoryStore();
    for (const appendTimeoutMs of [Number.NaN, 0, -1, Number.POSITIVE_INFINITY, 2 ** 31, '5000']) {
      const create = () => createAuditLog({ store, appendTimeoutMs: appendTimeoutMs as number });
      expect(create).toThrow(TypeError);
      expect(create).toThrow(`createAuditLog: appendTimeoutMs must be a positive number of at most ${longestTimerMs}`);
    }
    expect(() => createAuditLog({ store, appendTimeoutMs: longestTimerMs })).not.toThrow();
  });

  it('refuses a checkpoints.everyMs a timer cannot hold, with a TypeError naming it', async () => {
    const store = memoryStore();
    const { privateJwk } = await generateAuditSigningKey();
    for (const everyMs of [Number.NaN, -1, 1.5, Number.POSITIVE_INFINITY, 2 ** 31, '60000']) {
      const create = () => createAuditLog({ store, checkpoints: { signingKey: privateJwk, everyMs: everyMs as number } });
      expect(create).toThrow(TypeError);
      expect(create).toThrow(`createAuditLog: checkpoints.everyMs must be an integer from 0 (off) to ${longestTimerMs}`);
    }
    for (const everyMs of [0, 1, longestTimerMs]) {
      await createAuditLog({ store, checkpoints: { signingKey: privateJwk, everyMs } }).close();
    }
  });

  it('refuses a checkpoints.everyEvents or sinkQueueLimit that is not a whole number, 0 or more', async () => {
    const store = memoryStore();
    const { privateJwk } = await generateAuditSigningKey();
    for (const bad of [Number.NaN, -1, 1.5, Number.POSITIVE_INFINITY, '100']) {
      expect(() => createAuditLog({ store, checkpoints: { signingKey: privateJwk, everyEvents: bad as number } })).toThrow(
        'createAuditLog: checkpoints.everyEvents must be a whole number of events, 0 (off) or more',
      );
      expect(() => createAuditLog({ store, sinkQueueLimit: bad as number })).toThrow(
        'createAuditLog: sinkQueueLimit must be a whole number of entries, 0 or more',
      );
    }
    await createAuditLog({ store, sinkQueueLimit: 0, checkpoints: { signingKey: privateJwk, everyEvents: 0, everyMs: 0 } }).close();
  });

  it('at the longest appendTimeoutMs, the watchdog timer stays within what a Node timer holds', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const inner = memoryStore();
    const store = Object.create(inner) as Store;
    store.appendAudit = async (entries) => {
      await gate;
      return inner.appendAudit(entries);
    };
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    try {
      const audit = createAuditLog({ store, appendTimeoutMs: longestTimerMs });
      const appended = audit.append(sampleEvent(0));
      await new Promise((resolve) => setImmediate(resolve));
      const delays = setTimeoutSpy.mock.calls.map((call) => call[1] ?? 0);
      expect(delays.length).toBeGreaterThan(0);
      // A longer one would fire after 1 ms, and the watchdog would wake on every tick.
      expect(Math.max(...delays)).toBeLessThanOrEqual(longestTimerMs);
      release();
      expect((await appended)?.seq).toBe(0);
      await audit.close();
    } finally {
      setTimeoutSpy.mockRestore();
    }
  });
});
