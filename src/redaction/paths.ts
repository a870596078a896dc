import { stricterMode } from './modes.js';
import { foldPlain } from './normalize.js';
import type { RedactionMode } from './types.js';

/**
 * Layer 3: JSONPath-style field rules compiled into a small automaton that advances one object
 * key or array index at a time, so the value walk never re-reads a path.
 *
 * Grammar: `$` followed by any number of `.name`, `.*`, `[n]`, `[*]`, `['name']`, `["name"]`,
 * each optionally preceded by `..` (any depth below). Names compare case-insensitively after
 * NFKC folding.
 */

type Step =
  | { readonly descendant: boolean; readonly kind: 'name'; readonly name: string }
  | { readonly descendant: boolean; readonly kind: 'index'; readonly index: number }
  | { readonly descendant: boolean; readonly kind: 'any' };

/** A parsed path with the mode it applies. */
export interface CompiledPathRule {
  readonly source: string;
  readonly steps: readonly Step[];
  readonly mode: RedactionMode;
}

/** Where the walk is in every path rule at one node. States are interned per matcher, so they double as DFA states. */
export interface PathState {
  /** Live `(rule, step)` pairs, packed as `rule * STEP_LIMIT + step`. */
  readonly live: readonly number[];
  /** Set when a rule ends at this node: the strictest such rule's mode. */
  readonly mode: RedactionMode | undefined;
  /** Transitions already computed from this state, by raw key. */
  readonly transitions: Map<string | number, PathState>;
}

const STEP_LIMIT = 256;
const NO_LIVE_STEPS: readonly number[] = Object.freeze([]);
/** Transitions cached per state; beyond this (huge arrays, many distinct keys) they are computed each time. */
const TRANSITION_CACHE_LIMIT = 1024;
const NAME_CHARACTER = /[^.[\]\s'"*]/u;
const CACHE_LIMIT = 10_000;

/** Parses a path; throws a `TypeError` naming the path and the offending offset. */
export function parsePath(source: string): Step[] {
  const fail = (reason: string, offset: number): never => {
    throw new TypeError(`Invalid redaction path ${JSON.stringify(source)}: ${reason} at offset ${offset}`);
  };
  if (typeof source !== 'string') throw new TypeError(`Invalid redaction path ${String(source)}: expected a string`);
  if (!source.startsWith('$')) fail('a path starts with "$"', 0);
  const steps: Step[] = [];
  let index = 1;
  while (index < source.length) {
    let descendant = false;
    if (source.startsWith('..', index)) {
      descendant = true;
      index += 2;
      if (index >= source.length) fail('".." needs a name, "*" or a bracket after it', index);
      if (source[index] !== '[') {
        index = readDotMember(source, index, descendant, steps, fail);
        continue;
      }
    } else if (source[index] === '.') {
      index += 1;
      if (index >= source.length) fail('"." needs a name or "*" after it', index);
      index = readDotMember(source, index, descendant, steps, fail);
      continue;
    } else if (source[index] !== '[') {
      fail(`unexpected ${JSON.stringify(source[index])}`, index);
    }
    index = readBracket(source, index, descendant, steps, fail);
  }
  if (steps.length >= STEP_LIMIT) fail(`more than ${STEP_LIMIT - 1} steps`, 0);
  return steps;
}

function readDotMember(
  source: string,
  index: number,
  descendant: boolean,
  steps: Step[],
  fail: (reason: string, offset: number) => never,
): number {
  if (source[index] === '*') {
    steps.push({ descendant, kind: 'any' });
    return index + 1;
  }
  let end = index;
  while (end < source.length && NAME_CHARACTER.test(source[end] as string)) end++;
  if (end === index) fail(`expected a name, found ${JSON.stringify(source[index])}`, index);
  steps.push({ descendant, kind: 'name', name: normalisePathKey(source.slice(index, end)) });
  return end;
}

function readBracket(
  source: string,
  index: number,
  descendant: boolean,
  steps: Step[],
  fail: (reason: string, offset: number) => never,
): number {
  const open = index;
  index += 1;
  const first = source[index];
  if (first === '*') {
    if (source[index + 1] !== ']') fail('expected "]" after "*"', index + 1);
    steps.push({ descendant, kind: 'any' });
    return index + 2;
  }
  if (first === "'" || first === '"') {
    let name = '';
    let cursor = index + 1;
    while (cursor < source.length && source[cursor] !== first) {
      if (source[cursor] === '\\' && cursor + 1 < source.length) cursor += 1;
      name += source[cursor];
      cursor += 1;
    }
    if (cursor >= source.length) fail('unterminated quoted name', open);
    if (source[cursor + 1] !== ']') fail('expected "]" after the quoted name', cursor + 1);
    steps.push({ descendant, kind: 'name', name: normalisePathKey(name) });
    return cursor + 2;
  }
  let cursor = index;
  while (cursor < source.length && (source[cursor] as string) >= '0' && (source[cursor] as string) <= '9') cursor++;
  if (cursor === index || source[cursor] !== ']') fail('expected "*", an index or a quoted name inside "[]"', index);
  const position = Number(source.slice(index, cursor));
  if (!Number.isSafeInteger(position)) fail('index too large', index);
  steps.push({ descendant, kind: 'index', index: position });
  return cursor + 1;
}

const normalisedKeys = new Map<string, string>();

/** The form object keys and path names are compared in: folded (NFKC, no invisibles) and lower-cased. */
export function normalisePathKey(key: string): string {
  const cached = normalisedKeys.get(key);
  if (cached !== undefined) return cached;
  const normalised = foldPlain(key).toLowerCase();
  if (normalisedKeys.size >= CACHE_LIMIT) normalisedKeys.clear();
  normalisedKeys.set(key, normalised);
  return normalised;
}

/** Runs every path rule of a profile as one automaton, built lazily into a DFA as keys are met. */
export class PathMatcher {
  private readonly rules: readonly CompiledPathRule[];
  private readonly states = new Map<string, PathState>();
  private readonly empty: PathState;
  private readonly root: PathState;

  constructor(rules: readonly CompiledPathRule[]) {
    this.rules = rules;
    this.empty = this.intern(NO_LIVE_STEPS, undefined);
    const live: number[] = [];
    let mode: RedactionMode | undefined;
    rules.forEach((rule, ruleIndex) => {
      if (rule.steps.length === 0) mode = stricterMode(mode, rule.mode);
      else live.push(ruleIndex * STEP_LIMIT);
    });
    this.root = this.intern(live, mode);
  }

  /** The state at the root of a value (a `$` rule selects the root itself). */
  rootState(): PathState {
    return this.root;
  }

  /** The state at a child: `key` is an object member name or an array index. */
  childState(parent: PathState, key: string | number): PathState {
    if (parent.live.length === 0) return this.empty;
    const cached = parent.transitions.get(key);
    if (cached !== undefined) return cached;
    const child = this.computeChild(parent, key);
    if (parent.transitions.size < TRANSITION_CACHE_LIMIT) parent.transitions.set(key, child);
    return child;
  }

  private computeChild(parent: PathState, key: string | number): PathState {
    const name = typeof key === 'string' ? normalisePathKey(key) : undefined;
    const next: number[] = [];
    let mode: RedactionMode | undefined;
    for (const packed of parent.live) {
      const ruleIndex = Math.floor(packed / STEP_LIMIT);
      const stepIndex = packed % STEP_LIMIT;
      const rule = this.rules[ruleIndex] as CompiledPathRule;
      const step = rule.steps[stepIndex] as Step;
      if (step.descendant && !next.includes(packed)) next.push(packed);
      const matches =
        step.kind === 'any'
          ? true
          : step.kind === 'name'
            ? name !== undefined && name === step.name
            : typeof key === 'number' && key === step.index;
      if (!matches) continue;
      if (stepIndex + 1 === rule.steps.length) mode = stricterMode(mode, rule.mode);
      else if (!next.includes(packed + 1)) next.push(packed + 1);
    }
    return this.intern(next, mode);
  }

  private intern(live: readonly number[], mode: RedactionMode | undefined): PathState {
    const sorted = [...live].sort((left, right) => left - right);
    const identity = `${mode ?? ''}:${sorted.join(',')}`;
    let state = this.states.get(identity);
    if (state === undefined) {
      state = { live: sorted, mode, transitions: new Map() };
      this.states.set(identity, state);
    }
    return state;
  }
}

/** Compiles path rules; throws a `TypeError` for invalid syntax. */
export function compilePathRules(entries: ReadonlyArray<{ path: string; mode: RedactionMode }>): PathMatcher | null {
  if (entries.length === 0) return null;
  return new PathMatcher(entries.map((entry) => ({ source: entry.path, steps: parsePath(entry.path), mode: entry.mode })));
}
