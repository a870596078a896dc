import { MASK, partialText, stricterMode, type ValueHasher } from './modes.js';
import { type FoldedText, foldForMatching, foldedText, originalEnd, originalStart } from './normalize.js';
import type { SecretMatcher } from './secrets.js';
import { type CombinedScanner, isTimestamp, ScanFeature, scanFeatures } from './text-scanner.js';
import type { RedactionMode } from './types.js';

/** A stretch of the original string to replace. */
interface Span {
  start: number;
  end: number;
  mode: RedactionMode;
  /** Normalised matched value for `partial` and `hash`; `undefined` after merging different findings. */
  canonical: string | undefined;
}

/** Strings shorter than this cannot hold anything the scanner or layer 1 looks for. */
const SHORTEST_SCANNED_LENGTH = 3;

/**
 * Redacts one string with layers 1, 2 (inline credentials) and 4: finds every span on the folded
 * text, merges overlaps (the stricter mode wins) and rebuilds the string from the original.
 */
export class TextRedaction {
  private readonly secrets: SecretMatcher;
  private readonly scanner: CombinedScanner;
  private readonly modes: ReadonlyMap<string, RedactionMode>;
  private readonly hasher: ValueHasher;
  /** No rule can find anything in an RFC 3339 timestamp (no key name matches `Thh`): their scan is skipped. */
  private readonly skipTimestamps: boolean;

  constructor(
    secrets: SecretMatcher,
    scanner: CombinedScanner,
    modes: ReadonlyMap<string, RedactionMode>,
    hasher: ValueHasher,
    skipTimestamps: boolean,
  ) {
    this.secrets = secrets;
    this.scanner = scanner;
    this.modes = modes;
    this.hasher = hasher;
    this.skipTimestamps = skipTimestamps;
  }

  /** The redacted string; the same string when nothing matched. */
  redact(text: string): string {
    if (this.secrets.wholeValues.size > 0 && this.isWholeSecret(text)) return MASK;
    if (text.length < SHORTEST_SCANNED_LENGTH) return text;
    const pattern = this.secrets.pattern;
    const shortest = this.secrets.shortestMatch;
    let spans: Span[] | null = pattern === null || text.length < shortest ? null : collectSecretSpans(pattern, text, null, null);
    // Timestamps, the commonest digit-bearing strings in API data, cannot hold a finding (see isTimestamp).
    if (this.skipTimestamps && isTimestamp(text)) return spans === null ? text : this.render(text, spans);
    let features = scanFeatures(text);
    let folded: FoldedText | null = null;
    if ((features & ScanFeature.nonAscii) !== 0) {
      folded = foldForMatching(text);
      if (folded !== null) {
        if (pattern !== null && folded.text.length >= shortest) spans = collectSecretSpans(pattern, folded.text, folded, spans);
        features = scanFeatures(folded.text);
      }
    }
    const hits = this.scanner.scan(folded === null ? text : folded.text, features);
    if (hits !== null) {
      spans ??= [];
      for (const hit of hits) {
        spans.push({
          start: folded === null ? hit.start : originalStart(folded, hit.start),
          end: folded === null ? hit.end : originalEnd(folded, hit.end),
          mode: this.modes.get(hit.kind) ?? 'mask',
          canonical: hit.canonical,
        });
      }
    }
    return spans === null ? text : this.render(text, spans);
  }

  /** True when `text` holds one of the profile's secrets (in any searched encoding). */
  containsSecret(text: string): boolean {
    if (this.secrets.wholeValues.size > 0 && this.isWholeSecret(text)) return true;
    const pattern = this.secrets.pattern;
    if (pattern === null) return false;
    pattern.lastIndex = 0;
    if (pattern.test(text)) return true;
    const folded = foldForMatching(text);
    if (folded === null) return false;
    pattern.lastIndex = 0;
    return pattern.test(folded.text);
  }

  /**
   * The replacement of a whole value selected in `mode` (not `remove`, which the caller handles).
   * `partial` and `hash` work on the normalised value: the normalised finding when one finding
   * covers all of it (so `Ada@Example.com` and `ada@example.com`, or a card with and without
   * spaces, hash alike, and like the same finding inside text), else the folded text.
   */
  replaceWhole(text: string, mode: Exclude<RedactionMode, 'remove'>): string {
    if (text.length === 0) return text;
    if (mode === 'mask' || this.containsSecret(text)) return MASK;
    const folded = foldedText(text);
    const canonical = this.wholeFinding(folded) ?? folded;
    return mode === 'partial' ? partialText(canonical) : this.hasher.hash(canonical);
  }

  /** The normalised value of the finding that covers all of `folded`, if there is one. */
  private wholeFinding(folded: string): string | null {
    const hits = this.scanner.scan(folded, scanFeatures(folded));
    if (hits === null) return null;
    for (const hit of hits) {
      if (hit.start === 0 && hit.end === folded.length) return hit.canonical;
    }
    return null;
  }

  private isWholeSecret(text: string): boolean {
    return this.secrets.wholeValues.has(text) || (text.length <= 8 && this.secrets.wholeValues.has(foldedText(text)));
  }

  private render(text: string, spans: Span[]): string {
    spans.sort((left, right) => left.start - right.start || right.end - left.end);
    let output = '';
    let cursor = 0;
    let current = spans[0] as Span;
    for (let index = 1; index <= spans.length; index++) {
      const next = spans[index];
      if (next !== undefined && next.start < current.end) {
        if (next.end > current.end || next.mode !== current.mode) {
          current = {
            start: current.start,
            end: Math.max(current.end, next.end),
            mode: stricterMode(current.mode, next.mode) as RedactionMode,
            canonical: undefined,
          };
        }
        continue;
      }
      output += text.slice(cursor, current.start) + this.replacement(text, current);
      cursor = current.end;
      if (next !== undefined) current = next;
    }
    return output + text.slice(cursor);
  }

  private replacement(text: string, span: Span): string {
    switch (span.mode) {
      case 'remove':
        return '';
      case 'mask':
        return MASK;
      case 'partial':
        return partialText(span.canonical ?? foldedText(text.slice(span.start, span.end)));
      case 'hash':
        return this.hasher.hash(span.canonical ?? foldedText(text.slice(span.start, span.end)));
    }
  }
}

function collectSecretSpans(pattern: RegExp, text: string, folded: FoldedText | null, spans: Span[] | null): Span[] | null {
  pattern.lastIndex = 0;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(text)) !== null) {
    const start = match.index;
    const end = start + match[0].length;
    (spans ??= []).push({
      start: folded === null ? start : originalStart(folded, start),
      end: folded === null ? end : originalEnd(folded, end),
      mode: 'mask',
      canonical: undefined,
    });
    // Resume one character later, not after the match, so that overlapping secrets are all found.
    pattern.lastIndex = start + 1;
  }
  return spans;
}
