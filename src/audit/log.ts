import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { GatewayError, OUTAGE_RETRY_AFTER_SECONDS } from '../errors.js';
import type { AuditEntry, AuditEvent, Store } from '../store/types.js';
import { canonicalSnapshot } from '../util/canonical-json.js';
import { isoTimestamp } from '../util/timestamps.js';
import { GENESIS_HASH, hashCanonicalEvent } from './hash.js';
import { type AuditSigningKey, type PreparedSigningKey, getAuditPublicJwk, prepareSigningKey, signCheckpoint } from './keys.js';
import { SinkDispatcher } from './sink-dispatcher.js';
import type { AuditSink } from './types.js';
import type { JWK } from 'jose';
import { callGuarded } from '../util/guarded-callback.js';
import { hold } from '../util/shared-holds.js';
import { MAX_TIMER_MS, within } from '../util/timers.js';

/** An event to append: `id` and `at` are filled in when absent. */
export type AuditEventInput = Omit<AuditEvent, 'id' | 'at'> & Partial<Pick<AuditEvent, 'id' | 'at'>>;

/** Signed checkpoint settings of {@link createAuditLog}. */
export interface AuditCheckpointOptions {
  /** Ed25519 private key (CryptoKey, KeyObject or private JWK). */
  signingKey: AuditSigningKey;
  /** `kid` of the signatures. Default: the JWK's `kid`, else the RFC 7638 thumbprint of the public key. */
  keyId?: string;
  /** Sign the head after this many events. Default 1000. `0` turns the count trigger off. */
  everyEvents?: number;
  /** Sign the head this often (ms) when it moved: an integer up to 2147483647 (the longest Node timer). Default 60000. `0` turns the timer off. */
  everyMs?: number;
  /** Told when a checkpoint cannot be signed or stored (appends go on). */
  onError?: (error: unknown) => void;
}

/**
 * Why a sink did not get entries, as told to `onSinkDrop`:
 * - `queue_full`: they would have taken the entries waiting for the sink past `sinkQueueLimit`
 *   (the sink is too slow or stuck);
 * - `write_failed`: the sink's `write` threw or rejected (the error went to `onSinkError`); the
 *   sink may hold some of these entries;
 * - `closed`: `close()` stopped waiting for the sink (`sinkCloseTimeoutMs`, or its own `timeoutMs`)
 *   before they were written;
 * - `unconfirmed`: a store write that timed out or lost its connection may have committed them
 *   after all, and the log could not tell (still unanswered at `close()` or after 100 later such
 *   writes, or no longer kept by the store): they may be in the store.
 */
export type AuditSinkDropReason = 'queue_full' | 'write_failed' | 'closed' | 'unconfirmed';

/**
 * Entries a sink did not get: the consecutive seqs `fromSeq`…`toSeq`, both included (so
 * `toSeq - fromSeq + 1` entries). Compare with the store to find them.
 *
 * @example
 * ```ts
 * import { createAuditLog } from 'agent-tool-gateway';
 *
 * const audit = createAuditLog({
 *   store,
 *   sinks: [siemSink],
 *   onSinkDrop: (count, sink, { reason, fromSeq, toSeq }) =>
 *     console.warn(`audit sink missed ${count} entries (${reason}): seq ${fromSeq}-${toSeq}`),
 * });
 * ```
 */
export interface AuditSinkDrop {
  reason: AuditSinkDropReason;
  fromSeq: number;
  toSeq: number;
}

/** Options of {@link createAuditLog}. */
export interface AuditLogOptions {
  store: Store;
  /**
   * `closed` (default): an event that cannot be recorded in time rejects with
   * `AUDIT_UNAVAILABLE`, so the call it describes does not run. `open`: the append resolves
   * `undefined`, `onAuditError` is told, and the call goes on unrecorded.
   */
  failMode?: 'closed' | 'open';
  /** How long an append may wait for the store, queueing included (ms, at most 2147483647: the longest Node timer). Default 5000. */
  appendTimeoutMs?: number;
  /** Told about every event that could not be recorded (both fail modes). */
  onAuditError?: (error: GatewayError, event: AuditEvent) => void;
  /** Destinations besides the store; each gets every committed batch, asynchronously. */
  sinks?: AuditSink[];
  /**
   * Most entries waiting for a sink (besides the batch it is writing); a batch that would go
   * past it is dropped for that sink. A sink with nothing waiting takes a batch of any size.
   * Default 10000.
   */
  sinkQueueLimit?: number;
  /** Told when a sink's `write` throws or rejects, or its `close()` does. */
  onSinkError?: (error: unknown, sink: AuditSink) => void;
  /**
   * Told of every run of consecutive entries a sink did not get, with why and their seqs
   * (see {@link AuditSinkDropReason}). A throwing or rejecting callback is ignored.
   */
  onSinkDrop?: (droppedEntries: number, sink: AuditSink, drop: AuditSinkDrop) => void;
  /**
   * How long `close()` waits for each sink to drain, and then for its `close()`; what is still
   * waiting then is dropped (`closed`) and no later `write` reaches the sink, and the signal
   * passed to the sink's `close()` aborts, so that the sink reports what it still holds.
   * Default 10000 ms. A `timeoutMs` given to `close()` shortens both waits to what it has left.
   */
  sinkCloseTimeoutMs?: number;
  /** Signed checkpoints of the chain head. */
  checkpoints?: AuditCheckpointOptions;
  /** Most events per `store.appendAudit` call. Default 500. */
  maxBatchSize?: number;
  /** Attempts after losing the append race to another instance, before failing. Default 20. */
  maxConflictRetries?: number;
  /** Clock for `at` of events and checkpoints. */
  now?: () => Date;
}

/**
 * The audit trail of one gateway instance: appends events to the store's hash chain,
 * group-committed, in order, and feeds sinks and signed checkpoints.
 */
export interface AuditLog {
  /**
   * Records one event and resolves with its chain entry once the store holds it. Events
   * appended while a write is in flight are committed together in the next write.
   *
   * Fail-closed (default): rejects with `GatewayError` `AUDIT_UNAVAILABLE` (503) when the
   * event cannot be recorded within `appendTimeoutMs`. Fail-open: resolves `undefined`
   * instead and calls `onAuditError`. An event whose write timed out while already in flight
   * may still end up recorded; it is never recorded twice and the chain never forks. Sinks get
   * it too once the log next reads the store's head (or a drop reports it `unconfirmed`).
   */
  append(event: AuditEventInput): Promise<AuditEntry | undefined>;
  /** The public JWK of the checkpoint key, for verifiers; undefined without checkpoints. */
  publicJwk(): Promise<JWK | undefined>;
  /** Signs and stores a checkpoint of the last committed entry now (no-op without checkpoints or entries). */
  checkpoint(): Promise<void>;
  /**
   * Waits for queued appends, signs a final checkpoint, drains sinks and closes them (each
   * bounded by `sinkCloseTimeoutMs`). Later appends fail as unavailable. Does not close the store.
   * A sink that another audit log (another gateway's) in this process was given and has not
   * closed yet is drained but left open: the last log to close closes it.
   *
   * With `timeoutMs` (0 or more), the whole close takes no longer than that: appends still
   * waiting then fail as unavailable (`onAuditError`; a write in flight may still land, and is
   * reported `unconfirmed` if the log cannot tell), the final checkpoint is no longer waited
   * for (`checkpoints.onError`), and each sink drains and closes within what is left, however
   * long `sinkCloseTimeoutMs` is; what a sink did not get is reported `closed`. Without it,
   * only the bounds above apply. Calling it again returns the same promise.
   *
   * @example
   * ```ts
   * // A shutdown with 5 s to spare, whatever the store and the sinks do.
   * await audit.close({ timeoutMs: 5_000 });
   * ```
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
}

interface PendingAppend {
  readonly event: AuditEvent;
  readonly canonicalEvent: string;
  readonly deadline: number;
  readonly resolve: (entry: AuditEntry | undefined) => void;
  readonly reject: (error: unknown) => void;
}

/** The last entry known to be in the store; `null` for an empty chain; `undefined` when unknown. */
type KnownHead = { seq: number; hash: string } | null | undefined;

const conflictBackoffCapMs = 50;
/** Most store writes of unknown outcome remembered for the sinks; older ones are reported unconfirmed. */
const maxUnsettledWrites = 100;

/** The event with its members in canonical (sorted) order, so hashing can take the fast path. */
function orderedEvent(input: AuditEventInput, id: string, at: string): AuditEvent {
  const event: Record<string, unknown> = { actor: input.actor };
  if (input.agentId !== undefined) event.agentId = input.agentId;
  event.at = at;
  if (input.data !== undefined) event.data = input.data;
  event.id = id;
  if (input.invocationId !== undefined) event.invocationId = input.invocationId;
  if (input.tool !== undefined) event.tool = input.tool;
  event.type = input.type;
  for (const key of Object.keys(input)) {
    if (!(key in event) && (input as Record<string, unknown>)[key] !== undefined) event[key] = (input as Record<string, unknown>)[key];
  }
  return event as unknown as AuditEvent;
}

function unavailable(message: string, cause?: unknown): GatewayError {
  return new GatewayError({ code: 'AUDIT_UNAVAILABLE', message, cause, headers: { 'retry-after': String(OUTAGE_RETRY_AFTER_SECONDS) } });
}

function delay(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

class StoreAuditLog implements AuditLog {
  private readonly store: Store;
  private readonly failOpen: boolean;
  private readonly appendTimeoutMs: number;
  private readonly maxBatchSize: number;
  private readonly maxConflictRetries: number;
  private readonly now: () => Date;
  /** `at` of a new event. */
  private readonly timestamp: () => string;
  private readonly dispatchers: SinkDispatcher[];
  private readonly sinkCloseTimeoutMs: number;

  private readonly queue: PendingAppend[] = [];
  private inFlight: PendingAppend[] | undefined;
  private abandonInFlight: ((error: GatewayError) => void) | undefined;
  private draining: Promise<void> | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private head: KnownHead;
  /** The last entry this instance committed: a real link, safe to sign. */
  private lastCommitted: { seq: number; hash: string } | undefined;
  /**
   * Batches whose store write failed without an answer (timed out, lost connection): the store
   * may have committed them all the same. The next read of the head settles them, so that sinks
   * get those that did land.
   */
  private unsettled: AuditEntry[][] = [];
  private closed = false;
  private closing: Promise<void> | undefined;

  private readonly signingKey: Promise<PreparedSigningKey> | undefined;
  private readonly checkpointEveryEvents: number;
  private readonly onCheckpointError: (error: unknown) => void;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private eventsSinceCheckpoint = 0;
  private lastCheckpointSeq = -1;
  private checkpointRunning: Promise<void> | undefined;
  private checkpointAgain = false;

  constructor(private readonly options: AuditLogOptions) {
    this.store = options.store;
    this.failOpen = options.failMode === 'open';
    this.appendTimeoutMs = options.appendTimeoutMs ?? 5000;
    // A longer Node timer fires at once: the watchdog would wake on every tick.
    if (typeof this.appendTimeoutMs !== 'number' || !(this.appendTimeoutMs > 0 && this.appendTimeoutMs <= MAX_TIMER_MS)) {
      throw new TypeError(`createAuditLog: appendTimeoutMs must be a positive number of at most ${MAX_TIMER_MS}`);
    }
    this.maxBatchSize = options.maxBatchSize ?? 500;
    if (!Number.isInteger(this.maxBatchSize) || this.maxBatchSize < 1) {
      throw new TypeError('createAuditLog: maxBatchSize must be an integer, 1 or more');
    }
    this.maxConflictRetries = options.maxConflictRetries ?? 20;
    if (!Number.isInteger(this.maxConflictRetries) || this.maxConflictRetries < 0) {
      throw new TypeError('createAuditLog: maxConflictRetries must be an integer, 0 or more');
    }
    this.now = options.now ?? (() => new Date());
    const clock = options.now;
    this.timestamp = clock === undefined ? () => isoTimestamp(Date.now()) : () => clock().toISOString();
    const sinkQueueLimit = options.sinkQueueLimit ?? 10_000;
    if (typeof sinkQueueLimit !== 'number' || !Number.isSafeInteger(sinkQueueLimit) || sinkQueueLimit < 0) {
      throw new TypeError('createAuditLog: sinkQueueLimit must be a whole number of entries, 0 or more');
    }
    this.sinkCloseTimeoutMs = options.sinkCloseTimeoutMs ?? 10_000;
    if (!(this.sinkCloseTimeoutMs >= 0 && this.sinkCloseTimeoutMs <= MAX_TIMER_MS)) {
      throw new TypeError(`createAuditLog: sinkCloseTimeoutMs must be a number of milliseconds from 0 to ${MAX_TIMER_MS}`);
    }
    this.dispatchers = (options.sinks ?? []).map(
      (sink) =>
        new SinkDispatcher(sink, {
          maxQueuedEntries: sinkQueueLimit,
          onError: (error, failedSink) => options.onSinkError?.(error, failedSink),
          onDrop: (drop, droppedBy) => options.onSinkDrop?.(drop.toSeq - drop.fromSeq + 1, droppedBy, drop),
        }),
    );

    const checkpoints = options.checkpoints;
    const everyMs = checkpoints?.everyMs ?? 60_000;
    // A longer Node timer fires at once: a checkpoint would be signed on almost every tick.
    if (typeof everyMs !== 'number' || !Number.isInteger(everyMs) || everyMs < 0 || everyMs > MAX_TIMER_MS) {
      throw new TypeError(`createAuditLog: checkpoints.everyMs must be an integer from 0 (off) to ${MAX_TIMER_MS}`);
    }
    const everyEvents = checkpoints?.everyEvents ?? 1000;
    // NaN or a negative count would quietly turn the count trigger off.
    if (typeof everyEvents !== 'number' || !Number.isSafeInteger(everyEvents) || everyEvents < 0) {
      throw new TypeError('createAuditLog: checkpoints.everyEvents must be a whole number of events, 0 (off) or more');
    }
    this.checkpointEveryEvents = everyEvents;
    this.onCheckpointError = (error) => {
      try {
        checkpoints?.onError?.(error);
      } catch {
        // A throwing callback must not break the audit log.
      }
    };
    if (checkpoints !== undefined) {
      this.signingKey = prepareSigningKey(checkpoints.signingKey, checkpoints.keyId);
      // Surface a bad key through onError instead of an unhandled rejection.
      this.signingKey.catch(this.onCheckpointError);
      if (everyMs > 0) {
        this.checkpointTimer = setInterval(() => {
          if (this.lastCommitted !== undefined && this.lastCommitted.seq > this.lastCheckpointSeq) this.requestCheckpoint();
        }, everyMs);
        this.checkpointTimer.unref?.();
      }
    }
    // Constructed: the sinks are held until this log closes (see SinkDispatcher.close).
    for (const dispatcher of this.dispatchers) hold(dispatcher.sink);
  }

  append(input: AuditEventInput): Promise<AuditEntry | undefined> {
    let event: AuditEvent;
    let canonicalEvent: string;
    try {
      // The stored event is frozen, with frozen copies of what the caller passed in (its data):
      // exactly what was hashed, and something nobody (caller, sink, store) can change. Built in
      // key order, it serialises natively; built here, it is frozen as it is rather than copied.
      const snapshot = canonicalSnapshot(orderedEvent(input, input.id ?? randomUUID(), input.at ?? this.timestamp()), true);
      canonicalEvent = snapshot.text;
      event = snapshot.copy as AuditEvent;
    } catch (error) {
      return Promise.reject(new GatewayError({ code: 'INTERNAL', message: 'Audit event is not JSON', cause: error }));
    }
    return new Promise<AuditEntry | undefined>((resolve, reject) => {
      const pending: PendingAppend = {
        event,
        canonicalEvent,
        deadline: performance.now() + this.appendTimeoutMs,
        resolve,
        reject,
      };
      if (this.closed) {
        this.fail(pending, unavailable('Audit log is closed'));
        return;
      }
      this.queue.push(pending);
      this.armWatchdog();
      // Deferred a microtask so events appended in the same turn share one write.
      if (this.draining === undefined) this.draining = Promise.resolve().then(() => this.drain());
    });
  }

  async publicJwk(): Promise<JWK | undefined> {
    const signingKey = this.options.checkpoints?.signingKey;
    if (signingKey === undefined) return undefined;
    const prepared = await this.signingKey;
    return { ...(await getAuditPublicJwk(signingKey)), kid: prepared?.keyId };
  }

  async checkpoint(): Promise<void> {
    if (this.signingKey === undefined) return;
    this.requestCheckpoint();
    while (this.checkpointRunning !== undefined) await this.checkpointRunning;
  }

  close(options?: { timeoutMs?: number }): Promise<void> {
    const timeoutMs = options?.timeoutMs;
    if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs >= 0)) {
      return Promise.reject(new TypeError("createAuditLog: close()'s timeoutMs must be a number of milliseconds, 0 or more"));
    }
    this.closing ??= this.shutDown(timeoutMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + timeoutMs);
    return this.closing;
  }

  /** Closes by `deadline` (a `performance.now()` instant; infinite when close() has no timeoutMs). */
  private async shutDown(deadline: number): Promise<void> {
    this.closed = true;
    // What is left until the deadline, within `bound` and what a Node timer holds.
    const timeLeft = (bound = MAX_TIMER_MS) => Math.min(bound, Math.max(0, deadline - performance.now()));
    // Appends under way have their own deadlines (appendTimeoutMs); those still waiting when
    // close's deadline passes fail, as at their own.
    const idle = (async () => {
      while (this.draining !== undefined) await this.draining;
      return true;
    })();
    if (!(await within(idle, timeLeft(), false, true))) {
      this.expire(
        Number.POSITIVE_INFINITY,
        unavailable('Audit trail unavailable: close() stopped waiting for the write (its timeoutMs passed)'),
      );
      await idle;
    }
    if (this.checkpointTimer !== undefined) clearInterval(this.checkpointTimer);
    const checkpointed = (async () => {
      if (this.lastCommitted !== undefined && this.lastCommitted.seq > this.lastCheckpointSeq) await this.checkpoint();
      while (this.checkpointRunning !== undefined) await this.checkpointRunning;
      return true;
    })();
    if (!(await within(checkpointed, timeLeft(), false, true))) {
      this.onCheckpointError(new Error('close() stopped waiting for the final checkpoint to be stored (its timeoutMs passed)'));
    }
    // One last look at the store's head: a write that timed out but landed, with nothing
    // after it, goes to the sinks. Others may yet land in the store; the sinks will not get them.
    const unsettled = this.unsettled;
    this.unsettled = [];
    const head =
      unsettled.length === 0
        ? undefined
        : await within(
            this.store.getAuditHead().catch(() => undefined),
            timeLeft(this.appendTimeoutMs),
            undefined,
            true,
          );
    const last = unsettled.at(-1)?.at(-1);
    if (head !== undefined && last !== undefined && head.seq === last.seq && head.hash === last.hash) {
      this.afterCommit(unsettled.pop() as AuditEntry[]);
    }
    this.dropForSinks(unsettled, 'unconfirmed');
    // All sinks at once: each gets the same time, not what the one before left over.
    await Promise.all(this.dispatchers.map((dispatcher) => dispatcher.close(this.sinkCloseTimeoutMs, deadline)));
    if (this.watchdog !== undefined) clearTimeout(this.watchdog);
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatchSize);
        this.inFlight = batch;
        let entries: AuditEntry[];
        try {
          entries = await this.commit(batch);
        } catch (error) {
          // Unknown outcome (a lost connection may still have committed): ask the store next time.
          this.head = undefined;
          const failure =
            error instanceof GatewayError && error.code === 'AUDIT_UNAVAILABLE' ? error : unavailable('Audit trail unavailable', error);
          for (const pending of batch) this.fail(pending, failure);
          continue;
        } finally {
          this.inFlight = undefined;
          this.abandonInFlight = undefined;
        }
        for (let index = 0; index < batch.length; index++) (batch[index] as PendingAppend).resolve(entries[index]);
        this.afterCommit(entries);
      }
    } finally {
      this.draining = undefined;
      this.armWatchdog();
    }
  }

  /** Writes one batch on top of the head, reloading the head and retrying when another writer got there first. */
  private async commit(batch: PendingAppend[]): Promise<AuditEntry[]> {
    for (let attempt = 0; ; attempt++) {
      if (this.head === undefined) {
        const stored = await this.guarded(this.store.getAuditHead({ forAppend: true }));
        this.head = stored === undefined ? null : { seq: stored.seq, hash: stored.hash };
        if (this.unsettled.length > 0) await this.settle(this.head);
      }
      const entries = this.link(this.head, batch);
      let appended: boolean;
      try {
        appended = await this.guarded(this.store.appendAudit(entries));
      } catch (error) {
        this.keepUnsettled(entries);
        throw error;
      }
      if (appended) {
        const last = entries[entries.length - 1] as AuditEntry;
        this.head = { seq: last.seq, hash: last.hash };
        // Writes still unsettled were linked on the head this batch took over: they cannot land now.
        if (this.unsettled.length > 0) this.unsettled = [];
        return entries;
      }
      this.head = undefined;
      if (attempt >= this.maxConflictRetries) {
        throw unavailable('Audit trail unavailable: too much contention on the chain head');
      }
      // Two instances that keep colliding step apart with a little random back-off.
      if (attempt > 0) await this.guarded(delay(Math.random() * Math.min(conflictBackoffCapMs, 2 ** attempt)));
    }
  }

  /**
   * `operation`'s outcome, unless the write in flight is abandoned first: the watchdog then
   * rejects it through `abandonInFlight`. Every await of a commit goes through here, so an
   * abandoned commit stops at the step it was waiting on.
   */
  private guarded<T>(operation: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.abandonInFlight = reject;
      operation.then(resolve, reject);
    });
  }

  /** Reports batches no sink will get. */
  private dropForSinks(batches: AuditEntry[][], reason: AuditSinkDropReason): void {
    for (const dispatcher of this.dispatchers) dispatcher.drop(batches, reason);
  }

  private keepUnsettled(entries: AuditEntry[]): void {
    this.unsettled.push(entries);
    if (this.unsettled.length > maxUnsettledWrites) {
      const oldest = this.unsettled.splice(0, 1);
      this.dropForSinks(oldest, 'unconfirmed');
    }
  }

  /**
   * Settles the unanswered writes against the store's head: those the store holds are handed
   * to the sinks like any commit (appends are all-or-nothing and a hash covers everything before
   * it, so the batch's last entry tells). Those linked past the head may still land and wait.
   */
  private async settle(head: { seq: number; hash: string } | null): Promise<void> {
    const waiting: AuditEntry[][] = [];
    try {
      for (let entries = this.unsettled[0]; entries !== undefined; entries = this.unsettled[0]) {
        const first = entries[0] as AuditEntry;
        const last = entries[entries.length - 1] as AuditEntry;
        if (head === null || head.seq < first.seq) {
          waiting.push(entries);
        } else if (head.seq === last.seq) {
          if (head.hash === last.hash) this.afterCommit(entries);
        } else if (head.seq > last.seq) {
          const held = await this.storeHolds(last);
          if (held === true) this.afterCommit(entries);
          else if (held === undefined) this.dropForSinks([entries], 'unconfirmed');
        }
        // Otherwise other entries took its first seq: it cannot land.
        this.unsettled.shift();
      }
    } finally {
      this.unsettled = waiting.concat(this.unsettled);
    }
  }

  /**
   * Whether the store's entry at `entry.seq` is `entry`, for a head that moved past it;
   * undefined when the store no longer keeps that seq.
   */
  private async storeHolds(entry: AuditEntry): Promise<boolean | undefined> {
    const page = await this.guarded(this.store.listAudit({ fromSeq: entry.seq, toSeq: entry.seq, limit: 1 }));
    const stored = page.items[0];
    return stored?.seq === entry.seq ? stored.hash === entry.hash : undefined;
  }

  private link(head: { seq: number; hash: string } | null, batch: PendingAppend[]): AuditEntry[] {
    let seq = head === null ? 0 : head.seq + 1;
    let prevHash = head === null ? GENESIS_HASH : head.hash;
    const entries: AuditEntry[] = new Array(batch.length);
    for (let index = 0; index < batch.length; index++) {
      const pending = batch[index] as PendingAppend;
      const hash = hashCanonicalEvent(seq, prevHash, pending.canonicalEvent);
      entries[index] = { seq, prevHash, hash, event: pending.event };
      prevHash = hash;
      seq++;
    }
    return entries;
  }

  private afterCommit(entries: AuditEntry[]): void {
    const last = entries[entries.length - 1] as AuditEntry;
    this.lastCommitted = { seq: last.seq, hash: last.hash };
    for (const dispatcher of this.dispatchers) dispatcher.deliver(entries);
    if (this.signingKey !== undefined) {
      this.eventsSinceCheckpoint += entries.length;
      if (this.checkpointEveryEvents > 0 && this.eventsSinceCheckpoint >= this.checkpointEveryEvents) {
        this.requestCheckpoint();
      }
    }
  }

  private fail(pending: PendingAppend, error: GatewayError): void {
    callGuarded(() => this.options.onAuditError?.(error, pending.event));
    if (this.failOpen) pending.resolve(undefined);
    else pending.reject(error);
  }

  /**
   * One timer for every deadline: appends are FIFO with one timeout, so the oldest waiting
   * append always has the earliest deadline. When it passes, the write in flight is
   * abandoned (its events fail) and expired queued events are failed without being written.
   */
  private armWatchdog(): void {
    if (this.watchdog !== undefined) return;
    const oldest = this.inFlight?.[0] ?? this.queue[0];
    if (oldest === undefined) return;
    this.watchdog = setTimeout(
      () => {
        this.watchdog = undefined;
        this.expire(performance.now(), unavailable('Audit trail unavailable: write timed out'));
        this.armWatchdog();
      },
      // Past the deadline by a millisecond, within what a Node timer can hold: one that wakes
      // early finds nothing expired and sleeps again.
      Math.min(MAX_TIMER_MS, Math.max(0, oldest.deadline - performance.now()) + 1),
    );
    this.watchdog.unref?.();
  }

  /** Fails what waits past its deadline at `now` with `timedOut`: the write in flight is abandoned. */
  private expire(now: number, timedOut: GatewayError): void {
    const inFlightOldest = this.inFlight?.[0];
    if (inFlightOldest !== undefined && inFlightOldest.deadline <= now) this.abandonInFlight?.(timedOut);
    let expired = 0;
    while (expired < this.queue.length && (this.queue[expired] as PendingAppend).deadline <= now) expired++;
    for (const pending of this.queue.splice(0, expired)) this.fail(pending, timedOut);
  }

  private requestCheckpoint(): void {
    if (this.signingKey === undefined) return;
    if (this.checkpointRunning !== undefined) {
      this.checkpointAgain = true;
      return;
    }
    this.checkpointRunning = this.writeCheckpoint().finally(() => {
      this.checkpointRunning = undefined;
      if (this.checkpointAgain) {
        this.checkpointAgain = false;
        this.requestCheckpoint();
      }
    });
  }

  private async writeCheckpoint(): Promise<void> {
    const head = this.lastCommitted;
    if (head === undefined || head.seq <= this.lastCheckpointSeq || this.signingKey === undefined) return;
    this.eventsSinceCheckpoint = 0;
    try {
      const signingKey = await this.signingKey;
      const checkpoint = await signCheckpoint({ seq: head.seq, hash: head.hash, at: this.now().toISOString() }, signingKey);
      await this.store.appendCheckpoint(checkpoint);
      this.lastCheckpointSeq = Math.max(this.lastCheckpointSeq, head.seq);
    } catch (error) {
      this.onCheckpointError(error);
    }
  }
}

/**
 * Creates the audit trail of a gateway instance over a store. Appends are serialised and
 * group-committed (events that arrive while a write is in flight share the next write);
 * the head is cached, and when another instance appended first the head is reloaded and
 * the batch re-linked on top of it, so several instances on one store build one chain.
 *
 * @example
 * ```ts
 * import { createAuditLog, generateAuditSigningKey, memoryStore } from 'agent-tool-gateway';
 *
 * const { privateKey } = await generateAuditSigningKey();
 * const audit = createAuditLog({
 *   store: memoryStore(),
 *   checkpoints: { signingKey: privateKey, everyEvents: 1000 },
 * });
 * await audit.append({ type: 'admin.agent.created', actor: 'admin:alice', data: { agentId: 'a1' } });
 * await audit.close();
 * ```
 */
export function createAuditLog(options: AuditLogOptions): AuditLog {
  return new StoreAuditLog(options);
}
