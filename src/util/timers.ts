/** Longest timer Node keeps (a longer one fires at once). */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * What `operation` settles to, or `fallback` after `milliseconds` (a stuck operation is left
 * behind). With `unref`, the timer does not keep the process alive.
 */
export async function within<T, F>(operation: Promise<T>, milliseconds: number, fallback: F, unref: boolean): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<F>((resolve) => {
    const handle = setTimeout(() => resolve(fallback), milliseconds);
    if (unref) handle.unref?.();
    timer = handle;
  });
  try {
    return await Promise.race([operation, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `milliseconds`, or at once when `signal` aborts. */
export function sleep(milliseconds: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, milliseconds);
    timer.unref?.();
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * A signal for one request: aborted at `timeoutMs` (with a `TimeoutError` saying `what` timed
 * out) or as soon as `halt` aborts (with its reason), whichever comes first. `done()` lets
 * go of the timer and of `halt`; call it when the request has ended. The timer does not keep
 * the process alive.
 */
export function requestSignal(halt: AbortSignal, timeoutMs: number, what: string): { signal: AbortSignal; done(): void } {
  const request = new AbortController();
  const deadline = setTimeout(() => request.abort(new DOMException(`${what} timed out`, 'TimeoutError')), timeoutMs);
  deadline.unref?.();
  const abandon = () => request.abort(halt.reason);
  halt.addEventListener('abort', abandon, { once: true });
  return {
    signal: request.signal,
    done() {
      clearTimeout(deadline);
      halt.removeEventListener('abort', abandon);
    },
  };
}
