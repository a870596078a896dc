import { MASK, partialText, stricterMode, type ValueHasher } from './modes.js';
import type { PathMatcher, PathState } from './paths.js';
import type { TextRedaction } from './text-redaction.js';
import type { RedactionMode } from './types.js';
import { canonicalJson } from '../util/canonical-json.js';
import { setOwnMember } from '../util/own-member.js';

/** What the walk needs to know about one object key. */
export interface KeyInfo {
  /** The key names a sensitive value (layer 2). */
  readonly sensitive: boolean;
  /** The key itself after redaction (a key can hold a secret or an e-mail address). */
  readonly outputKey: string;
}

/** Everything one compiled profile needs to walk a value. */
export interface WalkPlan {
  readonly text: TextRedaction;
  /** Mode for values under a sensitive key. */
  readonly keyMode: RedactionMode;
  readonly paths: PathMatcher | null;
  readonly hasher: ValueHasher;
  /** Scan every number's decimal form (a secret is numeric); otherwise only integers of 12+ digits are scanned. */
  readonly scanAllNumbers: boolean;
  /** Mode of the card detector; `undefined` when it is off. */
  readonly cardMode: RedactionMode | undefined;
  /** Describes an object key (cached per compiled profile). */
  describeKey(key: string): KeyInfo;
}

/** Written in place of a value that contains itself. */
export const CIRCULAR = '[Circular]';

const REMOVED: unique symbol = Symbol('removed');
/** What {@link redactLeaf} gives for a container, which the caller walks. */
const CONTAINER: unique symbol = Symbol('container');
/** What the fresh walk gives for a value that is not plain JSON data. */
const NOT_PLAIN: unique symbol = Symbol('not plain');
/** Stack marker: the frame closes a container (its value leaves the ancestor set). */
const EXIT: unknown[] = [];
/** Integers of 12 digits or more are scanned (a card number can arrive as a JSON number); smaller ones cannot match. */
const LARGE_INTEGER = 1e11;
const LARGE_BIG_INTEGER = BigInt(LARGE_INTEGER);
/** Card numbers have at most 19 digits. */
const LONGEST_CARD = 1e19;

type Container = Record<string, unknown> | unknown[];

/** Containers nested deeper than this are walked with an explicit stack instead of recursion. */
const RECURSION_LIMIT = 128;

/**
 * Returns a redacted, JSON-shaped deep copy of `input`; each node is visited once. The walk
 * recurses (the fast way) down to {@link RECURSION_LIMIT} levels and goes on with an explicit
 * stack below that, so nesting depth is bounded by memory, not by the call stack.
 */
export function redactValue(input: unknown, plan: WalkPlan): unknown {
  const value = jsonValue(input, '');
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return undefined;
  const state = plan.paths?.rootState();
  const result = redactNode(value, state?.mode, state, plan, [], 0, input);
  return result === REMOVED ? undefined : result;
}

/**
 * {@link redactValue} for a value made for this call that nothing else references, such as a
 * parsed upstream body. A container in which the redaction changes nothing is kept as it is
 * instead of copied; a container with a change is copied, and its unchanged members are
 * shared with `input`. A value that is not plain JSON data (an object with another prototype
 * or a `toJSON` method, an `undefined`, function or symbol member, a hole in an array) or
 * nests deeper than {@link RECURSION_LIMIT} goes through redactValue instead, so the result
 * always holds the same data as redactValue's.
 */
export function redactFreshValue(input: unknown, plan: WalkPlan): unknown {
  const state = plan.paths?.rootState();
  const result = redactFreshNode(input, state?.mode, state, plan, 0);
  if (result === NOT_PLAIN) return redactValue(input, plan);
  return result === REMOVED ? undefined : result;
}

/** `value.toJSON(key)` where there is one, as `JSON.stringify` does. */
function jsonValue(value: unknown, key: string | number): unknown {
  return value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function'
    ? (value as { toJSON(key: string): unknown }).toJSON(String(key))
    : value;
}

/**
 * The redacted form of one defined value (after `toJSON`; `source` is the value before it), or
 * `REMOVED`. `ancestors[0 … 2·depth-1]` are the containers being walked above `value`, each as
 * walked and as it was before `toJSON` (entries past them are stale): at the depths the
 * recursion reaches, a scan of a short array is cheaper than a `Set`'s hashing. A value whose
 * `toJSON` makes new objects on each call is a cycle when its source is an ancestor's.
 */
function redactNode(
  value: unknown,
  mode: RedactionMode | undefined,
  state: PathState | undefined,
  plan: WalkPlan,
  ancestors: unknown[],
  depth: number,
  source: unknown,
): unknown {
  const leaf = redactLeaf(value, mode, plan);
  if (leaf !== CONTAINER) return leaf;
  const walked = 2 * depth;
  for (let index = 0; index < walked; index += 2) if (ancestors[index] === value) return CIRCULAR;
  if (source !== value) for (let index = 1; index < walked; index += 2) if (ancestors[index] === source) return CIRCULAR;
  if (depth >= RECURSION_LIMIT) {
    return redactIteratively(value as object, source, state, plan, new Set(ancestors.slice(0, walked)));
  }
  ancestors[walked] = value;
  ancestors[walked + 1] = source;
  const paths = plan.paths;
  let container: Container;
  if (Array.isArray(value)) {
    const copy: unknown[] = [];
    for (let index = 0; index < value.length; index++) {
      const raw: unknown = value[index];
      const child = jsonValue(raw, index);
      if (child === undefined || typeof child === 'function' || typeof child === 'symbol') {
        copy.push(null);
        continue;
      }
      const childState = state !== undefined && paths !== null ? paths.childState(state, index) : state;
      const result = redactNode(child, childState?.mode, childState, plan, ancestors, depth + 1, raw);
      if (result !== REMOVED) copy.push(result);
    }
    container = copy;
  } else {
    const copy: Record<string, unknown> = {};
    const names = Object.keys(value as object);
    let renamed = false;
    for (let index = 0; index < names.length; index++) {
      const name = names[index] as string;
      const raw = (value as Record<string, unknown>)[name];
      const child = jsonValue(raw, name);
      if (child === undefined || typeof child === 'function' || typeof child === 'symbol') continue;
      const childState = state !== undefined && paths !== null ? paths.childState(state, name) : state;
      const info = plan.describeKey(name);
      const childMode = info.sensitive ? stricterMode(childState?.mode, plan.keyMode) : childState?.mode;
      const result = redactNode(child, childMode, childState, plan, ancestors, depth + 1, raw);
      if (result === REMOVED) continue;
      if (info.outputKey !== name) renamed = true;
      assignMember(copy, info.outputKey, result, renamed);
    }
    container = copy;
  }
  return container;
}

/**
 * The redacted form of one node of a fresh value (see {@link redactFreshValue}): the node
 * itself when nothing in it changes, `REMOVED`, or `NOT_PLAIN`.
 */
function redactFreshNode(
  value: unknown,
  mode: RedactionMode | undefined,
  state: PathState | undefined,
  plan: WalkPlan,
  depth: number,
): unknown {
  // What redactValue would drop or turn with toJSON is left to it, before any mode applies.
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return NOT_PLAIN;
  if (value !== null && typeof value === 'object' && !isPlainContainer(value)) return NOT_PLAIN;
  const leaf = redactLeaf(value, mode, plan);
  if (leaf !== CONTAINER) return leaf;
  if (depth >= RECURSION_LIMIT) return NOT_PLAIN;
  const paths = plan.paths;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let index = 0; index < value.length; index++) {
      const child: unknown = value[index];
      const childState = state !== undefined && paths !== null ? paths.childState(state, index) : state;
      const result = redactFreshNode(child, childState?.mode, childState, plan, depth + 1);
      if (result === NOT_PLAIN) return NOT_PLAIN;
      if (copy === undefined) {
        if (result === child) continue;
        copy = value.slice(0, index);
      }
      if (result !== REMOVED) copy.push(result);
    }
    return copy ?? value;
  }
  const source = value as Record<string, unknown>;
  const names = Object.keys(source);
  let copy: Record<string, unknown> | undefined;
  let renamed = false;
  for (let index = 0; index < names.length; index++) {
    const name = names[index] as string;
    const child = source[name];
    const childState = state !== undefined && paths !== null ? paths.childState(state, name) : state;
    const info = plan.describeKey(name);
    const childMode = info.sensitive ? stricterMode(childState?.mode, plan.keyMode) : childState?.mode;
    const result = redactFreshNode(child, childMode, childState, plan, depth + 1);
    if (result === NOT_PLAIN) return NOT_PLAIN;
    if (copy === undefined) {
      if (result === child && info.outputKey === name) continue;
      // The first change: the members before it were unchanged (and not renamed), and go into
      // the copy as they are.
      copy = {};
      for (let earlier = 0; earlier < index; earlier++) {
        const earlierName = names[earlier] as string;
        assignMember(copy, earlierName, source[earlierName], false);
      }
    }
    if (result === REMOVED) continue;
    if (info.outputKey !== name) renamed = true;
    assignMember(copy, info.outputKey, result, renamed);
  }
  return copy ?? source;
}

/** An array or object as JSON.parse makes them: the standard prototype, no `toJSON` method. */
function isPlainContainer(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value);
  if (Array.isArray(value)) return prototype === Array.prototype;
  return prototype === Object.prototype && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
}

/**
 * The redacted form of a value a whole-value mode selects, or of a scalar (after `toJSON`);
 * `CONTAINER` for an array or object, which the caller walks.
 */
function redactLeaf(value: unknown, mode: RedactionMode | undefined, plan: WalkPlan): unknown {
  if (mode !== undefined) return replaceWhole(value, mode, plan);
  if (typeof value === 'string') return plan.text.redact(value);
  if (typeof value === 'number' || typeof value === 'bigint') return redactNumber(value, plan);
  if (value === null || typeof value !== 'object') return value;
  return CONTAINER;
}

/**
 * The walk of a deeply nested container, with an explicit stack: `start` is a container (after
 * `toJSON`; `startSource` before it) that is not an ancestor of itself and that no rule selects
 * as a whole. `ancestors` holds the containers above it, as walked and before `toJSON`.
 */
function redactIteratively(
  start: object,
  startSource: unknown,
  startState: PathState | undefined,
  plan: WalkPlan,
  ancestors: Set<unknown>,
): Container {
  const root: Container = Array.isArray(start) ? [] : {};
  // Parallel stacks, one entry per pending node; the parent EXIT marks the end of a container.
  const values: unknown[] = [];
  const parents: Array<Container | null> = [];
  const keys: Array<string | number> = [];
  const states: Array<PathState | undefined> = [];
  /** Makes `value` an ancestor until the EXIT frame pushed here is popped. */
  const enter = (value: unknown) => {
    ancestors.add(value);
    values.push(value);
    parents.push(EXIT);
    keys.push('');
    states.push(undefined);
  };
  const open = (value: object, source: unknown, container: Container, state: PathState | undefined) => {
    enter(value);
    if (source !== value) enter(source);
    if (Array.isArray(value)) {
      for (let index = value.length - 1; index >= 0; index--) {
        values.push(value[index]);
        parents.push(container);
        keys.push(index);
        states.push(state);
      }
    } else {
      const memberNames = Object.keys(value);
      for (let index = memberNames.length - 1; index >= 0; index--) {
        const name = memberNames[index] as string;
        values.push((value as Record<string, unknown>)[name]);
        parents.push(container);
        keys.push(name);
        states.push(state);
      }
    }
  };
  open(start, startSource, root, startState);

  while (values.length > 0) {
    const parent = parents.pop() as Container;
    const key = keys.pop() as string | number;
    const parentState = states.pop();
    if (parent === EXIT) {
      ancestors.delete(values.pop());
      continue;
    }
    const source = values.pop();
    const value = jsonValue(source, key);
    const inArray = Array.isArray(parent);
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
      if (inArray) parent.push(null);
      continue;
    }

    let state = parentState;
    let mode: RedactionMode | undefined;
    if (state !== undefined && plan.paths !== null) {
      state = plan.paths.childState(state, key);
      mode = state.mode;
    }
    let outputKey = key;
    if (!inArray) {
      const info = plan.describeKey(key as string);
      if (info.sensitive) mode = stricterMode(mode, plan.keyMode);
      outputKey = info.outputKey;
    }

    let result = redactLeaf(value, mode, plan);
    let container: Container | undefined;
    if (result === CONTAINER) {
      if (ancestors.has(value) || (source !== value && ancestors.has(source))) {
        result = CIRCULAR;
      } else {
        container = Array.isArray(value) ? [] : {};
        result = container;
      }
    }

    if (result !== REMOVED) {
      if (inArray) parent.push(result);
      else assignMember(parent, outputKey as string, result, true);
    }
    if (container !== undefined) open(value as object, source, container, state);
  }
  return root;
}

/**
 * Sets the member `outputKey` (a key after redaction) on `target`. When it is taken already
 * (two keys redacted to one spelling, or a key spelt like another's redaction), the later
 * member gets `~2`, `~3` …, so that no value is lost. Source keys are unique, so nothing can
 * collide until a key of the container has been renamed: `mayCollide` says whether one has,
 * and saves the check on every member of the common container.
 */
function assignMember(target: Record<string, unknown>, outputKey: string, value: unknown, mayCollide: boolean): void {
  let name = outputKey;
  if (mayCollide && Object.hasOwn(target, name)) {
    let suffix = 2;
    while (Object.hasOwn(target, `${outputKey}~${suffix}`)) suffix++;
    name = `${outputKey}~${suffix}`;
  }
  setOwnMember(target, name, value);
}

function redactNumber(value: number | bigint, plan: WalkPlan): unknown {
  if (!plan.scanAllNumbers) {
    if (typeof value === 'number' && !(Number.isInteger(value) && Math.abs(value) >= LARGE_INTEGER)) return value;
    if (typeof value === 'bigint' && value < LARGE_BIG_INTEGER && value > -LARGE_BIG_INTEGER) return Number(value);
  }
  if (typeof value === 'number' && plan.cardMode !== undefined && mayBeInexactCard(value)) {
    return replaceInexactCard(String(Math.abs(value)), plan.cardMode, plan);
  }
  const written = String(value);
  const redacted = plan.text.redact(written);
  if (redacted !== written) return redacted;
  return typeof value === 'bigint' ? jsonOfBigInt(value, written) : value;
}

/**
 * True for an integer beyond 2^53 − 1 with the length and first digit of a card (16–19 digits,
 * 2–6): a double holds only its first 15–17 digits, so the digits it has (a JSON number is
 * rounded when parsed) cannot be Luhn-checked and it may be a card.
 */
function mayBeInexactCard(value: number): boolean {
  if (!Number.isInteger(value) || Number.isSafeInteger(value)) return false;
  const magnitude = Math.abs(value);
  if (magnitude >= LONGEST_CARD) return false;
  const first = String(magnitude).charCodeAt(0);
  return first >= 50 && first <= 54;
}

/**
 * What the card detector makes of a number that may be a card it cannot check: a string, as for
 * a card it finds in a number. `partial` keeps nothing, since the last digits are not known.
 */
function replaceInexactCard(digits: string, mode: RedactionMode, plan: WalkPlan): string {
  if (mode === 'remove') return '';
  if (mode === 'hash' && !plan.text.containsSecret(digits)) return plan.hasher.hash(digits);
  return MASK;
}

/**
 * A bigint (a local tool may return one) as JSON can carry it, since records and answers are
 * JSON: the number when a double holds it exactly, else its digits as a string.
 */
function jsonOfBigInt(value: bigint, written: string): number | string {
  const number = Number(value);
  return Number.isSafeInteger(number) ? number : written;
}

/** The replacement for a value selected as a whole (by a key name or a path). */
function replaceWhole(value: unknown, mode: RedactionMode, plan: WalkPlan): unknown {
  if (mode === 'remove') return REMOVED;
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'string') return plan.text.replaceWhole(value, mode);
  if (mode === 'mask') return MASK;
  if (typeof value === 'number' || typeof value === 'bigint') {
    const written = String(value);
    if (plan.text.containsSecret(written)) return MASK;
    return mode === 'partial' ? partialText(written) : plan.hasher.hash(written);
  }
  if (mode === 'partial') return MASK;
  let serialised: string;
  try {
    // JSON.stringify first: it refuses cycles, which the canonical writer would follow forever.
    JSON.stringify(value);
    serialised = canonicalJson(value);
  } catch {
    return MASK;
  }
  return plan.text.containsSecret(serialised) ? MASK : plan.hasher.hash(serialised);
}
