import { describe, expect, it } from 'vitest';
import { type AuditSinkDrop, createAuditLog } from '../../src/audit/log.js';
import type { AuditSink } from '../../src/audit/types.js';
import { memoryStore } from '../../src/store/memory.js';
import { sampleEvent } from './helpers.js';

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
