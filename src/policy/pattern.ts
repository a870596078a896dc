import { RE2JS } from 're2js';

/** The longest `matches` pattern source accepted. */
export const MAX_PATTERN_LENGTH = 512;
/** The largest compiled program accepted: matching costs at worst its size times the value's length. */
const MAX_PROGRAM_SIZE = 500;

// What JavaScript's `\s` matches (WhiteSpace and LineTerminator), spelled as ranges so that it
// can stand inside a bracket class; RE2's own `\s` is ASCII only.
const WHITESPACE = '\\x{9}-\\x{D}\\x{20}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}';
const NOT_WHITESPACE =
  '\\x{0}-\\x{8}\\x{E}-\\x{1F}\\x{21}-\\x{9F}\\x{A1}-\\x{167F}\\x{1681}-\\x{1FFF}\\x{200B}-\\x{2027}\\x{202A}-\\x{202E}' +
  '\\x{2030}-\\x{205E}\\x{2060}-\\x{2FFF}\\x{3001}-\\x{FEFE}\\x{FF00}-\\x{10FFFF}';
// JavaScript's `.`: any character but a line terminator (RE2's leaves out `\n` only).
const ANY_BUT_LINE_TERMINATOR = '[^\\n\\r\\x{2028}\\x{2029}]';

// A literal pattern: characters and escaped punctuation only, optionally between `^` and `$`.
// V8 searches for a literal with Boyer-Moore-Horspool, in linear time and several times
// faster than re2js on short values; wider atoms (`.`, `\d`) would cost V8 the pattern's
// length at every position, so they go to re2js.
const LITERAL = /^\^?(?:[^\\^$.|?*+()[\]{}]|\\[\^$.|?*+()[\]{}\\/])*\$?$/u;

/** A `matches` pattern, compiled: true when the pattern matches somewhere in the value. */
export type MatchPattern = (value: string) => boolean;

/**
 * Compiles a `matches` pattern for RE2's linear-time engine (re2js): matching takes time
 * proportional to the value's length whatever the pattern, so no pattern can backtrack
 * catastrophically and no value is too long to test. A literal (such as `^cus_`) runs on
 * V8's RegExp instead, which is linear on it as well and faster.
 *
 * The syntax is RE2's, with JavaScript's meaning where the two differ: `\s` and `\S` are
 * JavaScript's (Unicode spaces included), `.` stops at `\r`, `\u2028` and `\u2029` as well as
 * `\n`, and `\uXXXX` and `\u{X…}` escapes are read as JavaScript reads them. Refused, with a
 * TypeError naming `where`: lookarounds, back-references, the `s` flag (write `[\s\S]` for any
 * character), syntax RE2 does not know, sources over 512 characters and programs over 500
 * instructions (counted repetitions such as `.{2000}`).
 */
export function compileMatchPattern(source: string, where: string): MatchPattern {
  if (source.length > MAX_PATTERN_LENGTH) throw new TypeError(`${where}: pattern longer than ${MAX_PATTERN_LENGTH} characters`);
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(toRe2Syntax(source, where));
  } catch (error) {
    if (error instanceof TypeError) throw error;
    throw new TypeError(
      `${where}: invalid regular expression for the linear-time engine (RE2 syntax; no lookarounds or back-references): ${(error as Error).message}`,
    );
  }
  if (compiled.programSize() > MAX_PROGRAM_SIZE) {
    throw new TypeError(`${where}: pattern too large once compiled (over ${MAX_PROGRAM_SIZE} instructions); use smaller repetition counts`);
  }
  if (LITERAL.test(source)) {
    const literal = new RegExp(source, 'u');
    return (value) => literal.test(value);
  }
  return (value) => compiled.test(value);
}

/** Rewrites the escapes and `.` whose meaning differs between JavaScript and RE2; refuses the `s` flag. */
function toRe2Syntax(source: string, where: string): string {
  let out = '';
  let inClass = false;
  let index = 0;
  while (index < source.length) {
    const char = source[index] as string;
    if (char === '\\') {
      const next = source[index + 1];
      if (next === 'Q') {
        // \Q…\E quotes literally, up to \E or the end.
        const end = source.indexOf('\\E', index + 2);
        const stop = end === -1 ? source.length : end + 2;
        out += source.slice(index, stop);
        index = stop;
      } else if (next === 's') {
        out += inClass ? WHITESPACE : `[${WHITESPACE}]`;
        index += 2;
      } else if (next === 'S') {
        out += inClass ? NOT_WHITESPACE : `[${NOT_WHITESPACE}]`;
        index += 2;
      } else if (next === 'u') {
        const unicode = readUnicodeEscape(source, index);
        if (unicode === undefined) {
          out += '\\u';
          index += 2;
        } else {
          out += `\\x{${unicode.codePoint.toString(16)}}`;
          index = unicode.end;
        }
      } else {
        out += next === undefined ? char : char + next;
        index += next === undefined ? 1 : 2;
      }
      continue;
    }
    if (inClass) {
      if (char === '[' && source[index + 1] === ':') {
        // A POSIX class such as [:alpha:], copied whole.
        const end = source.indexOf(':]', index + 2);
        const stop = end === -1 ? index + 1 : end + 2;
        out += source.slice(index, stop);
        index = stop;
        continue;
      }
      if (char === ']') inClass = false;
      out += char;
      index++;
      continue;
    }
    if (char === '[') {
      inClass = true;
      out += char;
      index++;
      // RE2 reads a `]` right after `[` or `[^` as a literal member.
      if (source[index] === '^') out += source[index++];
      if (source[index] === ']') out += source[index++];
      continue;
    }
    if (char === '.') {
      out += ANY_BUT_LINE_TERMINATOR;
      index++;
      continue;
    }
    if (char === '(' && source[index + 1] === '?') {
      const flags = /^\(\?([A-Za-z-]*)[:)]/.exec(source.slice(index, index + 16));
      if (flags?.[1]?.includes('s')) {
        throw new TypeError(`${where}: the s flag is not supported in a pattern; write [\\s\\S] for any character`);
      }
    }
    out += char;
    index++;
  }
  return out;
}

/** Reads `\uXXXX` (a surrogate pair of two such escapes as one character) or `\u{X…}` at `start`. */
function readUnicodeEscape(source: string, start: number): { codePoint: number; end: number } | undefined {
  const braced = /^\\u\{([0-9A-Fa-f]{1,6})\}/.exec(source.slice(start, start + 11));
  if (braced !== null) {
    const codePoint = Number.parseInt(braced[1] as string, 16);
    return codePoint > 0x10ffff ? undefined : { codePoint, end: start + braced[0].length };
  }
  const four = /^\\u([0-9A-Fa-f]{4})(?:\\u([0-9A-Fa-f]{4}))?/.exec(source.slice(start, start + 12));
  if (four === null) return undefined;
  const high = Number.parseInt(four[1] as string, 16);
  const low = four[2] === undefined ? undefined : Number.parseInt(four[2], 16);
  if (high >= 0xd800 && high <= 0xdbff && low !== undefined && low >= 0xdc00 && low <= 0xdfff) {
    return { codePoint: 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00), end: start + 12 };
  }
  return { codePoint: high, end: start + 6 };
}
