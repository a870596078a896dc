import type { KeyNameMatcher } from './key-names.js';
import { type ScanFinding, ScanFeature, type ScanRule } from './text-scanner.js';

/**
 * Layer 2 inside text: `password=…`, `"api_key": "…"`, `"apiKeys": […]`, `Authorization: Bearer …`
 * (header lines are masked to the end of the line), `\"token\":\"…\"` in JSON embedded in a
 * string, and the password of `scheme://user:password@host`. The pattern is anchored at the
 * separator; the key is read backwards and judged by the same key-name matcher as object keys,
 * with the words before it on the same line when it is not sensitive alone (`API Key: …`,
 * `Social Security Number: …`).
 */

/** What inline-credential findings are reported as. */
export type InlineCredentialKind = 'key_value' | 'url_credential';

const KEY_LENGTH_LIMIT = 128;
/** Backslashes read before a quote as the escapes of embedded JSON: 31 is 5 levels deep. */
const QUOTE_ESCAPES_LIMIT = 31;
/** Words before a key that is not sensitive alone that are read with it as one key (`Social Security Number`). */
const KEY_PHRASE_WORDS = 3;

function isKeyCharacter(code: number): boolean {
  return (
    (code >= 97 && code <= 122) ||
    (code >= 65 && code <= 90) ||
    (code >= 48 && code <= 57) ||
    code === 95 || // _
    code === 45 || // -
    code === 46 || // .
    code >= 0xc0
  );
}

function isLetter(code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || code >= 0xc0;
}

function isLineBreak(code: number): boolean {
  return code === 10 || code === 13;
}

function isBlank(code: number): boolean {
  return code === 32 || code === 9;
}

const AUTH_SCHEMES: ReadonlySet<string> = new Set(['bearer', 'basic', 'digest', 'token', 'bot', 'negotiate']);
/** Unquoted values that carry nothing (JSON's `null` and booleans): left as they are, as under a sensitive key of an object. */
const EMPTY_LITERALS: ReadonlySet<string> = new Set(['null', 'true', 'false']);

/** Characters that end an unquoted value: white space, quotes, and `, ; & < > ( ) { } [ ] \`. */
function endsBareValue(code: number): boolean {
  return (
    code <= 32 ||
    code === 34 || // "
    code === 39 || // '
    code === 96 || // `
    code === 44 || // ,
    code === 59 || // ;
    code === 38 || // &
    code === 60 || // <
    code === 62 || // >
    code === 40 || // (
    code === 41 || // )
    code === 123 || // {
    code === 125 || // }
    code === 91 || // [
    code === 93 || // ]
    code === 92 // \
  );
}

/**
 * `key = value` and `"key": "value"` pairs whose key is sensitive. The pattern is the separator
 * alone; the key is read backwards and the value forwards only when the key is sensitive, so
 * runs of separators or of harmless `key: value` pairs cost a constant amount each.
 */
export function keyValueRule(keyNames: KeyNameMatcher): ScanRule<InlineCredentialKind> {
  return {
    kind: 'key_value',
    source: '[:=]',
    requires: ScanFeature.separator,
    accept(text, start): ScanFinding | null {
      const separator = text.charCodeAt(start);
      if (separator === 61) {
        // "=": not a comparison or an arrow
        const before = text.charCodeAt(start - 1);
        const after = text.charCodeAt(start + 1);
        if (before === 61 || before === 33 || before === 60 || before === 62 || after === 61 || after === 62) return null;
      }
      let cursor = start - 1;
      while (cursor >= 0 && isBlank(text.charCodeAt(cursor))) cursor--;
      let quoted = false;
      let level = 0;
      const closing = text.charCodeAt(cursor);
      if (closing === 34 || closing === 39) {
        quoted = true;
        cursor--;
        // The backslashes of a key quoted inside embedded JSON (`\"key\"`, `\\\"key\\\"` one level deeper).
        const escapesEnd = cursor;
        while (cursor >= 0 && escapesEnd - cursor < QUOTE_ESCAPES_LIMIT && text.charCodeAt(cursor) === 92) cursor--;
        level = nestingLevel(escapesEnd - cursor);
      }
      const keyEnd = cursor + 1;
      if (!quoted) {
        const subscripted = subscriptedKey(text, keyEnd);
        if (subscripted !== undefined) {
          if (!keyNames.isSensitive(subscripted.key)) return null;
          const value = readValue(text, start + 1, 0, separator === 58 && startsLine(text, subscripted.start));
          return value === null ? null : { start: value[0], end: value[1], canonical: text.slice(value[0], value[1]) };
        }
      }
      while (cursor >= 0 && keyEnd - cursor <= KEY_LENGTH_LIMIT && isKeyCharacter(text.charCodeAt(cursor))) cursor--;
      let keyStart = cursor + 1;
      // Keys start with a letter: skips times ("10:30"), dates and numbers cheaply.
      while (keyStart < keyEnd && !isLetter(text.charCodeAt(keyStart))) keyStart++;
      if (keyStart === keyEnd) return null;
      if (!keyNames.isSensitive(text.slice(keyStart, keyEnd))) {
        keyStart = keyStart === cursor + 1 ? sensitivePhraseStart(text, keyStart, keyEnd, keyNames) : -1;
        if (keyStart === -1) return null;
      }
      const value = readValue(text, start + 1, level, separator === 58 && !quoted && startsLine(text, keyStart));
      return value === null ? null : { start: value[0], end: value[1], canonical: text.slice(value[0], value[1]) };
    },
  };
}

/**
 * A key with subscripts that ends at `end`: `user[password]`, `config["db"]["password"]`,
 * `user%5Bpassword%5D` (brackets URL-encoded, as form encoders write nested fields), read as
 * the key whose words are its name and its subscripts (`user password`), as an object key
 * spelt so is; `undefined` when no subscript ends at `end`. At most {@link KEY_LENGTH_LIMIT}
 * characters are read.
 */
function subscriptedKey(text: string, end: number): { start: number; key: string } | undefined {
  const names: string[] = [];
  let cursor = end;
  for (;;) {
    const close = closingBracketBefore(text, cursor);
    if (close === 0) break;
    if (end - cursor >= KEY_LENGTH_LIMIT) return undefined;
    let nameEnd = cursor - close;
    const quote = text.charCodeAt(nameEnd - 1);
    const quoted = quote === 34 || quote === 39;
    if (quoted) nameEnd--;
    let nameStart = nameEnd;
    while (
      nameStart > 0 &&
      end - nameStart < KEY_LENGTH_LIMIT &&
      isKeyCharacter(text.charCodeAt(nameStart - 1)) &&
      openingBracketBefore(text, nameStart) === 0
    ) {
      nameStart--;
    }
    let open = nameStart;
    if (quoted) {
      if (text.charCodeAt(open - 1) !== quote) return undefined;
      open--;
    }
    const opening = openingBracketBefore(text, open);
    if (opening === 0 || nameStart === nameEnd) return undefined;
    names.unshift(text.slice(nameStart, nameEnd));
    cursor = open - opening;
  }
  if (names.length === 0) return undefined;
  let start = cursor;
  while (start > 0 && end - start < KEY_LENGTH_LIMIT && isKeyCharacter(text.charCodeAt(start - 1))) start--;
  return { start, key: [text.slice(start, cursor), ...names].join(' ') };
}

/** The length of the `]` or `%5D` that ends just before `end`; 0 when there is none. */
function closingBracketBefore(text: string, end: number): number {
  if (text.charCodeAt(end - 1) === 93) return 1;
  return isPercentEscape(text, end - 3, 68) ? 3 : 0;
}

/** The length of the `[` or `%5B` that ends just before `end`; 0 when there is none. */
function openingBracketBefore(text: string, end: number): number {
  if (text.charCodeAt(end - 1) === 91) return 1;
  return isPercentEscape(text, end - 3, 66) ? 3 : 0;
}

/** True when `%5` and the letter `upper` (or its lower case) start at `at`. */
function isPercentEscape(text: string, at: number, upper: number): boolean {
  if (at < 0 || text.charCodeAt(at) !== 37 || text.charCodeAt(at + 1) !== 53) return false;
  const letter = text.charCodeAt(at + 2);
  return letter === upper || letter === upper + 32;
}

/**
 * The start of a key written as words with blanks between them (`API Key`, `Session ID`,
 * `Social Security Number`): up to {@link KEY_PHRASE_WORDS} words before the key word on the same
 * line, read as one key whose last words must spell a key name (so `password reset link` is not
 * one); -1 when there is none. At most {@link KEY_LENGTH_LIMIT} characters are read.
 */
function sensitivePhraseStart(text: string, keyStart: number, keyEnd: number, keyNames: KeyNameMatcher): number {
  let phraseStart = keyStart;
  for (let words = 0; words < KEY_PHRASE_WORDS; words++) {
    let cursor = phraseStart - 1;
    if (!isBlank(text.charCodeAt(cursor))) return -1;
    while (cursor >= 0 && keyEnd - cursor <= KEY_LENGTH_LIMIT && isBlank(text.charCodeAt(cursor))) cursor--;
    const wordEnd = cursor + 1;
    while (cursor >= 0 && keyEnd - cursor <= KEY_LENGTH_LIMIT && isKeyCharacter(text.charCodeAt(cursor))) cursor--;
    // No word, or one cut off by the length limit.
    if (cursor + 1 === wordEnd || (cursor >= 0 && isKeyCharacter(text.charCodeAt(cursor)))) return -1;
    phraseStart = cursor + 1;
    if (keyNames.endsWithName(text.slice(phraseStart, keyEnd))) return phraseStart;
  }
  return -1;
}

/**
 * Reads the value after a separator: a quoted string (an unterminated one runs to the end of the
 * line, as in a truncated excerpt), a `\"`-quoted string inside embedded JSON (or deeper), an
 * authorization scheme and its credentials, an array or object (`level`: how deep the key was
 * quoted, which its strings are too), or a bare word; a header line's value runs to the end of the
 * line. An unquoted `null`, `true` or `false` is no value (as under a sensitive key of an object), so
 * that embedded JSON stays JSON.
 */
function readValue(text: string, from: number, level: number, headerLine: boolean): [number, number] | null {
  let start = from;
  while (isBlank(text.charCodeAt(start))) start++;
  const opening = text.charCodeAt(start);
  let end: number;
  let escapes: number;
  if (opening === 34 || opening === 39) {
    start += 1;
    end = quotedEnd(text, start, opening, 0);
  } else if (opening === 92 && (escapes = escapesBefore(text, start, QUOTE_ESCAPES_LIMIT)) > 0) {
    // `\"…\"` in JSON embedded in a string, `\\\"…\\\"` one level deeper: the value ends at
    // the quote that closes it at its own level, not at an escaped quote inside it.
    start += escapes + 1;
    end = quotedEnd(text, start, 34, nestingLevel(escapes));
  } else if (opening === 91 || opening === 123) {
    // `[…]` or `{…}`: masked whole, as under a key of an object.
    end = bracketedEnd(text, start, level);
    if (headerLine) end = Math.max(end, trimmedLineEnd(text, start));
  } else if (headerLine) {
    end = trimmedLineEnd(text, start);
    if (EMPTY_LITERALS.has(text.slice(start, end))) return null;
  } else {
    end = bareEnd(text, start);
    const word = text.slice(start, end);
    if (EMPTY_LITERALS.has(word)) return null;
    if (end > start && AUTH_SCHEMES.has(word.toLowerCase()) && isBlank(text.charCodeAt(end))) {
      let credentials = end;
      while (isBlank(text.charCodeAt(credentials))) credentials++;
      const credentialsEnd = bareEnd(text, credentials);
      if (credentialsEnd > credentials) end = credentialsEnd;
    }
  }
  return end > start ? [start, end] : null;
}

/**
 * The number of backslashes that start at `from` and are followed by a `"` (at most `limit`;
 * 0 when there is no such quote).
 */
function escapesBefore(text: string, from: number, limit: number): number {
  let end = from;
  while (end - from < limit && text.charCodeAt(end) === 92) end++;
  return text.charCodeAt(end) === 34 ? end - from : 0;
}

/**
 * The nesting level of a string whose opening quote has `escapes` backslashes before it: 0 for
 * `"`, 1 for `\"` (JSON inside a JSON string), 2 for `\\\"`; a level `n` quote is written with
 * 2^n − 1 backslashes (a run of another length is read as the deepest level whose quote it holds).
 */
function nestingLevel(escapes: number): number {
  let level = 0;
  for (let rest = escapes; rest > 0; rest = (rest - 1) >> 1) level++;
  return level;
}

/**
 * What the quote at `quote` is to a string at nesting `level` whose content starts at `from`
 * (backslashes are counted back to there): -1 when it is escaped, part of the content; otherwise
 * the number of backslashes of the delimiter it ends — 2^level − 1 when it closes the string,
 * fewer when it closes a string around it (the embedding text ended first).
 *
 * Each level of embedding escapes every backslash and quote once more, so the run of `b`
 * backslashes before a quote is read from the outside in: an even run leaves the quote bare at
 * that level (a delimiter), an odd one escapes it and leaves `(b − 1) / 2` for the next level.
 */
export function quoteDelimiter(text: string, quote: number, from: number, level: number): number {
  let run = 0;
  while (quote - run > from && text.charCodeAt(quote - run - 1) === 92) run++;
  let delimiter = 0;
  for (let depth = 0; depth < level; depth++) {
    if ((run & 1) === 0) return delimiter;
    run = (run - 1) / 2;
    delimiter = delimiter * 2 + 1;
  }
  return (run & 1) === 0 ? delimiter : -1;
}

/**
 * The end of the content of a string quoted by `quote` at nesting `level` that starts at `from`:
 * where its closing delimiter (or one of a string around it) starts, else the end of the line
 * (an unterminated value, as in a truncated excerpt).
 */
function quotedEnd(text: string, from: number, quote: number, level: number): number {
  for (let index = from; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === quote) {
      const delimiter = quoteDelimiter(text, index, from, level);
      if (delimiter !== -1) return index - delimiter;
    } else if (isLineBreak(code)) {
      return index;
    }
  }
  return text.length;
}

/**
 * The end of the `[…]` or `{…}` value that starts at `from`, whose strings are quoted at nesting
 * `level`: just after its closing bracket, brackets inside its strings aside. One that is not
 * closed (a truncated excerpt) runs to where the string embedding it ends, else to the end of the
 * text: what follows a sensitive key is masked rather than shown. One pass, whatever the input.
 */
export function bracketedEnd(text: string, from: number, level: number): number {
  const ownDelimiter = 2 ** level - 1;
  let depth = 0;
  for (let index = from; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === 91 || code === 123) {
      depth++;
    } else if (code === 93 || code === 125) {
      if (--depth === 0) return index + 1;
    } else if (code === 34 || (code === 39 && level === 0 && !insideWord(text, index))) {
      const opening = quoteDelimiter(text, index, from, level);
      if (opening === -1) continue; // a quote escaped for a deeper level, outside any string
      if (opening < ownDelimiter) return index - opening;
      // A string: skipped to its closing quote.
      let closed = false;
      for (index++; index < text.length; index++) {
        if (text.charCodeAt(index) !== code) continue;
        const delimiter = quoteDelimiter(text, index, from, level);
        if (delimiter === -1) continue;
        if (delimiter < ownDelimiter) return index - delimiter;
        closed = true;
        break;
      }
      if (!closed) return text.length;
    }
  }
  return text.length;
}

/**
 * True when the `'` at `index` is an apostrophe inside a word (`user's`, `don't`), which opens
 * no string: letters on both sides, and before it a word that is not a string prefix (`b'…'`,
 * `u'…'`, `rb'…'`). Anything else is taken as a quote, which at worst masks more.
 */
function insideWord(text: string, index: number): boolean {
  if (!isLetter(text.charCodeAt(index + 1))) return false;
  let start = index;
  while (start > 0 && isLetter(text.charCodeAt(start - 1))) start--;
  const word = index - start;
  return word > 0 && !(word <= 2 && STRING_PREFIX.test(text.slice(start, index)));
}

const STRING_PREFIX = /^(?:[bBuUrRfF]|[bB][rR]|[rR][bB]|[fF][rR]|[rR][fF])$/;

function trimmedLineEnd(text: string, from: number): number {
  let end = lineEndFrom(text, from);
  while (end > from && isBlank(text.charCodeAt(end - 1))) end--;
  return end;
}

function bareEnd(text: string, from: number): number {
  let end = from;
  while (end < text.length && !endsBareValue(text.charCodeAt(end))) end++;
  return end;
}

function lineEndFrom(text: string, from: number): number {
  let end = from;
  while (end < text.length && !isLineBreak(text.charCodeAt(end))) end++;
  return end;
}

function startsLine(text: string, keyStart: number): boolean {
  let cursor = keyStart - 1;
  while (cursor >= 0 && isBlank(text.charCodeAt(cursor))) cursor--;
  return cursor < 0 || isLineBreak(text.charCodeAt(cursor));
}

/** The longest user name {@link urlCredentialRule} reads. */
export const URL_USER_LIMIT = 256;
/** The user name of a URL as {@link urlCredentialRule} reads it, perhaps none. */
export const URL_USER_SOURCE = String.raw`[^\s\/?#@:"'<>]{0,${URL_USER_LIMIT}}`;
/** The longest password {@link urlCredentialRule} reads. */
export const URL_PASSWORD_LIMIT = 1024;

/**
 * The password in `scheme://user:password@host` (connection strings, proxy URLs), also with no
 * user name (`redis://:password@host`).
 */
export const urlCredentialRule: ScanRule<InlineCredentialKind> = {
  kind: 'url_credential',
  requires: ScanFeature.at | ScanFeature.separator | ScanFeature.twoColons,
  source: String.raw`:\/\/${URL_USER_SOURCE}:[^\s\/?#@"'<>]{1,${URL_PASSWORD_LIMIT}}@`,
  accept(text, start, end) {
    const valueStart = text.indexOf(':', start + 3) + 1;
    const valueEnd = end - 1;
    return valueEnd > valueStart ? { start: valueStart, end: valueEnd, canonical: text.slice(valueStart, valueEnd) } : null;
  },
};
