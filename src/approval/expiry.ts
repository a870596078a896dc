import { GatewayError } from '../errors.js';
import type { CallOutcome } from '../pipeline/types.js';
import type { ApprovalRecord } from '../store/types.js';

/**
 * Whether an approval's call has ended as expired at `now` (epoch ms): the approval expired,
 * or is still pending past its time, though the store may not say so of its call yet.
 */
export function approvalHasExpired(approval: ApprovalRecord, now: number): boolean {
  return approval.status === 'expired' || approvalIsDue(approval, now);
}

/** Whether an approval is still pending past its time at `now` (epoch ms): due to be expired. */
export function approvalIsDue(approval: ApprovalRecord, now: number): boolean {
  return approval.status === 'pending' && Date.parse(approval.expiresAt) <= now;
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

/** What the call of a denied approval ends with: 409 `APPROVAL_DENIED`, with the approver's reason (redacted when it was stored). */
export function deniedOutcome(approval: ApprovalRecord): CallOutcome {
  const { reason } = approval;
  const error = new GatewayError({
    code: 'APPROVAL_DENIED',
    message: reason === null ? 'Denied by an approver' : `Denied by an approver: ${reason}`,
    details: { approvalId: approval.id, rule: approval.ruleIds, ...(reason === null ? {} : { reason }) },
  });
  return { status: 'error', invocationId: approval.invocationId, error };
}

/** What the call of an approval its agent cancelled ends with. */
export function cancelledOutcome(approval: ApprovalRecord): CallOutcome {
  const error = new GatewayError({ code: 'CANCELLED', message: 'The agent cancelled this call before it was decided' });
  return { status: 'error', invocationId: approval.invocationId, error };
}

/**
 * The outcome an approval's call has ended with at `now` (epoch ms) without running, and
 * when (epoch ms): expired (see {@link approvalHasExpired}), denied or cancelled. The store
 * may not say so of the call yet: its record is written after its approval, by another
 * statement, which may fail or not have come yet. Undefined while the call may still run, or
 * once it was claimed to run.
 */
export function approvalEndedOutcome(approval: ApprovalRecord, now: number): { outcome: CallOutcome; at: number } | undefined {
  if (approvalHasExpired(approval, now)) return { outcome: expiredOutcome(approval), at: Date.parse(approval.expiresAt) };
  const decidedAt = approval.decidedAt === null ? Number.NaN : Date.parse(approval.decidedAt);
  const at = Number.isFinite(decidedAt) ? decidedAt : now;
  if (approval.status === 'denied') return { outcome: deniedOutcome(approval), at };
  if (approval.status === 'cancelled') return { outcome: cancelledOutcome(approval), at };
  return undefined;
}
