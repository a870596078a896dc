/**
 * One pass over a string for every pattern-based rule (inline credentials and the layer 4
 * detectors): the rules' patterns are joined into a single precompiled alternation, and a
 * rule's validator (checksum, header decoding) runs only on the candidates its pattern found.
 *
 * Before any pattern runs, one character loop ({@link scanFeatures}) notes what the string
 * holds (an `@`, a separator, runs of digits, a vendor-token prefix…), and only the rules
 * whose necessary features are all present take part in the alternation. A rule left out
 * could not have matched anywhere in the string, so the findings are the same; most strings
 * of a typical record (ids, names, dates, statuses) then cost one loop and no pattern at all.
 */

/** Where a rule found something, in the scanned (folded) text. */
export interface ScanFinding {
  readonly start: number;
  readonly end: number;
  /** The normalised value (used by `hash` and `partial`), e.g. a card's digits. */
  readonly canonical: string;
}

/** A pattern plus its validator. */
export interface ScanRule<Kind extends string = string> {
  readonly kind: Kind;
  /** Pattern source, compiled with the `u` flag; it must not contain capturing groups. */
  readonly source: string;
  /**
   * {@link ScanFeature} bits that every string this rule can match (and accept) has; the rule
   * is skipped for a string that lacks any of them. `0`: always scanned.
   */
  readonly requires: number;
  /** Confirms a candidate `[start, end)` found by `source`, possibly widening or narrowing it; `null` rejects it. */
  accept(text: string, start: number, end: number): ScanFinding | null;
}

/** A confirmed finding with the kind of the rule that made it. */
export interface ScanHit<Kind extends string = string> extends ScanFinding {
  readonly kind: Kind;
}

/**
 * What {@link scanFeatures} reports about a string. Digit runs count ASCII digits joined by at
 * most two consecutive characters of ` .-()/+` (the separators of every number format the
 * detectors know).
 */
export const ScanFeature = Object.freeze({
  /** An `@`. */
  at: 1,
  /** A `:` or an `=`. */
  separator: 2,
  /** Two `:` or more. */
  twoColons: 4,
  /** A digit run of 4 digits or more. */
  digits4: 8,
  /** A digit run of 8 digits or more. */
  digits8: 16,
  /** A digit run of 9 digits or more. */
  digits9: 32,
  /** A digit run of 13 digits or more. */
  digits13: 64,
  /** Two capital letters followed by two digits, in a string of 15 characters or more (an IBAN's start). */
  ibanStart: 128,
  /** The prefix of a vendor token, a JWT or a PEM block (`eyJ`, `sk-`, `AKIA`, `-----BEGIN`…). */
  tokenPrefix: 256,
  /** A character outside ASCII (the text may need folding before it is scanned). */
  nonAscii: 512,
  /** A run of {@link AGENT_KEY_LENGTH} or more `[A-Za-z0-9_-]` (as long as an agent key). */
  agentKeyRun: 1024,
});

/** The length of an agent key: `atg_`, a 16-character id, `_`, and 38 characters of secret and checksum. */
export const AGENT_KEY_LENGTH = 59;

/** One more than the largest {@link ScanFeature} mask (every bit set): every mask `scanFeatures` returns is below it. */
const FEATURE_MASKS = 2 * Math.max(...Object.values(ScanFeature));

/** Every literal a token-like rule (PEM, JWT, vendor keys, Slack webhooks) starts with. */
const TOKEN_PREFIXES = /-----BEGIN|eyJ|A(?:KI|SI|BI|CC)A|gh[pousr]_|github_pat_|xox|xapp-|hooks\.slack\.com|_live_|sk-|AIza/;
/**
 * Token-like findings hold a run of this many `[A-Za-z0-9_-]` (a vendor key's body, a JWT's
 * JOSE header: `{"alg":""}` is 14 characters in base64url), or five dashes (PEM), or they are a
 * Slack webhook URL (a `:` and 49 characters or more). Other strings skip the prefix search.
 */
const SHORTEST_TOKEN_RUN = 14;
const SHORTEST_WEBHOOK_URL = 49;
const SHORTEST_IBAN = 15;

/** One loop over `text`: the {@link ScanFeature} bits it has. */
export function scanFeatures(text: string): number {
  let features = 0;
  let digits = 0;
  let longestDigits = 0;
  let separators = 0;
  let colons = 0;
  let capitals = 0;
  let ibanDigit = false;
  let ibanSeen = false;
  let tokenRun = 0;
  let longestTokenRun = 0;
  let dashes = 0;
  let longestDashes = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code >= 48 && code <= 57) {
      digits++;
      separators = 0;
      if (digits > longestDigits) longestDigits = digits;
      if (ibanDigit) ibanSeen = true;
      ibanDigit = capitals >= 2;
      capitals = 0;
      if (++tokenRun > longestTokenRun) longestTokenRun = tokenRun;
      dashes = 0;
      continue;
    }
    ibanDigit = false;
    if (code >= 65 && code <= 90) {
      capitals++;
      digits = 0;
      separators = 0;
      if (++tokenRun > longestTokenRun) longestTokenRun = tokenRun;
      dashes = 0;
      continue;
    }
    capitals = 0;
    if ((code >= 97 && code <= 122) || code === 95) {
      digits = 0;
      separators = 0;
      if (++tokenRun > longestTokenRun) longestTokenRun = tokenRun;
      dashes = 0;
      continue;
    }
    if (code === 45) {
      if (++separators > 2) digits = 0;
      if (++tokenRun > longestTokenRun) longestTokenRun = tokenRun;
      if (++dashes > longestDashes) longestDashes = dashes;
      continue;
    }
    tokenRun = 0;
    dashes = 0;
    if (code === 32 || code === 46 || code === 40 || code === 41 || code === 47 || code === 43) {
      if (++separators > 2) digits = 0;
      continue;
    }
    digits = 0;
    separators = 0;
    if (code === 58) {
      colons++;
      features |= ScanFeature.separator;
    } else if (code === 61) features |= ScanFeature.separator;
    else if (code === 64) features |= ScanFeature.at;
    else if (code >= 0x80) features |= ScanFeature.nonAscii;
  }
  if (colons >= 2) features |= ScanFeature.twoColons;
  if (longestDigits >= 4) {
    features |= ScanFeature.digits4;
    if (longestDigits >= 8) features |= ScanFeature.digits8;
    if (longestDigits >= 9) features |= ScanFeature.digits9;
    if (longestDigits >= 13) features |= ScanFeature.digits13;
  }
  if (ibanSeen && text.length >= SHORTEST_IBAN) features |= ScanFeature.ibanStart;
  if (longestTokenRun >= AGENT_KEY_LENGTH) features |= ScanFeature.agentKeyRun;
  if (
    (longestTokenRun >= SHORTEST_TOKEN_RUN || longestDashes >= 5 || (colons > 0 && text.length >= SHORTEST_WEBHOOK_URL)) &&
    TOKEN_PREFIXES.test(text)
  ) {
    features |= ScanFeature.tokenPrefix;
  }
  return features;
}

function digitsAt(text: string, start: number, count: number): boolean {
  for (let index = start; index < start + count; index++) {
    const code = text.charCodeAt(index);
    if (!(code >= 48 && code <= 57)) return false;
  }
  return true;
}

/**
 * True when `text` is exactly an RFC 3339 date or date-time as APIs write timestamps:
 * `YYYY-MM-DD`, then optionally `T`, `t` or a space and `hh:mm`, then optionally `:ss` with a
 * fraction of 1–9 digits, then optionally `Z`, `z` or an offset `±hh:mm`. Digits are not
 * range-checked. Most strings are ruled out by their length or their fifth character.
 *
 * No built-in detector can match inside such a string, whatever its digits: it has no `@`,
 * no letters but `T` and `Z` (in either case), no `://`, no dotted quad, and its digit
 * groups (4-2-2, then 2:2:2, a fraction and 2:2) fit no card, SSN, IBAN or phone layout (the
 * one national-phone candidate, `0M-DD hh` in the space form, mixes separators and has 6
 * digits, so it is refused) nor a valid IPv6 address. The only thing the `key: value` rule can read in one is the key `Thh`
 * (or `thh`) before the first colon: see {@link timestampKeys}. The property test in
 * test/redaction/scanner.test.ts checks this against a full scan of every rule.
 */
export function isTimestamp(text: string): boolean {
  const length = text.length;
  if (length < 10 || length > 35 || text.charCodeAt(4) !== 45) return false;
  if (!digitsAt(text, 0, 4) || !digitsAt(text, 5, 2) || text.charCodeAt(7) !== 45 || !digitsAt(text, 8, 2)) {
    return false;
  }
  if (length === 10) return true;
  const between = text.charCodeAt(10);
  if (between !== 84 && between !== 116 && between !== 32) return false;
  if (!digitsAt(text, 11, 2) || text.charCodeAt(13) !== 58 || !digitsAt(text, 14, 2)) return false;
  let index = 16;
  if (text.charCodeAt(index) === 58) {
    if (!digitsAt(text, 17, 2)) return false;
    index = 19;
    if (text.charCodeAt(index) === 46) {
      let end = index + 1;
      while (end < length && digitsAt(text, end, 1)) end++;
      if (end === index + 1 || end - index - 1 > 9) return false;
      index = end;
    }
  }
  if (index === length) return true;
  const zone = text.charCodeAt(index);
  if (zone === 90 || zone === 122) return index + 1 === length;
  if (zone !== 43 && zone !== 45) return false;
  return index + 6 === length && digitsAt(text, index + 1, 2) && text.charCodeAt(index + 3) === 58 && digitsAt(text, index + 4, 2);
}

/**
 * Every key the `key: value` rule can read inside an {@link isTimestamp} string: the hour after
 * the `T` (`T10` in `2025-01-03T10:00:00Z`), in both cases. When none of them is a sensitive
 * key name, no rule can find anything in a timestamp.
 */
export function timestampKeys(): string[] {
  const keys: string[] = [];
  for (let hour = 0; hour < 100; hour++) {
    const digits = String(hour).padStart(2, '0');
    keys.push(`T${digits}`, `t${digits}`);
  }
  return keys;
}

/** The alternation of some of a scanner's rules. */
interface RuleSubset<Kind extends string> {
  readonly rules: readonly ScanRule<Kind>[];
  readonly combined: RegExp;
  /** `after[i]`: a sticky alternation of the rules after rule `i`, to retry an offset where rule `i` was refused. */
  readonly after: ReadonlyArray<RegExp | null>;
}

/**
 * A scanner over a fixed, ordered set of rules (at most 31). The alternation of each subset of
 * rules that strings select is compiled the first time it is needed and kept: the selection is
 * a function of the {@link ScanFeature} bits, so there are at most a few hundred (in practice a
 * handful), and in the steady state no pattern is built.
 */
export class CombinedScanner<Kind extends string = string> {
  private readonly rules: readonly ScanRule<Kind>[];
  private readonly subsets = new Map<number, RuleSubset<Kind>>();
  /** `selections[features]`: the bit set of the rules whose required features are all in `features`. */
  private readonly selections = new Int32Array(FEATURE_MASKS);

  constructor(rules: readonly ScanRule<Kind>[]) {
    if (rules.length > 31) throw new RangeError('CombinedScanner takes at most 31 rules');
    this.rules = rules;
    for (let features = 0; features < FEATURE_MASKS; features++) {
      let selection = 0;
      for (let index = 0; index < rules.length; index++) {
        const requires = (rules[index] as ScanRule<Kind>).requires;
        if ((features & requires) === requires) selection |= 1 << index;
      }
      this.selections[features] = selection;
    }
  }

  /**
   * Every confirmed finding, in scan order, or `null` when there is none. `features` are
   * `scanFeatures(text)`. When the leftmost candidate fails its validator, the rules after it
   * are tried at the same offset before the scan moves on by one character.
   */
  scan(text: string, features: number): ScanHit<Kind>[] | null {
    const selection = this.selections[features & (FEATURE_MASKS - 1)] as number;
    if (selection === 0) return null;
    const subset = this.subset(selection);
    const { rules, combined, after } = subset;
    let hits: ScanHit<Kind>[] | null = null;
    combined.lastIndex = 0;
    let match: RegExpExecArray | null;
    while ((match = combined.exec(text)) !== null) {
      const start = match.index;
      let offset = 0;
      let finding: ScanFinding | null = null;
      let ruleIndex = -1;
      while (match !== null) {
        let group = 1;
        while (group < match.length - 1 && match[group] === undefined) group++;
        ruleIndex = offset + group - 1;
        finding = (rules[ruleIndex] as ScanRule<Kind>).accept(text, start, start + match[0].length);
        if (finding !== null) break;
        const retry = after[ruleIndex] ?? null;
        if (retry === null) break;
        retry.lastIndex = start;
        match = retry.exec(text);
        offset = ruleIndex + 1;
      }
      if (finding === null) {
        combined.lastIndex = start + 1;
        continue;
      }
      (hits ??= []).push({
        kind: (rules[ruleIndex] as ScanRule<Kind>).kind,
        start: finding.start,
        end: finding.end,
        canonical: finding.canonical,
      });
      combined.lastIndex = Math.max(finding.end, start + 1);
    }
    return hits;
  }

  private subset(selection: number): RuleSubset<Kind> {
    let subset = this.subsets.get(selection);
    if (subset === undefined) {
      const rules = this.rules.filter((_, index) => (selection & (1 << index)) !== 0);
      subset = {
        rules,
        combined: new RegExp(alternation(rules), 'gu'),
        after: rules.map((_, index) => (index + 1 < rules.length ? new RegExp(alternation(rules.slice(index + 1)), 'uy') : null)),
      };
      this.subsets.set(selection, subset);
    }
    return subset;
  }
}

function alternation(rules: readonly ScanRule[]): string {
  return rules.map((rule) => `(${rule.source})`).join('|');
}
