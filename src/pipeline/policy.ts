import { GatewayError } from '../errors.js';
import type { PipelineDependencies } from './dependencies.js';
import type { Step } from './types.js';

/** Asks the policy engine; a denial stops the call with the rule ids that denied it. */
export function policyStep(deps: PipelineDependencies): Step {
  return async (context, next) => {
    const { agent, tool } = context;
    if (agent === undefined || tool === undefined) throw new Error('policy runs after resolve-tool');
    const decision = await deps.policy().evaluate({
      agent: { id: agent.id, name: agent.name, tags: agent.tags },
      tool: { name: tool.name, risk: tool.risk },
      input: context.input,
    });
    context.decision = decision;
    if (decision.effect === 'deny') {
      throw new GatewayError({
        code: 'POLICY_DENIED',
        message: decision.ruleIds.length > 0 ? 'Denied by policy' : 'Denied by policy: no rule allows this call',
        details: { rule: decision.ruleIds },
      });
    }
    return next();
  };
}
