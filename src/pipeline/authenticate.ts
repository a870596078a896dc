import { unauthenticated } from '../errors.js';
import type { PipelineDependencies } from './dependencies.js';
import type { CallContext, CallOutcome, Step } from './types.js';

/**
 * Establishes who is calling. The HTTP doors authenticate before they parse anything and
 * hand the agent in; programmatic `invoke()` brings a key (or an access token) or an agent id, checked here.
 * Every failure is the same 401.
 */
export function authenticateStep(deps: PipelineDependencies): Step {
  return (context, next) => (context.agent !== undefined ? next() : identify(deps, context, next));
}

async function identify(deps: PipelineDependencies, context: CallContext, next: () => Promise<CallOutcome>): Promise<CallOutcome> {
  const agent =
    context.credential !== undefined
      ? await deps.agents.byCredential(context.credential)
      : context.agentId !== undefined
        ? await deps.agents.byId(context.agentId)
        : undefined;
  if (agent === undefined) throw unauthenticated();
  context.agent = agent;
  return next();
}
