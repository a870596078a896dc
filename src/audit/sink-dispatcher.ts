import type { AuditEntry } from '../store/types.js';
import type { AuditSink } from './types.js';

/** Callbacks and bounds of a {@link SinkDispatcher}. */
export interface SinkDispatcherOptions {
  /** Most entries waiting for this sink; more are dropped and reported. */
  maxQueuedEntries: number;
  onError: (error: unknown, sink: AuditSink) => void;
  onDrop: (droppedEntries: number, sink: AuditSink) => void;
}

/**
 * Feeds one sink from its own bounded queue, one `write` at a time and in chain order, so
 * a slow or failing sink delays nobody but itself.
 */
export class SinkDispatcher {
  private readonly queue: AuditEntry[][] = [];
  private queuedEntries = 0;
  private running: Promise<void> | undefined;

  constructor(
    readonly sink: AuditSink,
    private readonly options: SinkDispatcherOptions,
  ) {}

  /** Queues a committed batch; never waits for the sink. */
  deliver(entries: AuditEntry[]): void {
    if (this.queuedEntries + entries.length > this.options.maxQueuedEntries) {
      this.report(() => this.options.onDrop(entries.length, this.sink));
      return;
    }
    this.queue.push(entries);
    this.queuedEntries += entries.length;
    if (this.running === undefined) this.running = this.run();
  }

  /** Resolves when the queue is empty, or after `timeoutMs` (a stuck sink does not hold up shutdown). */
  async idle(timeoutMs: number): Promise<void> {
    if (this.running === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref?.();
    });
    await Promise.race([this.running, timeout]);
    clearTimeout(timer);
  }

  private async run(): Promise<void> {
    // Start on a later turn: the append that committed these entries resolves first.
    await Promise.resolve();
    try {
      for (let batch = this.queue.shift(); batch !== undefined; batch = this.queue.shift()) {
        this.queuedEntries -= batch.length;
        try {
          await this.sink.write(batch);
        } catch (error) {
          this.report(() => this.options.onError(error, this.sink));
        }
      }
    } finally {
      this.running = undefined;
    }
  }

  private report(callback: () => void): void {
    try {
      callback();
    } catch {
      // A throwing callback must not break the audit log.
    }
  }
}
