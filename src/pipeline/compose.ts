import type { CallContext, CallOutcome, Step } from './types.js';

/**
 * Composes steps into one onion: each step gets the context and a `next` that runs the rest.
 * A step that decides returns without calling `next`; calling `next` twice is a bug and
 * rejects rather than running the inner steps again.
 */
export function composeSteps(steps: readonly Step[]): (context: CallContext) => Promise<CallOutcome> {
  return (context) => {
    let lastIndex = -1;
    const dispatch = (index: number): Promise<CallOutcome> => {
      if (index <= lastIndex) return Promise.reject(new Error('next() called more than once'));
      lastIndex = index;
      const step = steps[index];
      if (step === undefined) return Promise.reject(new Error('the last step must not call next()'));
      try {
        return step(context, () => dispatch(index + 1));
      } catch (error) {
        return Promise.reject(error);
      }
    };
    return dispatch(0);
  };
}
