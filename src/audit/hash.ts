import { canonicalJson, sha256Hex } from '../util/canonical-json.js';
import { GENESIS_HASH as storeGenesisHash } from '../store/shared.js';
import type { AuditEntry, AuditEvent } from '../store/types.js';

/** The `prevHash` of the first entry of a chain: 64 zeros. */
export const GENESIS_HASH: string = storeGenesisHash;

/**
 * The hash of one chain link: SHA-256 (hex) over the canonical JSON of
 * `{ seq, prevHash, event }`. Anyone can recompute it from an exported entry.
 *
 * @example
 * ```ts
 * import { computeEntryHash, GENESIS_HASH } from 'agent-tool-gateway';
 *
 * const hash = computeEntryHash(0, GENESIS_HASH, event);
 * ```
 */
export function computeEntryHash(seq: number, prevHash: string, event: AuditEvent): string {
  return sha256Hex(canonicalJson({ seq, prevHash, event }));
}

/**
 * The same hash as {@link computeEntryHash}, from the event's canonical JSON computed once.
 * Canonical JSON sorts keys, so `{ seq, prevHash, event }` serialises as
 * `{"event":…,"prevHash":…,"seq":…}`; writing it by hand lets a retried append rehash
 * without re-serialising the event.
 */
export function hashCanonicalEvent(seq: number, prevHash: string, canonicalEvent: string): string {
  return sha256Hex(`{"event":${canonicalEvent},"prevHash":${JSON.stringify(prevHash)},"seq":${JSON.stringify(seq)}}`);
}

/** True when the entry's stored hash equals the hash recomputed from its content. */
export function entryHashMatches(entry: AuditEntry): boolean {
  try {
    return computeEntryHash(entry.seq, entry.prevHash, entry.event) === entry.hash;
  } catch {
    // Content that is not JSON (non-finite numbers, bigint) cannot have been hashed by us.
    return false;
  }
}
