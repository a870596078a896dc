import type { KeyNameMatcher } from './key-names.js';
import type { ScanFinding, ScanRule } from './text-scanner.js';

/**
 * Layer 2 inside text: `password=…`, `"api_key": "…"`, `Authorization: Bearer …` (header lines are
 * masked to the end of the line), `\"token\":\"…\"` in JSON embedded in a string, and the password
 * of `scheme://user:password@host`. The pattern is anchored at the separator; the key is read
 * backwards and judged by the same key-name matcher as object keys.
 */

/** What inline-credential findings are reported as. */
export type InlineCredentialKind = 'key_value' | 'url_credential';

const KEY_LENGTH_LIMIT = 128;

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

/** `key = value` and `"key": "value"` pairs whose key is sensitive. */
export function keyValueRule(keyNames: KeyNameMatcher): ScanRule<InlineCredentialKind> {
  return {
    kind: 'key_value',
    source: String.raw`[:=][ \t]*(?:"(?:[^"\\\r\n]|\\.)*"|'(?:[^'\\\r\n]|\\.)*'|\\"(?:[^"\\\r\n]|\\[^"\r\n])*\\"|(?:(?:[Bb]earer|[Bb]asic|[Dd]igest|[Tt]oken|[Bb]ot|[Nn]egotiate)[ \t]+)?[^\s"'${'`'},;&<>(){}\[\]\\]+)`,
    accept(text, start, end): ScanFinding | null {
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
      const closing = text.charCodeAt(cursor);
      if (closing === 34 || closing === 39) {
        quoted = true;
        cursor--;
        if (text.charCodeAt(cursor) === 92) cursor--;
      }
      const keyEnd = cursor + 1;
      while (cursor >= 0 && keyEnd - cursor <= KEY_LENGTH_LIMIT && isKeyCharacter(text.charCodeAt(cursor))) cursor--;
      let keyStart = cursor + 1;
      // Keys start with a letter: skips times ("10:30"), dates and numbers cheaply.
      while (keyStart < keyEnd && !isLetter(text.charCodeAt(keyStart))) keyStart++;
      if (keyStart === keyEnd) return null;
      if (!keyNames.isSensitive(text.slice(keyStart, keyEnd))) return null;

      let valueStart = start + 1;
      while (isBlank(text.charCodeAt(valueStart))) valueStart++;
      let valueEnd = end;
      const opening = text.charCodeAt(valueStart);
      if (opening === 34 || opening === 39) {
        valueStart += 1;
        valueEnd -= 1;
      } else if (opening === 92) {
        valueStart += 2;
        valueEnd -= 2;
      } else if (separator === 58 && !quoted && startsLine(text, keyStart)) {
        // A header or YAML line ("Authorization: Bearer x", "password: two words"): the rest of the line.
        while (valueEnd < text.length && !isLineBreak(text.charCodeAt(valueEnd))) valueEnd++;
        while (valueEnd > valueStart && isBlank(text.charCodeAt(valueEnd - 1))) valueEnd--;
      }
      if (valueEnd <= valueStart) return null;
      return { start: valueStart, end: valueEnd, canonical: text.slice(valueStart, valueEnd) };
    },
  };
}

function startsLine(text: string, keyStart: number): boolean {
  let cursor = keyStart - 1;
  while (cursor >= 0 && isBlank(text.charCodeAt(cursor))) cursor--;
  return cursor < 0 || isLineBreak(text.charCodeAt(cursor));
}

/** The password in `scheme://user:password@host` (connection strings, proxy URLs). */
export const urlCredentialRule: ScanRule<InlineCredentialKind> = {
  kind: 'url_credential',
  source: String.raw`:\/\/[^\s\/?#@:"'<>]{1,256}:[^\s\/?#@"'<>]{1,1024}@`,
  accept(text, start, end) {
    const valueStart = text.indexOf(':', start + 3) + 1;
    const valueEnd = end - 1;
    return valueEnd > valueStart ? { start: valueStart, end: valueEnd, canonical: text.slice(valueStart, valueEnd) } : null;
  },
};
