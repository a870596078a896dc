import { describe, expect, it } from 'vitest';
import { WriteCombiner } from '../../src/store/sql/write-combiner.js';
import { deferred } from '../helpers.js';

interface Item {
  key: string;
  value: number;
}

/** Records every statement; each one waits for `release` when `hold` is set. */
function recordingWrites(options: { maxBatch?: number; refuse?: (item: Item) => boolean; failMany?: boolean } = {}) {
  const statements: Array<{ kind: 'one' | 'many'; items: Item[] }> = [];
  let inFlight = 0;
  let mostInFlight = 0;
  let hold: Promise<void> | undefined;
  const run = async (kind: 'one' | 'many', items: Item[]) => {
    statements.push({ kind, items: items.map((item) => ({ ...item })) });
    inFlight++;
    mostInFlight = Math.max(mostInFlight, inFlight);
    try {
      if (hold !== undefined) await hold;
      if (kind === 'many' && options.failMany) throw new Error('batch refused');
      const refused = items.find((item) => options.refuse?.(item));
      if (refused !== undefined) throw new Error(`refused ${refused.key}`);
    } finally {
      inFlight--;
    }
  };
  const combiner = new WriteCombiner<Item>({
    one: (item) => run('one', [item]),
    many: (items) => run('many', items),
    keyOf: (item) => item.key,
    maxBatch: options.maxBatch ?? 500,
  });
  return {
    combiner,
    statements,
    mostInFlight: () => mostInFlight,
    holdStatements(): () => void {
      const gate = deferred();
      hold = gate.promise;
      return () => {
        hold = undefined;
        gate.resolve();
      };
    },
  };
}

describe('WriteCombiner', () => {
  it('writes a lone item with the single-item statement', async () => {
    const writes = recordingWrites();
    await writes.combiner.write({ key: 'a', value: 1 });
    expect(writes.statements).toEqual([{ kind: 'one', items: [{ key: 'a', value: 1 }] }]);
  });

  it('sends writes made in one turn as one statement, in order', async () => {
    const writes = recordingWrites();
    await Promise.all([1, 2, 3].map((value) => writes.combiner.write({ key: `k${value}`, value })));
    expect(writes.statements).toEqual([
      {
        kind: 'many',
        items: [
          { key: 'k1', value: 1 },
          { key: 'k2', value: 2 },
          { key: 'k3', value: 3 },
        ],
      },
    ]);
  });

  it('holds writes made while a statement is in flight for the next one: one statement at a time', async () => {
    const writes = recordingWrites();
    const release = writes.holdStatements();
    const first = writes.combiner.write({ key: 'a', value: 1 });
    await Promise.resolve();
    const later = [writes.combiner.write({ key: 'b', value: 2 }), writes.combiner.write({ key: 'c', value: 3 })];
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes.statements).toHaveLength(1);
    release();
    await Promise.all([first, ...later]);
    expect(writes.statements.map((statement) => statement.items.map((item) => item.key))).toEqual([['a'], ['b', 'c']]);
    expect(writes.mostInFlight()).toBe(1);
  });

  it('writes only the last of several waiting writes of one key, where its key first appeared; every writer resolves', async () => {
    const writes = recordingWrites();
    await Promise.all([
      writes.combiner.write({ key: 'a', value: 1 }),
      writes.combiner.write({ key: 'b', value: 2 }),
      writes.combiner.write({ key: 'a', value: 3 }),
    ]);
    expect(writes.statements).toEqual([
      {
        kind: 'many',
        items: [
          { key: 'a', value: 3 },
          { key: 'b', value: 2 },
        ],
      },
    ]);
    await Promise.all([writes.combiner.write({ key: 'x', value: 1 }), writes.combiner.write({ key: 'x', value: 2 })]);
    expect(writes.statements[1]).toEqual({ kind: 'one', items: [{ key: 'x', value: 2 }] });
  });

  it('splits a long queue into statements of at most maxBatch items', async () => {
    const writes = recordingWrites({ maxBatch: 2 });
    await Promise.all([1, 2, 3, 4, 5].map((value) => writes.combiner.write({ key: `k${value}`, value })));
    expect(writes.statements.map((statement) => [statement.kind, statement.items.length])).toEqual([
      ['many', 2],
      ['many', 2],
      ['one', 1],
    ]);
  });

  it('retries a failed batch item by item: only the refused item fails', async () => {
    const writes = recordingWrites({ refuse: (item) => item.key === 'bad' });
    const results = await Promise.allSettled([
      writes.combiner.write({ key: 'a', value: 1 }),
      writes.combiner.write({ key: 'bad', value: 2 }),
      writes.combiner.write({ key: 'c', value: 3 }),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toEqual(new Error('refused bad'));
    expect(writes.statements.map((statement) => statement.kind)).toEqual(['many', 'one', 'one', 'one']);
    // Later writes go on.
    await writes.combiner.write({ key: 'd', value: 4 });
  });

  it('fails every writer when the database refuses each item too', async () => {
    const writes = recordingWrites({ refuse: () => true });
    const results = await Promise.allSettled([
      writes.combiner.write({ key: 'a', value: 1 }),
      writes.combiner.write({ key: 'b', value: 2 }),
    ]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    const lone = writes.combiner.write({ key: 'c', value: 3 });
    await expect(lone).rejects.toThrow('refused c');
  });

  it('a batch statement that fails while each item succeeds alone loses nothing', async () => {
    const writes = recordingWrites({ failMany: true });
    await Promise.all([writes.combiner.write({ key: 'a', value: 1 }), writes.combiner.write({ key: 'b', value: 2 })]);
    expect(writes.statements.map((statement) => statement.kind)).toEqual(['many', 'one', 'one']);
  });

  it('abandoned, fails the writes in flight and queued at once, sends nothing more, and refuses later writes', async () => {
    const writes = recordingWrites();
    const release = writes.holdStatements();
    const outcome = (promise: Promise<void>) =>
      promise.then(
        () => 'written',
        (error: Error) => error.message,
      );
    const inFlight = outcome(writes.combiner.write({ key: 'a', value: 1 }));
    await Promise.resolve();
    const queued = [outcome(writes.combiner.write({ key: 'b', value: 2 })), outcome(writes.combiner.write({ key: 'c', value: 3 }))];
    const settled = writes.combiner.settled();
    writes.combiner.abandon(new Error('store closed'));
    expect(await Promise.all([inFlight, ...queued])).toEqual(['store closed', 'store closed', 'store closed']);
    await settled;
    await writes.combiner.settled();
    await expect(writes.combiner.write({ key: 'd', value: 4 })).rejects.toThrow('store closed');
    // The statement in flight returns at last: nothing queued goes out after it.
    release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes.statements).toEqual([{ kind: 'one', items: [{ key: 'a', value: 1 }] }]);
  });
});
