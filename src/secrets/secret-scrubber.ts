import { setOwnMember } from '../util/own-member.js';
import { MASKED_SECRET } from './secret-value.js';

/** Removes a fixed set of secret values from text, parsed JSON and bytes. */
export interface SecretScrubber {
  /** False when there is nothing to remove (every method returns its input). */
  readonly active: boolean;
  /** Every form that is removed (the plain values and their common encodings), longest first. */
  readonly forms: readonly string[];
  /**
   * Length of the longest spelling removed (a form, or a JSON spelling with every character a
   * `\uXXXX` escape): a text cut at an arbitrary point can end in a partial secret shorter than this.
   */
  readonly longestForm: number;
  /**
   * `text` with every form replaced by `***`, and every JSON spelling of a plain value too:
   * any of its characters written as itself, as a JSON short escape (`\"`, `\/`, `\n`…) or
   * as a `\uXXXX` escape in either case, as JSON encoders other than `JSON.stringify` write
   * them (Go's `\u003c` for `<`, .NET's `\u002B` for `+`).
   */
  text(text: string): string;
  /**
   * Parsed JSON with every form removed from strings and keys, and a number that is a numeric
   * form (however many digits a double keeps of it) or whose digits hold one replaced by
   * `***`. Mutates containers in place; returns the (new) root.
   */
  json(value: unknown): unknown;
  /**
   * `JSON.parse(text)` with every form removed from strings, keys and numbers. When the text has no
   * escape sequence and no form in it, no string parsed from it can hold one, and the walk of
   * the parsed value is skipped. Throws what `JSON.parse` throws.
   */
  parseJson(text: string): unknown;
  /** Bytes with every form's UTF-8 encoding replaced by `***`. */
  bytes(data: Buffer): Buffer;
}

/** A form that JSON could carry as a number: digits, perhaps with a sign, point or exponent. */
const NUMBER_TEXT = /^-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

// Derived forms shorter than this are not removed: they would mangle ordinary text.
const MINIMUM_DERIVED_LENGTH = 6;
const AUTHORIZATION_VALUE = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*) +(\S.*)$/;
const PRINTABLE = /^[\x20-\x7e]+$/;

function credentialParts(value: string): string[] {
  const match = AUTHORIZATION_VALUE.exec(value);
  if (match === null) return [];
  const scheme = (match[1] as string).toLowerCase();
  const credential = (match[2] as string).trim();
  const parts = [credential];
  if (scheme === 'basic') {
    const decoded = Buffer.from(credential, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (PRINTABLE.test(decoded) && colon > 0) parts.push(decoded, decoded.slice(colon + 1));
  }
  return parts.filter((part) => part.length >= MINIMUM_DERIVED_LENGTH);
}

/** The value and the credential after its auth scheme (and a Basic value's parts), as they are. */
function plainFormsOf(value: string): string[] {
  return [value, ...credentialParts(value)];
}

/** The plain value, the credential after an auth scheme, and how JSON and URLs spell them. */
function formsOf(value: string): string[] {
  const plain = plainFormsOf(value);
  const forms = new Set<string>();
  for (const form of plain) {
    forms.add(form);
    const jsonEscaped = JSON.stringify(form).slice(1, -1);
    forms.add(jsonEscaped);
    if (jsonEscaped.includes('/')) forms.add(jsonEscaped.replaceAll('/', '\\/'));
    forms.add(encodeURIComponent(form));
  }
  return [...forms];
}

/** The JSON short escapes (RFC 8259), by the character they stand for. */
const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '"': '\\"',
  '\\': '\\\\',
  '/': '\\/',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};
const REGEX_SYNTAX = /[.*+?^${}()|[\]\\/-]/g;
/** How much longer than the value its longest JSON spelling is: `\uXXXX` for every UTF-16 unit. */
const ESCAPE_LENGTH = 6;

/** A pattern source for one UTF-16 unit however JSON writes it: as itself, a short escape, or `\uXXXX` in either case. */
function jsonUnitSource(unit: string): string {
  const hex = (unit.charCodeAt(0) as number).toString(16).padStart(4, '0');
  let unitEscape = '\\\\u';
  for (const digit of hex) unitEscape += digit >= 'a' ? `[${digit}${digit.toUpperCase()}]` : digit;
  const short = SHORT_ESCAPES[unit];
  return `(?:\\u${hex}|${unitEscape}${short === undefined ? '' : `|${short.replace(REGEX_SYNTAX, '\\$&')}`})`;
}

/**
 * One pattern for every JSON spelling of every plain value, longest value first; undefined
 * when there is none. Compiled once per scrubber. A spelling with an escape holds a backslash,
 * so text without one never needs it.
 */
function jsonSpellingsPattern(plainValues: readonly string[]): RegExp | undefined {
  if (plainValues.length === 0) return undefined;
  const sources = [...plainValues].sort((a, b) => b.length - a.length).map((value) => value.split('').map(jsonUnitSource).join(''));
  return new RegExp(sources.join('|'), 'g');
}

/**
 * Builds a scrubber for the given secret values. Forms are precomputed once; scrubbing is a
 * few `includes` checks per string and a replacement only where a form occurs (plus one
 * precompiled pattern for JSON spellings, only over text that holds a backslash).
 *
 * @example
 * ```ts
 * import { createSecretScrubber } from './secrets/secret-scrubber.js';
 *
 * createSecretScrubber(['Bearer tok_123456']).text('echo: tok_123456'); // 'echo: ***'
 * ```
 */
export function createSecretScrubber(values: readonly string[]): SecretScrubber {
  const present = values.filter((value) => value.length > 0);
  const forms = [...new Set(present.flatMap(formsOf))].filter((form) => form.length > 0).sort((a, b) => b.length - a.length);
  const plainValues = [...new Set(present.flatMap(plainFormsOf))];
  const jsonSpellings = jsonSpellingsPattern(plainValues);
  const longestForm = Math.max(forms[0]?.length ?? 0, ...plainValues.map((value) => value.length * ESCAPE_LENGTH));
  const formBytes = forms.map((form) => Buffer.from(form, 'utf8'));
  // A secret that is all digits (a PIN, an account number) can come back as a JSON number.
  const numericForms = forms.filter((form) => NUMBER_TEXT.test(form));
  // One of more than 15 significant digits parses to a double that prints otherwise
  // (98765432109876543210 as 98765432109876540000), which its digits would not match: it is
  // known by its value, and by that printing in a JSON text (as an upstream written in
  // JavaScript sends it back).
  const numericValues = new Set(numericForms.map(Number).filter((value) => Number.isFinite(value)));
  const roundedSpellings = [...numericValues].map(String).filter((spelling) => !forms.includes(spelling));

  /** A number as it is, or `***` when it is a numeric secret or its digits hold one. */
  function number(value: number): unknown {
    if (numericValues.has(value)) return MASKED_SECRET;
    const digits = String(value);
    return numericForms.some((form) => digits.includes(form)) ? MASKED_SECRET : value;
  }

  /** A parsed JSON member: strings scrubbed with `scrub`, numbers checked when a secret could be one. */
  function scalar(value: unknown, scrub: (text: string) => string): unknown {
    if (typeof value === 'string') return scrub(value);
    if (typeof value === 'number' && numericForms.length > 0) return number(value);
    return value;
  }
  const maskBytes = Buffer.from(MASKED_SECRET, 'utf8');

  /** `input` with every form replaced: enough for text without a backslash. */
  function formsRemoved(input: string): string {
    let result = input;
    for (const form of forms) {
      if (result.includes(form)) result = result.split(form).join(MASKED_SECRET);
    }
    return result;
  }

  function text(input: string): string {
    if (jsonSpellings === undefined || !input.includes('\\')) return formsRemoved(input);
    return formsRemoved(input.replace(jsonSpellings, MASKED_SECRET));
  }

  function json(root: unknown): unknown {
    return walk(root, text);
  }

  /** Scrubs a parsed JSON value in place (see {@link SecretScrubber.json}), its strings and keys with `scrub`. */
  function walk(root: unknown, scrub: (text: string) => string): unknown {
    if (forms.length === 0) return root;
    if (typeof root !== 'object' || root === null) return scalar(root, scrub);
    // Iterative: upstream JSON can nest deeper than the call stack.
    const pending: object[] = [root];
    while (pending.length > 0) {
      const container = pending.pop() as object;
      if (Array.isArray(container)) {
        for (let index = 0; index < container.length; index++) {
          const element: unknown = container[index];
          if (typeof element === 'object' && element !== null) pending.push(element);
          else {
            const clean = scalar(element, scrub);
            if (clean !== element) container[index] = clean;
          }
        }
        continue;
      }
      const record = container as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        const element = record[key];
        const cleanKey = scrub(key);
        const cleanElement = scalar(element, scrub);
        // setOwnMember: JSON.parse makes "__proto__" an own key, and assigning to it would hit
        // the prototype setter and keep the secret.
        if (cleanKey !== key) {
          delete record[key];
          setOwnMember(record, cleanKey, cleanElement);
        } else if (cleanElement !== element) {
          setOwnMember(record, key, cleanElement);
        }
        if (typeof element === 'object' && element !== null) pending.push(element);
      }
    }
    return root;
  }

  function parseJson(source: string): unknown {
    const parsed: unknown = JSON.parse(source);
    if (forms.length === 0) return parsed;
    // Without a backslash, every string and key is a verbatim piece of the source.
    if (!source.includes('\\')) {
      const holdsOne = forms.some((form) => source.includes(form)) || roundedSpellings.some((spelling) => source.includes(spelling));
      return holdsOne ? walk(parsed, formsRemoved) : parsed;
    }
    // A parsed string holds a backslash, and so perhaps an escaped spelling, only where the
    // source escaped one (`\\\\`, as in JSON carried inside a string).
    return walk(parsed, source.includes('\\\\') ? text : formsRemoved);
  }

  function bytes(data: Buffer): Buffer {
    let result = data;
    for (const form of formBytes) {
      if (!result.includes(form)) continue;
      const pieces: Buffer[] = [];
      let start = 0;
      for (let found = result.indexOf(form, start); found !== -1; found = result.indexOf(form, start)) {
        pieces.push(result.subarray(start, found), maskBytes);
        start = found + form.length;
      }
      pieces.push(result.subarray(start));
      result = Buffer.concat(pieces);
    }
    return result;
  }

  return {
    active: forms.length > 0,
    forms,
    longestForm,
    text,
    json,
    parseJson,
    bytes,
  };
}
