import { GatewayError } from '../errors.js';
import type { AuditCheckpoint, AuditEntry, AuditPage, Store } from '../store/types.js';
import { GENESIS_HASH, entryHashMatches } from './hash.js';
import { type AuditVerificationKey, type PreparedVerificationKey, checkpointSignatureValid, prepareVerificationKeys } from './keys.js';
import type { AuditBreakReason, AuditVerification } from './types.js';

/** Options of {@link verifyAuditEntries}. */
export interface VerifyAuditEntriesOptions {
  /** Signed checkpoints to check against the entries (any order). */
  checkpoints?: Iterable<AuditCheckpoint>;
  /**
   * The public key(s) that signed the checkpoints. Without one, checkpoints are only
   * compared with the chain (`checkpoint_mismatch`), their signatures are not checked.
   */
  publicKey?: AuditVerificationKey | AuditVerificationKey[];
  /**
   * The sequence number the entries must start at. Without it, verification starts at the
   * first entry given (a trimmed chain), using that entry's `prevHash` as the anchor.
   */
  fromSeq?: number;
  /** The `prevHash` the first entry must carry. Always {@link GENESIS_HASH} for seq 0. */
  anchorHash?: string;
  /** Entries must reach at least this sequence number (else `missing`). */
  throughSeq?: number;
  /**
   * The hash the entry at `throughSeq` must carry, as the store recorded it when that entry
   * was the head (else `edited`: the last entry was replaced).
   */
  throughHash?: string;
}

/** How far ahead a gap looks for the missing entry before calling it missing rather than reordered. */
const reorderWindow = 1024;

type AnyIterable<T> = Iterable<T> | AsyncIterable<T>;

function iteratorOf<T>(items: AnyIterable<T>): AsyncIterator<T> | Iterator<T> {
  return Symbol.asyncIterator in items ? (items as AsyncIterable<T>)[Symbol.asyncIterator]() : (items as Iterable<T>)[Symbol.iterator]();
}

/** Reads entries one by one with a bounded look-ahead, so verification runs in constant memory. */
class EntryReader {
  private readonly iterator: AsyncIterator<AuditEntry> | Iterator<AuditEntry>;
  private readonly lookahead: AuditEntry[] = [];

  constructor(entries: AnyIterable<AuditEntry>) {
    this.iterator = iteratorOf(entries);
  }

  async next(): Promise<AuditEntry | undefined> {
    if (this.lookahead.length > 0) return this.lookahead.shift();
    const result = await this.iterator.next();
    return result.done ? undefined : result.value;
  }

  /** True when an entry with `seq` comes within the next {@link reorderWindow} entries. */
  async comesSoon(seq: number): Promise<boolean> {
    if (this.lookahead.some((entry) => entry.seq === seq)) return true;
    while (this.lookahead.length < reorderWindow) {
      const result = await this.iterator.next();
      if (result.done) return false;
      this.lookahead.push(result.value);
      if (result.value.seq === seq) return true;
    }
    return false;
  }
}

/**
 * The answer about a range none of whose entries a store with retention still keeps, read
 * without `from`: verified from the first entry kept, it holds nothing to verify, as an empty
 * chain does.
 */
const nothingKept: AuditVerification = Object.freeze({ ok: true, through: -1 });

function broken(
  through: number,
  brokenAt: number,
  reason: AuditBreakReason,
  signedThrough: number | undefined,
  columns?: string[],
): AuditVerification {
  return {
    ok: false,
    through,
    brokenAt,
    reason,
    ...(columns === undefined ? {} : { columns }),
    ...(signedThrough === undefined ? {} : { signedThrough }),
  };
}

function isWellFormed(entry: unknown): entry is AuditEntry {
  const candidate = entry as Partial<AuditEntry> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    Number.isSafeInteger(candidate.seq) &&
    typeof candidate.prevHash === 'string' &&
    typeof candidate.hash === 'string' &&
    typeof candidate.event === 'object' &&
    candidate.event !== null
  );
}

/**
 * Verifies a sequence of chain entries (an array, a generator, lines parsed from an export
 * file): recomputes each hash, checks sequence continuity and `prevHash` links, and checks
 * every checkpoint in range (its signature with `publicKey`, and that its hash is the
 * chain's hash at its seq). Entries are read one at a time, so any length fits in memory.
 * With `publicKey`, the result's `signedThrough` says how far valid checkpoints vouch.
 *
 * @example
 * ```ts
 * import { verifyAuditEntries } from 'agent-tool-gateway';
 *
 * const result = await verifyAuditEntries(entries, { checkpoints, publicKey: publicJwk });
 * if (!result.ok) console.error(`chain broken at ${result.brokenAt}: ${result.reason}`);
 * else if (result.signedThrough === undefined) console.warn('no signed checkpoint vouches for these entries');
 * ```
 */
export async function verifyAuditEntries(
  entries: AnyIterable<AuditEntry>,
  options: VerifyAuditEntriesOptions = {},
): Promise<AuditVerification> {
  return verifyEntries(entries, options, { droppedByRetention: () => undefined, indexMismatchAt: () => undefined });
}

/** What the store read from says about the entries, beyond the entries themselves. */
interface StoreFindings {
  /**
   * Whether the gap from `expectedSeq` to `seq` holds entries the store's retention dropped
   * while they were being read, and if so the first seq the store still keeps (see
   * {@link verifyEntries}).
   */
  droppedByRetention(expectedSeq: number, seq: number | undefined): number | undefined;
  /** The store's index columns of the entry at `seq` that disagree with its event (`AuditPage.indexMismatches`). */
  indexMismatchAt(seq: number): string[] | undefined;
}

/**
 * {@link verifyAuditEntries}, told by the store's `findings`. `indexMismatchAt(seq)` names the
 * store's index columns of an entry that disagree with its event: the entry, intact otherwise,
 * is broken as `index_mismatch`. `droppedByRetention(expectedSeq, seq)` says whether the gap
 * from `expectedSeq` to `seq` holds entries the store's retention dropped while they were
 * being read, and if so the first seq the store still keeps. Such a gap is no damage:
 * verification starts over there, as on a chain trimmed up to there, anchored on the
 * `prevHash` of the entry it finds (the hook throws instead where a restart is not wanted).
 * After the last entry it is asked with `seq` undefined whether retention dropped the rest of
 * the range: starting over past it, there is nothing left to verify, as on a range the store
 * keeps none of (`{ ok: true, through: -1 }`).
 */
async function verifyEntries(
  entries: AnyIterable<AuditEntry>,
  options: VerifyAuditEntriesOptions,
  findings: StoreFindings,
): Promise<AuditVerification> {
  const { droppedByRetention } = findings;
  const keys: PreparedVerificationKey[] | undefined =
    options.publicKey === undefined ? undefined : await prepareVerificationKeys(options.publicKey);
  const checkpoints = [...(options.checkpoints ?? [])].sort((left, right) => left.seq - right.seq);
  let checkpointIndex = 0;
  const reader = new EntryReader(entries);

  let through = options.fromSeq === undefined ? -1 : options.fromSeq - 1;
  let expectedSeq = options.fromSeq;
  let previousHash = options.anchorHash;
  // The last seq a checkpoint checked with a key vouched for.
  let signedThrough: number | undefined;
  const fail = (brokenAt: number, reason: AuditBreakReason) => broken(through, brokenAt, reason, signedThrough);

  for (let entry = await reader.next(); entry !== undefined; entry = await reader.next()) {
    if (!isWellFormed(entry)) return fail(expectedSeq ?? through + 1, 'edited');
    if (expectedSeq === undefined) {
      // A trimmed chain: start at the first entry given; older checkpoints cannot be checked.
      expectedSeq = entry.seq;
      through = entry.seq - 1;
    }
    const keptFrom = entry.seq > expectedSeq ? droppedByRetention(expectedSeq, entry.seq) : undefined;
    if (keptFrom !== undefined) {
      // What was verified before is gone from the store; what it keeps is verified from its start.
      expectedSeq = keptFrom;
      through = keptFrom - 1;
      previousHash = undefined;
      signedThrough = undefined;
    }
    if (entry.seq !== expectedSeq) {
      const reason = entry.seq < expectedSeq || (await reader.comesSoon(expectedSeq)) ? 'reordered' : 'missing';
      return fail(expectedSeq, reason);
    }
    if (!entryHashMatches(entry)) return fail(entry.seq, 'edited');
    const expectedPrevious = entry.seq === 0 ? GENESIS_HASH : previousHash;
    if (expectedPrevious !== undefined && entry.prevHash !== expectedPrevious) {
      return fail(entry.seq, 'bad_link');
    }
    // Checkpoints before this entry precede the verified range (a trimmed chain, or `fromSeq`).
    while (checkpointIndex < checkpoints.length && (checkpoints[checkpointIndex] as AuditCheckpoint).seq < entry.seq) {
      checkpointIndex++;
    }
    let signedHere = false;
    while (checkpointIndex < checkpoints.length && (checkpoints[checkpointIndex] as AuditCheckpoint).seq === entry.seq) {
      const checkpoint = checkpoints[checkpointIndex] as AuditCheckpoint;
      checkpointIndex++;
      if (keys !== undefined && !(await checkpointSignatureValid(checkpoint, keys))) {
        return fail(entry.seq, 'bad_checkpoint_signature');
      }
      if (checkpoint.hash !== entry.hash) return fail(entry.seq, 'checkpoint_mismatch');
      signedHere = keys !== undefined;
    }
    if (options.throughHash !== undefined && entry.seq === options.throughSeq && entry.hash !== options.throughHash) {
      return fail(entry.seq, 'edited');
    }
    // The event is intact; what filtered listings select it by is checked last.
    const columns = findings.indexMismatchAt(entry.seq);
    if (columns !== undefined) return broken(through, entry.seq, 'index_mismatch', signedThrough, columns);
    previousHash = entry.hash;
    through = entry.seq;
    if (signedHere) signedThrough = entry.seq;
    expectedSeq = entry.seq + 1;
  }

  if (expectedSeq !== undefined && droppedByRetention(expectedSeq, undefined) !== undefined) return nothingKept;

  // Checkpoints past the last entry: the end of the chain was cut off, unless they are forged.
  const pastTheEnd = checkpoints.slice(checkpointIndex).filter((checkpoint) => checkpoint.seq > through);
  if (pastTheEnd.length > 0) {
    if (keys !== undefined) {
      for (const checkpoint of pastTheEnd) {
        if (!(await checkpointSignatureValid(checkpoint, keys))) {
          return fail(checkpoint.seq, 'bad_checkpoint_signature');
        }
      }
    }
    return fail(through + 1, 'missing');
  }
  if (options.throughSeq !== undefined && through < options.throughSeq) {
    return fail(through + 1, 'missing');
  }
  return { ok: true, through, ...(signedThrough === undefined ? {} : { signedThrough }) };
}

/**
 * The first seq of a range of the chain to verify or export: `from`, which defaults to 0 on a
 * store that never trims (entries missing from the start were deleted). Refuses
 * (`BAD_REQUEST`) a `from` after `to`.
 */
export function auditRangeStart(
  store: Store,
  options: { from?: number; to?: number; wholeChain?: boolean },
  action: 'verify' | 'export',
): number | undefined {
  const wholeChain = options.wholeChain ?? store.keepsWholeAuditChain === true;
  const from = options.from ?? (wholeChain ? 0 : undefined);
  if (from !== undefined && options.to !== undefined && from > options.to) {
    throw new GatewayError({ code: 'BAD_REQUEST', message: `Nothing to ${action}: from (${from}) is after to (${options.to})` });
  }
  return from;
}

/**
 * Refuses (`BAD_REQUEST`) a range starting past the chain's recorded head: from seq 0 an
 * empty chain holds no entries, but a range starting after the last entry holds none that
 * exist, and answering "ok through" the head would vouch for nothing.
 */
export function refuseRangePastHead(from: number | undefined, head: AuditEntry | undefined, action: 'verify' | 'export'): void {
  if (from !== undefined && from > (head === undefined ? 0 : head.seq)) {
    const end = head === undefined ? 'the chain is empty' : `its last entry is ${head.seq}`;
    throw new GatewayError({ code: 'BAD_REQUEST', message: `Nothing to ${action}: from (${from}) is past the end of the chain (${end})` });
  }
}

/**
 * The first page of a range, complete up to `reach` (the head, or a checkpoint, read with
 * it). On a store with several connections (Postgres) they are read side by side, in either
 * order: a last page that ends before `reach` may have been read before the appends those
 * show, and is read once more now. A chain that does lack the entries reads the same again.
 * A store that answers them from one state (the memory store) never needs it.
 */
export async function firstPageReaching(
  store: Store,
  page: AuditPage,
  reach: number | undefined,
  range: { fromSeq: number | undefined; toSeq: number | undefined; limit: number },
): Promise<AuditPage> {
  if (reach === undefined || page.nextCursor !== undefined || page.droppedByRetention !== undefined) return page;
  if ((page.items.at(-1)?.seq ?? -1) >= reach) return page;
  return store.listAudit(range);
}

/** Options of {@link verifyAuditChain}. */
export interface VerifyAuditChainOptions {
  store: Store;
  /**
   * First sequence number to verify (inclusive). Omit it to start at seq 0 on a store that
   * keeps the whole chain (see `wholeChain`), else at the first retained entry (a store with
   * retention keeps only the newest entries); give it to require that the range starts
   * exactly there.
   */
  from?: number;
  /**
   * Without `from`, require the chain to start at seq 0 (an absent first entry is `missing`
   * at 0, and every checkpoint is checked). Default: `true` for a store that never removes
   * entries (`keepsWholeAuditChain: true`, as the SQL store), `false` otherwise.
   */
  wholeChain?: boolean;
  /** Last sequence number to verify (inclusive). Default: the head. */
  to?: number;
  /** The checkpoint public key(s); without one only checkpoint hashes are compared. */
  publicKey?: AuditVerificationKey | AuditVerificationKey[];
  /** Entries read per `listAudit` page. Default 500. */
  pageSize?: number;
}

/** Seqs the store's retention dropped before a reader got to them (`AuditPage.droppedByRetention`). */
type DroppedRange = NonNullable<AuditPage['droppedByRetention']>;

/**
 * The error of a reader whose range lost entries to the store's retention before it read
 * them: `CONFLICT`, for the chain is not damaged and a new attempt may succeed.
 */
export function overtakenByRetention(action: 'verify' | 'export', dropped: DroppedRange): GatewayError {
  const entries = dropped.fromSeq === dropped.toSeq ? `entry ${dropped.fromSeq}` : `entries ${dropped.fromSeq}-${dropped.toSeq}`;
  return new GatewayError({
    code: 'CONFLICT',
    message:
      `Cannot ${action} the audit range: the store's retention dropped ${entries} before they were read, ` +
      `as newer entries came in. The chain is not damaged; ${action} again, or keep more entries in the store`,
    details: { droppedByRetention: { ...dropped } },
  });
}

/**
 * The entries of a range, page by page, from `firstPage` on (read with the head), each later
 * page by the cursor of the one before. What a page says retention dropped is noted in
 * `drops`, and the page goes on with the first entry still kept; a marked page may hold
 * nothing, the rest of the range being gone. Whether that is a restart or a `CONFLICT` is
 * for the verification to decide (see `droppedByRetention` in {@link verifyAuditChain}).
 * Entries whose index columns a page says disagree with their event go into
 * `indexMismatches`, by seq, before the page's entries are handed out.
 */
async function* pagesOf(
  store: Store,
  range: { fromSeq: number | undefined; toSeq: number | undefined; pageSize: number },
  firstPage: AuditPage,
  drops: DroppedRange[],
  indexMismatches: Map<number, string[]>,
) {
  for (let page: AuditPage | undefined = firstPage; page !== undefined; ) {
    if (page.droppedByRetention !== undefined) drops.push(page.droppedByRetention);
    for (const { seq, columns } of page.indexMismatches ?? []) indexMismatches.set(seq, columns);
    yield* page.items;
    const cursor: string | undefined = page.nextCursor;
    page =
      cursor === undefined
        ? undefined
        : await store.listAudit({ fromSeq: range.fromSeq, toSeq: range.toSeq, limit: range.pageSize, cursor });
  }
}

/**
 * Verifies the audit chain held in a store, page by page (constant memory): hashes, links,
 * sequence continuity, and the signed checkpoints in range; on a store that filters by an
 * index of its own (the SQL store's `type`, `agent_id`, `tool` and `at` columns, which the
 * hashes do not cover), also that each entry's index agrees with its event, as the store says
 * on its pages (`AuditPage.indexMismatches`): an entry whose index was changed is
 * `index_mismatch`, with `columns` naming what disagrees. Reports the last good sequence
 * number and, when broken, the first bad one and why. Backs `GET /admin/audit/verify` and
 * `atg audit verify`. Throws `GatewayError` `BAD_REQUEST` for a `from` after `to`, or past
 * the chain's last entry: there is nothing there to vouch for. With `publicKey`, the result's
 * `signedThrough` says how far valid checkpoints vouch: checkpoints are rows of the same
 * store, and a chain rewritten together with the deletion of its checkpoints still verifies
 * as intact, signed through an earlier seq (or none).
 *
 * On a store with retention (the memory store), appends made while the chain is read can
 * push out entries not read yet. The head and the first page are asked for together, which
 * such a store answers from one state (the memory store answers each at once); every later
 * page is read by cursor, and the store marks a page whose cursor it trimmed past
 * (`droppedByRetention`). That is retention doing its job, not damage, so it is never
 * reported `missing`. Without `from`, verification goes on from the first entry the store
 * still keeps, anchored on its `prevHash`, as if it had started there: the chain is verified
 * from its retained start, which is what retention keeps, and the answer (`signedThrough`
 * included) is about that stretch, never about entries whose link to it could not be checked.
 * When that start is past `to` (the store keeps nothing of the range, whether it dropped it
 * before or while it was read), there is nothing to verify: `{ ok: true, through: -1 }`, as
 * for an empty chain. With `from` (or `wholeChain`), the range asked for can no longer be
 * verified whole: it throws `GatewayError` `CONFLICT` naming the dropped entries (retry, or
 * keep more entries). A `from` the store no longer kept when verification began is `missing`,
 * as on a chain cut at its start, and so is any other gap, such as an entry deleted from the
 * middle.
 *
 * @example
 * ```ts
 * import { verifyAuditChain } from 'agent-tool-gateway';
 *
 * const result = await verifyAuditChain({ store, publicKey: publicJwk });
 * // { ok: true, through: 1041, signedThrough: 1000 } or { ok: false, through: 17, brokenAt: 18, reason: 'edited' }
 * ```
 */
export async function verifyAuditChain(options: VerifyAuditChainOptions): Promise<AuditVerification> {
  const { store, to } = options;
  const pageSize = options.pageSize ?? 500;
  const from = auditRangeStart(store, options, 'verify');
  // The head, the first page and what goes with them are asked for together, before anything
  // else: a store with retention answers them from one state (the memory store answers each at
  // once), so no append can push out entries between the head and the first page unseen. Every
  // later page is read by cursor, and such a store marks a page whose cursor it trimmed past.
  const firstRange = { fromSeq: from, toSeq: to, limit: pageSize };
  const [head, listed, previous, checkpoints] = await Promise.all([
    store.getAuditHead(),
    store.listAudit(firstRange),
    from !== undefined && from > 0 ? store.listAudit({ fromSeq: from - 1, toSeq: from - 1, limit: 1 }) : undefined,
    store.listCheckpoints({ fromSeq: from, toSeq: to }),
  ]);
  refuseRangePastHead(from, head, 'verify');
  const anchor = previous?.items[0];
  const anchorHash = from !== undefined && anchor?.seq === from - 1 ? anchor.hash : undefined;
  // The head the store records: on the SQL store it outlives entries cut off the end, so
  // they show as `missing`, and a replaced last entry shows as `edited`.
  // Never before `from`: a `from` past the head or after `to` was refused above.
  const throughSeq = head === undefined ? undefined : Math.min(head.seq, to ?? head.seq);
  // Entries the head and the checkpoints name were appended before they were read: the
  // entries read must reach them (later pages are read after them, so only the first matters).
  const lastNamed = checkpoints.reduce((highest, checkpoint) => Math.max(highest, checkpoint.seq), throughSeq ?? -1);
  const firstPage = await firstPageReaching(store, listed, lastNamed < 0 ? undefined : lastNamed, firstRange);
  // Without `from`, the range starts at the first entry kept: entries after `to` are, none up
  // to it. (On a store that always keeps its newest entries an empty range up to the head
  // itself is damage, and is verified as such.)
  if (from === undefined && firstPage.items.length === 0 && head !== undefined && throughSeq !== undefined && throughSeq < head.seq) {
    return nothingKept;
  }
  const drops: DroppedRange[] = [];
  const droppedByRetention = (expectedSeq: number, seq: number | undefined): number | undefined => {
    // Only what the store says it dropped, from the very entry expected on: any other gap is
    // damage, and so is one that goes on past what was dropped. At the end of the entries
    // read (`seq` undefined), only a drop that reaches the end of the range.
    const dropped = drops.find(
      (range) =>
        range.fromSeq <= expectedSeq &&
        expectedSeq <= range.toSeq &&
        (seq === undefined ? throughSeq === undefined || range.toSeq >= throughSeq : range.toSeq < seq),
    );
    if (dropped === undefined) return undefined;
    // A range that must start at `from` cannot be verified whole any more.
    if (from !== undefined) throw overtakenByRetention('verify', { fromSeq: expectedSeq, toSeq: dropped.toSeq });
    return dropped.toSeq + 1;
  };
  // Filled page by page, emptied entry by entry: it holds about a page's worth at most.
  const indexMismatches = new Map<number, string[]>();
  const indexMismatchAt = (seq: number): string[] | undefined => {
    const columns = indexMismatches.get(seq);
    indexMismatches.delete(seq);
    return columns;
  };
  return verifyEntries(
    pagesOf(store, { fromSeq: from, toSeq: to, pageSize }, firstPage, drops, indexMismatches),
    {
      checkpoints,
      publicKey: options.publicKey,
      fromSeq: from,
      anchorHash,
      throughSeq,
      ...(head !== undefined && throughSeq === head.seq ? { throughHash: head.hash } : {}),
    },
    { droppedByRetention, indexMismatchAt },
  );
}
