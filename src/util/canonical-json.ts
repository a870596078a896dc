import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';
import { freezeTree, markFrozenTree } from './frozen.js';
import { setOwnMember } from './own-member.js';

/**
 * Canonical JSON in the style of RFC 8785 (JCS): object keys sorted by UTF-16 code units,
 * no insignificant white space, numbers and strings as ECMAScript's JSON.stringify writes
 * them. `undefined` members are dropped as JSON.stringify drops them; non-finite numbers
 * are refused because JSON cannot carry them. Iterative, so deep values cannot overflow
 * the stack.
 */
export function canonicalJson(value: unknown): string {
  try {
    // Values built with their keys in order (audit events, most small inputs) are already
    // canonical: the native serialiser writes them far faster than any JS walk.
    if (isAlreadyCanonical(value, 0)) return JSON.stringify(value);
    return writeRecursive(value, 0);
  } catch (error) {
    if (error === TOO_DEEP) return writeIterative(value);
    throw error;
  }
}

const TOO_DEEP = Symbol('too deep');

/**
 * The canonical JSON of `value`, and a frozen copy of the data it says (what `JSON.parse` of
 * the text gives, in the same member order): the form in which a value is both hashed and kept.
 * With `ownsRoot`, the caller made the root object for this call and gives it up: when it is in
 * canonical order it is frozen as it is, with copies of its containers, instead of copied too.
 */
export function canonicalSnapshot(value: unknown, ownsRoot = false): { text: string; copy: unknown } {
  let alreadyCanonical: boolean;
  try {
    alreadyCanonical = isAlreadyCanonical(value, 0);
  } catch (error) {
    if (error !== TOO_DEEP) throw error;
    alreadyCanonical = false;
  }
  if (alreadyCanonical) {
    const text = JSON.stringify(value);
    if (value === null || typeof value !== 'object') return { text, copy: value };
    return { text, copy: markFrozenTree(ownsRoot && !Array.isArray(value) ? copyMembers(value) : copyJson(value, true)) };
  }
  const text = canonicalJson(value);
  return { text, copy: freezeTree(JSON.parse(text)) };
}

/**
 * A deep copy of a container `isAlreadyCanonical` accepted (plain JSON of bounded depth), every
 * container below the root frozen; the root is left for the caller to mark and freeze.
 */
function copyJson(value: object, root: boolean): object {
  let copy: unknown[] | Record<string, unknown>;
  if (Array.isArray(value)) {
    copy = new Array<unknown>(value.length);
    for (let index = 0; index < value.length; index++) {
      const element: unknown = value[index];
      copy[index] = element !== null && typeof element === 'object' ? copyJson(element, false) : element;
    }
  } else {
    copy = {};
    for (const key in value) {
      const source: unknown = (value as Record<string, unknown>)[key];
      const member = source !== null && typeof source === 'object' ? copyJson(source, false) : source;
      setOwnMember(copy, key, member);
    }
  }
  return root ? copy : Object.freeze(copy);
}

/** `copyJson` below the root only: each container member of `value` replaced by its frozen copy. */
function copyMembers(value: object): object {
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const member = record[key];
    if (member !== null && typeof member === 'object') setOwnMember(record, key, copyJson(member, false));
  }
  return record;
}

/** True when JSON.stringify(value) is its canonical form: sorted keys, nothing it would drop or change. */
function isAlreadyCanonical(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if (depth > RECURSION_LIMIT) throw TOO_DEEP;
      if (Array.isArray(value)) {
        for (let index = 0; index < value.length; index++) {
          if (!isAlreadyCanonical(value[index], depth + 1)) return false;
        }
        return true;
      }
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
      const record = value as Record<string, unknown>;
      let previous: string | undefined;
      for (const key in record) {
        if (!Object.hasOwn(record, key)) return false;
        if (previous !== undefined && previous >= key) return false;
        if (!isAlreadyCanonical(record[key], depth + 1)) return false;
        previous = key;
      }
      return true;
    }
    default:
      return false;
  }
}
const RECURSION_LIMIT = 256;

// The fast path: plain recursion, for everything of ordinary depth (the hot path writes
// shallow audit events and inputs capped at 64 levels).
function writeRecursive(value: unknown, depth: number): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new TypeError('canonicalJson: bigint is not JSON');
    case 'object': {
      if (value === null) return 'null';
      if (depth > RECURSION_LIMIT) throw TOO_DEEP;
      if (Array.isArray(value)) {
        let out = '[';
        for (let index = 0; index < value.length; index++) {
          if (index > 0) out += ',';
          const element = value[index];
          out += element === undefined || typeof element === 'function' ? 'null' : writeRecursive(element, depth + 1);
        }
        return `${out}]`;
      }
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
        return writeRecursive((value as { toJSON: () => unknown }).toJSON(), depth);
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record);
      // Most objects on the hot path are built with their keys in order already.
      for (let index = 1; index < keys.length; index++) {
        if ((keys[index - 1] as string) > (keys[index] as string)) {
          keys.sort();
          break;
        }
      }
      let out = '{';
      let first = true;
      for (const key of keys) {
        const member = record[key];
        if (member === undefined || typeof member === 'function') continue;
        if (!first) out += ',';
        first = false;
        out += `${JSON.stringify(key)}:${writeRecursive(member, depth + 1)}`;
      }
      return `${out}}`;
    }
    default:
      return 'null';
  }
}

// The same output without recursion, for hostile depth.
function writeIterative(value: unknown): string {
  const out: string[] = [];
  // A stack of pending work: a value to write, or a literal piece of punctuation.
  const stack: Array<{ value: unknown } | string> = [{ value }];
  while (stack.length > 0) {
    const item = stack.pop() as { value: unknown } | string;
    if (typeof item === 'string') {
      out.push(item);
      continue;
    }
    const current = item.value;
    if (current === null || typeof current === 'boolean' || typeof current === 'string') {
      out.push(JSON.stringify(current));
    } else if (typeof current === 'number') {
      if (!Number.isFinite(current)) throw new TypeError('canonicalJson: non-finite number');
      out.push(JSON.stringify(current));
    } else if (typeof current === 'bigint') {
      throw new TypeError('canonicalJson: bigint is not JSON');
    } else if (Array.isArray(current)) {
      out.push('[');
      stack.push(']');
      for (let index = current.length - 1; index >= 0; index--) {
        const element = current[index];
        stack.push({ value: element === undefined || typeof element === 'function' ? null : element });
        if (index > 0) stack.push(',');
      }
    } else if (typeof current === 'object') {
      const source =
        typeof (current as { toJSON?: unknown }).toJSON === 'function' ? (current as { toJSON: () => unknown }).toJSON() : current;
      if (source !== current) {
        stack.push({ value: source });
        continue;
      }
      const record = current as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((key) => record[key] !== undefined && typeof record[key] !== 'function')
        .sort();
      out.push('{');
      stack.push('}');
      for (let index = keys.length - 1; index >= 0; index--) {
        const key = keys[index] as string;
        stack.push({ value: record[key] });
        stack.push(`${JSON.stringify(key)}:`);
        if (index > 0) stack.push(',');
      }
    } else {
      // undefined, function, symbol at the top level
      out.push('null');
    }
  }
  return out.join('');
}

// One-shot hashing (Node 20.12+) skips allocating a Hash object per digest.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

/** SHA-256 (hex) of a string. */
export function sha256Hex(text: string): string {
  return oneShotHash !== undefined ? oneShotHash('sha256', text, 'hex') : createHash('sha256').update(text).digest('hex');
}

/** SHA-256 (hex) over the canonical JSON of a value. */
export function digestJson(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
