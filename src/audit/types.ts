import type { AuditEntry } from '../store/types.js';

/**
 * A destination for committed audit entries besides the store (a file, a SIEM, a webhook).
 * The audit log hands each committed batch to every sink in chain order, asynchronously:
 * a slow or failing sink never delays an append or a call. Each sink gets its own bounded
 * queue; entries that do not fit are dropped and reported (`onSinkDrop`).
 *
 * @example
 * ```ts
 * import type { AuditSink } from 'agent-tool-gateway';
 *
 * const consoleSink: AuditSink = {
 *   write(entries) {
 *     for (const entry of entries) console.log(entry.seq, entry.event.type);
 *   },
 * };
 * ```
 */
export interface AuditSink {
  /**
   * Receives the entries this gateway instance committed, consecutive and in chain order,
   * apart from runs the audit log reports as dropped (`onSinkDrop`).
   * With several instances on one SQL store, each instance's sinks get that instance's
   * entries only: the chain's other entries are in the store (or in the other instances'
   * sinks), so a sink file of one instance alone does not verify as a whole chain.
   */
  write(entries: AuditEntry[]): Promise<void> | void;
  /**
   * Flushes and releases resources; called once by `AuditLog.close()`. `signal` aborts when the
   * log stops waiting for it (`sinkCloseTimeoutMs`, or what is left of the `timeoutMs` given to
   * the log's `close()`): stop then, and report what is still held as lost yourself, since the
   * log cannot tell (`write` took it).
   */
  close?(options?: { signal?: AbortSignal }): Promise<void>;
}

/** Why a chain failed verification. */
export type AuditBreakReason =
  /** An entry's content no longer matches its hash. */
  | 'edited'
  /** A sequence number is absent (deleted entry, or entries cut off the end). */
  | 'missing'
  /** Entries appear out of order (swapped, duplicated, decreasing). */
  | 'reordered'
  /** A checkpoint's signature does not verify with the public key, or does not cover its stated head. */
  | 'bad_checkpoint_signature'
  /** A validly signed checkpoint names a hash the chain does not have at that seq. */
  | 'checkpoint_mismatch'
  /** An entry's `prevHash` is not the previous entry's hash. */
  | 'bad_link'
  /**
   * The entry is intact, but the store's index copies of its event fields (which filtered
   * listings select by; the SQL store's `type`, `agent_id`, `tool`, `at` columns) say
   * otherwise than its event: filtered listings hide it or show it under a filter it does not
   * match. `columns` names them.
   */
  | 'index_mismatch';

/**
 * The outcome of verifying an audit chain. `through` is the last sequence number verified
 * good (-1 when none was); on failure `brokenAt` is the first bad one.
 */
export type AuditVerification = (
  | { ok: true; through: number }
  | {
      ok: false;
      through: number;
      brokenAt: number;
      reason: AuditBreakReason;
      /** With `index_mismatch`: the index columns of entry `brokenAt` that disagree with its event, by the store's names. */
      columns?: string[];
    }
) & {
  /**
   * With a public key: the highest seq of a checkpoint whose signature verified and whose
   * hash is the chain's hash at that seq, so every entry up to it is signed for. Absent
   * when no checkpoint vouched for any entry verified, and always without a key. Entries past
   * it are vouched for by nothing signed: someone who can write the store can rewrite them
   * and delete the checkpoints after them alike, so compare it with how far you expect
   * signing to reach (and with checkpoints kept outside the store).
   */
  signedThrough?: number;
};
