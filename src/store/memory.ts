import type {
  AgentRecord,
  ApprovalFilter,
  ApprovalRecord,
  ApprovalStatus,
  AuditCheckpoint,
  AuditEntry,
  AuditFilter,
  IdempotencyRecord,
  InvocationFilter,
  InvocationRecord,
  ListOptions,
  Page,
  Store,
  StoredPolicyRecord,
  StoredToolRecord,
} from './types.js';
import { isFrozenTree } from '../util/frozen.js';
import {
  GENESIS_HASH,
  MAX_PAGE_SIZE,
  agentIsAsExpected,
  auditEventMatches,
  clampLimit,
  decodeCursor,
  encodeCursor,
  revives,
} from './shared.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * How many invocations, approvals, idempotency keys and audit entries each are kept;
   * the oldest are dropped first. Default 10 000.
   *
   * What is not final yet is never dropped, and is not counted: an invocation waiting for
   * approval or running (`pending_approval`, `running`) and an approval whose call has not
   * been executed or closed (`pending`, `approved`, `executing`), or was approved and still
   * runs (so a repeat of it is told it runs, and is never run again). Such a record counts from
   * the moment it is final, as the newest record if its turn to be dropped had come while it
   * waited. So an approval decided after any number of later calls still finds its
   * invocation, and the agent gets its outcome.
   *
   * The audit chain keeps verifying after trimming: it is checked from the first
   * retained entry on, anchored on that entry's `prevHash`. A `listAudit` page whose cursor
   * was overtaken by trimming (appends pushed out entries a reader had not reached yet) goes
   * on with the first entry still kept and says which seqs were dropped
   * (`droppedByRetention`), so readers can tell retention from deleted entries. A first page
   * (read without a cursor) carries no such mark: `getAuditHead` and `listAudit` answer from
   * the state of the store when they are called, before anything is awaited, so a reader that
   * asks for the head and its first page together (`Promise.all`) gets both from one state,
   * and the appends that follow can overtake only pages it reads by cursor, which are marked.
   */
  maxRecords?: number;
}

/**
 * A deep copy of JSON data; plain recursion is several times faster than structuredClone here.
 * An object is copied with a spread, which takes the source's shape in one step (about a third
 * faster than adding its keys one by one), and then its nested objects are replaced by copies.
 * A spread defines each key as an own property, so a `"__proto__"` key stays data.
 */
function clone<T>(value: T, depth = 0): T {
  if (value === null || typeof value !== 'object') return value;
  if (depth > 200) return structuredClone(value);
  if (Array.isArray(value)) {
    const copy = new Array(value.length);
    for (let index = 0; index < value.length; index++) copy[index] = clone(value[index], depth + 1);
    return copy as T;
  }
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const key in copy) {
    const item = copy[key];
    // hasOwn: for-in also walks the prototype chain, where nothing enumerable belongs.
    if (item !== null && typeof item === 'object' && Object.hasOwn(copy, key)) copy[key] = clone(item, depth + 1);
  }
  return copy as T;
}
const copyAgent = (agent: AgentRecord): AgentRecord => ({ ...agent, tags: [...agent.tags] });

/** The members of `T` that can hold an object (`unknown` ones included): a copy must copy them. */
type ContainerMembers<T> = {
  [K in keyof T]-?: unknown extends T[K] ? K : [Extract<T[K], object>] extends [never] ? never : K;
}[keyof T];

/**
 * An invocation record's copy: one spread for the record, then copies of its container members
 * only (a record is copied on every call; with a small output this takes 130 ns in a loop where
 * {@link clone}'s walk over every member takes 320). The other members are strings, numbers or
 * null, shared as they are. Typed so that a container member added to the record later cannot
 * be left out (and shared).
 */
const copyInvocation = (record: InvocationRecord): InvocationRecord => {
  const copied: Pick<InvocationRecord, ContainerMembers<InvocationRecord>> = {
    input: clone(record.input),
    ruleIds: clone(record.ruleIds),
    output: clone(record.output),
    error: clone(record.error),
  };
  return { ...record, ...copied };
};
/** An audit entry's copy; a frozen event (as the audit log appends them) cannot change and is shared. */
const copyEntry = (entry: AuditEntry): AuditEntry =>
  isFrozenTree(entry.event) ? { seq: entry.seq, prevHash: entry.prevHash, hash: entry.hash, event: entry.event } : clone(entry);

/**
 * A store that keeps everything in this process's memory, with bounded retention.
 * The default store: right for tests, demos and single-process services that can lose
 * their records on restart. Use the SQL store (`agent-tool-gateway/sql`) to persist, or to
 * run several gateway instances on one database.
 *
 * @example
 * ```ts
 * import { createGateway, memoryStore } from 'agent-tool-gateway';
 *
 * const gateway = createGateway({ store: memoryStore({ maxRecords: 50_000 }), tools: [] });
 * ```
 */
export function memoryStore(options: MemoryStoreOptions = {}): Store {
  const maxRecords = options.maxRecords ?? 10_000;
  if (!Number.isInteger(maxRecords) || maxRecords < 1) {
    throw new TypeError('memoryStore: maxRecords must be a positive integer');
  }

  const agents = new Map<string, AgentRecord>();
  /** Each agent's place in creation order, from 1: pages of agents continue after the last one seen. */
  const agentOrdinals = new Map<string, number>();
  const tools = new Map<string, StoredToolRecord>();
  const policies = new Map<string, StoredPolicyRecord>();
  const invocations = new OrderedTable<InvocationRecord>(copyInvocation, maxRecords, invocationUnfinished);
  // Approvals whose call has not finished although the approval has (an approved call runs
  // after its approval is `executed`): kept, so a repeat of the call finds it and is told the
  // call runs, rather than asking for a second approval and a second run.
  const callsOpen = new Set<string>();
  const approvals = new OrderedTable<ApprovalRecord>(clone, maxRecords, (record) => approvalUnfinished(record) || callsOpen.has(record.id));
  /** Keeps an invocation's approval while the invocation is unfinished, and lets it go once it is. */
  const followApproval = (record: InvocationRecord) => {
    const approvalId = record.approvalId;
    if (approvalId === null) return;
    const open = invocationUnfinished(record);
    if (open === callsOpen.has(approvalId)) return;
    approvals.reconsider(approvalId, () => {
      if (open) callsOpen.add(approvalId);
      else callsOpen.delete(approvalId);
    });
  };
  const idempotency = new Map<string, IdempotencyRecord>();
  let audit: AuditEntry[] = [];
  let auditOffset = 0; // seq of audit[0]
  let checkpoints: AuditCheckpoint[] = [];
  let closed = false;

  const assertOpen = () => {
    if (closed) throw new Error('memoryStore: store is closed');
  };

  // Idempotency keys expire oldest first, in chunks, so trimming stays cheap per call.
  const trimIdempotency = () => {
    if (idempotency.size <= maxRecords) return;
    const drop = idempotency.size - maxRecords + Math.ceil(maxRecords / 10);
    let dropped = 0;
    for (const key of idempotency.keys()) {
      if (dropped++ >= drop) break;
      idempotency.delete(key);
    }
  };

  const trimAudit = () => {
    const excess = audit.length - maxRecords;
    if (excess > 0) {
      // Drop in chunks so trimming stays amortised O(1) per append.
      const drop = Math.max(excess, Math.ceil(maxRecords / 10));
      const keep = Math.min(drop, audit.length - 1);
      audit = audit.slice(keep);
      auditOffset += keep;
      const firstSeq = auditOffset;
      checkpoints = checkpoints.filter((checkpoint) => checkpoint.seq >= firstSeq);
    }
  };

  return {
    async createAgent(agent) {
      assertOpen();
      if (agents.has(agent.id)) throw new Error(`agent ${agent.id} exists`);
      agents.set(agent.id, copyAgent(agent));
      agentOrdinals.set(agent.id, agentOrdinals.size + 1);
    },
    async getAgent(id) {
      const agent = agents.get(id);
      return agent && copyAgent(agent);
    },
    async updateAgent(id, patch, expected) {
      assertOpen();
      const agent = agents.get(id);
      if (!agent) return undefined;
      if (agent.status === 'revoked' && revives(patch)) return undefined;
      if (expected !== undefined && !agentIsAsExpected(agent, expected)) return undefined;
      const updated = copyAgent({ ...agent, ...patch, id: agent.id, createdAt: agent.createdAt });
      agents.set(id, updated);
      return copyAgent(updated);
    },
    async listAgents(listOptions) {
      // In creation order, as the SQL store lists them, after the cursor's agent: an agent
      // created between two pages (in the same millisecond, or under a clock that went back)
      // comes last, so it never moves the page boundary and repeats an agent.
      const limit = clampLimit(listOptions?.limit, MAX_PAGE_SIZE);
      const after = listOptions?.cursor === undefined ? 0 : decodeCursor(listOptions.cursor);
      const items: AgentRecord[] = [];
      let last = 0;
      for (const [id, agent] of agents) {
        const ordinal = agentOrdinals.get(id) as number;
        if (ordinal <= after) continue;
        if (items.length === limit) return { items, nextCursor: encodeCursor(last) };
        items.push(copyAgent(agent));
        last = ordinal;
      }
      return { items };
    },

    async putTool(tool) {
      assertOpen();
      tools.set(tool.name, clone(tool));
    },
    async replaceTool(tool, expected) {
      assertOpen();
      const current = tools.get(tool.name);
      const matches =
        expected === null
          ? current === undefined
          : current !== undefined && JSON.stringify(current.definition) === JSON.stringify(expected.definition);
      if (!matches) return false;
      tools.set(tool.name, clone(tool));
      return true;
    },
    async getTool(name) {
      const tool = tools.get(name);
      return tool && clone(tool);
    },
    async deleteTool(name, expected) {
      assertOpen();
      if (expected !== undefined) {
        const current = tools.get(name);
        if (current === undefined || JSON.stringify(current.definition) !== JSON.stringify(expected.definition)) return false;
      }
      return tools.delete(name);
    },
    async listTools() {
      return [...tools.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(clone);
    },
    async putPolicy(policy) {
      assertOpen();
      policies.set(policy.id, clone(policy));
    },
    async replacePolicy(policy, expected) {
      assertOpen();
      const current = policies.get(policy.id);
      const matches =
        expected === null ? current === undefined : current !== undefined && JSON.stringify(current.rule) === JSON.stringify(expected.rule);
      if (!matches) return false;
      policies.set(policy.id, clone(policy));
      return true;
    },
    async getPolicy(id) {
      const policy = policies.get(id);
      return policy && clone(policy);
    },
    async deletePolicy(id, expected) {
      assertOpen();
      if (expected !== undefined) {
        const current = policies.get(id);
        if (current === undefined || JSON.stringify(current.rule) !== JSON.stringify(expected.rule)) return false;
      }
      return policies.delete(id);
    },
    async listPolicies() {
      return [...policies.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || (a.id < b.id ? -1 : 1)).map(clone);
    },

    async createInvocation(record) {
      assertOpen();
      if (invocations.has(record.id)) throw new Error(`invocation ${record.id} exists`);
      invocations.put(record.id, copyInvocation(record));
      followApproval(record);
    },
    async putInvocation(record) {
      assertOpen();
      invocations.put(record.id, copyInvocation(record));
      followApproval(record);
    },
    async getInvocation(id) {
      const record = invocations.get(id);
      return record && copyInvocation(record);
    },
    async listInvocations(filter: InvocationFilter = {}) {
      return invocations.pageNewestFirst(
        filter,
        (record) =>
          (filter.agentId === undefined || record.agentId === filter.agentId) &&
          (filter.tool === undefined || record.tool === filter.tool) &&
          (filter.status === undefined || record.status === filter.status) &&
          (filter.from === undefined || record.createdAt >= filter.from) &&
          (filter.to === undefined || record.createdAt < filter.to),
      );
    },

    async createApproval(record) {
      assertOpen();
      if (approvals.has(record.id)) throw new Error(`approval ${record.id} exists`);
      approvals.put(record.id, clone(record));
    },
    async getApproval(id) {
      const record = approvals.get(id);
      return record && clone(record);
    },
    async listApprovals(filter: ApprovalFilter = {}) {
      return approvals.pageNewestFirst(
        filter,
        (record) =>
          (filter.status === undefined || record.status === filter.status) &&
          (filter.agentId === undefined || record.agentId === filter.agentId) &&
          (filter.tool === undefined || record.tool === filter.tool) &&
          (filter.inputDigest === undefined || record.inputDigest === filter.inputDigest),
      );
    },
    async transitionApproval(id, expected: ApprovalStatus, patch) {
      assertOpen();
      const record = approvals.get(id);
      if (!record || record.status !== expected) return undefined;
      // Single-threaded: the check and the write happen in one turn, so this is atomic.
      const updated = { ...record, ...patch, ...(patch.heldInput === undefined ? {} : { heldInput: clone(patch.heldInput) }) };
      approvals.replace(id, updated);
      return clone(updated);
    },

    async reserveIdempotencyKey(record) {
      assertOpen();
      const key = `${record.agentId}\u0000${record.key}`;
      const existing = idempotency.get(key);
      if (existing) return { created: false, record: { ...existing } };
      idempotency.set(key, { ...record });
      trimIdempotency();
      return { created: true, record: { ...record } };
    },
    async releaseIdempotencyKey({ agentId, key, invocationId }) {
      assertOpen();
      const mapKey = `${agentId}\u0000${key}`;
      // Single-threaded: the check and the delete happen in one turn, so this is atomic.
      if (idempotency.get(mapKey)?.invocationId !== invocationId) return false;
      return idempotency.delete(mapKey);
    },
    async moveIdempotencyKey({ agentId, key, invocationId }, to) {
      assertOpen();
      const mapKey = `${agentId}\u0000${key}`;
      const held = idempotency.get(mapKey);
      if (held?.invocationId !== invocationId) return false;
      idempotency.set(mapKey, { ...held, invocationId: to });
      return true;
    },

    async getAuditHead() {
      // Like listAudit, answers from the state it is called in, nothing awaited first: a reader
      // that asks for both together gets one state (see `maxRecords`).
      const head = audit[audit.length - 1];
      return head && copyEntry(head);
    },
    async appendAudit(entries) {
      assertOpen();
      if (entries.length === 0) return true;
      const first = entries[0] as AuditEntry;
      const head = audit[audit.length - 1];
      const expectedSeq = head ? head.seq + 1 : 0;
      const expectedPrev = head ? head.hash : GENESIS_HASH;
      if (first.seq !== expectedSeq || first.prevHash !== expectedPrev) return false;
      for (let index = 1; index < entries.length; index++) {
        const entry = entries[index] as AuditEntry;
        const previous = entries[index - 1] as AuditEntry;
        if (entry.seq !== previous.seq + 1 || entry.prevHash !== previous.hash) {
          throw new Error('appendAudit: entries are not consecutive');
        }
      }
      for (const entry of entries) audit.push(copyEntry(entry));
      trimAudit();
      return true;
    },
    async listAudit(filter: AuditFilter = {}) {
      const limit = clampLimit(filter.limit, MAX_PAGE_SIZE);
      const cursorSeq = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
      const fromSeq = Math.max(filter.fromSeq ?? 0, cursorSeq ?? 0, auditOffset);
      const toSeq = filter.toSeq ?? Number.POSITIVE_INFINITY;
      // A cursor points at an entry that was kept when the cursor was made: below the first
      // entry kept now, retention dropped it (and what follows) while the reader was away.
      const droppedFrom = cursorSeq === undefined ? undefined : Math.max(cursorSeq, filter.fromSeq ?? 0);
      const droppedTo = Math.min(auditOffset - 1, toSeq);
      const dropped = droppedFrom !== undefined && droppedFrom <= droppedTo ? { fromSeq: droppedFrom, toSeq: droppedTo } : undefined;
      const items: AuditEntry[] = [];
      let nextCursor: string | undefined;
      for (let index = fromSeq - auditOffset; index < audit.length; index++) {
        const entry = audit[index] as AuditEntry;
        if (entry.seq > toSeq) break;
        if (auditEventMatches(entry.event, filter)) {
          if (items.length === limit) {
            nextCursor = encodeCursor(entry.seq);
            break;
          }
          items.push(copyEntry(entry));
        }
      }
      return {
        items,
        ...(nextCursor === undefined ? {} : { nextCursor }),
        ...(dropped === undefined ? {} : { droppedByRetention: dropped }),
      };
    },
    async appendCheckpoint(checkpoint) {
      assertOpen();
      checkpoints.push({ ...checkpoint });
    },
    async listCheckpoints(range = {}) {
      return checkpoints
        .filter(
          (checkpoint) =>
            (range.fromSeq === undefined || checkpoint.seq >= range.fromSeq) &&
            (range.toSeq === undefined || checkpoint.seq <= range.toSeq),
        )
        .map((checkpoint) => ({ ...checkpoint }));
    },

    async close() {
      closed = true;
    },
  };
}

/** An invocation that may still change: it waits for approval or runs. */
const invocationUnfinished = (record: InvocationRecord): boolean => record.status === 'pending_approval' || record.status === 'running';
/** An approval whose call has not been executed, denied, expired or cancelled yet. */
const approvalUnfinished = (record: ApprovalRecord): boolean =>
  record.status === 'pending' || record.status === 'approved' || record.status === 'executing';

interface TableEntry<T> {
  ordinal: number;
  record: T;
  /** Passed over by retention while unfinished: out of the eviction queue until it is finished. */
  setAside: boolean;
}

/**
 * Records kept in insertion order with an ordinal, for newest-first pages and retention.
 * Retention keeps the newest `max` finished records and every unfinished one: an unfinished
 * record whose turn comes is set aside instead of dropped, and rejoins the queue, at its end,
 * once it is finished. Each id enters the queue once, plus once more per time it was set
 * aside, so trimming costs amortised O(1) per write however many records wait.
 */
class OrderedTable<T> {
  private readonly byId = new Map<string, TableEntry<T>>();
  /**
   * Ids in eviction order, for retention: walking the Map from its start gets slower as
   * deletions pile up there. Every finished record's id is in it, from `evictionHead` on.
   */
  private evictionQueue: string[] = [];
  private evictionHead = 0;
  private finishedCount = 0;
  private nextOrdinal = 1;

  /**
   * `copy`: how a record of this table is copied when a list hands it out. `max`: how many
   * finished records retention keeps. `unfinished`: whether a record may still change, and
   * so is never dropped.
   */
  constructor(
    private readonly copy: (record: T) => T,
    private readonly max: number,
    private readonly unfinished: (record: T) => boolean,
  ) {}

  has(id: string): boolean {
    return this.byId.has(id);
  }

  get(id: string): T | undefined {
    return this.byId.get(id)?.record;
  }

  /** Inserts or replaces; a replaced record keeps its place. Drops the oldest finished records beyond `max`. */
  put(id: string, record: T): void {
    const existing = this.byId.get(id);
    if (existing) {
      this.update(id, existing, record);
      return;
    }
    this.byId.set(id, { ordinal: this.nextOrdinal++, record, setAside: false });
    this.evictionQueue.push(id);
    if (!this.unfinished(record)) {
      this.finishedCount++;
      this.trim();
    }
  }

  /** Replaces an existing record; does nothing when there is none. */
  replace(id: string, record: T): void {
    const existing = this.byId.get(id);
    if (existing) this.update(id, existing, record);
  }

  /**
   * Runs `change`, which alters what `unfinished` reads besides the record (another table's
   * state), and moves the record in or out of retention accordingly.
   */
  reconsider(id: string, change: () => void): void {
    const entry = this.byId.get(id);
    const wasFinished = entry !== undefined && !this.unfinished(entry.record);
    change();
    if (entry !== undefined) this.settle(id, entry, wasFinished);
  }

  private update(id: string, entry: TableEntry<T>, record: T): void {
    const wasFinished = !this.unfinished(entry.record);
    entry.record = record;
    this.settle(id, entry, wasFinished);
  }

  /** After a record or what decides whether it is finished changed: counts it, and trims. */
  private settle(id: string, entry: TableEntry<T>, wasFinished: boolean): void {
    const finished = !this.unfinished(entry.record);
    if (wasFinished === finished) return;
    if (!finished) {
      // Open again (a decision rolled back): it stays in the queue and is set aside in its turn.
      this.finishedCount--;
      return;
    }
    this.finishedCount++;
    if (entry.setAside) {
      // It rejoins retention as the newest record.
      entry.setAside = false;
      this.evictionQueue.push(id);
    }
    this.trim();
  }

  private trim(): void {
    // Every finished record is queued: the loop finds one to drop before it reaches the newest.
    while (this.finishedCount > this.max && this.evictionHead < this.evictionQueue.length) {
      const oldId = this.evictionQueue[this.evictionHead++] as string;
      const entry = this.byId.get(oldId) as TableEntry<T>;
      if (this.unfinished(entry.record)) {
        entry.setAside = true;
        continue;
      }
      this.byId.delete(oldId);
      this.finishedCount--;
    }
    if (this.evictionHead > 1024 && this.evictionHead * 2 > this.evictionQueue.length) {
      this.evictionQueue = this.evictionQueue.slice(this.evictionHead);
      this.evictionHead = 0;
    }
  }

  pageNewestFirst(options: ListOptions, matches: (record: T) => boolean): Page<T> {
    const limit = clampLimit(options.limit, MAX_PAGE_SIZE);
    const before = options.cursor === undefined ? Number.POSITIVE_INFINITY : decodeCursor(options.cursor);
    const entries = [...this.byId.values()];
    const items: T[] = [];
    let lastOrdinal = 0;
    for (let index = entries.length - 1; index >= 0; index--) {
      const entry = entries[index] as TableEntry<T>;
      if (entry.ordinal >= before || !matches(entry.record)) continue;
      if (items.length === limit) return { items, nextCursor: encodeCursor(lastOrdinal) };
      items.push(this.copy(entry.record));
      lastOrdinal = entry.ordinal;
    }
    return { items };
  }
}
