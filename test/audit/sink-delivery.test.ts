import { describe, expect, it } from 'vitest';
import { type AuditSinkDrop, createAuditLog } from '../../src/audit/log.js';
import type { AuditSink } from '../../src/audit/types.js';
import { memoryStore } from '../../src/store/memory.js';
import type { AuditEntry, Store } from '../../src/store/types.js';
import { MAX_TIMER_MS } from '../../src/util/timers.js';
import { closesWithinFakeTime } from '../helpers.js';
import { eventually, sampleEvent } from './helpers.js';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

/** Lets every pending promise callback run. */
function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A sink that records what it receives, as seqs. */
function recordingSink(): AuditSink & { received: number[] } {
  const received: number[] = [];
  return {
    received,
    write(entries) {
      received.push(...entries.map((entry) => entry.seq));
    },
  };
}

type DropRecord = [count: number, sink: AuditSink, drop: AuditSinkDrop];

describe('sink queue limit', () => {
  it('bounds the backlog, not the batch: a batch larger than the limit reaches an idle sink', async () => {
    const sink = recordingSink();
    const drops: DropRecord[] = [];
    const audit = createAuditLog({
      store: memoryStore(),
      sinks: [sink],
      sinkQueueLimit: 100,
      onSinkDrop: (...drop) => drops.push(drop),
    });
    await Promise.all(Array.from({ length: 150 }, (_, index) => audit.append(sampleEvent(index))));
    await audit.close();
    expect(sink.received).toEqual(Array.from({ length: 150 }, (_, index) => index));
    expect(drops).toEqual([]);
  });

  it('drops what would grow a waiting backlog past the limit, and says which entries', async () => {
    const gate = deferred();
    const received: number[] = [];
    const sink: AuditSink = {
      async write(entries) {
        await gate.promise;
        received.push(...entries.map((entry) => entry.seq));
      },
    };
    const drops: DropRecord[] = [];
    const audit = createAuditLog({ store: memoryStore(), sinks: [sink], sinkQueueLimit: 5, onSinkDrop: (...drop) => drops.push(drop) });
    await audit.append(sampleEvent(0)); // in the sink's write
    await settled();
    await Promise.all([0, 1, 2].map((index) => audit.append(sampleEvent(index)))); // waiting: 3
    await Promise.all([0, 1, 2].map((index) => audit.append(sampleEvent(index)))); // 6 > 5: dropped
    await Promise.all([0, 1].map((index) => audit.append(sampleEvent(index)))); // waiting: 5
    gate.resolve();
    await audit.close();
    expect(received).toEqual([0, 1, 2, 3, 7, 8]);
    expect(drops).toEqual([[3, sink, { reason: 'queue_full', fromSeq: 4, toSeq: 6 }]]);
  });
});

describe('sink close timeout', () => {
  it('after sinkCloseTimeoutMs nothing more is written to the sink; what was waiting is reported dropped', async () => {
    const gate = deferred();
    const calls: string[] = [];
    const sink: AuditSink = {
      async write(entries) {
        calls.push(`write ${entries.map((entry) => entry.seq).join(',')}`);
        await gate.promise;
      },
      async close() {
        calls.push('close');
      },
    };
    const drops: DropRecord[] = [];
    const audit = createAuditLog({
      store: memoryStore(),
      sinks: [sink],
      sinkCloseTimeoutMs: 10,
      onSinkDrop: (...drop) => drops.push(drop),
    });
    await audit.append(sampleEvent(0));
    await settled();
    await audit.append(sampleEvent(1));
    await Promise.all([2, 3].map((index) => audit.append(sampleEvent(index))));
    await audit.close();
    expect(calls).toEqual(['write 0', 'close']);
    expect(drops).toEqual([[3, sink, { reason: 'closed', fromSeq: 1, toSeq: 3 }]]);

    // The stuck write finishes after close: the queue stays where it was.
    gate.resolve();
    await settled();
    expect(calls).toEqual(['write 0', 'close']);
    expect(drops).toHaveLength(1);
  });

  it("a sink's close() is told through its signal when the log stops waiting for it", async () => {
    const seen: Array<[string, unknown]> = [];
    const stuck: AuditSink = {
      write() {},
      close({ signal } = {}) {
        // Holds on until told to stop, as a sink retrying a delivery does.
        return new Promise<void>((resolve) => {
          signal?.addEventListener('abort', () => {
            seen.push(['stuck', (signal.reason as DOMException).name]);
            resolve();
          });
        });
      },
    };
    let promptSignal: AbortSignal | undefined;
    const prompt: AuditSink = {
      write() {},
      async close(options) {
        promptSignal = options?.signal;
      },
    };
    const audit = createAuditLog({ store: memoryStore(), sinks: [stuck, prompt], sinkCloseTimeoutMs: 10 });
    await audit.append(sampleEvent(0));
    await audit.close();
    // Told before close() resolves, so a sink can report what it held while the process still runs.
    expect(seen).toEqual([['stuck', 'TimeoutError']]);
    expect(promptSignal?.aborted).toBe(false);
  });

  it('close({ timeoutMs }) bounds the whole close, however long appendTimeoutMs and sinkCloseTimeoutMs are', async () => {
    const never = new Promise<void>(() => undefined);
    // The store takes the first append and never answers the second.
    const inner = memoryStore();
    const store = Object.create(inner) as Store;
    let appends = 0;
    store.appendAudit = (entries) => (++appends === 1 ? inner.appendAudit(entries) : never.then(() => true));
    let closeSignal: AbortSignal | undefined;
    const sink: AuditSink = {
      write: () => never,
      close(options) {
        closeSignal = options?.signal;
        return never;
      },
    };
    const drops: DropRecord[] = [];
    const unrecorded: string[] = [];
    const audit = createAuditLog({
      store,
      sinks: [sink],
      appendTimeoutMs: MAX_TIMER_MS,
      sinkCloseTimeoutMs: MAX_TIMER_MS,
      onAuditError: (error) => unrecorded.push(error.message),
      onSinkDrop: (...drop) => drops.push(drop),
    });
    expect((await audit.append(sampleEvent(0)))?.seq).toBe(0);
    await settled();
    const inFlight = audit.append(sampleEvent(1)).catch((error: unknown) => error);
    await settled();

    // A second of fake time: nothing near the 2^31 ms that appends and sinks would otherwise get.
    await closesWithinFakeTime(() => audit.close({ timeoutMs: 0 }), 1000);
    expect(await inFlight).toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    expect(unrecorded).toEqual(['Audit trail unavailable: close() stopped waiting for the write (its timeoutMs passed)']);
    // The abandoned write may still land: reported as such, not as delivered or lost.
    expect(drops).toEqual([[1, sink, { reason: 'unconfirmed', fromSeq: 1, toSeq: 1 }]]);
    expect((closeSignal?.reason as DOMException | undefined)?.name).toBe('TimeoutError');
  });

  it('close({ timeoutMs }) still delivers what a sink takes in time', async () => {
    const gate = deferred();
    const sink = recordingSink();
    const write = sink.write.bind(sink);
    sink.write = async (entries) => {
      await gate.promise;
      write(entries);
    };
    const drops: DropRecord[] = [];
    const audit = createAuditLog({ store: memoryStore(), sinks: [sink], onSinkDrop: (...drop) => drops.push(drop) });
    await Promise.all([0, 1, 2].map((index) => audit.append(sampleEvent(index))));
    const closing = audit.close({ timeoutMs: MAX_TIMER_MS });
    gate.resolve();
    await closing;
    expect(sink.received).toEqual([0, 1, 2]);
    expect(drops).toEqual([]);
  });

  it('refuses a close() timeoutMs that is not a number of milliseconds, 0 or more', async () => {
    const audit = createAuditLog({ store: memoryStore() });
    for (const timeoutMs of [-1, Number.NaN, '5' as unknown as number]) {
      await expect(audit.close({ timeoutMs }), String(timeoutMs)).rejects.toThrow("close()'s timeoutMs must be a number of milliseconds");
    }
    await audit.close({ timeoutMs: 0 });
  });

  it('a sink that drains in time is closed after its last write, with no drops', async () => {
    const calls: string[] = [];
    const sink: AuditSink = {
      async write(entries) {
        await settled();
        calls.push(`write ${entries.map((entry) => entry.seq).join(',')}`);
      },
      async close() {
        calls.push('close');
      },
    };
    const drops: DropRecord[] = [];
    const audit = createAuditLog({ store: memoryStore(), sinks: [sink], onSinkDrop: (...drop) => drops.push(drop) });
    await audit.append(sampleEvent(0));
    await Promise.all([1, 2].map((index) => audit.append(sampleEvent(index))));
    await audit.close();
    expect(calls).toEqual(['write 0', 'write 1,2', 'close']);
    expect(drops).toEqual([]);
  });
});

describe('onSinkDrop', () => {
  it('tells the entries of a failed write, after onSinkError', async () => {
    const calls: string[] = [];
    const sink: AuditSink = {
      write(entries) {
        if (entries[0]?.seq === 1) throw new Error('sink down');
      },
    };
    const audit = createAuditLog({
      store: memoryStore(),
      sinks: [sink],
      onSinkError: (error) => calls.push(`error: ${(error as Error).message}`),
      onSinkDrop: (count, _sink, drop) => calls.push(`drop ${count} ${drop.reason} ${drop.fromSeq}-${drop.toSeq}`),
    });
    await audit.append(sampleEvent(0));
    await Promise.all([1, 2].map((index) => audit.append(sampleEvent(index))));
    await audit.append(sampleEvent(3));
    await audit.close();
    expect(calls).toEqual(['error: sink down', 'drop 2 write_failed 1-2']);
  });

  it('a throwing or rejecting callback does not break the log', async () => {
    const failing: AuditSink = {
      write() {
        throw new Error('sink down');
      },
    };
    for (const onSinkDrop of [
      () => {
        throw new Error('callback broke');
      },
      async () => {
        throw new Error('callback rejected');
      },
    ]) {
      const store = memoryStore();
      const healthy = recordingSink();
      const audit = createAuditLog({
        store,
        sinks: [failing, healthy],
        onSinkDrop,
        onSinkError: async () => {
          throw new Error('error callback rejected');
        },
      });
      for (let index = 0; index < 3; index++) await audit.append(sampleEvent(index));
      await audit.close();
      expect(healthy.received).toEqual([0, 1, 2]);
      await settled();
    }
  });
});

/** A store whose first `appendAudit` waits for `gate` before reaching the inner store. */
function slowFirstAppend(inner: Store, gate: Promise<void>): Store & { firstAppend: Promise<boolean> | undefined } {
  const slow = Object.create(inner) as Store & { firstAppend: Promise<boolean> | undefined };
  slow.firstAppend = undefined;
  slow.appendAudit = (entries: AuditEntry[]) => {
    if (slow.firstAppend !== undefined) return inner.appendAudit(entries);
    slow.firstAppend = gate.then(() => inner.appendAudit(entries));
    return slow.firstAppend;
  };
  return slow;
}

describe('entries of a timed-out append', () => {
  it('that land in the store after all reach the sinks, in chain order', async () => {
    const inner = memoryStore();
    const gate = deferred();
    const store = slowFirstAppend(inner, gate.promise);
    const sink = recordingSink();
    const drops: DropRecord[] = [];
    const audit = createAuditLog({ store, sinks: [sink], appendTimeoutMs: 10, onSinkDrop: (...drop) => drops.push(drop) });
    await expect(audit.append(sampleEvent(0))).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    gate.resolve();
    expect(await store.firstAppend).toBe(true);
    await audit.append(sampleEvent(1));
    await audit.close();
    expect((await inner.listAudit()).items.map((entry) => entry.seq)).toEqual([0, 1]);
    expect(sink.received).toEqual([0, 1]);
    expect(drops).toEqual([]);
  });

  it('that land under another instance’s entries are found and delivered', async () => {
    const inner = memoryStore();
    const gate = deferred();
    const store = slowFirstAppend(inner, gate.promise);
    const sink = recordingSink();
    const audit = createAuditLog({ store, sinks: [sink], appendTimeoutMs: 10 });
    const other = createAuditLog({ store: inner });
    await expect(audit.append(sampleEvent(0))).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    gate.resolve();
    expect(await store.firstAppend).toBe(true);
    await other.append(sampleEvent(1));
    await audit.append(sampleEvent(2));
    await Promise.all([audit.close(), other.close()]);
    expect((await inner.listAudit()).items.map((entry) => entry.event.invocationId)).toEqual(['inv-0', 'inv-1', 'inv-2']);
    expect(sink.received).toEqual([0, 2]);
  });

  it('that never land are neither delivered nor reported', async () => {
    const inner = memoryStore();
    const gate = deferred();
    const store = slowFirstAppend(inner, gate.promise);
    const sink = recordingSink();
    const drops: DropRecord[] = [];
    const audit = createAuditLog({ store, sinks: [sink], appendTimeoutMs: 10, onSinkDrop: (...drop) => drops.push(drop) });
    await expect(audit.append(sampleEvent(0))).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    // The next append takes seq 0 first, so the late write is refused.
    const next = await audit.append(sampleEvent(1));
    gate.resolve();
    expect(await store.firstAppend).toBe(false);
    await audit.append(sampleEvent(2));
    await audit.close();
    expect(next?.seq).toBe(0);
    expect(sink.received).toEqual([0, 1]);
    expect(drops).toEqual([]);
  });

  it('whose fate is still unknown at close are reported as unconfirmed', async () => {
    const gate = deferred();
    const store = slowFirstAppend(memoryStore(), gate.promise);
    const sink = recordingSink();
    const drops: DropRecord[] = [];
    const audit = createAuditLog({ store, sinks: [sink], appendTimeoutMs: 10, onSinkDrop: (...drop) => drops.push(drop) });
    await expect(Promise.all([0, 1].map((index) => audit.append(sampleEvent(index))))).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    await audit.close();
    expect(drops).toEqual([[2, sink, { reason: 'unconfirmed', fromSeq: 0, toSeq: 1 }]]);
    expect(sink.received).toEqual([]);
    gate.resolve();
  });

  it('that landed before close() go to the sinks: close() looks at the head once more', async () => {
    const gate = deferred();
    const store = slowFirstAppend(memoryStore(), gate.promise);
    const sink = recordingSink();
    const drops: DropRecord[] = [];
    const audit = createAuditLog({ store, sinks: [sink], appendTimeoutMs: 10, onSinkDrop: (...drop) => drops.push(drop) });
    await expect(audit.append(sampleEvent(0))).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    gate.resolve();
    expect(await store.firstAppend).toBe(true);
    await audit.close();
    expect(sink.received).toEqual([0]);
    expect(drops).toEqual([]);
  });

  it('that the store no longer keeps when the log looks are reported as unconfirmed', async () => {
    const inner = memoryStore({ maxRecords: 10 });
    const gate = deferred();
    const store = slowFirstAppend(inner, gate.promise);
    const sink = recordingSink();
    const drops: DropRecord[] = [];
    const audit = createAuditLog({ store, sinks: [sink], appendTimeoutMs: 10, onSinkDrop: (...drop) => drops.push(drop) });
    const other = createAuditLog({ store: inner });
    await expect(audit.append(sampleEvent(0))).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    gate.resolve();
    expect(await store.firstAppend).toBe(true);
    // Another instance appends until seq 0 is trimmed away.
    for (let index = 1; index <= 20; index++) await other.append(sampleEvent(index));
    expect((await inner.listAudit({ fromSeq: 0, toSeq: 0 })).items).toEqual([]);
    const next = await audit.append(sampleEvent(21));
    await Promise.all([audit.close(), other.close()]);
    expect(sink.received).toEqual([next?.seq]);
    expect(drops).toEqual([[1, sink, { reason: 'unconfirmed', fromSeq: 0, toSeq: 0 }]]);
  });

  it('a sink still gets every entry when the store answers again', async () => {
    const inner = memoryStore();
    const gate = deferred();
    const store = slowFirstAppend(inner, gate.promise);
    const sink = recordingSink();
    const audit = createAuditLog({ store, sinks: [sink], appendTimeoutMs: 10 });
    await expect(audit.append(sampleEvent(0))).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    gate.resolve();
    await store.firstAppend;
    await Promise.all(Array.from({ length: 5 }, (_, index) => audit.append(sampleEvent(index + 1))));
    await eventually(() => sink.received.length === 6);
    await audit.close();
    expect(sink.received).toEqual((await inner.listAudit()).items.map((entry) => entry.seq));
  });
});

describe('sink options', () => {
  it('refuses a sinkQueueLimit or sinkCloseTimeoutMs that is not a usable number', () => {
    const store = memoryStore();
    for (const sinkQueueLimit of [Number.NaN, -1]) {
      expect(() => createAuditLog({ store, sinkQueueLimit })).toThrow(/sinkQueueLimit/);
    }
    for (const sinkCloseTimeoutMs of [Number.NaN, -1, Number.POSITIVE_INFINITY, 2 ** 31]) {
      expect(() => createAuditLog({ store, sinkCloseTimeoutMs })).toThrow(/sinkCloseTimeoutMs/);
    }
    expect(() => createAuditLog({ store, sinkQueueLimit: 0, sinkCloseTimeoutMs: 0 })).not.toThrow();
  });

  it('refuses a batch size or retry count that would spin or stop the log', () => {
    const store = memoryStore();
    for (const maxBatchSize of [Number.NaN, 0, 1.5]) {
      expect(() => createAuditLog({ store, maxBatchSize })).toThrow(/maxBatchSize/);
    }
    for (const maxConflictRetries of [Number.NaN, -1, 0.5]) {
      expect(() => createAuditLog({ store, maxConflictRetries })).toThrow(/maxConflictRetries/);
    }
    expect(() => createAuditLog({ store, maxBatchSize: 1, maxConflictRetries: 0 })).not.toThrow();
  });
});
