import { unauthenticated } from '../errors.js';
import type { PipelineDependencies } from './dependencies.js';
import type { CallContext, CallOutcome, Step } from './types.js';

/**
 * Establishes who is calling. The HTTP doors authenticate before they parse anything and
 * hand the agent in; programmatic `invoke()` brings a key (or, with JWT auth, an access
 * token) or an agent id, checked here. Every refused credential is the same 401; a token
 * without a required scope is a 403, one that cannot be checked a 503.
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
