/**
 * One pass over a string for every pattern-based rule (inline credentials and the layer 4
 * detectors): the rules' patterns are joined into a single precompiled alternation, and a
 * rule's validator (checksum, header decoding) runs only on the candidates its pattern found.
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
  /** Confirms a candidate `[start, end)` found by `source`, possibly widening or narrowing it; `null` rejects it. */
  accept(text: string, start: number, end: number): ScanFinding | null;
}

/** A confirmed finding with the kind of the rule that made it. */
export interface ScanHit<Kind extends string = string> extends ScanFinding {
  readonly kind: Kind;
}

/**
 * A cheap test that skips the scan of short strings: a string shorter than `minimumLength` can
 * only hold a finding if `triggers` matches it.
 */
export interface ScanPrefilter {
  readonly minimumLength: number;
  /** Non-global pattern (so `test` keeps no state). */
  readonly triggers: RegExp;
}

/** A precompiled scanner over a fixed, ordered set of rules. */
export class CombinedScanner<Kind extends string = string> {
  private readonly rules: readonly ScanRule<Kind>[];
  private readonly combined: RegExp | null;
  /** `after[i]`: a sticky alternation of the rules after rule `i`, to retry an offset where rule `i` was refused. */
  private readonly after: ReadonlyArray<RegExp | null>;

  private readonly prefilter: ScanPrefilter | undefined;

  /** `prefilter` must be true for every string any of the rules could match. */
  constructor(rules: readonly ScanRule<Kind>[], prefilter?: ScanPrefilter) {
    this.rules = rules;
    this.prefilter = prefilter;
    this.combined = rules.length === 0 ? null : new RegExp(alternation(rules), 'gu');
    this.after = rules.map((_, index) => (index + 1 < rules.length ? new RegExp(alternation(rules.slice(index + 1)), 'uy') : null));
  }

  /** False when the prefilter proves that no rule can match (the scan can be skipped). */
  mightFind(text: string): boolean {
    const prefilter = this.prefilter;
    return prefilter === undefined || text.length >= prefilter.minimumLength || prefilter.triggers.test(text);
  }

  /**
   * Every confirmed finding, in scan order, or `null` when there is none. When the leftmost
   * candidate fails its validator, the rules after it are tried at the same offset before the
   * scan moves on by one character.
   */
  scan(text: string): ScanHit<Kind>[] | null {
    const combined = this.combined;
    if (combined === null) return null;
    const rules = this.rules;
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
        const retry = this.after[ruleIndex] ?? null;
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
}

function alternation(rules: readonly ScanRule[]): string {
  return rules.map((rule) => `(${rule.source})`).join('|');
}
