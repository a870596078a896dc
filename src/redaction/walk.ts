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

/**
 * Returns a redacted, JSON-shaped deep copy of `input`. The walk is iterative (an explicit stack),
 * so nesting depth is bounded by memory, not by the call stack; each node is visited once.
 */
export function redactValue(input: unknown, plan: WalkPlan): unknown {
  const rootState = plan.paths?.rootState();
  let root: unknown;
  // Parallel stacks, one entry per pending node; the parent EXIT marks the end of a container.
  const values: unknown[] = [input];
  const parents: Array<Container | null> = [null];
  const keys: Array<string | number> = [''];
  const states: Array<PathState | undefined> = [rootState];
  const ancestors = new Set<object>();

  while (values.length > 0) {
    let value = values.pop();
    const parent = parents.pop() as Container | null;
    const key = keys.pop() as string | number;
    const parentState = states.pop();
    if (parent === EXIT) {
      ancestors.delete(value as object);
      continue;
    }

    if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
      value = (value as { toJSON(key: string): unknown }).toJSON(String(key));
    }
    const inArray = Array.isArray(parent);
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
      if (inArray) (parent as unknown[]).push(null);
      continue;
    }

    let state = parentState;
    let mode: RedactionMode | undefined;
    if (parent === null) {
      mode = state?.mode;
    } else if (state !== undefined && plan.paths !== null) {
      state = plan.paths.childState(state, key);
      mode = state.mode;
    }
    let outputKey = key;
    if (parent !== null && !inArray) {
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
      if (parent === null) root = result;
      else if (inArray) (parent as unknown[]).push(result);
      else assignMember(parent as Record<string, unknown>, outputKey as string, key as string, result);
    }
    if (container === undefined) continue;

    const source = value as object;
    ancestors.add(source);
    values.push(source);
    parents.push(EXIT);
    keys.push('');
    states.push(undefined);
    if (Array.isArray(source)) {
      for (let index = source.length - 1; index >= 0; index--) {
        values.push(source[index]);
        parents.push(container);
        keys.push(index);
        states.push(state);
      }
    } else {
      const memberNames = Object.keys(source);
      for (let index = memberNames.length - 1; index >= 0; index--) {
        const name = memberNames[index] as string;
        values.push((source as Record<string, unknown>)[name]);
        parents.push(container);
        keys.push(name);
        states.push(state);
      }
    }
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
