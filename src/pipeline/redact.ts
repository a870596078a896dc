import type { PipelineDependencies } from './dependencies.js';
import type { Step } from './types.js';

/** Redacts what the tool returned before it goes anywhere: the caller, the records, the audit. */
export function redactStep(deps: PipelineDependencies): Step {
  return async (context, next) => {
    const outcome = await next();
    if (outcome.status !== 'succeeded' || context.tool === undefined) return outcome;
    return { ...outcome, output: deps.redactors.output(context.tool, context.decision?.redact, outcome.output) };
  };
}
