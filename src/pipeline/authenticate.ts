import { unauthenticated } from '../errors.js';
import type { PipelineDependencies } from './dependencies.js';
import type { Step } from './types.js';

/**
 * Establishes who is calling. The HTTP doors authenticate before they parse anything and
 * hand the agent in; programmatic `invoke()` brings a key or an agent id, checked here.
 * Every failure is the same 401.
 */
export function authenticateStep(deps: PipelineDependencies): Step {
  return async (context, next) => {
    if (context.agent === undefined) {
      const agent =
        context.credential !== undefined
          ? await deps.agents.byKey(context.credential)
          : context.agentId !== undefined
            ? await deps.agents.byId(context.agentId)
            : undefined;
      if (agent === undefined) throw unauthenticated();
      context.agent = agent;
    }
    return next();
  };
}
