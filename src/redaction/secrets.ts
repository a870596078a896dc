import { foldPlain } from './normalize.js';

/**
 * Layer 1: exact scrubbing of the secrets the gateway holds for a tool, in every encoding a
 * secret commonly leaks in. All variants of all secrets become one precompiled alternation.
 */

/**
 * Secrets shorter than this (in UTF-16 units) are not searched inside text, so that a secret like
 * `abc` cannot wipe every `abc` of an output; such a secret is still redacted when a whole string
 * value or key equals it.
 */
export const MINIMUM_SECRET_LENGTH = 4;

/**
 * A base64 run taken from inside a longer base64 stream must be at least this long, so that short
 * secrets do not turn into short, common-looking fragments.
 */
const MINIMUM_BASE64_CORE_LENGTH = 6;

/** The compiled layer 1 of a profile. */
export interface SecretMatcher {
  /** One global pattern over every variant of every searchable secret; `null` when there is none. */
  readonly pattern: RegExp | null;
  /** Short secrets, matched only as whole values (raw and folded forms). */
  readonly wholeValues: ReadonlySet<string>;
  /** True when a secret could be written as a number (then numbers are scanned too). */
  readonly hasNumericSecret: boolean;
  /** The length of the shortest text `pattern` can match: shorter strings need no search. */
  readonly shortestMatch: number;
}

const NUMERIC = /^[+-]?[0-9][0-9.eE+-]*$/;

/** Compiles secrets; throws a `TypeError` for an entry that is not a string. */
export function compileSecrets(secrets: readonly string[]): SecretMatcher {
  const sources = new Set<string>();
  const wholeValues = new Set<string>();
  let hasNumericSecret = false;
  let shortestMatch = Number.POSITIVE_INFINITY;
  secrets.forEach((secret, position) => {
    if (typeof secret !== 'string') throw new TypeError(`Invalid redaction secret at index ${position}: expected a string`);
    if (secret.length === 0) return;
    if (NUMERIC.test(secret)) hasNumericSecret = true;
    if (secret.length < MINIMUM_SECRET_LENGTH) {
      wholeValues.add(secret);
      wholeValues.add(foldPlain(secret));
      return;
    }
    const variants = secretVariants(secret);
    for (const source of variants.sources) sources.add(source);
    shortestMatch = Math.min(shortestMatch, variants.shortestMatch);
  });
  const ordered = [...sources].sort((left, right) => right.length - left.length);
  return {
    pattern: ordered.length === 0 ? null : new RegExp(ordered.join('|'), 'g'),
    wholeValues,
    hasNumericSecret,
    shortestMatch,
  };
}

/** Pattern sources for every form of one secret. */
export function secretVariantSources(secret: string): string[] {
  return secretVariants(secret).sources;
}

/** Pattern sources for every form of one secret, and the length of the shortest text they match. */
function secretVariants(secret: string): { sources: string[]; shortestMatch: number } {
  const bytes = Buffer.from(secret, 'utf8');
  const literals = new Set<string>([secret, foldPlain(secret)]);
  const jsonEscaped = JSON.stringify(secret).slice(1, -1);
  literals.add(jsonEscaped);
  for (const alphabet of ['base64', 'base64url'] as const) {
    const padded = alphabet === 'base64' ? bytes.toString('base64') : base64UrlPadded(bytes);
    literals.add(padded);
    literals.add(padded.replace(/=+$/, ''));
    for (let shift = 0; shift < 3; shift++) {
      const core = base64Core(bytes, shift, alphabet);
      if (core.length >= MINIMUM_BASE64_CORE_LENGTH) literals.add(core);
    }
  }
  const kept = [...literals].filter((literal) => literal.length > 0);
  const sources = kept.map(escapeLiteral);
  // Each source matches text exactly as long as the form it was made from.
  const lengths = kept.map((literal) => literal.length);
  const hex = bytes.toString('hex');
  sources.push(caseInsensitiveHex(hex));
  lengths.push(hex.length);
  for (const encoded of urlEncodings(secret)) {
    sources.push(percentCaseInsensitive(encoded));
    lengths.push(encoded.length);
  }
  return { sources, shortestMatch: Math.min(...lengths) };
}

/**
 * The base64 characters that depend only on the secret's bytes when the secret sits `shift`
 * bytes into a longer stream (as in `Basic base64(user:secret)`): characters mixing in bits of
 * the neighbouring bytes are cut off at both ends.
 */
function base64Core(bytes: Buffer, shift: number, alphabet: 'base64' | 'base64url'): string {
  const shifted = Buffer.concat([Buffer.alloc(shift), bytes]);
  const encoded = alphabet === 'base64' ? shifted.toString('base64') : base64UrlPadded(shifted);
  const firstBit = shift * 8;
  const endBit = (shift + bytes.length) * 8;
  const first = Math.ceil(firstBit / 6);
  const end = Math.floor(endBit / 6);
  return end > first ? encoded.slice(first, end) : '';
}

function base64UrlPadded(bytes: Buffer): string {
  return bytes.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

function urlEncodings(secret: string): Set<string> {
  const component = encodeURIComponent(secret);
  const strict = component.replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
  const everyByte = Array.from(Buffer.from(secret, 'utf8'), (byte) => `%${byte.toString(16).padStart(2, '0').toUpperCase()}`).join('');
  return new Set([component, strict, strict.replace(/%20/g, '+'), encodeURI(secret), everyByte]);
}

const REGEX_SYNTAX = /[.*+?^${}()|[\]\\/-]/g;

function escapeLiteral(literal: string): string {
  return literal.replace(REGEX_SYNTAX, '\\$&');
}

function caseInsensitiveHex(hex: string): string {
  let source = '';
  for (const character of hex) source += character >= 'a' && character <= 'f' ? `[${character}${character.toUpperCase()}]` : character;
  return source;
}

function percentCaseInsensitive(encoded: string): string {
  let source = '';
  for (let index = 0; index < encoded.length; index++) {
    const character = encoded[index] as string;
    if (character === '%' && index + 2 < encoded.length && /^[0-9A-Fa-f]{2}$/.test(encoded.slice(index + 1, index + 3))) {
      source += `%${caseInsensitiveHex(encoded.slice(index + 1, index + 3).toLowerCase())}`;
      index += 2;
    } else {
      source += escapeLiteral(character);
    }
  }
  return source;
}
