import type { AuditEntry, AuditFilter, Page, Store } from '../../src/store/types.js';

/** Counts the calls a store receives, to observe group commit. */
export function countingStore(inner: Store): Store & { appendCalls: number; appendedEntries: number } {
  const counting = Object.create(inner) as Store & { appendCalls: number; appendedEntries: number };
  counting.appendCalls = 0;
  counting.appendedEntries = 0;
  counting.appendAudit = async (entries) => {
    counting.appendCalls++;
    counting.appendedEntries += entries.length;
    return inner.appendAudit(entries);
  };
  return counting;
}

/**
 * A store whose stored chain has been tampered with "in the database": `listAudit` and
 * `getAuditHead` answer from `transform(all entries)`, paged by index.
 */
export function tamperedStore(inner: Store, transform: (entries: AuditEntry[]) => AuditEntry[]): Store {
  const tampered = Object.create(inner) as Store;
  const all = async (): Promise<AuditEntry[]> => {
    const entries: AuditEntry[] = [];
    let cursor: string | undefined;
    do {
      const page = await inner.listAudit({ limit: 1000, cursor });
      entries.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return transform(entries);
  };
  tampered.getAuditHead = async () => (await all()).at(-1);
  tampered.listAudit = async (filter: AuditFilter = {}): Promise<Page<AuditEntry>> => {
    const matching = (await all()).filter(
      (entry) => (filter.fromSeq === undefined || entry.seq >= filter.fromSeq) && (filter.toSeq === undefined || entry.seq <= filter.toSeq),
    );
    const start = filter.cursor === undefined ? 0 : Number(filter.cursor);
    const limit = filter.limit ?? 50;
    const items = matching.slice(start, start + limit);
    return start + limit < matching.length ? { items, nextCursor: String(start + limit) } : { items };
  };
  return tampered;
}

/** An event input for AuditLog.append. */
export function sampleEvent(index: number) {
  return {
    type: 'invocation.started',
    actor: 'agent:agent-1',
    agentId: 'agent-1',
    tool: 'crm.lookup',
    invocationId: `inv-${index}`,
    data: { index },
  };
}

/** Resolves when `predicate` holds, polling on timers; fails after `timeoutMs`. */
export async function eventually(predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
