import { GatewayError } from '../errors.js';
import type { PipelineDependencies } from './dependencies.js';
import { takeRateLimits } from './rate-limit.js';
import type { CallContext, CallOutcome, PolicyDecision, Step } from './types.js';

/**
 * Asks the policy engine; a denial stops the call with the rule ids that denied it. An
 * allowed call the decision charges to rate-limit budgets goes on only if the limiter takes
 * it (see {@link takeRateLimits}); a call held for approval is charged by the approval step.
 */
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
      ? Promise.resolve(decision).then((settled) => decide(deps, context, settled, next))
      : decide(deps, context, decision, next);
  };
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function decide(
  deps: PipelineDependencies,
  context: CallContext,
  decision: PolicyDecision,
  next: () => Promise<CallOutcome>,
): Promise<CallOutcome> {
  context.decision = checkedDecision(decision);
  if (decision.effect === 'deny') {
    throw policyDenied(decision);
  }
  // What the decision adds to the redaction is compiled (and cached for the redact step)
  // before the tool can run: a custom engine's profile is not checked when it is defined,
  // and one that does not compile must fail the call here, not after its side effects.
  if (decision.redact !== undefined && context.tool !== undefined) deps.redactors.forTool(context.tool, decision.redact);
  // A call held for approval is charged when it asks, not when an identical call repeats it.
  if (decision.effect !== 'allow') return next();
  const taking = takeRateLimits(deps, context);
  return taking === undefined ? next() : taking.then(next);
}

/**
 * The decision, once it is one: an effect of `allow`, `deny` or `require_approval` and a list
 * of rule ids. A custom engine's answer is not checked when it is defined, and one that is
 * not a decision (`{ effect: 'block' }`, `{}`) must stop the call, not let it run as if
 * allowed: it throws, and the call fails with 500 `INTERNAL` (told to `onError`).
 */
export function checkedDecision(decision: PolicyDecision): PolicyDecision {
  const effect: unknown = (decision as Partial<PolicyDecision> | null | undefined)?.effect;
  const known = effect === 'allow' || effect === 'deny' || effect === 'require_approval';
  if (known && Array.isArray(decision.ruleIds)) return decision;
  const shown = typeof effect === 'string' ? `"${effect}"` : String(effect);
  const what = known ? `${shown} without a ruleIds list` : effect === undefined ? 'no effect' : `the effect ${shown}`;
  throw new TypeError(
    `the policy engine answered ${what}, not a decision { effect: "allow" | "deny" | "require_approval", ruleIds: [...] }`,
  );
}

/** The 403 of a call policy denies (a rule's, or the default's when no rule allows it). */
export function policyDenied(decision: PolicyDecision): GatewayError {
  return new GatewayError({
    code: 'POLICY_DENIED',
    message: decision.ruleIds.length > 0 ? 'Denied by policy' : 'Denied by policy: no rule allows this call',
    details: { rule: decision.ruleIds },
  });
}
