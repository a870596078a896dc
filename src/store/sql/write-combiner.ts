/** How a {@link WriteCombiner} writes. */
export interface CombinedWrites<T> {
  /** Writes one item: the statement used when a batch holds one item, and for each item of a failed batch. */
  one(item: T): Promise<void>;
  /** Writes several items (distinct keys, in order) in one statement, all or nothing. */
  many(items: T[]): Promise<void>;
  /** Items with the same key replace each other: of several waiting, only the last is written. */
  keyOf(item: T): string;
  /** Most items per statement. */
  maxBatch: number;
  /**
   * Whether the items of a batch that failed with `error` are retried one by one (default:
   * always). Not worth it when the error is no item's own (the database is out of reach):
   * each retry would only wait to fail the same way.
   */
  retryEach?(error: unknown): boolean;
}

interface Waiting<T> {
  readonly item: T;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit for independent upserts: a write made while a statement is in flight waits
 * for it and then goes out with every other write that arrived meanwhile, in one statement.
 * One statement at a time, in arrival order, so of two writes of the same key the later one
 * always lands last. Under no concurrency every write is its own single-row statement, as
 * without the combiner; under load, one commit serves many calls.
 *
 * A batch that fails is retried item by item, so one item the database refuses fails only
 * its own write; not when the failure is no item's own (see `retryEach`).
 */
export class WriteCombiner<T> {
  private queue: Waiting<T>[] = [];
  /** The writes of the statement in flight. */
  private sending: Waiting<T>[] = [];
  private draining = false;
  private idle: Array<() => void> = [];
  /** Set by {@link abandon}: what every write, waiting or new, fails with. */
  private abandoned: { error: unknown } | undefined;

  constructor(private readonly writes: CombinedWrites<T>) {}

  /** Resolves once the item is written (or a later write of the same key, made before it went out, is). */
  write(item: T): Promise<void> {
    if (this.abandoned !== undefined) return Promise.reject(this.abandoned.error);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.draining) return;
      this.draining = true;
      // Deferred a microtask, so writes made in the same turn share the first statement.
      queueMicrotask(() => void this.drain());
    });
  }

  /**
   * Resolves once every write made so far has been sent and has settled (and the queue is
   * empty), or at once when the combiner has been abandoned.
   */
  settled(): Promise<void> {
    if (!this.draining || this.abandoned !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /**
   * Gives up on every write not settled yet: each fails with `error` now, those of the
   * statement in flight included (that statement is not recalled: it may still be written),
   * nothing queued is sent, and later writes fail the same way. For a store that closes while
   * a statement hangs (behind a lock, on a connection that no longer answers).
   */
  abandon(error: unknown): void {
    if (this.abandoned !== undefined) return;
    this.abandoned = { error };
    const waiting = [...this.sending, ...this.queue];
    this.sending = [];
    this.queue = [];
    for (const { reject } of waiting) reject(error);
    for (const resolve of this.idle.splice(0)) resolve();
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.length <= this.writes.maxBatch ? this.queue : this.queue.slice(0, this.writes.maxBatch);
      this.queue = batch === this.queue ? [] : this.queue.slice(batch.length);
      this.sending = batch;
      try {
        await this.writeBatch(batch);
      } catch (error) {
        // Only a throwing `keyOf` gets here; the batch's writers hear of it, later writes go on.
        for (const waiting of batch) waiting.reject(error);
      }
      this.sending = [];
    }
    this.draining = false;
    for (const resolve of this.idle.splice(0)) resolve();
  }

  private async writeBatch(batch: Waiting<T>[]): Promise<void> {
    if (batch.length === 1) {
      const only = batch[0] as Waiting<T>;
      await this.writes.one(only.item).then(only.resolve, only.reject);
      return;
    }
    // The last write of each key, in the order the keys first appeared.
    const latest = new Map<string, T>();
    for (const { item } of batch) latest.set(this.writes.keyOf(item), item);
    const items = [...latest.values()];
    try {
      await (items.length === 1 ? this.writes.one(items[0] as T) : this.writes.many(items));
    } catch (error) {
      // Its writers have heard already; nothing more is sent.
      if (this.abandoned !== undefined) return;
      if (this.writes.retryEach?.(error) === false) {
        for (const waiting of batch) waiting.reject(error);
        return;
      }
      const outcomes = await Promise.allSettled(items.map((item) => this.writes.one(item)));
      const failures = new Map<string, unknown>();
      outcomes.forEach((outcome, index) => {
        if (outcome.status === 'rejected') failures.set(this.writes.keyOf(items[index] as T), outcome.reason);
      });
      for (const waiting of batch) {
        const key = this.writes.keyOf(waiting.item);
        if (failures.has(key)) waiting.reject(failures.get(key));
        else waiting.resolve();
      }
      return;
    }
    for (const waiting of batch) waiting.resolve();
  }
}
