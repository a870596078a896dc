import { GatewayError } from '../errors.js';
import { escapePointer } from '../util/json-pointer.js';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Refuses input nested deeper than `maxDepth`, or carrying a key that could reach an
 * object's prototype (`__proto__`, `constructor`, `prototype`), before it gets anywhere near
 * a handler. One iterative walk: no recursion, so hostile nesting cannot blow the stack.
 */
export function assertSafeInput(input: unknown, maxDepth: number): void {
  if (input === null || typeof input !== 'object') return;
  const stack: Array<[unknown, number]> = [[input, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (depth > maxDepth) {
      throw new GatewayError({ code: 'BAD_REQUEST', message: `Input is nested deeper than ${maxDepth} levels` });
    }
    if (Array.isArray(value)) {
      for (const element of value) {
        if (element !== null && typeof element === 'object') stack.push([element, depth + 1]);
      }
      continue;
    }
    for (const key of Object.keys(value as object)) {
      if (FORBIDDEN_KEYS.has(key)) {
        throw new GatewayError({ code: 'BAD_REQUEST', message: `Input contains the forbidden key "${key}"` });
      }
      const child = (value as Record<string, unknown>)[key];
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
}

/**
 * True when `value` nests containers deeper than `maxDepth` (counted as {@link assertSafeInput}
 * counts them). Iterative, and it stops at the first container past the limit.
 */
export function nestsDeeperThan(value: unknown, maxDepth: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  const stack: Array<[object, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop() as [object, number];
    if (depth > maxDepth) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** A number JSON cannot carry, where it is in a value, and what is wrong with it. */
export interface NonJsonNumber {
  /** Member names and array indices from the root down to the number. */
  path: Array<string | number>;
  /** Client-safe: what the value must be instead. */
  message: string;
}

/**
 * The first number in `value` that JSON cannot carry: NaN or ±Infinity (what `JSON.parse`
 * makes of an out-of-range literal such as `1e400`) or a bigint; undefined when there is
 * none. Not for the hot path: the call pipeline asks only once the input's digest has
 * failed, the admin routes ask of the bodies they store. Callers run {@link assertSafeInput}
 * first, which bounds the depth (and so refuses cycles); iterative all the same.
 */
export function findNonJsonNumber(value: unknown): NonJsonNumber | undefined {
  const stack: Array<[unknown, Array<string | number>]> = [[value, []]];
  while (stack.length > 0) {
    const [current, path] = stack.pop() as [unknown, Array<string | number>];
    if (typeof current === 'number') {
      if (!Number.isFinite(current)) return { path, message: 'must be a finite number (JSON numbers must fit a double)' };
    } else if (typeof current === 'bigint') {
      return { path, message: 'must be a JSON number, not a bigint' };
    } else if (Array.isArray(current)) {
      // Pushed last to first, so the first number in document order is the one reported.
      for (let index = current.length - 1; index >= 0; index--) stack.push([current[index], [...path, index]]);
    } else if (current !== null && typeof current === 'object') {
      const keys = Object.keys(current);
      for (let index = keys.length - 1; index >= 0; index--) {
        const key = keys[index] as string;
        stack.push([(current as Record<string, unknown>)[key], [...path, key]]);
      }
    }
  }
  return undefined;
}

/** A path of {@link findNonJsonNumber} as a JSON Pointer (`/items/0/amount`), as input issues name paths. */
export function jsonPointer(path: ReadonlyArray<string | number>): string {
  return path.map((segment) => `/${escapePointer(String(segment))}`).join('');
}

/**
 * Refuses a management body that holds a number JSON cannot carry, with a 400 naming the
 * field as the admin routes' other refusals do (`when.0.value`). Kept, such a value would
 * fail later, when the change's audit event is hashed, after the change had taken effect.
 */
export function assertJsonNumbers(body: unknown): void {
  const found = findNonJsonNumber(body);
  if (found === undefined) return;
  const path = found.path.join('.');
  throw new GatewayError({
    code: 'BAD_REQUEST',
    message: `Invalid body: ${path === '' ? '' : `${path}: `}${found.message}`,
    details: [{ path, message: found.message }],
  });
}
