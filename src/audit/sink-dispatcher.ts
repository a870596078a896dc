import type { AuditEntry } from '../store/types.js';
import type { AuditSinkDrop, AuditSinkDropReason } from './log.js';
import type { AuditSink } from './types.js';
import { performance } from 'node:perf_hooks';
import { callGuarded } from '../util/guarded-callback.js';
import { release } from '../util/shared-holds.js';
import { within } from '../util/timers.js';

/** Callbacks and bounds of a {@link SinkDispatcher}. */
export interface SinkDispatcherOptions {
  /** Most entries waiting for this sink; a batch that would exceed it is dropped and reported (an idle sink takes any batch). */
  maxQueuedEntries: number;
  onError: (error: unknown, sink: AuditSink) => unknown;
  onDrop: (drop: AuditSinkDrop, sink: AuditSink) => unknown;
}

/**
 * Feeds one sink from its own bounded queue, one `write` at a time and in chain order, so
 * a slow or failing sink delays nobody but itself. Every entry the sink does not get (queue
 * full, failed write, left over at close) is reported through `onDrop` with its seq range.
 */
export class SinkDispatcher {
  private queue: AuditEntry[][] = [];
  private queuedEntries = 0;
  private running: Promise<void> | undefined;
  /** Set when closing gives up on the queue: nothing more reaches the sink. */
  private stopped = false;

  constructor(
    readonly sink: AuditSink,
    private readonly options: SinkDispatcherOptions,
  ) {}

  /** Queues a committed batch (consecutive entries); never waits for the sink. */
  deliver(entries: AuditEntry[]): void {
    if (this.stopped) {
      this.drop([entries], 'closed');
      return;
    }
    // The limit bounds the backlog: an empty queue takes a batch of any size.
    if (this.queuedEntries > 0 && this.queuedEntries + entries.length > this.options.maxQueuedEntries) {
      this.drop([entries], 'queue_full');
      return;
    }
    this.queue.push(entries);
    this.queuedEntries += entries.length;
    if (this.running === undefined) this.running = this.run();
  }

  /** Reports batches (each of consecutive entries, in chain order) the sink will not get; adjacent ones make one report. */
  drop(batches: AuditEntry[][], reason: AuditSinkDropReason): void {
    let fromSeq = -1;
    let toSeq = -1;
    for (const batch of batches) {
      const first = batch[0];
      const last = batch[batch.length - 1];
      if (first === undefined || last === undefined) continue;
      if (fromSeq >= 0 && first.seq === toSeq + 1) {
        toSeq = last.seq;
        continue;
      }
      if (fromSeq >= 0) this.report(() => this.options.onDrop({ reason, fromSeq, toSeq }, this.sink));
      fromSeq = first.seq;
      toSeq = last.seq;
    }
    if (fromSeq >= 0) this.report(() => this.options.onDrop({ reason, fromSeq, toSeq }, this.sink));
  }

  /**
   * Lets the queue drain for up to `timeoutMs`, then stops: a write in progress is left to
   * finish, what still waits is reported dropped (`closed`), and the sink's `close()` is
   * called, itself bounded by `timeoutMs`: when that passes, its `signal` aborts, so that a sink
   * that holds entries it accepted stops and reports them. No `write` starts after that.
   * Neither wait goes past `deadline` (a `performance.now()` instant), if there is one. A sink
   * another open audit log still holds is not closed.
   */
  async close(timeoutMs: number, deadline = Number.POSITIVE_INFINITY): Promise<void> {
    const timeLeft = () => Math.min(timeoutMs, Math.max(0, deadline - performance.now()));
    // Unref'd: a stuck sink must not keep the process alive.
    if (this.running !== undefined) await within(this.running, timeLeft(), undefined, true);
    this.stopped = true;
    const left = this.queue;
    this.queue = [];
    this.queuedEntries = 0;
    this.drop(left, 'closed');
    // A sink another open audit log (another gateway) still writes to stays open for it.
    if (!release(this.sink)) return;
    const stop = new AbortController();
    try {
      const closedInTime = await within(
        Promise.resolve()
          .then(() => this.sink.close?.({ signal: stop.signal }))
          .then(() => true),
        timeLeft(),
        false,
        false,
      );
      if (!closedInTime) {
        stop.abort(
          new DOMException(
            "The audit log stopped waiting for the sink to close (sinkCloseTimeoutMs, or close()'s timeoutMs)",
            'TimeoutError',
          ),
        );
      }
    } catch (error) {
      this.report(() => this.options.onError(error, this.sink));
    }
  }

  private async run(): Promise<void> {
    // Start on a later turn: the append that committed these entries resolves first.
    await Promise.resolve();
    try {
      while (!this.stopped) {
        const batch = this.queue.shift();
        if (batch === undefined) break;
        this.queuedEntries -= batch.length;
        try {
          await this.sink.write(batch);
        } catch (error) {
          this.report(() => this.options.onError(error, this.sink));
          this.drop([batch], 'write_failed');
        }
      }
    } finally {
      this.running = undefined;
    }
  }

  private report(callback: () => unknown): void {
    callGuarded(callback);
  }
}
