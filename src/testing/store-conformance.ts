import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENESIS_HASH, computeEntryHash } from '../audit/hash.js';
import { verifyAuditChain } from '../audit/verify.js';
import type {
  AgentRecord,
  ApprovalRecord,
  AuditCheckpoint,
  AuditEntry,
  AuditEvent,
  IdempotencyRecord,
  InvocationRecord,
  Page,
  Store,
} from '../store/types.js';

/** Options of {@link runStoreConformance}. */
export interface StoreConformanceOptions {
  /** Shown in the test names. Default `'store'`. */
  name?: string;
  /** Makes a fresh, empty store; called before every test. */
  createStore: () => Promise<Store> | Store;
  /** Disposes of a store after its test. Default: `store.close()`. */
  cleanup?: (store: Store) => Promise<void>;
  /**
   * Opens another handle on the same data as `store` (another instance of your store on the
   * same database, as a second gateway process would). Given, the races of the atomic
   * operations run across both handles, testing their promise across instances; the second
   * handle is closed (`close()`) after each test, before `cleanup`.
   */
  openSecondHandle?: (store: Store) => Promise<Store> | Store;
  /**
   * For a store whose `listAudit` filters select by copies of event fields kept in an index
   * of its own (as the SQL store's columns), which the chain's hashes do not cover: writes
   * `value` into the copy of `field` of the entry at `seq`, behind the store's back, as someone
   * with write access to its database could. Given, the suite checks that `listAudit` names
   * such an entry (`indexMismatches`) and never shows it under a filter its event does not
   * match, and that `verifyAuditChain` reports it as `index_mismatch`.
   */
  tamperAuditIndex?: (store: Store, seq: number, field: AuditIndexField, value: string) => Promise<void>;
}

/** The event fields a store may copy into an index of its own to filter audit entries by. */
export type AuditIndexField = 'type' | 'agentId' | 'tool' | 'at';

const baseTime = Date.UTC(2030, 0, 1);

/** An ISO timestamp `seconds` after a fixed instant, so orderings are deterministic. */
function at(seconds: number): string {
  return new Date(baseTime + seconds * 1000).toISOString();
}

function agentRecord(id: string, overrides: Partial<AgentRecord> = {}): AgentRecord {
  return {
    id,
    name: `agent ${id}`,
    tags: ['team:payments'],
    status: 'active',
    keyHash: 'a'.repeat(64),
    createdAt: at(0),
    updatedAt: at(0),
    expiresAt: null,
    ...overrides,
  };
}

function invocationRecord(id: string, overrides: Partial<InvocationRecord> = {}): InvocationRecord {
  return {
    id,
    agentId: 'agent-1',
    tool: 'crm.lookup',
    toolVersion: 'v1',
    inputDigest: 'd'.repeat(64),
    input: { customer: { id: 'c-1' } },
    decision: 'allow',
    ruleIds: ['rule-1'],
    approvalId: null,
    status: 'succeeded',
    door: 'rest',
    upstreamStatus: 200,
    latencyMs: 12,
    output: { ok: true },
    error: null,
    idempotencyKey: null,
    createdAt: at(0),
    updatedAt: at(0),
    ...overrides,
  };
}

function approvalRecord(id: string, overrides: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return {
    id,
    invocationId: `invocation-of-${id}`,
    agentId: 'agent-1',
    tool: 'payments.refund',
    toolVersion: 'v1',
    inputDigest: 'e'.repeat(64),
    heldInput: { amount: 100 },
    input: { amount: 100 },
    ruleIds: ['needs-approval'],
    status: 'pending',
    requestedAt: at(0),
    expiresAt: at(3600),
    decidedAt: null,
    decidedBy: null,
    reason: null,
    ...overrides,
  };
}

function auditEvent(index: number, overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: `event-${index}`,
    type: 'invocation.started',
    at: at(index),
    actor: 'agent:agent-1',
    agentId: 'agent-1',
    tool: 'crm.lookup',
    data: { index },
    ...overrides,
  };
}

/** Links `events` onto the chain whose last entry is `head` (undefined: an empty chain). */
function linkEntries(head: AuditEntry | undefined, events: AuditEvent[]): AuditEntry[] {
  let seq = head === undefined ? 0 : head.seq + 1;
  let prevHash = head === undefined ? GENESIS_HASH : head.hash;
  return events.map((event) => {
    const hash = computeEntryHash(seq, prevHash, event);
    const entry: AuditEntry = { seq, prevHash, hash, event };
    seq++;
    prevHash = hash;
    return entry;
  });
}

/** Follows `nextCursor` until the end; fails the test if a list never ends. */
async function collectPages<T>(list: (cursor: string | undefined) => Promise<Page<T>>, maxPages = 100): Promise<T[][]> {
  const pages: T[][] = [];
  let cursor: string | undefined;
  do {
    const page = await list(cursor);
    pages.push(page.items);
    cursor = page.nextCursor;
    if (pages.length > maxPages) throw new Error('pagination did not terminate');
  } while (cursor !== undefined);
  return pages;
}

/** Cursors made from one a store handed out that no store hands out: padded, with junk inside or around it. */
function malformedCursors(cursor: string): string[] {
  const half = Math.floor(cursor.length / 2);
  const inside = (junk: string) => `${cursor.slice(0, half)}${junk}${cursor.slice(half)}`;
  return [
    '',
    'not a cursor',
    `${cursor}=`,
    `${cursor}==`,
    `${cursor}\u0000`,
    ` ${cursor}`,
    `${cursor}\n`,
    inside('\u0000'),
    inside('%'),
    inside('.'),
  ];
}

/**
 * Registers the store conformance suite with vitest: one test per store operation, each on
 * a fresh store, including the atomic operations under real concurrency (approval
 * decisions, execution claims, idempotency reservations and moves, racing audit appends,
 * agent key rotations, and the store's shared `rateLimiter` when it has one). Every
 * store implementation (memory, SQL on PGlite and on Postgres, your own) must pass it. Its
 * tests run one after another even where the project runs a file's tests concurrently
 * (`sequence.concurrent`).
 *
 * @example
 * ```ts
 * // test/my-store.test.ts
 * import { runStoreConformance } from 'agent-tool-gateway/testing';
 * import { myStore } from '../src/my-store.js';
 *
 * runStoreConformance({ name: 'my store', createStore: () => myStore({ url: process.env.DB_URL }) });
 * ```
 */
export function runStoreConformance(options: StoreConformanceOptions): void {
  const name = options.name ?? 'store';
  const cleanup = options.cleanup ?? ((store: Store) => store.close());

  // Sequential whatever the project's `sequence.concurrent`: each test has a store of its own,
  // made by `beforeEach`, that a concurrent test would replace under it.
  describe(`store conformance: ${name}`, { concurrent: false }, () => {
    let store: Store;
    /** The store of the running test, once made: what its `afterEach` cleans up. */
    let made: Store | undefined;
    let secondHandle: Store | undefined;
    /** The handle contender `index` of a race uses: both handles in turn, when there are two. */
    const handle = (index: number): Store => (secondHandle !== undefined && index % 2 === 1 ? secondHandle : store);

    beforeEach(async () => {
      store = await options.createStore();
      made = store;
      // A store may connect and migrate on first use (the SQL store does; embedded PGlite takes
      // seconds to start cold): that happens here, under the hook's minute, not in a test's
      // few seconds, whatever the project's own timeouts are.
      await store.getAgent('conformance-warm-up');
      secondHandle = await options.openSecondHandle?.(store);
      await secondHandle?.getAgent('conformance-warm-up');
    }, 60_000);

    afterEach(async () => {
      // A test whose store could not be made has nothing to clean up (the store before it is
      // gone already): its failure is `createStore`'s alone.
      const current = made;
      made = undefined;
      try {
        await secondHandle?.close();
      } finally {
        secondHandle = undefined;
        if (current !== undefined) await cleanup(current);
      }
    });

    it('agents: create, get, update, missing ids', async () => {
      await store.createAgent(agentRecord('agent-1'));
      expect(await store.getAgent('agent-1')).toEqual(agentRecord('agent-1'));
      expect(await store.getAgent('nobody')).toBeUndefined();

      const updated = await store.updateAgent('agent-1', { status: 'disabled', tags: ['x'], updatedAt: at(5) });
      expect(updated).toEqual(agentRecord('agent-1', { status: 'disabled', tags: ['x'], updatedAt: at(5) }));
      expect(await store.getAgent('agent-1')).toEqual(updated);
      expect(await store.updateAgent('nobody', { status: 'revoked' })).toBeUndefined();
      expect(await store.getAgent('nobody')).toBeUndefined();
    });

    it('agents: revocation is final, also when a re-enable races it (across handles when given)', async () => {
      await store.createAgent(agentRecord('agent-r', { status: 'disabled' }));
      const raced = await Promise.all([
        handle(0).updateAgent('agent-r', { status: 'revoked', updatedAt: at(1) }),
        handle(1).updateAgent('agent-r', { status: 'active', updatedAt: at(1) }),
      ]);
      expect(raced[0]?.status).toBe('revoked');
      expect((await store.getAgent('agent-r'))?.status).toBe('revoked');
      for (const status of ['active', 'disabled'] as const) {
        expect(await handle(1).updateAgent('agent-r', { status, updatedAt: at(2) })).toBeUndefined();
      }
      expect(await store.getAgent('agent-r')).toMatchObject({ status: 'revoked', updatedAt: at(1) });
      // Nor does it take a new key, which could never be used.
      const keyHash = (await store.getAgent('agent-r'))?.keyHash;
      expect(await handle(1).updateAgent('agent-r', { keyHash: 'f'.repeat(64), updatedAt: at(2) })).toBeUndefined();
      expect((await store.getAgent('agent-r'))?.keyHash).toBe(keyHash);
      // Other fields of a revoked agent may still change.
      expect(await store.updateAgent('agent-r', { name: 'renamed', updatedAt: at(3) })).toMatchObject({
        status: 'revoked',
        name: 'renamed',
      });
    });

    it('agents: an update with an expected key applies only while the key is that one (across handles when given)', async () => {
      await store.createAgent(agentRecord('agent-k'));
      const read = (await store.getAgent('agent-k')) as AgentRecord;
      // Racing rotations from the key read: one wins, and its key is the one kept.
      const raced = await Promise.all(
        ['b', 'c', 'd', 'e'].map((letter, index) =>
          handle(index).updateAgent('agent-k', { keyHash: letter.repeat(64), updatedAt: at(1) }, { keyHash: read.keyHash }),
        ),
      );
      const winners = raced.filter((agent) => agent !== undefined);
      expect(winners).toHaveLength(1);
      const winner = winners[0] as AgentRecord;
      expect(await store.getAgent('agent-k')).toEqual(winner);
      expect(winner).toEqual(agentRecord('agent-k', { keyHash: winner.keyHash, updatedAt: at(1) }));
      // A stale expectation writes nothing, whatever the patch; with nothing to write, the
      // answer still says whether the key is the one expected.
      expect(await handle(1).updateAgent('agent-k', { name: 'renamed', updatedAt: at(2) }, { keyHash: read.keyHash })).toBeUndefined();
      expect(await handle(1).updateAgent('agent-k', {}, { keyHash: read.keyHash })).toBeUndefined();
      expect(await handle(1).updateAgent('agent-k', {}, { keyHash: winner.keyHash })).toEqual(winner);
      expect(await store.getAgent('agent-k')).toEqual(winner);
      expect(await store.updateAgent('agent-k', { status: 'disabled', updatedAt: at(3) }, { keyHash: winner.keyHash })).toEqual({
        ...winner,
        status: 'disabled',
        updatedAt: at(3),
      });
      expect(await store.updateAgent('nobody', { keyHash: 'f'.repeat(64) }, { keyHash: read.keyHash })).toBeUndefined();
    });

    it('agents: an update with an expected status and last change applies only while both are those (across handles when given)', async () => {
      await store.createAgent(agentRecord('agent-s'));
      const read = (await store.getAgent('agent-s')) as AgentRecord;
      const expected = { keyHash: read.keyHash, status: read.status, updatedAt: read.updatedAt };
      // Racing status changes from the state read: one wins.
      const raced = await Promise.all(
        (['disabled', 'active', 'disabled'] as const).map((status, index) =>
          handle(index).updateAgent('agent-s', { status, updatedAt: at(index + 1) }, expected),
        ),
      );
      const winners = raced.filter((agent) => agent !== undefined);
      expect(winners).toHaveLength(1);
      const winner = winners[0] as AgentRecord;
      expect(await store.getAgent('agent-s')).toEqual(winner);
      // Another status, or another last change, with the same key: nothing is written.
      expect(await handle(1).updateAgent('agent-s', { name: 'renamed', updatedAt: at(9) }, expected)).toBeUndefined();
      expect(
        await handle(1).updateAgent(
          'agent-s',
          { name: 'renamed' },
          { keyHash: winner.keyHash, status: winner.status, updatedAt: read.updatedAt },
        ),
        'an update expecting the agent as it was before its last change (same key and status)',
      ).toBeUndefined();
      const otherStatus = winner.status === 'active' ? 'disabled' : 'active';
      expect(
        await handle(1).updateAgent(
          'agent-s',
          { name: 'renamed' },
          { keyHash: winner.keyHash, status: otherStatus, updatedAt: winner.updatedAt },
        ),
      ).toBeUndefined();
      expect(await handle(1).updateAgent('agent-s', {}, { ...expected, updatedAt: winner.updatedAt, status: winner.status })).toEqual(
        winner,
      );
      expect(await store.getAgent('agent-s')).toEqual(winner);
    });

    it('agents: list pages with cursor and limit, each agent exactly once', async () => {
      const ids = ['a', 'b', 'c', 'd', 'e'].map((letter) => `agent-${letter}`);
      for (const [index, id] of ids.entries()) await store.createAgent(agentRecord(id, { createdAt: at(index) }));

      const first = await store.listAgents({ limit: 2 });
      expect(first.items).toHaveLength(2);
      expect(first.nextCursor).toEqual(expect.any(String));

      const pages = await collectPages((cursor) => store.listAgents({ limit: 2, cursor }));
      expect(pages.map((page) => page.length)).toEqual([2, 2, 1]);
      const listed = pages.flat().map((agent) => agent.id);
      expect([...listed].sort()).toEqual(ids);

      const all = await store.listAgents();
      expect(all.items.map((agent) => agent.id).sort()).toEqual(ids);
      expect(all.nextCursor).toBeUndefined();
    });

    it('tools: put, replace, get, list, delete', async () => {
      const tool = {
        name: 'crm.lookup',
        definition: { description: 'Find a customer', upstream: { url: 'https://crm.example' } },
        version: 'v1',
        createdAt: at(0),
        updatedAt: at(0),
      };
      await store.putTool(tool);
      await store.putTool({ ...tool, name: 'billing.invoice' });
      expect(await store.getTool('crm.lookup')).toEqual(tool);

      const replaced = { ...tool, definition: { description: 'Find a customer, v2' }, version: 'v2', updatedAt: at(9) };
      await store.putTool(replaced);
      expect(await store.getTool('crm.lookup')).toEqual(replaced);

      const listed = await store.listTools();
      expect(listed.map((item) => item.name).sort()).toEqual(['billing.invoice', 'crm.lookup']);
      expect(listed.find((item) => item.name === 'crm.lookup')).toEqual(replaced);

      expect(await store.deleteTool('crm.lookup')).toBe(true);
      expect(await store.deleteTool('crm.lookup')).toBe(false);
      expect(await store.getTool('crm.lookup')).toBeUndefined();
      expect((await store.listTools()).map((item) => item.name)).toEqual(['billing.invoice']);
    });

    it('tools: replaceTool writes only over the definition it was given, and of racing replacements one wins', async () => {
      const base = {
        name: 'crm.cas',
        definition: { description: 'v1', nul: 'a\u0000b' },
        version: 'v1',
        createdAt: at(0),
        updatedAt: at(0),
      };
      await store.putTool(base);
      const second = { ...base, definition: { description: 'v2' }, version: 'v2', updatedAt: at(1) };
      expect(await store.replaceTool(second, (await store.getTool('crm.cas')) as typeof base)).toBe(true);
      // Over a definition that is no longer stored: refused, nothing written.
      expect(await store.replaceTool({ ...base, definition: { description: 'stale' } }, base)).toBe(false);
      expect(await store.getTool('crm.cas')).toEqual(second);
      expect(await store.replaceTool({ ...base, name: 'crm.none' }, { ...base, name: 'crm.none' })).toBe(false);
      expect(await store.getTool('crm.none')).toBeUndefined();
      // With no expected record: an insert that only the first of racing creates makes.
      const creates = await Promise.all(
        Array.from({ length: 4 }, (_, index) =>
          handle(index).replaceTool({ ...base, name: 'crm.new', definition: { description: `c${index}` } }, null),
        ),
      );
      expect(creates.filter(Boolean)).toHaveLength(1);
      expect((await store.getTool('crm.new'))?.definition).toEqual({ description: `c${creates.indexOf(true)}` });
      expect(await store.replaceTool({ ...base, name: 'crm.cas' }, null)).toBe(false);

      const raced = await Promise.all(
        Array.from({ length: 6 }, (_, index) =>
          handle(index).replaceTool({ ...second, definition: { description: `v3-${index}` }, updatedAt: at(2) }, second),
        ),
      );
      expect(raced.filter(Boolean)).toHaveLength(1);
      const winner = raced.indexOf(true);
      expect((await store.getTool('crm.cas'))?.definition).toEqual({ description: `v3-${winner}` });
    });

    it('tools: deleteTool with an expected record deletes only while it is the stored one (across handles when given)', async () => {
      const base = {
        name: 'crm.cad',
        definition: { description: 'v1', nul: 'a\u0000b' },
        version: 'v1',
        createdAt: at(0),
        updatedAt: at(0),
      };
      await store.putTool(base);
      const second = { ...base, definition: { description: 'v2' }, version: 'v2', updatedAt: at(1) };
      expect(await store.replaceTool(second, base)).toBe(true);
      // Over a definition that is no longer stored: refused, nothing deleted.
      expect(await handle(1).deleteTool('crm.cad', base)).toBe(false);
      expect(await store.getTool('crm.cad')).toEqual(second);
      expect(await handle(1).deleteTool('crm.none', { ...base, name: 'crm.none' })).toBe(false);
      // A delete racing a change of the definition it expects: exactly one takes effect.
      const third = { ...second, definition: { description: 'v3' }, updatedAt: at(2) };
      const [deleted, replaced] = await Promise.all([handle(0).deleteTool('crm.cad', second), handle(1).replaceTool(third, second)]);
      expect(deleted).toBe(!replaced);
      expect(await store.getTool('crm.cad')).toEqual(deleted ? undefined : third);
      if (replaced) expect(await handle(1).deleteTool('crm.cad', third)).toBe(true);
      expect(await store.getTool('crm.cad')).toBeUndefined();
    });

    it('policies: put, replace, get, list, delete', async () => {
      const policy = { id: 'deny-deletes', rule: { effect: 'deny', tools: ['*.delete'] }, createdAt: at(0), updatedAt: at(0) };
      await store.putPolicy(policy);
      await store.putPolicy({ ...policy, id: 'allow-reads', rule: { effect: 'allow' } });
      expect(await store.getPolicy('deny-deletes')).toEqual(policy);

      const replaced = { ...policy, rule: { effect: 'require_approval', tools: ['*.delete'] }, updatedAt: at(3) };
      await store.putPolicy(replaced);
      expect(await store.getPolicy('deny-deletes')).toEqual(replaced);

      const listed = await store.listPolicies();
      expect(listed.map((item) => item.id).sort()).toEqual(['allow-reads', 'deny-deletes']);
      expect(listed.find((item) => item.id === 'deny-deletes')).toEqual(replaced);

      expect(await store.deletePolicy('deny-deletes')).toBe(true);
      expect(await store.deletePolicy('deny-deletes')).toBe(false);
      expect(await store.getPolicy('deny-deletes')).toBeUndefined();
      expect((await store.listPolicies()).map((item) => item.id)).toEqual(['allow-reads']);
    });

    it('policies: replacePolicy writes only over the rule it was given, and of racing replacements one wins', async () => {
      const base = { id: 'cas-rule', rule: { effect: 'deny', tools: ['a'], nul: 'a\u0000b' }, createdAt: at(0), updatedAt: at(0) };
      await store.putPolicy(base);
      const second = { ...base, rule: { effect: 'deny', tools: ['b'] }, updatedAt: at(1) };
      expect(await store.replacePolicy(second, (await store.getPolicy('cas-rule')) as typeof base)).toBe(true);
      // Over a rule that is no longer stored (changed, or deleted): refused, nothing written.
      expect(await store.replacePolicy({ ...base, rule: { effect: 'allow' } }, base)).toBe(false);
      expect(await store.getPolicy('cas-rule')).toEqual(second);
      expect(await store.replacePolicy({ ...base, id: 'cas-none' }, { ...base, id: 'cas-none' })).toBe(false);
      expect(await store.getPolicy('cas-none')).toBeUndefined();
      // With no expected record: an insert that only the first of racing creates makes.
      const creates = await Promise.all(
        Array.from({ length: 4 }, (_, index) =>
          handle(index).replacePolicy({ ...base, id: 'cas-new', rule: { effect: `c${index}` } }, null),
        ),
      );
      expect(creates.filter(Boolean)).toHaveLength(1);
      expect((await store.getPolicy('cas-new'))?.rule).toEqual({ effect: `c${creates.indexOf(true)}` });
      expect(await store.replacePolicy({ ...base, id: 'cas-rule' }, null)).toBe(false);

      const raced = await Promise.all(
        Array.from({ length: 6 }, (_, index) =>
          handle(index).replacePolicy({ ...second, rule: { effect: 'deny', tools: [`v3-${index}`] }, updatedAt: at(2) }, second),
        ),
      );
      expect(raced.filter(Boolean)).toHaveLength(1);
      const winner = raced.indexOf(true);
      expect((await store.getPolicy('cas-rule'))?.rule).toEqual({ effect: 'deny', tools: [`v3-${winner}`] });
      expect(await store.deletePolicy('cas-rule')).toBe(true);
      expect(
        await store.replacePolicy({ ...second, updatedAt: at(3) }, { ...second, rule: { effect: 'deny', tools: [`v3-${winner}`] } }),
      ).toBe(false);
      expect(await store.getPolicy('cas-rule')).toBeUndefined();
    });

    it('policies: deletePolicy with an expected record deletes only while it is the stored one (across handles when given)', async () => {
      const base = { id: 'cad-rule', rule: { effect: 'deny', tools: ['a'], nul: 'a\u0000b' }, createdAt: at(0), updatedAt: at(0) };
      await store.putPolicy(base);
      const second = { ...base, rule: { effect: 'deny', tools: ['b'] }, updatedAt: at(1) };
      expect(await store.replacePolicy(second, base)).toBe(true);
      // Over a rule that is no longer stored: refused, nothing deleted.
      expect(await handle(1).deletePolicy('cad-rule', base)).toBe(false);
      expect(await store.getPolicy('cad-rule')).toEqual(second);
      expect(await handle(1).deletePolicy('cad-none', { ...base, id: 'cad-none' })).toBe(false);
      // A delete racing a change of the rule it expects: exactly one takes effect.
      const third = { ...second, rule: { effect: 'deny', tools: ['c'] }, updatedAt: at(2) };
      const [deleted, replaced] = await Promise.all([handle(0).deletePolicy('cad-rule', second), handle(1).replacePolicy(third, second)]);
      expect(deleted).toBe(!replaced);
      expect(await store.getPolicy('cad-rule')).toEqual(deleted ? undefined : third);
      if (replaced) expect(await handle(1).deletePolicy('cad-rule', third)).toBe(true);
      expect(await store.getPolicy('cad-rule')).toBeUndefined();
    });

    it('invocations: create inserts, a duplicate id rejects and changes nothing', async () => {
      const record = invocationRecord('inv-1', { status: 'running', output: null });
      await store.createInvocation(record);
      expect(await store.getInvocation('inv-1')).toEqual(record);
      expect(await store.getInvocation('inv-404')).toBeUndefined();

      await expect(store.createInvocation({ ...record, status: 'failed' })).rejects.toBeDefined();
      expect(await store.getInvocation('inv-1')).toEqual(record);
    });

    it('invocations: put inserts or replaces by id', async () => {
      const record = invocationRecord('inv-1', { status: 'running' });
      await store.putInvocation(record);
      expect(await store.getInvocation('inv-1')).toEqual(record);

      const finished = { ...record, status: 'succeeded' as const, output: { rows: [1, 2] }, updatedAt: at(2) };
      await store.putInvocation(finished);
      expect(await store.getInvocation('inv-1')).toEqual(finished);
      expect((await store.listInvocations()).items.map((item) => item.id)).toEqual(['inv-1']);
    });

    it('invocations: inputs, outputs and errors of every JSON kind come back as they went in', async () => {
      const outputs: unknown[] = [
        'plain text',
        42.5,
        true,
        null,
        [1, 'two', [3], { four: 4 }],
        { text: 'żółć 🚀 "quoted" \\ back\nslash', empty: {}, list: [], nested: { deeper: { deepest: [null, false] } } },
      ];
      for (const [index, output] of outputs.entries()) {
        const record = invocationRecord(`inv-kind-${index}`, {
          input: { echo: output },
          output,
          error: index === 0 ? { code: 'UPSTREAM_ERROR', message: 'upstream answered 500', details: { upstreamStatus: 500 } } : null,
        });
        await store.putInvocation(record);
        expect(await store.getInvocation(record.id)).toEqual(record);
      }
    });

    it('invocations: a "__proto__" key in JSON data is kept as data', async () => {
      // JSON.parse makes "__proto__" an ordinary own key; a store must neither drop it nor
      // turn it into the copy's prototype.
      const output = JSON.parse('{"__proto__":{"polluted":true},"list":[{"__proto__":{"x":1}}]}') as Record<string, unknown>;
      const record = invocationRecord('inv-proto-key', { input: { echo: output }, output });
      await store.putInvocation(record);
      const stored = (await store.getInvocation(record.id)) as InvocationRecord;
      expect(JSON.stringify(stored.output)).toBe(JSON.stringify(output));
      expect(JSON.stringify(stored.input)).toBe(JSON.stringify(record.input));
      expect(Object.getPrototypeOf(stored.output)).toBe(Object.prototype);
      expect((stored.output as { polluted?: unknown }).polluted).toBeUndefined();
    });

    it('invocations: list newest first, filtered by agent, tool, status and time, paged by cursor', async () => {
      const plan: Array<[string, string, string, InvocationRecord['status']]> = [
        ['inv-0', 'agent-1', 'crm.lookup', 'succeeded'],
        ['inv-1', 'agent-2', 'crm.lookup', 'failed'],
        ['inv-2', 'agent-1', 'billing.invoice', 'succeeded'],
        ['inv-3', 'agent-1', 'crm.lookup', 'denied'],
        ['inv-4', 'agent-2', 'billing.invoice', 'succeeded'],
        ['inv-5', 'agent-1', 'crm.lookup', 'succeeded'],
      ];
      for (const [index, [id, agentId, tool, status]] of plan.entries()) {
        await store.createInvocation(invocationRecord(id, { agentId, tool, status, createdAt: at(index * 10), updatedAt: at(index * 10) }));
      }
      const ids = async (filter: Parameters<Store['listInvocations']>[0]) =>
        (await store.listInvocations(filter)).items.map((item) => item.id);

      expect(await ids({})).toEqual(['inv-5', 'inv-4', 'inv-3', 'inv-2', 'inv-1', 'inv-0']);
      expect(await ids({ agentId: 'agent-1' })).toEqual(['inv-5', 'inv-3', 'inv-2', 'inv-0']);
      expect(await ids({ tool: 'billing.invoice' })).toEqual(['inv-4', 'inv-2']);
      expect(await ids({ status: 'succeeded' })).toEqual(['inv-5', 'inv-4', 'inv-2', 'inv-0']);
      expect(await ids({ agentId: 'agent-1', tool: 'crm.lookup', status: 'succeeded' })).toEqual(['inv-5', 'inv-0']);
      // `from` is inclusive, `to` exclusive.
      expect(await ids({ from: at(10), to: at(40) })).toEqual(['inv-3', 'inv-2', 'inv-1']);
      expect(await ids({ agentId: 'nobody' })).toEqual([]);

      const pages = await collectPages((cursor) => store.listInvocations({ agentId: 'agent-1', limit: 3, cursor }));
      expect(pages.map((page) => page.map((item) => item.id))).toEqual([['inv-5', 'inv-3', 'inv-2'], ['inv-0']]);
      const unfiltered = await collectPages((cursor) => store.listInvocations({ limit: 2, cursor }));
      expect(unfiltered.flat().map((item) => item.id)).toEqual(['inv-5', 'inv-4', 'inv-3', 'inv-2', 'inv-1', 'inv-0']);
    });

    it('approvals: create, get, list newest first with filters and pages', async () => {
      const plan: Array<[string, string, string, ApprovalRecord['status'], string]> = [
        ['apr-0', 'agent-1', 'payments.refund', 'pending', 'e'.repeat(64)],
        ['apr-1', 'agent-2', 'payments.refund', 'approved', 'f'.repeat(64)],
        ['apr-2', 'agent-1', 'users.delete', 'pending', 'e'.repeat(64)],
        ['apr-3', 'agent-1', 'payments.refund', 'denied', 'f'.repeat(64)],
      ];
      for (const [index, [id, agentId, tool, status, inputDigest]] of plan.entries()) {
        await store.createApproval(approvalRecord(id, { agentId, tool, status, inputDigest, requestedAt: at(index * 10) }));
      }
      expect(await store.getApproval('apr-2')).toEqual(
        approvalRecord('apr-2', {
          agentId: 'agent-1',
          tool: 'users.delete',
          status: 'pending',
          inputDigest: 'e'.repeat(64),
          requestedAt: at(20),
        }),
      );
      expect(await store.getApproval('apr-404')).toBeUndefined();

      const ids = async (filter: Parameters<Store['listApprovals']>[0]) => (await store.listApprovals(filter)).items.map((item) => item.id);
      expect(await ids({})).toEqual(['apr-3', 'apr-2', 'apr-1', 'apr-0']);
      expect(await ids({ status: 'pending' })).toEqual(['apr-2', 'apr-0']);
      expect(await ids({ agentId: 'agent-2' })).toEqual(['apr-1']);
      expect(await ids({ tool: 'payments.refund' })).toEqual(['apr-3', 'apr-1', 'apr-0']);
      expect(await ids({ inputDigest: 'e'.repeat(64), tool: 'payments.refund' })).toEqual(['apr-0']);

      const pages = await collectPages((cursor) => store.listApprovals({ limit: 3, cursor }));
      expect(pages.map((page) => page.map((item) => item.id))).toEqual([['apr-3', 'apr-2', 'apr-1'], ['apr-0']]);
    });

    it('transitionApproval: applies the patch only from the expected state', async () => {
      await store.createApproval(approvalRecord('apr-1'));
      const decision = { status: 'approved' as const, decidedAt: at(60), decidedBy: 'admin:alice', reason: 'looks right' };

      expect(await store.transitionApproval('apr-1', 'approved', { status: 'executing' })).toBeUndefined();
      expect((await store.getApproval('apr-1'))?.status).toBe('pending');

      const approved = await store.transitionApproval('apr-1', 'pending', decision);
      expect(approved).toEqual(approvalRecord('apr-1', decision));
      expect(await store.getApproval('apr-1')).toEqual(approved);

      // Decided once: a second decision from `pending` finds the approval in another state.
      expect(await store.transitionApproval('apr-1', 'pending', { status: 'denied', decidedBy: 'admin:bob' })).toBeUndefined();
      expect(await store.getApproval('apr-1')).toEqual(approved);
      expect(await store.transitionApproval('apr-404', 'pending', decision)).toBeUndefined();

      // A rotation re-seals the held input in place, from the state it read, whatever its form.
      for (const heldInput of ['v1.k2.sealed-form', { amount: 7, note: 'plain' }]) {
        const resealed = await store.transitionApproval('apr-1', 'approved', { status: 'approved', heldInput });
        expect(resealed).toEqual({ ...approved, heldInput });
        expect(await store.getApproval('apr-1')).toEqual({ ...approved, heldInput });
      }
      expect(await store.transitionApproval('apr-1', 'pending', { status: 'pending', heldInput: 'lost' })).toBeUndefined();
    });

    it('transitionApproval: a null in the patch clears the field, as reopening a decision that does not stand does', async () => {
      await store.createApproval(approvalRecord('apr-1'));
      const decision = { decidedAt: at(60), decidedBy: 'admin:alice', reason: 'looks right' };
      expect(await store.transitionApproval('apr-1', 'pending', { status: 'executing', ...decision })).toEqual(
        approvalRecord('apr-1', { status: 'executing', ...decision }),
      );
      const reopened = await handle(1).transitionApproval('apr-1', 'executing', {
        status: 'pending',
        decidedAt: null,
        decidedBy: null,
        reason: null,
      });
      expect(reopened, 'the approval reopened: pending, with no decision').toEqual(approvalRecord('apr-1'));
      expect(await store.getApproval('apr-1')).toEqual(approvalRecord('apr-1'));
      // Decided again: fields the patch leaves out keep their values.
      expect(await store.transitionApproval('apr-1', 'pending', { status: 'denied', decidedAt: at(70), decidedBy: 'admin:bob' })).toEqual(
        approvalRecord('apr-1', { status: 'denied', decidedAt: at(70), decidedBy: 'admin:bob' }),
      );
    });

    it('transitionApproval: of 50 concurrent decisions exactly one wins', async () => {
      await store.createApproval(approvalRecord('apr-1'));
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, index) =>
          handle(index).transitionApproval('apr-1', 'pending', {
            status: index % 2 === 0 ? 'approved' : 'denied',
            decidedBy: `admin:${index}`,
            decidedAt: at(100 + index),
          }),
        ),
      );
      const winners = results.filter((result) => result !== undefined);
      expect(winners).toHaveLength(1);
      const winner = winners[0] as ApprovalRecord;
      const stored = await store.getApproval('apr-1');
      expect(stored).toEqual(winner);
      expect(stored?.decidedBy).toBe(`admin:${results.indexOf(winner)}`);
      expect(stored?.status).toBe(results.indexOf(winner) % 2 === 0 ? 'approved' : 'denied');
    });

    it('claim: approved → executing, of 50 concurrent claims exactly one wins', async () => {
      await store.createApproval(approvalRecord('apr-1', { status: 'approved', decidedBy: 'admin:alice', decidedAt: at(1) }));
      await store.createApproval(approvalRecord('apr-2'));

      expect(await store.transitionApproval('apr-2', 'approved', { status: 'executing' })).toBeUndefined();
      expect((await store.getApproval('apr-2'))?.status).toBe('pending');

      const claims = await Promise.all(
        Array.from({ length: 50 }, (_, index) => handle(index).transitionApproval('apr-1', 'approved', { status: 'executing' })),
      );
      expect(claims.filter((claim) => claim !== undefined)).toHaveLength(1);
      expect((await store.getApproval('apr-1'))?.status).toBe('executing');

      const done = await store.transitionApproval('apr-1', 'executing', { status: 'executed' });
      expect(done?.status).toBe('executed');
      expect(await store.transitionApproval('apr-1', 'approved', { status: 'executing' })).toBeUndefined();
    });

    it('reserveIdempotencyKey: first writer wins, per agent', async () => {
      const first: IdempotencyRecord = {
        agentId: 'agent-1',
        key: 'order-42',
        invocationId: 'inv-1',
        fingerprint: 'crm.lookup:abc',
        createdAt: at(0),
      };
      expect(await store.reserveIdempotencyKey(first)).toEqual({ created: true, record: first });

      const second = { ...first, invocationId: 'inv-2', fingerprint: 'crm.lookup:other', createdAt: at(5) };
      expect(await store.reserveIdempotencyKey(second)).toEqual({ created: false, record: first });

      const otherAgent = { ...second, agentId: 'agent-2' };
      expect(await store.reserveIdempotencyKey(otherAgent)).toEqual({ created: true, record: otherAgent });
      const otherKey = { ...second, key: 'order-43' };
      expect(await store.reserveIdempotencyKey(otherKey)).toEqual({ created: true, record: otherKey });
    });

    it('reserveIdempotencyKey: of 50 concurrent reservations exactly one is created', async () => {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, index) =>
          handle(index).reserveIdempotencyKey({
            agentId: 'agent-1',
            key: 'same-key',
            invocationId: `inv-${index}`,
            fingerprint: `fingerprint-${index}`,
            createdAt: at(index),
          }),
        ),
      );
      const created = results.filter((result) => result.created);
      expect(created).toHaveLength(1);
      const winner = (created[0] as { record: IdempotencyRecord }).record;
      for (const result of results) expect(result.record).toEqual(winner);
      const again = await store.reserveIdempotencyKey({ ...winner, invocationId: 'inv-late' });
      expect(again).toEqual({ created: false, record: winner });
    });

    it('releaseIdempotencyKey: removes a reservation only while it names the call', async () => {
      const reservation: IdempotencyRecord = {
        agentId: 'agent-1',
        key: 'refund-7',
        invocationId: 'inv-1',
        fingerprint: 'refund:abc',
        createdAt: at(0),
      };
      await store.reserveIdempotencyKey(reservation);
      const named = { agentId: 'agent-1', key: 'refund-7' };
      expect(await store.releaseIdempotencyKey({ ...named, invocationId: 'inv-other' })).toBe(false);
      expect(await store.releaseIdempotencyKey({ ...named, agentId: 'agent-2', invocationId: 'inv-1' })).toBe(false);
      expect(await store.reserveIdempotencyKey({ ...reservation, invocationId: 'inv-2' })).toEqual({ created: false, record: reservation });

      expect(await store.releaseIdempotencyKey({ ...named, invocationId: 'inv-1' })).toBe(true);
      expect(await store.releaseIdempotencyKey({ ...named, invocationId: 'inv-1' })).toBe(false);
      const next = { ...reservation, invocationId: 'inv-2', createdAt: at(5) };
      expect(await store.reserveIdempotencyKey(next)).toEqual({ created: true, record: next });
      // The old call's release comes too late: the key is the new call's now.
      expect(await store.releaseIdempotencyKey({ ...named, invocationId: 'inv-1' })).toBe(false);
      expect(await store.reserveIdempotencyKey({ ...reservation, invocationId: 'inv-3' })).toEqual({ created: false, record: next });
    });

    it('moveIdempotencyKey (or, in a store without it, release and reserve): moves a key to another call only while it names the first', async () => {
      const reservation: IdempotencyRecord = {
        agentId: 'agent-1',
        key: 'refund-8',
        invocationId: 'inv-1',
        fingerprint: 'refund:def',
        createdAt: at(0),
      };
      // What the gateway does with a store that lacks the atomic move.
      const move = async (from: Pick<IdempotencyRecord, 'agentId' | 'key' | 'invocationId'>, to: string): Promise<boolean> =>
        store.moveIdempotencyKey !== undefined
          ? store.moveIdempotencyKey(from, to)
          : (await store.releaseIdempotencyKey(from)) && (await store.reserveIdempotencyKey({ ...reservation, invocationId: to })).created;
      await store.reserveIdempotencyKey(reservation);
      const named = { agentId: 'agent-1', key: 'refund-8' };
      expect(await move({ ...named, invocationId: 'inv-other' }, 'inv-2')).toBe(false);
      expect(await move({ ...named, agentId: 'agent-2', invocationId: 'inv-1' }, 'inv-2')).toBe(false);
      expect(await move({ ...named, invocationId: 'inv-1' }, 'inv-2')).toBe(true);
      const moved = { ...reservation, invocationId: 'inv-2' };
      expect(await store.reserveIdempotencyKey({ ...reservation, invocationId: 'inv-3' })).toEqual({ created: false, record: moved });
      // The first call can neither move nor release the key again.
      expect(await move({ ...named, invocationId: 'inv-1' }, 'inv-4')).toBe(false);
      expect(await store.releaseIdempotencyKey({ ...named, invocationId: 'inv-1' })).toBe(false);
      expect(await store.releaseIdempotencyKey({ ...named, invocationId: 'inv-2' })).toBe(true);
    });

    it('moveIdempotencyKey (a store that has it): of racing moves and a release of one reservation exactly one takes effect (across handles when given)', async (context) => {
      if (store.moveIdempotencyKey === undefined) context.skip('the store has no moveIdempotencyKey');
      // Twice: the release first, then last, of the contenders. Each of the others moves the key
      // from inv-0 to a call of its own.
      for (const releaseAt of [0, 20]) {
        const key = `refund-race-${releaseAt}`;
        const reservation: IdempotencyRecord = { agentId: 'agent-1', key, invocationId: 'inv-0', fingerprint: 'f', createdAt: at(0) };
        await store.reserveIdempotencyKey(reservation);
        const from = { agentId: 'agent-1', key, invocationId: 'inv-0' };
        const results = await Promise.all(
          Array.from({ length: 21 }, (_, index) => {
            const contender = handle(index);
            return index === releaseAt || contender.moveIdempotencyKey === undefined
              ? contender.releaseIdempotencyKey(from)
              : contender.moveIdempotencyKey(from, `inv-${index + 1}`);
          }),
        );
        expect(
          results.filter(Boolean),
          `racing moves and a release (contender ${releaseAt}) from the same call: how many took effect (each must check and write in one step)`,
        ).toHaveLength(1);
        const winner = results.indexOf(true);
        const probe = { ...reservation, invocationId: 'inv-probe', createdAt: at(9) };
        expect(await store.reserveIdempotencyKey(probe)).toEqual(
          winner === releaseAt
            ? { created: true, record: probe }
            : { created: false, record: { ...reservation, invocationId: `inv-${winner + 1}` } },
        );
      }
    });

    it('releaseIdempotencyKey: releases racing reservations never fail a reservation, and free only what was held', async () => {
      const reservation = (index: number): IdempotencyRecord => ({
        agentId: 'agent-1',
        key: 'contended',
        invocationId: `inv-${index}`,
        fingerprint: 'f',
        createdAt: at(index),
      });
      await store.reserveIdempotencyKey(reservation(0));
      // Each call releases the reservation it would hold while the next one reserves.
      const rounds = await Promise.all(
        Array.from({ length: 20 }, async (_, index) => {
          const [released, reserved] = await Promise.all([
            handle(index).releaseIdempotencyKey({ agentId: 'agent-1', key: 'contended', invocationId: `inv-${index}` }),
            handle(index + 1).reserveIdempotencyKey(reservation(index + 1)),
          ]);
          return { released, reserved };
        }),
      );
      const held = new Set(['inv-0']);
      for (const { reserved } of rounds) {
        if (reserved.created) held.add(reserved.record.invocationId);
        expect(reserved.record.agentId).toBe('agent-1');
      }
      // A reservation that was not created names a call that held the key.
      for (const { reserved } of rounds) expect(held.has(reserved.record.invocationId)).toBe(true);
      // A release succeeds only for a call that held the key.
      rounds.forEach(({ released }, index) => {
        if (released) expect(held.has(`inv-${index}`)).toBe(true);
      });
      // Whatever happened, the key is held by exactly one call now, or free.
      const probe = await store.reserveIdempotencyKey({ ...reservation(99), invocationId: 'inv-probe' });
      if (!probe.created) expect(held.has(probe.record.invocationId)).toBe(true);
    });

    it('rateLimiter (a store that has one): budgets shared by every handle, exactly the limit of racing calls, all or nothing', async (context) => {
      if (store.rateLimiter === undefined) context.skip('the store has no rateLimiter');
      const limiter = (index: number) => handle(index).rateLimiter ?? (store.rateLimiter as NonNullable<Store['rateLimiter']>);
      const budget = (key: string, limit: number) => ({ key, limit, windowMs: 60_000, ruleId: 'conformance' });
      const now = baseTime;

      // Racing calls from every handle: exactly the limit get through; the others are told to
      // wait, at most a window.
      const racing = await Promise.all(Array.from({ length: 12 }, (_, index) => limiter(index).take([budget('race', 5)], now)));
      expect(
        racing.filter((wait) => wait === 0),
        'racing calls on a budget of 5 that were let through (a take must check and count in one step)',
      ).toHaveLength(5);
      for (const wait of racing.filter((wait) => wait !== 0)) {
        expect(wait).toBeGreaterThan(0);
        expect(wait).toBeLessThanOrEqual(60_000);
      }
      // Another key is another budget.
      expect(await limiter(1).take([budget('other', 1)], now)).toBe(0);

      // A call refused by one of its budgets is counted in none.
      expect(await limiter(1).take([budget('wide', 2), budget('race', 5)], now)).toBeGreaterThan(0);
      expect(await limiter(0).take([budget('race', 5), budget('wide', 2)], now)).toBeGreaterThan(0);
      expect(await limiter(0).take([budget('wide', 2)], now), 'a budget charged for a call that was refused').toBe(0);
      expect(await limiter(1).take([budget('wide', 2)], now), 'a budget charged for a call that was refused').toBe(0);
      expect(await limiter(0).take([budget('wide', 2)], now)).toBeGreaterThan(0);

      // The wait it answers is enough: then the budget takes the call.
      const wait = await limiter(0).take([budget('race', 5)], now + 1000);
      expect(wait).toBeGreaterThan(0);
      expect(await limiter(1).take([budget('race', 5)], now + 1000 + wait)).toBe(0);
    });

    it('appendAudit: an empty chain starts at seq 0 with the genesis prevHash', async () => {
      expect(await store.getAuditHead()).toBeUndefined();
      const [first] = linkEntries(undefined, [auditEvent(0)]);
      const entry = first as AuditEntry;

      expect(await store.appendAudit([{ ...entry, seq: 1 }])).toBe(false);
      expect(await store.appendAudit([{ ...entry, prevHash: 'f'.repeat(64) }])).toBe(false);
      expect(await store.getAuditHead()).toBeUndefined();
      expect((await store.listAudit()).items).toEqual([]);

      expect(await store.appendAudit([entry])).toBe(true);
      expect(await store.getAuditHead()).toEqual(entry);
      expect((await store.listAudit()).items).toEqual([entry]);
    });

    it('appendAudit: a wrong seq or prevHash stores nothing', async () => {
      const chain = linkEntries(undefined, [auditEvent(0), auditEvent(1)]);
      expect(await store.appendAudit(chain)).toBe(true);
      const head = chain[1] as AuditEntry;

      const [next] = linkEntries(head, [auditEvent(2)]);
      const valid = next as AuditEntry;
      expect(await store.appendAudit([{ ...valid, seq: 3 }])).toBe(false);
      expect(await store.appendAudit([{ ...valid, seq: 1 }])).toBe(false);
      expect(await store.appendAudit([{ ...valid, prevHash: (chain[0] as AuditEntry).hash }])).toBe(false);
      expect(await store.getAuditHead()).toEqual(head);
      expect((await store.listAudit()).items).toEqual(chain);

      expect(await store.appendAudit([valid])).toBe(true);
      expect(await store.getAuditHead()).toEqual(valid);
    });

    it('appendAudit: a batch is stored all or nothing', async () => {
      const [genesis] = linkEntries(undefined, [auditEvent(0)]);
      await store.appendAudit([genesis as AuditEntry]);

      const stale = linkEntries(undefined, [auditEvent(10), auditEvent(11), auditEvent(12)]);
      expect(await store.appendAudit(stale)).toBe(false);
      expect((await store.listAudit()).items).toEqual([genesis]);

      const batch = linkEntries(genesis, [auditEvent(1), auditEvent(2), auditEvent(3)]);
      expect(await store.appendAudit(batch)).toBe(true);
      expect((await store.listAudit()).items).toEqual([genesis, ...batch]);
      expect(await store.getAuditHead()).toEqual(batch[2]);
    });

    it('appendAudit: of 100 concurrent appends built on the same head exactly one wins', async () => {
      const base = linkEntries(undefined, [auditEvent(0), auditEvent(1)]);
      await store.appendAudit(base);
      const head = base[1] as AuditEntry;
      const contenders = Array.from({ length: 100 }, (_, index) => linkEntries(head, [auditEvent(100 + index), auditEvent(200 + index)]));
      const results = await Promise.all(contenders.map((entries, index) => handle(index).appendAudit(entries)));
      expect(results.filter(Boolean)).toHaveLength(1);

      const winner = contenders[results.indexOf(true)] as AuditEntry[];
      const stored = (await store.listAudit({ limit: 1000 })).items;
      expect(stored).toEqual([...base, ...winner]);
      expect(await store.getAuditHead()).toEqual(winner[1]);
      expect(await handle(1).getAuditHead()).toEqual(winner[1]);
    });

    it('listAudit: ascending, filtered by seq, type, agent, tool and time, paged by cursor', async () => {
      const events = Array.from({ length: 10 }, (_, index) =>
        auditEvent(index * 10, {
          type: index % 3 === 0 ? 'approval.decided' : 'invocation.succeeded',
          agentId: index % 2 === 0 ? 'agent-1' : 'agent-2',
          tool: index < 5 ? 'crm.lookup' : 'billing.invoice',
        }),
      );
      const chain = linkEntries(undefined, events);
      expect(await store.appendAudit(chain)).toBe(true);
      const seqs = async (filter: Parameters<Store['listAudit']>[0]) => (await store.listAudit(filter)).items.map((entry) => entry.seq);

      expect(await seqs({})).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(await seqs({ fromSeq: 3, toSeq: 6 })).toEqual([3, 4, 5, 6]);
      expect(await seqs({ type: 'approval.decided' })).toEqual([0, 3, 6, 9]);
      expect(await seqs({ agentId: 'agent-2' })).toEqual([1, 3, 5, 7, 9]);
      expect(await seqs({ tool: 'billing.invoice', agentId: 'agent-1' })).toEqual([6, 8]);
      // `from` is inclusive, `to` exclusive, on the event's `at`.
      expect(await seqs({ from: at(20), to: at(50) })).toEqual([2, 3, 4]);
      expect((await store.listAudit({ fromSeq: 4, toSeq: 4 })).items).toEqual([chain[4]]);

      const pages = await collectPages((cursor) => store.listAudit({ limit: 3, cursor }));
      expect(pages.map((page) => page.map((entry) => entry.seq))).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]);
      const filteredPages = await collectPages((cursor) => store.listAudit({ agentId: 'agent-1', fromSeq: 1, limit: 2, cursor }));
      expect(filteredPages.flat().map((entry) => entry.seq)).toEqual([2, 4, 6, 8]);
    });

    it('listAudit: a type filter matches the type and its sub-types, not other types sharing a prefix', async () => {
      const types = ['approval', 'approval.decided', 'approvals.listed', 'approvalx', 'approval.requested.again', 'invocation.started'];
      const chain = linkEntries(
        undefined,
        types.map((type, index) => auditEvent(index, { type })),
      );
      expect(await store.appendAudit(chain)).toBe(true);
      const seqs = async (type: string) => (await store.listAudit({ type })).items.map((entry) => entry.seq);

      expect(await seqs('approval')).toEqual([0, 1, 4]);
      expect(await seqs('approval.decided')).toEqual([1]);
      expect(await seqs('approval.requested')).toEqual([4]);
      expect(await seqs('approvals')).toEqual([2]);
      expect(await seqs('invocation')).toEqual([5]);
      expect(await seqs('approv')).toEqual([]);
    });

    it('listAudit: an intact chain names no index mismatch, filtered or not, whatever its strings, and verifies', async () => {
      const { agentId: _agentId, tool: _tool, ...bare } = auditEvent(1);
      const events: AuditEvent[] = [
        auditEvent(0),
        // No agent, no tool.
        bare,
        // Strings some stores cannot keep as they are (a leading quote, U+0000, a lone surrogate).
        auditEvent(2, { type: '"quoted.type', agentId: 'nul\u0000agent', tool: 'lone\ud800tool' }),
        auditEvent(3, { agentId: '"agent', at: `"${at(3)}` }),
        auditEvent(4, { type: 'approval.decided', agentId: 'agent-2', tool: 'billing.invoice' }),
      ];
      const chain = linkEntries(undefined, events);
      expect(await store.appendAudit(chain)).toBe(true);
      const filters: Array<Parameters<Store['listAudit']>[0]> = [
        {},
        { fromSeq: 1, toSeq: 3 },
        { type: 'approval' },
        { type: '"quoted.type' },
        { agentId: 'nul\u0000agent' },
        { agentId: '"agent' },
        { tool: 'lone\ud800tool' },
        { from: at(0), to: at(5) },
      ];
      for (const filter of filters) {
        const page = await store.listAudit(filter);
        expect(page.indexMismatches, JSON.stringify(filter)).toBeUndefined();
      }
      expect((await store.listAudit()).items).toEqual(chain);
      expect((await store.listAudit({ agentId: '"agent' })).items).toEqual([chain[3]]);
      expect(await verifyAuditChain({ store })).toEqual({ ok: true, through: 4 });
    });

    const tamperAuditIndex = options.tamperAuditIndex;
    const forgeries: Array<{ field: AuditIndexField; value: string; filter: Parameters<Store['listAudit']>[0] }> = [
      { field: 'agentId', value: 'agent-9', filter: { agentId: 'agent-9' } },
      { field: 'tool', value: 'billing.invoice', filter: { tool: 'billing.invoice' } },
      { field: 'type', value: 'admin.forged', filter: { type: 'admin' } },
      { field: 'at', value: at(500), filter: { from: at(400) } },
    ];
    for (const { field, value, filter } of forgeries) {
      it.skipIf(tamperAuditIndex === undefined)(
        `listAudit and verifyAuditChain: an entry whose index copy of ${field} was changed is named, not shown under that filter, and breaks verification`,
        async () => {
          const chain = linkEntries(
            undefined,
            Array.from({ length: 6 }, (_, index) => auditEvent(index)),
          );
          expect(await store.appendAudit(chain)).toBe(true);
          await tamperAuditIndex?.(store, 3, field, value);
          const named = [{ seq: 3, columns: [expect.any(String)] }];

          // The entries are as their events say; the one whose copy disagrees is named.
          const all = await store.listAudit();
          expect(all.items).toEqual(chain);
          expect(all.indexMismatches).toEqual(named);
          // The forged copy selects it for a filter its event does not match: left out, and named.
          const forged = await store.listAudit(filter);
          expect(forged.items).toEqual([]);
          expect(forged.indexMismatches).toEqual(named);
          // Verification reads every entry: it reports the entry, and verifies what comes before.
          expect(await verifyAuditChain({ store })).toEqual({
            ok: false,
            through: 2,
            brokenAt: 3,
            reason: 'index_mismatch',
            columns: [expect.any(String)],
          });
          expect(await verifyAuditChain({ store, to: 2 })).toEqual({ ok: true, through: 2 });
        },
      );
    }

    it('lists: records that share a timestamp are each listed once, page by page', async () => {
      // Calls, approvals and agents made in the same millisecond are common: a cursor must
      // tell them apart (a cursor of the timestamp alone skips or repeats them).
      const ids = (prefix: string) => ['a', 'b', 'c', 'd', 'e'].map((letter) => `${prefix}-${letter}`);
      for (const id of ids('agent')) await store.createAgent(agentRecord(id, { createdAt: at(7), updatedAt: at(7) }));
      for (const id of ids('inv')) await store.createInvocation(invocationRecord(id, { createdAt: at(7), updatedAt: at(7) }));
      for (const id of ids('apr')) await store.createApproval(approvalRecord(id, { requestedAt: at(7) }));
      const listed = async (list: (cursor: string | undefined) => Promise<Page<{ id: string }>>) =>
        (await collectPages(list)).flat().map((record) => record.id);

      const agents = await listed((cursor) => store.listAgents({ limit: 2, cursor }));
      expect(agents.sort(), 'agents created at the same instant, listed 2 a page').toEqual(ids('agent'));
      const invocations = await listed((cursor) => store.listInvocations({ limit: 2, cursor }));
      expect(invocations.sort(), 'invocations created at the same instant, listed 2 a page').toEqual(ids('inv'));
      const approvals = await listed((cursor) => store.listApprovals({ limit: 2, cursor }));
      expect(approvals.sort(), 'approvals requested at the same instant, listed 2 a page').toEqual(ids('apr'));
    });

    it('lists: a cursor the store did not hand out (padded, with junk in or around it, empty) is a BAD_REQUEST', async () => {
      for (const id of ['agent-a', 'agent-b']) await store.createAgent(agentRecord(id));
      for (const id of ['inv-a', 'inv-b']) await store.createInvocation(invocationRecord(id));
      for (const id of ['apr-a', 'apr-b']) await store.createApproval(approvalRecord(id));
      expect(await store.appendAudit(linkEntries(undefined, [auditEvent(0), auditEvent(1)]))).toBe(true);
      const lists: Array<[string, (cursor: string | undefined) => Promise<Page<unknown>>]> = [
        ['listAgents', (cursor) => store.listAgents({ limit: 1, cursor })],
        ['listInvocations', (cursor) => store.listInvocations({ limit: 1, cursor })],
        ['listApprovals', (cursor) => store.listApprovals({ limit: 1, cursor })],
        ['listAudit', (cursor) => store.listAudit({ limit: 1, cursor })],
      ];
      for (const [list, page] of lists) {
        const cursor = (await page(undefined)).nextCursor;
        expect(cursor, list).toEqual(expect.any(String));
        expect((await page(cursor)).items, list).toHaveLength(1);
        for (const malformed of malformedCursors(cursor as string)) {
          await expect(page(malformed), `${list} with cursor ${JSON.stringify(malformed)}`).rejects.toMatchObject({
            code: 'BAD_REQUEST',
          });
        }
      }
    });

    it('checkpoints: append and list by seq range', async () => {
      const checkpoint = (seq: number): AuditCheckpoint => ({
        seq,
        hash: String(seq % 10).repeat(64),
        at: at(seq),
        signature: `header.payload-${seq}.signature`,
        keyId: 'key-1',
      });
      expect(await store.listCheckpoints()).toEqual([]);
      for (const seq of [9, 19, 29, 39]) await store.appendCheckpoint(checkpoint(seq));

      const bySeq = (list: AuditCheckpoint[]) => [...list].sort((left, right) => left.seq - right.seq);
      expect(bySeq(await store.listCheckpoints())).toEqual([9, 19, 29, 39].map(checkpoint));
      expect(bySeq(await store.listCheckpoints({ fromSeq: 19, toSeq: 29 }))).toEqual([checkpoint(19), checkpoint(29)]);
      expect(bySeq(await store.listCheckpoints({ fromSeq: 20 }))).toEqual([checkpoint(29), checkpoint(39)]);
      expect(bySeq(await store.listCheckpoints({ toSeq: 9 }))).toEqual([checkpoint(9)]);
    });

    it('records are copies: changing an argument or a result does not change the store', async () => {
      const agent = agentRecord('agent-1');
      await store.createAgent(agent);
      agent.tags.push('mutated-argument');
      agent.name = 'mutated';
      const gotAgent = (await store.getAgent('agent-1')) as AgentRecord;
      gotAgent.tags.push('mutated-result');
      (await store.listAgents()).items[0]?.tags.push('mutated-list');
      expect(await store.getAgent('agent-1')).toEqual(agentRecord('agent-1'));

      const tool = { name: 't', definition: { nested: { value: 1 } }, version: 'v1', createdAt: at(0), updatedAt: at(0) };
      await store.putTool(tool);
      (tool.definition.nested as { value: number }).value = 2;
      const gotTool = await store.getTool('t');
      (gotTool?.definition.nested as { value: number }).value = 3;
      ((await store.listTools())[0]?.definition.nested as { value: number }).value = 4;
      expect((await store.getTool('t'))?.definition).toEqual({ nested: { value: 1 } });

      const invocation = invocationRecord('inv-1');
      await store.createInvocation(invocation);
      (invocation.input as { customer: { id: string } }).customer.id = 'mutated';
      const gotInvocation = (await store.getInvocation('inv-1')) as InvocationRecord;
      (gotInvocation.input as { customer: { id: string } }).customer.id = 'mutated';
      gotInvocation.ruleIds.push('mutated');
      const listedInvocation = (await store.listInvocations()).items[0] as InvocationRecord;
      (listedInvocation.output as { ok: boolean }).ok = false;
      expect(await store.getInvocation('inv-1')).toEqual(invocationRecord('inv-1'));

      const failed = (details = { tries: [1] }) =>
        invocationRecord('inv-2', { status: 'failed', output: null, error: { code: 'UPSTREAM_ERROR', message: 'm', details } });
      const argumentDetails = { tries: [1] };
      const failedArgument = failed(argumentDetails);
      await store.putInvocation(failedArgument);
      argumentDetails.tries.push(2);
      failedArgument.ruleIds.push('mutated-argument');
      const gotFailed = (await store.getInvocation('inv-2')) as InvocationRecord;
      (gotFailed.error as { code: string }).code = 'mutated';
      expect(await store.getInvocation('inv-2')).toEqual(failed());

      await store.createApproval(approvalRecord('apr-1'));
      const gotApproval = (await store.getApproval('apr-1')) as ApprovalRecord;
      gotApproval.ruleIds.push('mutated');
      (gotApproval.heldInput as { amount: number }).amount = 1_000_000;
      const transitioned = (await store.transitionApproval('apr-1', 'pending', { status: 'approved' })) as ApprovalRecord;
      (transitioned.heldInput as { amount: number }).amount = 2_000_000;
      expect(await store.getApproval('apr-1')).toEqual(approvalRecord('apr-1', { status: 'approved' }));

      const chain = linkEntries(undefined, [auditEvent(0)]);
      const expected = structuredClone(chain);
      await store.appendAudit(chain);
      ((chain[0] as AuditEntry).event.data as { index: number }).index = 99;
      const head = (await store.getAuditHead()) as AuditEntry;
      (head.event.data as { index: number }).index = 98;
      const listedEntry = (await store.listAudit()).items[0] as AuditEntry;
      listedEntry.event.type = 'mutated';
      expect((await store.listAudit()).items).toEqual(expected);

      const checkpoint: AuditCheckpoint = { seq: 0, hash: (expected[0] as AuditEntry).hash, at: at(0), signature: 's', keyId: 'k' };
      await store.appendCheckpoint({ ...checkpoint });
      const listedCheckpoint = (await store.listCheckpoints())[0] as AuditCheckpoint;
      listedCheckpoint.hash = 'mutated';
      expect(await store.listCheckpoints()).toEqual([checkpoint]);
    });
  });
}
