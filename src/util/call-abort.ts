/**
 * How the gateway's own code learns that a call is cancelled (the client went away, the
 * tool's deadline passed) without an `AbortController` per call. An `AbortController`, its
 * `AbortSignal` and their event listeners cost several microseconds per call on Node 20, and
 * most calls are never aborted. Tools written by users still get a real `AbortSignal`,
 * created only when they read it.
 */
export interface CallAbort {
  readonly aborted: boolean;
  /** Why the call was aborted (what an `AbortSignal`'s `reason` would say); undefined before. */
  readonly reason: unknown;
  /**
   * Calls `listener` once, when the call is aborted; not at all if it is aborted already
   * (check `aborted` first). Returns the function that stops listening.
   */
  onAbort(listener: () => void): () => void;
}

/** The key under which a tool's call context carries its {@link CallAbort}: internal, not enumerable. */
export const callAbortKey: unique symbol = Symbol('agent-tool-gateway.callAbort');

const NEVER = (): void => undefined;

/** The abort of calls made without a signal: it never fires, and listening to it costs nothing. */
export const NEVER_ABORTED: CallAbort = Object.freeze({ aborted: false, reason: undefined, onAbort: () => NEVER });

/** A {@link CallAbort} over an `AbortSignal`. */
export function abortOfSignal(signal: AbortSignal): CallAbort {
  return new SignalAbort(signal);
}

// A class rather than an object literal with getters: V8 keeps a literal's getters in an
// accessor pair allocated in the old generation, which keeps the call alive until a full
// collection.
class SignalAbort implements CallAbort {
  constructor(private readonly signal: AbortSignal) {}

  get aborted(): boolean {
    return this.signal.aborted;
  }

  get reason(): unknown {
    return this.signal.reason as unknown;
  }

  onAbort(listener: () => void): () => void {
    const signal = this.signal;
    if (signal.aborted) return NEVER;
    signal.addEventListener('abort', listener, { once: true });
    return () => signal.removeEventListener('abort', listener);
  }
}

/**
 * A {@link CallAbort} that can be aborted once, by its owner. Listeners are kept in a plain
 * array; the usual call has one or none.
 */
export class AbortSource implements CallAbort {
  private listeners: Array<() => void> | undefined;
  private abortReason: unknown;
  private done = false;

  get aborted(): boolean {
    return this.done;
  }

  get reason(): unknown {
    return this.abortReason;
  }

  onAbort(listener: () => void): () => void {
    if (this.done) return NEVER;
    (this.listeners ??= []).push(listener);
    return () => {
      const listeners = this.listeners;
      if (listeners === undefined) return;
      const index = listeners.indexOf(listener);
      if (index !== -1) listeners.splice(index, 1);
    };
  }

  /** Aborts with `reason` and tells every listener; later calls do nothing. A throwing listener does not stop the others. */
  abort(reason: unknown): void {
    if (this.done) return;
    this.done = true;
    this.abortReason = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners === undefined) return;
    for (const listener of listeners) {
      try {
        listener();
      } catch {
        // One listener's failure is not the caller's.
      }
    }
  }
}
