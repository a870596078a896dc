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
/** Decimal digits outside ASCII that NFKC keeps (Arabic-Indic, Devanagari, Thai…), read as `0`–`9`. */
const SCRIPT_DIGITS = /(?![0-9])\p{Nd}/gu;
const SCRIPT_DIGIT = /(?![0-9])\p{Nd}/u;
const DECIMAL_DIGIT = /^\p{Nd}$/u;
/** The ASCII digit of each script digit met so far (a few hundred exist). */
const asciiDigits = new Map<string, string>();

/** Text prepared for matching, with the way back to the original offsets. */
export interface FoldedText {
  /** The folded text that patterns run on. */
  readonly text: string;
  /** For each folded UTF-16 unit, the original offset where its source character starts. */
  readonly starts: readonly number[];
  /** For each folded UTF-16 unit, the original offset just after its source character. */
  readonly ends: readonly number[];
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
  if (foldWhole(original) === original) return null;
  const scriptDigits = SCRIPT_DIGIT.test(original);
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
    if (scriptDigits) folded = folded.replace(SCRIPT_DIGITS, asciiDigit);
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
  return folded.starts[start] ?? 0;
}

/** Maps the (exclusive) end of a non-empty folded range back to the original string. */
export function originalEnd(folded: FoldedText, end: number): number {
  return folded.ends[end - 1] ?? 0;
}

/** The folded form of a string, or the string itself when folding changes nothing. */
export function foldedText(original: string): string {
  return foldForMatching(original)?.text ?? original;
}

function foldWhole(text: string): string {
  return text.replace(INVISIBLE_ALL, '').normalize('NFKC').replace(DASHES, '-').replace(SCRIPT_DIGITS, asciiDigit);
}

/**
 * The ASCII digit of a decimal digit of another script. Unicode encodes each script's decimal
 * digits as runs of ten consecutive code points from 0 to 9 (some runs adjoin), so the value is
 * the digit's distance from the start of its run of decimal digits, modulo 10.
 */
export function asciiDigit(digit: string): string {
  let ascii = asciiDigits.get(digit);
  if (ascii === undefined) {
    const codePoint = digit.codePointAt(0) as number;
    let runStart = codePoint;
    while (DECIMAL_DIGIT.test(String.fromCodePoint(runStart - 1))) runStart--;
    ascii = String((codePoint - runStart) % 10);
    asciiDigits.set(digit, ascii);
  }
  return ascii;
}

function codePointWidth(text: string, index: number): number {
  const unit = text.charCodeAt(index);
  if (unit >= 0xd800 && unit <= 0xdbff && index + 1 < text.length) {
    const next = text.charCodeAt(index + 1);
    if (next >= 0xdc00 && next <= 0xdfff) return 2;
  }
  return 1;
}
