import { GatewayError } from '../errors.js';
import type { PipelineDependencies } from './dependencies.js';
import type { CallContext, CallOutcome, PolicyDecision, Step } from './types.js';

/** Asks the policy engine; a denial stops the call with the rule ids that denied it. */
export function policyStep(deps: PipelineDependencies): Step {
  return (context, next) => {
    const { agent, tool } = context;
    if (agent === undefined || tool === undefined) throw new Error('policy runs after resolve-tool');
    const decision = deps.policy().evaluate({
      agent: { id: agent.id, name: agent.name, tags: agent.tags },
      tool: { name: tool.name, risk: tool.risk },
      input: context.input,
    });
    // The built-in engine decides synchronously; a custom one may answer with a promise.
    return isPromiseLike(decision)
      ? Promise.resolve(decision).then((settled) => decide(context, settled, next))
      : decide(context, decision, next);
  };
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function decide(context: CallContext, decision: PolicyDecision, next: () => Promise<CallOutcome>): Promise<CallOutcome> {
  context.decision = decision;
  if (decision.effect === 'deny') {
    throw new GatewayError({
      code: 'POLICY_DENIED',
      message: decision.ruleIds.length > 0 ? 'Denied by policy' : 'Denied by policy: no rule allows this call',
      details: { rule: decision.ruleIds },
    });
  }
  return next();
}
