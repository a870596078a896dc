import type { AuditEntry, InvocationStatus, Store } from '../store/types.js';

/** A call whose start was recorded but whose outcome never was (a crash, a kill). */
export interface IncompleteInvocation {
  invocationId: string;
  agentId: string | undefined;
  tool: string | undefined;
  /** The door the call came through, as its start event says. */
  door: 'rest' | 'mcp' | 'invoke' | undefined;
  /** When the start event was written. */
  startedAt: string;
  /** Sequence number of the start event in the audit chain. */
  startSeq: number;
  /**
   * Set by `gateway.admin.incompleteInvocations()`: `outcome_unknown` as it marked the call,
   * or the outcome its record already held, whose lost audit event it appended; or
   * `pending_approval` for an approved call that never started, whose approval it reopened
   * (`approvalId`; `startedAt` is then when it was approved, `startSeq` the seq of the
   * `approval.reopened` event).
   */
  status?: InvocationStatus;
  /** The approval reopened, for an approved call that never started. */
  approvalId?: string;
}

/** @internal How long a started call may run before it counts as incomplete: 5 minutes. */
export const DEFAULT_INCOMPLETE_GRACE_MS = 5 * 60 * 1000;

const OUTCOME_TYPES = new Set([
  'invocation.completed',
  'invocation.failed',
  'invocation.denied',
  'invocation.invalid',
  'invocation.timeout',
  'invocation.expired',
  'invocation.cancelled',
  'invocation.outcome_unknown',
]);

/**
 * Reads the audit chain and lists every `invocation.started` without an outcome event
 * after it. Calls started less than `graceMs` ago (default 5 minutes) are left out: they
 * may still be running. One pass over the chain, page by page.
 */
export async function findIncompleteInvocations(
  store: Store,
  options: { graceMs?: number; now?: number } = {},
): Promise<IncompleteInvocation[]> {
  return (await scanIncomplete(store, options, new Set())).incomplete;
}

/**
 * @internal {@link findIncompleteInvocations}, and which of the calls in `watch` have an
 * `invocation.started` event anywhere in the chain, in the same pass.
 */
export async function scanIncomplete(
  store: Store,
  options: { graceMs?: number; now?: number },
  watch: ReadonlySet<string>,
): Promise<{ incomplete: IncompleteInvocation[]; started: Set<string> }> {
  const cutoff = (options.now ?? Date.now()) - (options.graceMs ?? DEFAULT_INCOMPLETE_GRACE_MS);
  const open = new Map<string, IncompleteInvocation>();
  const started = new Set<string>();
  let cursor: string | undefined;
  do {
    const page = await store.listAudit({ limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
    for (const entry of page.items) {
      track(open, entry);
      const id = entry.event.invocationId;
      if (id !== undefined && entry.event.type === 'invocation.started' && watch.has(id)) started.add(id);
    }
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return { incomplete: [...open.values()].filter((call) => Date.parse(call.startedAt) <= cutoff), started };
}

function doorOf(value: unknown): IncompleteInvocation['door'] {
  return value === 'rest' || value === 'mcp' || value === 'invoke' ? value : undefined;
}

function track(open: Map<string, IncompleteInvocation>, entry: AuditEntry): void {
  const { event } = entry;
  if (event.invocationId === undefined) return;
  if (event.type === 'invocation.started') {
    open.set(event.invocationId, {
      invocationId: event.invocationId,
      agentId: event.agentId,
      tool: event.tool,
      door: doorOf(event.data?.door),
      startedAt: event.at,
      startSeq: entry.seq,
    });
  } else if (OUTCOME_TYPES.has(event.type)) {
    open.delete(event.invocationId);
  }
}
