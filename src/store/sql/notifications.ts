import { randomUUID } from 'node:crypto';
import type { SqlDriver } from './driver.js';

/** What another instance may have changed. */
export type ChangeKind = 'tools' | 'policies' | 'agents';

const KINDS: readonly ChangeKind[] = ['tools', 'policies', 'agents'];
const isChangeKind = (value: unknown): value is ChangeKind => KINDS.includes(value as ChangeKind);

const firstRetryMs = 250;
const maxRetryMs = 30_000;

/**
 * Change announcements between instances over LISTEN/NOTIFY on one channel. One listening
 * session per store, opened with the first subscriber and closed with the last. Each
 * announcement carries the announcing store's id, so a store does not hear itself. When the
 * session is lost it is reopened with back-off. Each time a session starts listening, the
 * first time too, subscribers are told that everything may have changed: announcements made
 * before (while it was lost, or while the first one was being opened, after the subscriber
 * may already have read the state) were not heard.
 */
export class ChangeNotifier {
  private readonly origin = randomUUID();
  private readonly subscribers = new Set<(kind: ChangeKind) => void>();
  private stopListening: (() => Promise<void>) | undefined;
  /** Bumped on every start and stop, so a start that resolves after a stop undoes itself. */
  private generation = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = firstRetryMs;
  private closed = false;
  private listening: Promise<void> | undefined;

  constructor(
    private readonly driver: SqlDriver,
    private readonly channel: string,
    private readonly beforeListening: () => Promise<void>,
  ) {}

  watch(onChange: (kind: ChangeKind) => void): () => void {
    if (this.closed || !this.driver.canListen) return () => undefined;
    // Each subscription is its own entry, even when the same function subscribes twice.
    const subscriber = (kind: ChangeKind) => onChange(kind);
    this.subscribers.add(subscriber);
    if (this.subscribers.size === 1) this.start();
    return () => {
      if (!this.subscribers.delete(subscriber) || this.subscribers.size > 0) return;
      this.stop();
    };
  }

  async announce(kind: ChangeKind): Promise<void> {
    if (!isChangeKind(kind)) throw new TypeError(`announce: unknown change kind "${String(kind)}"`);
    await this.driver.query('SELECT pg_notify($1, $2)', [this.channel, JSON.stringify({ kind, origin: this.origin })]);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscribers.clear();
    await this.stopNow();
    // A session still opening sees the new generation and closes itself.
    await this.listening;
  }

  private start(): void {
    if (this.closed || this.subscribers.size === 0) return;
    const generation = ++this.generation;
    this.listening = this.open(generation);
  }

  private async open(generation: number): Promise<void> {
    try {
      await this.beforeListening();
      const stop = await this.driver.listen(
        this.channel,
        (payload) => this.deliver(payload),
        () => {
          if (generation !== this.generation) return;
          this.stopListening = undefined;
          this.scheduleRetry();
        },
      );
      if (generation !== this.generation) {
        await stop().catch(() => undefined);
        return;
      }
      this.stopListening = stop;
      this.retryMs = firstRetryMs;
      for (const kind of KINDS) this.emit(kind);
    } catch {
      if (generation === this.generation) this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (this.closed || this.subscribers.size === 0 || this.retryTimer !== undefined) return;
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, maxRetryMs);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.start();
    }, wait);
    this.retryTimer.unref();
  }

  private stop(): void {
    void this.stopNow();
  }

  private async stopNow(): Promise<void> {
    this.generation++;
    if (this.retryTimer !== undefined) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    const stop = this.stopListening;
    this.stopListening = undefined;
    if (stop !== undefined) await stop().catch(() => undefined);
  }

  private deliver(payload: string): void {
    let message: { kind?: unknown; origin?: unknown };
    try {
      message = JSON.parse(payload) as { kind?: unknown; origin?: unknown };
    } catch {
      return;
    }
    if (message.origin === this.origin || !isChangeKind(message.kind)) return;
    this.emit(message.kind);
  }

  private emit(kind: ChangeKind): void {
    for (const subscriber of [...this.subscribers]) {
      try {
        subscriber(kind);
      } catch {
        // One subscriber's failure must not keep the others from hearing the change.
      }
    }
  }
}
