/**
 * Calls a user's callback so that neither a throw nor, from an async one, a rejection can
 * reach the caller or become an unhandled rejection.
 */
export function callGuarded(callback: () => unknown): void {
  try {
    const result = callback();
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
      (result as PromiseLike<unknown>).then(undefined, () => undefined);
    }
  } catch {
    // A failing callback must not break its caller.
  }
}
