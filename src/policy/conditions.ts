import { canonicalJson } from '../util/canonical-json.js';
import { compileMatchPattern } from './pattern.js';
import type { PolicyCondition } from './types.js';

const MISSING = Symbol('missing');
/** A path that runs into a string, number, boolean or list (by a name) before its end. */
const UNREADABLE = Symbol('unreadable');

/** A condition's answer: it fails, it holds, or the field is of a type its operator cannot judge. */
export const FAILS = 0;
export const HOLDS = 1;
export const UNJUDGEABLE = 2;
export type ConditionVerdict = typeof FAILS | typeof HOLDS | typeof UNJUDGEABLE;

/** A compiled condition: reads its field and tests it, no allocation beyond the read. */
export type CompiledCondition = (input: unknown) => ConditionVerdict;

const verdict = (holds: boolean): ConditionVerdict => (holds ? HOLDS : FAILS);

/** Splits `$.a.b[0]['c.d']` into `['a', 'b', 0, 'c.d']`; throws on anything else. */
export function parsePath(path: string): Array<string | number> {
  let rest = path.startsWith('$') ? path.slice(1) : path.startsWith('.') ? path : `.${path}`;
  if (rest === '') return [];
  const segments: Array<string | number> = [];
  const pattern = /^(?:\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\['([^'\\]*)'\]|\["([^"\\]*)"\])/;
  while (rest.length > 0) {
    const match = pattern.exec(rest);
    if (!match) throw new TypeError(`invalid path "${path}"`);
    if (match[1] !== undefined) segments.push(match[1]);
    else if (match[2] !== undefined) segments.push(Number(match[2]));
    else segments.push((match[3] ?? match[4]) as string);
    rest = rest.slice(match[0].length);
  }
  return segments;
}

/**
 * The value at `segments`, read as a tool in JavaScript reads it (`items[0]` of an object
 * with a key "0", `['0']` of an array, the `length` of an array or a string): a reshaped
 * argument must not hide a field a rule tests. Only own members are read. A path that runs
 * out (a key not there, an index past the end, `null` on the way) is {@link MISSING}; one
 * that runs into a string, number or boolean before its end, or into a list by a name, is
 * {@link UNREADABLE}: the field was reshaped (`{ order: [{ total: 500 }] }` for
 * `order.total`), and a tool may unwrap it as it may read `[500]` as 500.
 */
function read(input: unknown, segments: ReadonlyArray<string | number>): unknown {
  let current: unknown = input;
  for (const segment of segments) {
    if (segment === 'length' && (typeof current === 'string' || Array.isArray(current))) {
      current = current.length;
      continue;
    }
    if (current === null) return MISSING;
    if (typeof current !== 'object') return UNREADABLE;
    if (Array.isArray(current)) {
      const index = typeof segment === 'number' ? segment : arrayIndex(segment);
      if (index === undefined) return UNREADABLE;
      if (index >= current.length) return MISSING;
      current = current[index];
    } else {
      const key = typeof segment === 'number' ? String(segment) : segment;
      if (!Object.hasOwn(current, key)) return MISSING;
      current = (current as Record<string, unknown>)[key];
    }
  }
  return current;
}

/** A key that names an array element (`"0"`, `"12"`, not `"01"` or `"-1"`), as a number. */
function arrayIndex(key: string): number | undefined {
  return /^(?:0|[1-9]\d{0,8})$/.test(key) ? Number(key) : undefined;
}

/**
 * Tests whether a value equals `operand` as JSON data: objects and lists by their canonical
 * JSON (member order aside), which is written once here for the operand, not on every call.
 */
function equalTo(operand: unknown): (value: unknown) => boolean {
  if (operand === null || typeof operand !== 'object') return (value) => value === operand;
  const json = canonicalJson(operand);
  return (value) => value !== null && typeof value === 'object' && canonicalJson(value) === json;
}

type JsonType = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object' | 'other';

function jsonType(value: unknown): JsonType {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  const type = typeof value;
  return type === 'boolean' || type === 'number' || type === 'string' || type === 'object' ? type : 'other';
}

/**
 * Compiles a condition once, at registration. Throws a TypeError naming the problem for a
 * bad path, a missing or wrong operand (one that is not JSON data included), or a `matches` pattern the linear-time engine refuses (see
 * {@link compileMatchPattern}): a `matches` test takes time proportional to the value's
 * length, so every string is tested whatever its length.
 *
 * A field that is there but of a type the operator cannot judge against its operand (a string
 * for `gt`, a number or a list for `eq "x"` or `matches`, a type none of an `in` list's items
 * has) is answered {@link UNJUDGEABLE}: a tool may read `"500"` or `[500]` as 500, and the
 * rule decides what that means (see `compilePolicy`). So is a path that runs into a string,
 * number, boolean or list (by a name) before its end. `null` is judged by every operator: it
 * equals only `null`, is in a list only with `null`, orders against no number and matches no
 * pattern; `eq null` and a list of only `null`s judge any type.
 */
export function compileCondition(condition: PolicyCondition, where: string): CompiledCondition {
  let segments: Array<string | number>;
  try {
    segments = parsePath(condition.path);
  } catch {
    throw new TypeError(`${where}: invalid path "${condition.path}"`);
  }
  const operand = condition.value;
  switch (condition.op) {
    case 'eq':
    case 'ne': {
      if (operand === undefined) throw new TypeError(`${where}: "${condition.op}" needs a value (null to test for null)`);
      assertJsonOperand(operand, where, condition.op);
      // Whether a value is null is judged for any type; other operands only for their own.
      const type = operand === null ? undefined : jsonType(operand);
      const equal = condition.op === 'eq';
      const equals = equalTo(operand);
      return (input) => {
        const value = read(input, segments);
        if (value === MISSING) return verdict(!equal);
        if (value === UNREADABLE) return UNJUDGEABLE;
        if (type !== undefined && value !== null && jsonType(value) !== type) return UNJUDGEABLE;
        return verdict(equals(value) === equal);
      };
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      if (typeof operand !== 'number' || !Number.isFinite(operand)) {
        throw new TypeError(`${where}: "${condition.op}" needs a finite number value`);
      }
      const op = condition.op;
      return (input) => {
        const value = read(input, segments);
        if (value === MISSING || value === null) return FAILS;
        // Not a number, or UNREADABLE: cannot be judged.
        if (typeof value !== 'number') return UNJUDGEABLE;
        return verdict(op === 'gt' ? value > operand : op === 'gte' ? value >= operand : op === 'lt' ? value < operand : value <= operand);
      };
    }
    case 'in':
    case 'not_in': {
      if (!Array.isArray(operand)) throw new TypeError(`${where}: "${condition.op}" needs an array value`);
      assertJsonOperand(operand, where, condition.op);
      const primitives = new Set(operand.filter((item) => item === null || typeof item !== 'object'));
      // Objects and lists by their canonical JSON, written once here: a list of many objects
      // costs one serialisation of the value per call, not one per item.
      const objects = new Set(operand.filter((item) => item !== null && typeof item === 'object').map((item) => canonicalJson(item)));
      const contains = (value: unknown) =>
        primitives.has(value) || (objects.size > 0 && value !== null && typeof value === 'object' && objects.has(canonicalJson(value)));
      // The types the list's items have: a value of another type (but null) cannot be judged,
      // unless the list holds none but null (or nothing), which judges any type.
      const types = new Set(operand.filter((item) => item !== null).map(jsonType));
      const inList = condition.op === 'in';
      return (input) => {
        const value = read(input, segments);
        if (value === MISSING) return verdict(!inList);
        if (value === UNREADABLE) return UNJUDGEABLE;
        if (value !== null && types.size > 0 && !types.has(jsonType(value))) return UNJUDGEABLE;
        return verdict(contains(value) === inList);
      };
    }
    case 'exists': {
      if (operand !== undefined && typeof operand !== 'boolean') {
        throw new TypeError(`${where}: "exists" takes a boolean value`);
      }
      const wanted = operand ?? true;
      return (input) => {
        const value = read(input, segments);
        return value === UNREADABLE ? UNJUDGEABLE : verdict((value !== MISSING) === wanted);
      };
    }
    case 'matches': {
      if (typeof operand !== 'string') throw new TypeError(`${where}: "matches" needs a string pattern`);
      const pattern = compileMatchPattern(operand, where);
      return (input) => {
        const value = read(input, segments);
        if (value === MISSING || value === null) return FAILS;
        // Not a string, or UNREADABLE: cannot be judged.
        return typeof value === 'string' ? verdict(pattern(value)) : UNJUDGEABLE;
      };
    }
    default:
      throw new TypeError(`${where}: unknown operator "${String((condition as { op: unknown }).op)}"`);
  }
}

/** The deepest operand accepted; deeper is refused as it would be in an admin body (and a cycle is). */
const MAX_OPERAND_DEPTH = 64;

/**
 * Refuses an operand that is not JSON data (`undefined`, a non-finite number, a bigint, a
 * function, a Date or another class instance, nesting past 64 levels or a cycle): input is
 * JSON, so a condition on such a value would never hold, or would fail every call it tests.
 */
function assertJsonOperand(operand: unknown, where: string, op: string): void {
  const stack: Array<[unknown, number]> = [[operand, 0]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    let problem: string | undefined;
    if (value === null || typeof value === 'string' || typeof value === 'boolean') continue;
    if (typeof value === 'number') {
      if (Number.isFinite(value)) continue;
      problem = `${String(value)}, which JSON cannot carry`;
    } else if (typeof value !== 'object') {
      problem = typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`;
    } else if (depth >= MAX_OPERAND_DEPTH) {
      problem = `nesting deeper than ${MAX_OPERAND_DEPTH} levels (or a cycle)`;
    } else if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) stack.push([value[index], depth + 1]);
      continue;
    } else {
      const prototype = Object.getPrototypeOf(value);
      if (prototype === Object.prototype || prototype === null) {
        for (const member of Object.values(value)) stack.push([member, depth + 1]);
        continue;
      }
      problem = `a ${(value as object).constructor?.name ?? 'non-plain'} object`;
    }
    throw new TypeError(`${where}: "${op}" needs JSON data as its value, not ${problem}`);
  }
}
