import type { PipelineDependencies } from './dependencies.js';
import type { Step } from './types.js';

/**
 * When policy asks for a human, the call stops here: an identical earlier call's pending
 * approval or stored outcome is returned, or a new approval is requested. Nothing runs
 * until an approver decides.
 */
export function approvalStep(deps: PipelineDependencies): Step {
  return (context, next) => (context.decision?.effect === 'require_approval' ? deps.approvals.hold(context) : next());
}
