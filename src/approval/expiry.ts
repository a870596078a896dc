import { GatewayError } from '../errors.js';
import type { CallOutcome } from '../pipeline/types.js';
import type { ApprovalRecord } from '../store/types.js';

/**
 * Whether an approval's call has ended as expired at `now` (epoch ms): the approval expired,
 * or is still pending past its time, though the store may not say so of its call yet.
 */
export function approvalHasExpired(approval: ApprovalRecord, now: number): boolean {
  return approval.status === 'expired' || (approval.status === 'pending' && Date.parse(approval.expiresAt) <= now);
}

/** What the call of an approval that expired undecided ends with. */
export function expiredOutcome(approval: ApprovalRecord): CallOutcome {
  const error = new GatewayError({
    code: 'APPROVAL_EXPIRED',
    message: 'The approval expired before anyone decided',
    details: { approvalId: approval.id },
  });
  return { status: 'error', invocationId: approval.invocationId, error };
}
