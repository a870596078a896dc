import { MASK, partialText, stricterMode, type ValueHasher } from './modes.js';
import type { PathMatcher, PathState } from './paths.js';
import type { TextRedaction } from './text-redaction.js';
import type { RedactionMode } from './types.js';
import { canonicalJson } from '../util/canonical-json.js';

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
  /** Describes an object key (cached per compiled profile). */
  describeKey(key: string): KeyInfo;
}

/** Written in place of a value that contains itself. */
export const CIRCULAR = '[Circular]';

const REMOVED: unique symbol = Symbol('removed');
/** Stack marker: the frame closes a container (its value leaves the ancestor set). */
const EXIT: unknown[] = [];
/** Integers of 12 digits or more are scanned (a card number can arrive as a JSON number); smaller ones cannot match. */
const LARGE_INTEGER = 1e11;
const LARGE_BIG_INTEGER = BigInt(LARGE_INTEGER);

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
  const result = redactNode(value, state?.mode, state, plan, new Set<object>(), 0);
  return result === REMOVED ? undefined : result;
}

/**
 * {@link redactValue} for a value made for this call that nothing else references, such as a
 * parsed upstream body: plain objects and arrays, strings, finite numbers, booleans and null,
 * no cycles, no `toJSON`. A container in which the redaction changes nothing is kept as it is
 * instead of copied; a container with a change is copied, and its unchanged members are
 * shared with `input`. The result holds the same data as redactValue's would.
 */
export function redactFreshValue(input: unknown, plan: WalkPlan): unknown {
  const state = plan.paths?.rootState();
  const result = redactFreshNode(input, state?.mode, state, plan, 0);
  return result === REMOVED ? undefined : result;
}

/** `value.toJSON(key)` where there is one, as `JSON.stringify` does. */
function jsonValue(value: unknown, key: string | number): unknown {
  return value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function'
    ? (value as { toJSON(key: string): unknown }).toJSON(String(key))
    : value;
}

/** The redacted form of one defined value (after `toJSON`), or `REMOVED`. */
function redactNode(
  value: unknown,
  mode: RedactionMode | undefined,
  state: PathState | undefined,
  plan: WalkPlan,
  ancestors: Set<object>,
  depth: number,
): unknown {
  if (mode !== undefined) return replaceWhole(value, mode, plan);
  if (typeof value === 'string') return plan.text.redact(value);
  if (typeof value === 'number' || typeof value === 'bigint') return redactNumber(value, plan);
  if (value === null || typeof value !== 'object') return value;
  if (ancestors.has(value)) return CIRCULAR;
  if (depth >= RECURSION_LIMIT) return redactIteratively(value, state, plan, ancestors);
  ancestors.add(value);
  const paths = plan.paths;
  let container: Container;
  if (Array.isArray(value)) {
    const copy: unknown[] = [];
    for (let index = 0; index < value.length; index++) {
      const child = jsonValue(value[index], index);
      if (child === undefined || typeof child === 'function' || typeof child === 'symbol') {
        copy.push(null);
        continue;
      }
      const childState = state !== undefined && paths !== null ? paths.childState(state, index) : state;
      const result = redactNode(child, childState?.mode, childState, plan, ancestors, depth + 1);
      if (result !== REMOVED) copy.push(result);
    }
    container = copy;
  } else {
    const copy: Record<string, unknown> = {};
    const names = Object.keys(value);
    for (let index = 0; index < names.length; index++) {
      const name = names[index] as string;
      const child = jsonValue((value as Record<string, unknown>)[name], name);
      if (child === undefined || typeof child === 'function' || typeof child === 'symbol') continue;
      const childState = state !== undefined && paths !== null ? paths.childState(state, name) : state;
      const info = plan.describeKey(name);
      const childMode = info.sensitive ? stricterMode(childState?.mode, plan.keyMode) : childState?.mode;
      const result = redactNode(child, childMode, childState, plan, ancestors, depth + 1);
      if (result !== REMOVED) assignMember(copy, info.outputKey, name, result);
    }
    container = copy;
  }
  ancestors.delete(value);
  return container;
}

/** The redacted form of one node of a fresh value (see {@link redactFreshValue}), or `REMOVED`. */
function redactFreshNode(
  value: unknown,
  mode: RedactionMode | undefined,
  state: PathState | undefined,
  plan: WalkPlan,
  depth: number,
): unknown {
  if (mode !== undefined) return replaceWhole(value, mode, plan);
  if (typeof value === 'string') return plan.text.redact(value);
  if (typeof value === 'number' || typeof value === 'bigint') return redactNumber(value, plan);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= RECURSION_LIMIT) return redactIteratively(value, state, plan, new Set<object>());
  const paths = plan.paths;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let index = 0; index < value.length; index++) {
      const child: unknown = value[index];
      const childState = state !== undefined && paths !== null ? paths.childState(state, index) : state;
      const result = redactFreshNode(child, childState?.mode, childState, plan, depth + 1);
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
  for (let index = 0; index < names.length; index++) {
    const name = names[index] as string;
    const child = source[name];
    const childState = state !== undefined && paths !== null ? paths.childState(state, name) : state;
    const info = plan.describeKey(name);
    const childMode = info.sensitive ? stricterMode(childState?.mode, plan.keyMode) : childState?.mode;
    const result = redactFreshNode(child, childMode, childState, plan, depth + 1);
    if (copy === undefined) {
      if (result === child && info.outputKey === name) continue;
      // The first change: the members before it were unchanged, and go into the copy as they are.
      copy = {};
      for (let earlier = 0; earlier < index; earlier++) {
        const earlierName = names[earlier] as string;
        assignMember(copy, earlierName, earlierName, source[earlierName]);
      }
    }
    if (result !== REMOVED) assignMember(copy, info.outputKey, name, result);
  }
  return copy ?? source;
}

/**
 * The walk of a deeply nested container, with an explicit stack: `source` is a container (after
 * `toJSON`) that is not an ancestor of itself and that no rule selects as a whole.
 */
function redactIteratively(source: object, sourceState: PathState | undefined, plan: WalkPlan, ancestors: Set<object>): Container {
  const root: Container = Array.isArray(source) ? [] : {};
  // Parallel stacks, one entry per pending node; the parent EXIT marks the end of a container.
  const values: unknown[] = [];
  const parents: Array<Container | null> = [];
  const keys: Array<string | number> = [];
  const states: Array<PathState | undefined> = [];
  const open = (value: object, container: Container, state: PathState | undefined) => {
    ancestors.add(value);
    values.push(value);
    parents.push(EXIT);
    keys.push('');
    states.push(undefined);
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
  open(source, root, sourceState);

  while (values.length > 0) {
    const parent = parents.pop() as Container;
    const key = keys.pop() as string | number;
    const parentState = states.pop();
    if (parent === EXIT) {
      ancestors.delete(values.pop() as object);
      continue;
    }
    const value = jsonValue(values.pop(), key);
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

    let result: unknown;
    let container: Container | undefined;
    if (mode !== undefined) {
      result = replaceWhole(value, mode, plan);
    } else if (typeof value === 'string') {
      result = plan.text.redact(value);
    } else if (typeof value === 'number' || typeof value === 'bigint') {
      result = redactNumber(value, plan);
    } else if (value === null || typeof value !== 'object') {
      result = value;
    } else if (ancestors.has(value)) {
      result = CIRCULAR;
    } else {
      container = Array.isArray(value) ? [] : {};
      result = container;
    }

    if (result !== REMOVED) {
      if (inArray) parent.push(result);
      else assignMember(parent, outputKey as string, key as string, result);
    }
    if (container !== undefined) open(value as object, container, state);
  }
  return root;
}

function assignMember(target: Record<string, unknown>, outputKey: string, sourceKey: string, value: unknown): void {
  let name = outputKey;
  if (name !== sourceKey && Object.hasOwn(target, name)) {
    // Two redacted keys collapsed into one spelling: keep both values.
    let suffix = 2;
    while (Object.hasOwn(target, `${outputKey}~${suffix}`)) suffix++;
    name = `${outputKey}~${suffix}`;
  }
  if (name === '__proto__') {
    Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[name] = value;
  }
}

function redactNumber(value: number | bigint, plan: WalkPlan): unknown {
  if (!plan.scanAllNumbers) {
    if (typeof value === 'number' && !(Number.isInteger(value) && Math.abs(value) >= LARGE_INTEGER)) return value;
    if (typeof value === 'bigint' && value < LARGE_BIG_INTEGER && value > -LARGE_BIG_INTEGER) return value;
  }
  const written = String(value);
  const redacted = plan.text.redact(written);
  return redacted === written ? value : redacted;
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
