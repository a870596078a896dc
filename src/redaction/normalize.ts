/**
 * Folding of text before matching: invisible characters (format characters, zero-width joiners,
 * variation selectors, fillers) are dropped, every character is NFKC-normalised, and the hyphens
 * and dashes NFKC keeps (see {@link DASHES}) become `-`, and the decimal digits of every script
 * become ASCII digits (NFKC folds only fullwidth and mathematical ones), so that fullwidth or
 * Arabic-Indic digits, ligatures, a zero-width joiner inside an e-mail address or a card grouped
 * by U+2010 hyphens cannot hide a match (NFKC already turns no-break, figure and narrow spaces
 * into ` `).
 * Matching runs on the folded text; the output is built from the original text, so a map from
 * folded offsets back to original offsets is kept whenever folding changed anything.
 */

const ASCII_ONLY = /^[\x00-\x7f]*$/;
const INVISIBLE_SOURCE = '[\\p{Default_Ignorable_Code_Point}\\p{Cf}]';
const INVISIBLE_ALL = new RegExp(INVISIBLE_SOURCE, 'gu');
const INVISIBLE_AT = new RegExp(INVISIBLE_SOURCE, 'uy');
const MARK_AT = /\p{M}/uy;
/**
 * Hyphen-like characters that NFKC leaves as they are, read as `-`: hyphen U+2010 (and U+2011,
 * which NFKC turns into it), figure dash U+2012, en dash U+2013, hyphen bullet U+2043, minus sign
 * U+2212. The em dash and longer dashes stay: they punctuate prose and group no number.
 * (U+FE63 and U+FF0D are already `-` after NFKC.)
 */
const DASHES = /[\u2010-\u2013\u2043\u2212]/g;
const DECIMAL_DIGIT = /^\p{Nd}$/u;
/** The first decimal digit after ASCII's: U+0660 ARABIC-INDIC DIGIT ZERO. */
const FIRST_SCRIPT_DIGIT = 0x660;
/**
 * What each BMP code unit is, learnt the first time it is met (a lookup then, where a `\p{Nd}`
 * pattern would cost more than the rest of folding): 0 not known yet, 1 no decimal digit,
 * 2 + its value for a decimal digit.
 */
const bmpDigits = new Uint8Array(0x10000);
const NOT_A_DIGIT = 1;
/** The same for code points outside the BMP, -1 for no digit (bounded: cleared when full). */
const astralDigits = new Map<number, number>();
const ASTRAL_CACHE_LIMIT = 4096;

/** Text prepared for matching, with the way back to the original offsets. */
export interface FoldedText {
  /** The folded text that patterns run on. */
  readonly text: string;
  /**
   * For each folded UTF-16 unit, the original offset where its source character starts; `null`
   * when every unit stays where it was (only digits of the BMP changed).
   */
  readonly starts: readonly number[] | null;
  /** For each folded UTF-16 unit, the original offset just after its source character; `null` as for `starts`. */
  readonly ends: readonly number[] | null;
}

/** True when the string holds only ASCII (folding is then the identity). */
export function isAscii(text: string): boolean {
  return ASCII_ONLY.test(text);
}

/** Drops invisible characters, applies NFKC and reads dashes as `-`, without offsets (for secrets and keys). */
export function foldPlain(text: string): string {
  return ASCII_ONLY.test(text) ? text : foldWhole(text);
}

/**
 * Folds a string for matching; `null` when folding changes nothing (always so for ASCII). A base
 * character and the combining marks after it are normalised together (so precomposed and
 * decomposed accents agree) and mapped back as one unit.
 */
export function foldForMatching(original: string): FoldedText | null {
  if (ASCII_ONLY.test(original)) return null;
  const withDigits = withAsciiDigits(original);
  const scriptDigits = withDigits !== original;
  if (foldWithoutDigits(original) === original) {
    if (!scriptDigits) return null;
    // Only digits of the BMP changed, unit for unit: the offsets are the same (the common case
    // of text in a script with its own digits, which the loop below would make slow).
    if (withDigits.length === original.length) return { text: withDigits, starts: null, ends: null };
  }
  const pieces: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  let index = 0;
  while (index < original.length) {
    const segmentStart = index;
    index += codePointWidth(original, index);
    INVISIBLE_AT.lastIndex = segmentStart;
    if (INVISIBLE_AT.test(original)) continue;
    while (index < original.length && original.charCodeAt(index) >= 0x300) {
      MARK_AT.lastIndex = index;
      if (!MARK_AT.test(original)) break;
      INVISIBLE_AT.lastIndex = index;
      if (INVISIBLE_AT.test(original)) break;
      index += codePointWidth(original, index);
    }
    let folded = original.slice(segmentStart, index).normalize('NFKC').replace(DASHES, '-');
    if (scriptDigits) folded = withAsciiDigits(folded);
    pieces.push(folded);
    for (let unit = 0; unit < folded.length; unit++) {
      starts.push(segmentStart);
      ends.push(index);
    }
  }
  return { text: pieces.join(''), starts, ends };
}

/** Maps the start of a folded range back to the original string. */
export function originalStart(folded: FoldedText, start: number): number {
  return folded.starts === null ? start : (folded.starts[start] ?? 0);
}

/** Maps the (exclusive) end of a non-empty folded range back to the original string. */
export function originalEnd(folded: FoldedText, end: number): number {
  return folded.ends === null ? end : (folded.ends[end - 1] ?? 0);
}

/** The folded form of a string, or the string itself when folding changes nothing. */
export function foldedText(original: string): string {
  return foldForMatching(original)?.text ?? original;
}

function foldWhole(text: string): string {
  return withAsciiDigits(foldWithoutDigits(text));
}

function foldWithoutDigits(text: string): string {
  return text.replace(INVISIBLE_ALL, '').normalize('NFKC').replace(DASHES, '-');
}

/**
 * `text` with every decimal digit outside ASCII (`\p{Nd}`: Arabic-Indic, Devanagari, Thai…)
 * replaced by its ASCII digit; `text` itself when it has none. One loop; code units below
 * U+0660 are skipped at once.
 */
export function withAsciiDigits(text: string): string {
  const length = text.length;
  let first = 0;
  // Most non-ASCII text has no such digit: a bare loop over units known not to be digits.
  while (first < length) {
    const unit = text.charCodeAt(first);
    if (unit >= FIRST_SCRIPT_DIGIT && bmpDigits[unit] !== NOT_A_DIGIT) break;
    first++;
  }
  if (first === length) return text;
  let output = '';
  let copied = 0;
  for (let index = first; index < length; index++) {
    const unit = text.charCodeAt(index);
    if (unit < FIRST_SCRIPT_DIGIT) continue;
    const width = codePointWidth(text, index);
    const value = width === 1 ? bmpDigit(unit) : astralDigit(text.codePointAt(index) as number);
    if (value !== -1) {
      output += text.slice(copied, index) + String(value);
      copied = index + width;
    }
    index += width - 1;
  }
  return copied === 0 ? text : output + text.slice(copied);
}

/** The value of the BMP code unit as a decimal digit, -1 when it is none. */
function bmpDigit(unit: number): number {
  let known = bmpDigits[unit] as number;
  if (known === 0) {
    known = DECIMAL_DIGIT.test(String.fromCharCode(unit)) ? 2 + digitValue(unit) : NOT_A_DIGIT;
    bmpDigits[unit] = known;
  }
  return known - 2;
}

function astralDigit(codePoint: number): number {
  let value = astralDigits.get(codePoint);
  if (value === undefined) {
    value = DECIMAL_DIGIT.test(String.fromCodePoint(codePoint)) ? digitValue(codePoint) : -1;
    if (astralDigits.size >= ASTRAL_CACHE_LIMIT) astralDigits.clear();
    astralDigits.set(codePoint, value);
  }
  return value;
}

/**
 * The value of a decimal digit. Unicode encodes each script's decimal digits as runs of ten
 * consecutive code points from 0 to 9 (some runs adjoin), so it is the digit's distance from the
 * start of its run of decimal digits, modulo 10.
 */
function digitValue(codePoint: number): number {
  let runStart = codePoint;
  while (DECIMAL_DIGIT.test(String.fromCodePoint(runStart - 1))) runStart--;
  return (codePoint - runStart) % 10;
}

function codePointWidth(text: string, index: number): number {
  const unit = text.charCodeAt(index);
  if (unit >= 0xd800 && unit <= 0xdbff && index + 1 < text.length) {
    const next = text.charCodeAt(index + 1);
    if (next >= 0xdc00 && next <= 0xdfff) return 2;
  }
  return 1;
}
