import type { PipelineDependencies } from './dependencies.js';
import type { CallContext, CallOutcome, Step } from './types.js';

/**
 * When policy asks for a human, the call stops here: an identical earlier call's pending
 * approval or stored outcome is returned, or a new approval is requested. Nothing runs
 * until an approver decides.
 */
export function approvalStep(deps: PipelineDependencies): Step {
  return (context, next) => (context.decision?.effect === 'require_approval' ? pause(deps, context) : next());
}

async function pause(deps: PipelineDependencies, context: CallContext): Promise<CallOutcome> {
  const earlier = await deps.approvals.findRepeat(context);
  if (earlier !== undefined) {
    context.replayed = true;
    return earlier;
  }
  return deps.approvals.request(context);
}
