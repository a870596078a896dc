import { createHmac, randomBytes } from 'node:crypto';
import type { RedactionMode } from './types.js';

/** Every redaction mode, from the least to the most strict. */
export const redactionModes: readonly RedactionMode[] = Object.freeze(['partial', 'hash', 'mask', 'remove'] as const);

/** What `mask` writes. */
export const MASK = '***';

/** Values shorter than this are fully masked in `partial` mode, so that 4 kept characters never reveal most of a value. */
const PARTIAL_MINIMUM_LENGTH = 8;
const PARTIAL_KEPT = 4;

const strictness: Readonly<Record<RedactionMode, number>> = { partial: 1, hash: 2, mask: 3, remove: 4 };

/** True when `value` is a redaction mode. */
export function isRedactionMode(value: unknown): value is RedactionMode {
  return typeof value === 'string' && Object.hasOwn(strictness, value);
}

/**
 * The stricter of two modes (`remove` > `mask` > `hash` > `partial`); `undefined` means "no opinion".
 * `mask` beats `hash` because a hash still lets equal values be correlated.
 */
export function stricterMode(left: RedactionMode | undefined, right: RedactionMode | undefined): RedactionMode | undefined {
  if (left === undefined) return right;
  if (right === undefined) return left;
  return strictness[right] > strictness[left] ? right : left;
}

/** `***` plus the last 4 characters, or `***` alone for short values. */
export function partialText(text: string): string {
  if (text.length < PARTIAL_MINIMUM_LENGTH) return MASK;
  let start = text.length - PARTIAL_KEPT;
  const unit = text.charCodeAt(start);
  if (unit >= 0xdc00 && unit <= 0xdfff) start -= 1;
  return MASK + text.slice(start);
}

let processHashKey: Uint8Array | undefined;

/** Keyed HMAC-SHA-256 for `hash` mode: `hmac:` and the first 16 hex digits (64 bits). */
export class ValueHasher {
  private readonly key: Uint8Array;

  /** Without a key, a random key made once per process is used, so hashes correlate within a process only. */
  constructor(key?: string | Uint8Array) {
    if (key === undefined) {
      processHashKey ??= new Uint8Array(randomBytes(32));
      this.key = processHashKey;
    } else if (typeof key === 'string') {
      if (key.length === 0) throw new TypeError('Invalid redaction hashKey: it is empty');
      this.key = new Uint8Array(Buffer.from(key, 'utf8'));
    } else if (key instanceof Uint8Array) {
      if (key.length === 0) throw new TypeError('Invalid redaction hashKey: it is empty');
      this.key = new Uint8Array(key);
    } else {
      throw new TypeError('Invalid redaction hashKey: expected a string or a Uint8Array');
    }
  }

  /** The token that replaces `value` in `hash` mode. */
  hash(value: string): string {
    return `hmac:${createHmac('sha256', this.key).update(value, 'utf8').digest('hex').slice(0, 16)}`;
  }
}
