/**
 * The storage interface. Every gateway instance keeps its state here; the memory store and
 * the SQL store implement it and pass the same conformance suite
 * (`runStoreConformance` from `agent-tool-gateway/testing`).
 *
 * Timestamps are ISO-8601 strings in UTC. Records are plain JSON-serialisable objects;
 * a store returns copies, never objects the caller could mutate in place, and gives JSON
 * data back as it went in (an own `"__proto__"` key, as `JSON.parse` makes one, stays a key).
 */

/** Lifecycle of an agent credential. */
export type AgentStatus = 'active' | 'disabled' | 'revoked';

/** An agent: who calls tools. Its key is stored only as a hash. */
export interface AgentRecord {
  id: string;
  name: string;
  tags: string[];
  status: AgentStatus;
  /** SHA-256 (hex) of the agent's current key. */
  keyHash: string;
  createdAt: string;
  updatedAt: string;
  /** After this instant the key is refused. */
  expiresAt: string | null;
}

/** Final and intermediate states of a governed call. */
export type InvocationStatus =
  | 'pending_approval'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'denied'
  | 'invalid'
  | 'timeout'
  | 'expired'
  | 'cancelled'
  | 'outcome_unknown';

/** The policy outcome recorded with a call. */
export type DecisionEffect = 'allow' | 'deny' | 'require_approval';

/** The client-safe error of a failed call. */
export interface RecordedError {
  code: string;
  message: string;
  details?: unknown;
  /**
   * When the call's answer told the caller when to retry (`Retry-After`: a rate limit, an
   * outage, a tool's own refusal), the instant it named (ISO-8601). An answer given again
   * from the record (an idempotent replay, a repeat of an approved call) carries the seconds
   * left until then.
   */
  retryAt?: string;
}

/** One record per governed call. Input and output are stored redacted. */
export interface InvocationRecord {
  id: string;
  agentId: string;
  tool: string;
  toolVersion: string | null;
  /** SHA-256 (hex) over the canonical JSON of the exact input. */
  inputDigest: string | null;
  /** The input, redacted. */
  input: unknown;
  decision: DecisionEffect | null;
  ruleIds: string[];
  approvalId: string | null;
  status: InvocationStatus;
  /** Which door the call came through. */
  door: 'rest' | 'mcp' | 'invoke';
  upstreamStatus: number | null;
  latencyMs: number | null;
  /** The output, redacted. */
  output: unknown;
  error: RecordedError | null;
  idempotencyKey: string | null;
  createdAt: string;
  updatedAt: string;
}

/**
 * Lifecycle of an approval: `pending`, then `denied`, `expired` or `cancelled`, or, when
 * approved, `executing` (the claim that makes execution exactly-once, taken by the decision
 * itself) and `executed` (taken once the call's start is recorded, right before it runs, or
 * when it is refused). An `executing` approval whose call never started can be reopened to
 * `pending` (see `incompleteInvocations`). `approved` (decided, not yet claimed) is not written
 * by the gateway, whose decisions claim at once; secret rotations still re-seal a held input in it.
 */
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled' | 'executing' | 'executed';

/** A pending (or decided) human approval of one exact call. */
export interface ApprovalRecord {
  id: string;
  invocationId: string;
  agentId: string;
  tool: string;
  toolVersion: string;
  inputDigest: string;
  /**
   * The exact input to execute once approved. Sealed (a string produced by the vault)
   * when an encryption key is configured, plain JSON otherwise.
   */
  heldInput: unknown;
  /** The input as approvers see it: redacted. */
  input: unknown;
  ruleIds: string[];
  status: ApprovalStatus;
  requestedAt: string;
  expiresAt: string;
  decidedAt: string | null;
  decidedBy: string | null;
  reason: string | null;
}

/** A tool held in the store (created through the admin API). */
export interface StoredToolRecord {
  name: string;
  /** The tool's JSON definition; secret header values are sealed. */
  definition: Record<string, unknown>;
  version: string;
  createdAt: string;
  updatedAt: string;
}

/** A policy rule held in the store (created through the admin API). */
export interface StoredPolicyRecord {
  id: string;
  rule: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

/** One link of the audit hash chain. */
export interface AuditEntry {
  /** 0-based position in the chain; gap-free. */
  seq: number;
  /** Hash of the previous entry (hex); 64 zeros for the first. */
  prevHash: string;
  /** SHA-256 (hex) over the canonical JSON of `{ seq, prevHash, event }`. */
  hash: string;
  event: AuditEvent;
}

/** What happened. `type` is `invocation.*`, `approval.*`, `auth.failed` or `admin.*`. */
export interface AuditEvent {
  id: string;
  type: string;
  at: string;
  /** `agent:<id>`, `admin:<id>`, `system` or `anonymous`. */
  actor: string;
  invocationId?: string;
  agentId?: string;
  tool?: string;
  /** Event-specific, already redacted. */
  data?: Record<string, unknown>;
}

/** A signed statement of the chain head. */
export interface AuditCheckpoint {
  seq: number;
  hash: string;
  at: string;
  /** Compact JWS (EdDSA) over `{ seq, hash, at }`. */
  signature: string;
  keyId: string;
}

/** The first-writer-wins reservation of an idempotency key. */
export interface IdempotencyRecord {
  agentId: string;
  key: string;
  invocationId: string;
  /** Tool name and input digest of the first call, to refuse reuse with other input. */
  fingerprint: string;
  createdAt: string;
}

/** A page of results. */
export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

/** A page of {@link Store.listAudit}. */
export interface AuditPage extends Page<AuditEntry> {
  /**
   * Set by a store with retention (the memory store) when the `cursor` points at entries it
   * has dropped since it handed the cursor out: appends made in the meantime pushed them out.
   * These are the seqs, from the cursor on and within the filter's range, that are gone; the
   * page goes on with the first entry still kept. By it, a reader that needs consecutive
   * entries (verification, export) tells this gap from entries deleted from the chain, which
   * carry no such mark. Never set by a store that keeps its whole chain.
   */
  droppedByRetention?: { fromSeq: number; toSeq: number };
  /**
   * Set by a store that keeps copies of event fields in an index of its own to filter by
   * (the SQL store: the columns `type`, `agent_id`, `tool` and `at`), copies the chain's hashes
   * do not cover: the entries read for this page whose copies disagree with their event, as
   * someone who can write the database could make them. The entries themselves are as their
   * (hash-covered) events say. A filtered listing leaves out an entry whose event does not
   * match the filter (a forged copy selected it) and names it here all the same. An entry a
   * forged copy moved out of a filter is not read by that listing, so it cannot name it:
   * `verifyAuditChain` reads every entry and reports each such one as `index_mismatch`.
   * Never set by a store that filters on the events themselves (the memory store).
   */
  indexMismatches?: AuditIndexMismatch[];
}

/** An audit entry whose index copies disagree with its event (see {@link AuditPage.indexMismatches}). */
export interface AuditIndexMismatch {
  seq: number;
  /** The index columns that disagree, by the store's names for them (the SQL store: `type`, `agent_id`, `tool`, `at`). */
  columns: string[];
}

/** Common list arguments. */
export interface ListOptions {
  /** Items per page: 50 when absent, at most 1000 (a larger one is taken as 1000). */
  limit?: number;
  /** The `nextCursor` of the page before; any string the store did not hand out rejects with `BAD_REQUEST`. */
  cursor?: string;
}

export interface InvocationFilter extends ListOptions {
  agentId?: string;
  tool?: string;
  status?: InvocationStatus;
  /** Inclusive lower bound on `createdAt`. */
  from?: string;
  /** Exclusive upper bound on `createdAt`. */
  to?: string;
}

export interface ApprovalFilter extends ListOptions {
  status?: ApprovalStatus;
  agentId?: string;
  tool?: string;
  inputDigest?: string;
}

export interface AuditFilter extends ListOptions {
  /** Inclusive lower bound on `seq`. */
  fromSeq?: number;
  /** Inclusive upper bound on `seq`. */
  toSeq?: number;
  type?: string;
  agentId?: string;
  tool?: string;
  from?: string;
  to?: string;
}

/**
 * The storage interface. Methods marked *atomic* must be linearisable across every gateway
 * instance that shares the store: they are how two instances on one database stay correct.
 * A method that cannot reach its database throws `GatewayError` `STORE_UNAVAILABLE` (503);
 * anything else it throws is answered 500 `INTERNAL`.
 */
export interface Store {
  // Agents
  createAgent(agent: AgentRecord): Promise<void>;
  getAgent(id: string): Promise<AgentRecord | undefined>;
  /**
   * Replaces the fields given; returns the new record, or undefined if there is none.
   * *Atomic*: revocation is final, so a patch that sets a `status` other than `'revoked'`, or a
   * new `keyHash`, is not applied to a revoked agent (undefined, as for an unknown id), even
   * when it races the revocation. Other fields (name, tags) may still change.
   *
   * With `expected`, *atomic* compare-and-set: the patch is applied only while the stored
   * agent's `keyHash` is still `expected.keyHash` (and, when they are given, its `status` and
   * `updatedAt` are `expected.status` and `expected.updatedAt`), else nothing is written and
   * the answer is undefined. Of any number of concurrent key rotations from the key read, at
   * most one wins.
   *
   * @example
   * ```ts
   * const agent = await store.getAgent(id);
   * const rotated = agent && (await store.updateAgent(id, { keyHash: next }, { keyHash: agent.keyHash }));
   * ```
   */
  updateAgent(
    id: string,
    patch: Partial<Omit<AgentRecord, 'id' | 'createdAt'>>,
    expected?: Pick<AgentRecord, 'keyHash'> & Partial<Pick<AgentRecord, 'status' | 'updatedAt'>>,
  ): Promise<AgentRecord | undefined>;
  listAgents(options?: ListOptions): Promise<Page<AgentRecord>>;

  // Tools and policies created at run time
  putTool(tool: StoredToolRecord): Promise<void>;
  /**
   * *Atomic*: writes `tool` only while the stored tool of that name still has `expected`'s
   * definition, or, with `expected` null, only while there is none; false (nothing written)
   * otherwise. Admin creates, updates and secret rotation use it, so that a concurrent change
   * is never silently overwritten.
   */
  replaceTool(tool: StoredToolRecord, expected: StoredToolRecord | null): Promise<boolean>;
  getTool(name: string): Promise<StoredToolRecord | undefined>;
  /**
   * Deletes the tool of that name; true when there was one. With `expected`, *atomically*
   * only while the stored tool still has `expected`'s definition (compared as `replaceTool`
   * compares): a compare-and-delete, false (nothing deleted) otherwise. Admin deletes use it,
   * so that undoing one the audit trail cannot record puts back what it deleted, and so does
   * the undo of a create: a change made meanwhile on another instance is never deleted nor
   * reverted. A store written before `expected` existed ignores it and deletes whatever is
   * there: those races are then open for the moment between the gateway's read and its delete.
   */
  deleteTool(name: string, expected?: StoredToolRecord): Promise<boolean>;
  listTools(): Promise<StoredToolRecord[]>;
  putPolicy(policy: StoredPolicyRecord): Promise<void>;
  /**
   * *Atomic*: writes `policy` only while the stored rule of that id still has `expected`'s
   * rule, or, with `expected` null, only while there is none; false (nothing written)
   * otherwise. Admin creates and updates use it, so that a concurrent change (another create,
   * an update, a delete) is never silently overwritten or undone.
   */
  replacePolicy(policy: StoredPolicyRecord, expected: StoredPolicyRecord | null): Promise<boolean>;
  getPolicy(id: string): Promise<StoredPolicyRecord | undefined>;
  /**
   * Deletes the rule of that id; true when there was one. With `expected`, *atomically* only
   * while the stored rule still has `expected`'s rule (compared as `replacePolicy` compares):
   * a compare-and-delete, false (nothing deleted) otherwise. See `deleteTool`.
   */
  deletePolicy(id: string, expected?: StoredPolicyRecord): Promise<boolean>;
  listPolicies(): Promise<StoredPolicyRecord[]>;

  // Invocations
  /** Inserts a new record; rejects if the id exists. */
  createInvocation(record: InvocationRecord): Promise<void>;
  /** Inserts or replaces a record by id. */
  putInvocation(record: InvocationRecord): Promise<void>;
  getInvocation(id: string): Promise<InvocationRecord | undefined>;
  /** Newest first. */
  listInvocations(filter?: InvocationFilter): Promise<Page<InvocationRecord>>;

  // Approvals
  createApproval(record: ApprovalRecord): Promise<void>;
  getApproval(id: string): Promise<ApprovalRecord | undefined>;
  /** Newest first. */
  listApprovals(filter?: ApprovalFilter): Promise<Page<ApprovalRecord>>;
  /**
   * *Atomic* compare-and-set: applies `patch` only if the approval's status is `expected`.
   * Returns the updated record, or undefined when the approval is missing or in another
   * state. Of any number of concurrent calls with the same `expected`, at most one wins.
   * Approving claims the call for execution in the same step:
   * `transitionApproval(id, 'pending', { status: 'executing', decidedAt, decidedBy, reason })`;
   * a secret rotation re-seals a held input with `{ status: expected, heldInput }`. A field the
   * patch sets to null is cleared, as reopening a decision does (`{ status: 'pending', decidedAt:
   * null, decidedBy: null, reason: null }`); a field it leaves out keeps its value.
   */
  transitionApproval(
    id: string,
    expected: ApprovalStatus,
    patch: Partial<Pick<ApprovalRecord, 'status' | 'decidedAt' | 'decidedBy' | 'reason' | 'heldInput'>>,
  ): Promise<ApprovalRecord | undefined>;

  // Idempotency
  /**
   * *Atomic* first-writer-wins: stores the reservation if `(agentId, key)` is new and
   * returns it with `created: true`; otherwise returns the existing one with `created: false`.
   */
  reserveIdempotencyKey(record: IdempotencyRecord): Promise<{ created: boolean; record: IdempotencyRecord }>;
  /**
   * *Atomic* compare-and-delete: removes the reservation of `(agentId, key)` only while it
   * still names `invocationId`, so the next call with the key reserves it afresh. True when
   * it was removed. The gateway releases the key of a call refused before it ran (a rate
   * limit), so the retry with that key runs.
   */
  releaseIdempotencyKey(reservation: Pick<IdempotencyRecord, 'agentId' | 'key' | 'invocationId'>): Promise<boolean>;
  /**
   * *Atomic* compare-and-set: the reservation of `(agentId, key)` names `to` instead of
   * `invocationId`, only while it still names `invocationId`. True when it was moved. The
   * gateway moves the key of a call answered with an identical earlier call's approval onto
   * that call, whose record the key's repeats then replay. Optional: without it the key is
   * released and reserved again, and a call with the same key and other input that comes in
   * between takes the key.
   */
  moveIdempotencyKey?(reservation: Pick<IdempotencyRecord, 'agentId' | 'key' | 'invocationId'>, to: string): Promise<boolean>;

  // Audit chain
  /**
   * The last entry of the chain, or undefined when it is empty. `forAppend`: the caller links
   * entries onto this head and appends them next (the audit log does so after losing a race);
   * a store may favour that append (the SQL store reserves it for a moment). Readers that only
   * look (verification, export) leave it out, so that they hold back no writer.
   */
  getAuditHead(options?: { forAppend?: boolean }): Promise<AuditEntry | undefined>;
  /**
   * *Atomic* append: stores `entries` (consecutive `seq`s) only if the first one's `seq` is
   * one past the current head's (0 for an empty chain) and its `prevHash` is the head's
   * hash; all or nothing. Returns false, storing nothing, when another writer got there first.
   */
  appendAudit(entries: AuditEntry[]): Promise<boolean>;
  /**
   * Ascending by `seq`. A store with retention marks a page whose cursor it has since
   * trimmed past (see {@link AuditPage.droppedByRetention}). A store that filters by an index
   * of its own (copies of event fields) should check each entry it reads against its event
   * and name those that disagree (see {@link AuditPage.indexMismatches}), which
   * `verifyAuditChain` then reports; one that filters on the events themselves has nothing to
   * check.
   */
  listAudit(filter?: AuditFilter): Promise<AuditPage>;
  /**
   * Optional: `true` for a store that never removes audit entries (the SQL store). Its chain
   * must then start at seq 0: `verifyAuditChain` reports entries deleted from the start as
   * `missing` at 0. Absent or `false` for a store with retention (the memory store), whose
   * chain is verified from the first retained entry.
   */
  readonly keepsWholeAuditChain?: boolean;
  appendCheckpoint(checkpoint: AuditCheckpoint): Promise<void>;
  listCheckpoints(range?: { fromSeq?: number; toSeq?: number }): Promise<AuditCheckpoint[]>;

  /**
   * Optional: a rate limiter whose budgets every gateway instance on this store shares (the
   * SQL store has one). A gateway created without its own `rateLimiter` uses it; on a store
   * without one it counts in its own memory.
   */
  readonly rateLimiter?: import('../policy/rate-limit.js').RateLimiter;

  /**
   * Optional: tells this process when another gateway instance changed tools, policies or
   * agents (the SQL store uses LISTEN/NOTIFY). Returns an unsubscribe function. Gateways
   * also re-read tools and policies periodically, so a store without it is still correct,
   * only slower to converge. A gateway caches agents (`agentCacheMs`) only on a store that
   * has it; without it, every call reads its agent.
   */
  watch?(onChange: (kind: 'tools' | 'policies' | 'agents') => void): () => void;
  /** Optional: announces a change made here to the other instances (see {@link Store.watch}). */
  announce?(kind: 'tools' | 'policies' | 'agents'): Promise<void>;

  /**
   * Releases connections and timers. `gateway.close()` passes what is left of its own
   * `timeoutMs` (at least 1 s) as `timeoutMs`: a store that waits for writes under way (the
   * SQL store) should not wait longer. A store may ignore it.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
}
