import { foldPlain, isAscii } from './normalize.js';

/**
 * The built-in key names of layer 2. A key matches a name when the key's words (split at
 * separators and camelCase humps, case-insensitively) contain the name's words in a row, in any
 * spelling: `apiKey`, `api_key`, `API-KEY`, `x-api-key` and `APIKEY` all match `api key`. Names of
 * six letters or more also match inside a word (`dbPassword1`, `clientsecret`) or inside
 * consecutive words (`api_keys`, `privateKeys`).
 */
export const defaultKeyNames: readonly string[] = Object.freeze([
  'password',
  'passwd',
  'pwd',
  'passphrase',
  'secret',
  'client secret',
  'secret key',
  'token',
  'access token',
  'refresh token',
  'id token',
  'auth token',
  'session token',
  'bearer',
  'jwt',
  'api key',
  'access key',
  'private key',
  'authorization',
  'cookie',
  'session',
  'session id',
  'credential',
  'connection string',
  'dsn',
  'ssn',
  'social security number',
  'cvv',
  'cvc',
  'pin',
  'otp',
]);

/** A key-name term shorter than this only matches whole words. */
const SUBSTRING_TERM_LENGTH = 6;

/** Words that, right after a matched term, say the value describes the secret rather than holds it. */
const DESCRIPTIVE_QUALIFIERS: ReadonlySet<string> = new Set([
  'type',
  'types',
  'count',
  'limit',
  'length',
  'expires',
  'expiry',
  'expiration',
  'lifetime',
  'ttl',
  'url',
  'uri',
  'endpoint',
  'usage',
  'policy',
  'format',
  'name',
  'required',
  'enabled',
]);

/** Latin look-alikes that NFKC leaves alone (Cyrillic and Greek letters), folded for key names only. */
const LOOK_ALIKES: Readonly<Record<string, string>> = {
  а: 'a',
  в: 'b',
  е: 'e',
  ё: 'e',
  к: 'k',
  м: 'm',
  н: 'h',
  о: 'o',
  р: 'p',
  с: 'c',
  т: 't',
  у: 'y',
  х: 'x',
  ѕ: 's',
  і: 'i',
  ї: 'i',
  ј: 'j',
  ԁ: 'd',
  ԛ: 'q',
  ԝ: 'w',
  α: 'a',
  β: 'b',
  ε: 'e',
  ι: 'i',
  κ: 'k',
  ν: 'v',
  ο: 'o',
  ρ: 'p',
  τ: 't',
  υ: 'u',
  χ: 'x',
};
const LOOK_ALIKE_PATTERN = new RegExp(`[${Object.keys(LOOK_ALIKES).join('')}]`, 'gu');
const WORD_SEPARATORS = /[^\p{L}\p{N}]+/u;
const CAMEL_LOWER_UPPER = /(\p{Ll}|\p{N})(\p{Lu})/gu;
const CAMEL_ACRONYM_END = /(\p{Lu})(\p{Lu}\p{Ll})/gu;

const CACHE_LIMIT = 10_000;

/**
 * Splits a key into lower-case words after folding (invisible characters dropped, NFKC, Latin
 * look-alikes): `xApiKEY` → `['x', 'api', 'key']`, `ＰＡＳＳ\u200Bword` → `['pass', 'word']`.
 */
export function keyWords(key: string): string[] {
  const folded = foldPlain(key);
  const words: string[] = [];
  for (const piece of folded.split(WORD_SEPARATORS)) {
    if (piece === '') continue;
    const humps = piece.replace(CAMEL_LOWER_UPPER, '$1 $2').replace(CAMEL_ACRONYM_END, '$1 $2');
    for (const word of humps.split(' ')) {
      if (word === '') continue;
      const lower = word.toLowerCase();
      words.push(isAscii(lower) ? lower : lower.replace(LOOK_ALIKE_PATTERN, (letter) => LOOK_ALIKES[letter] ?? letter));
    }
  }
  return words;
}

/** The normalised form a key-name term is compared in: its words joined (`API-Key` → `apikey`). */
export function normaliseKeyName(name: string): string {
  return keyWords(name).join('');
}

/** Decides whether an object key (or a `key=` in text) names a sensitive value. */
export class KeyNameMatcher {
  /** The key names as configured. */
  readonly names: readonly string[];
  private readonly terms: ReadonlySet<string>;
  private readonly substringTerms: readonly string[];
  private readonly longestTerm: number;
  private readonly cache = new Map<string, boolean>();
  private readonly phraseCache = new Map<string, boolean>();

  constructor(names: readonly string[]) {
    this.names = Object.freeze([...names]);
    const terms = new Set<string>();
    for (const name of names) {
      const term = normaliseKeyName(name);
      if (term === '') throw new TypeError(`Invalid redaction key name ${JSON.stringify(name)}: it has no letters or digits`);
      terms.add(term);
    }
    this.terms = terms;
    this.substringTerms = [...terms].filter((term) => term.length >= SUBSTRING_TERM_LENGTH);
    this.longestTerm = Math.max(0, ...[...terms].map((term) => term.length));
  }

  /** True when `key` names a sensitive value. Results are cached per key spelling. */
  isSensitive(key: string): boolean {
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    const sensitive = this.decide(keyWords(key));
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(key, sensitive);
    return sensitive;
  }

  /**
   * True when the last words of `phrase` spell a key name: `API Key`, `the secret key`,
   * `Social Security Number`, but not `password reset link`. Used for keys written as several
   * words in text; results are cached per phrase.
   */
  endsWithName(phrase: string): boolean {
    const cached = this.phraseCache.get(phrase);
    if (cached !== undefined) return cached;
    const words = keyWords(phrase);
    let joined = '';
    let matches = false;
    for (let first = words.length - 1; first >= 0 && !matches; first--) {
      joined = words[first] + joined;
      matches = this.terms.has(joined);
    }
    if (this.phraseCache.size >= CACHE_LIMIT) this.phraseCache.clear();
    this.phraseCache.set(phrase, matches);
    return matches;
  }

  /**
   * Looks at every run of consecutive words: the run spells a name (unless a descriptive word
   * follows it), or a name of six letters or more lies inside it, starting in its first word and
   * ending in its last (`dbPassword1`, `cookies`, and across words `api_keys`, `privateKeys`).
   */
  private decide(words: readonly string[]): boolean {
    for (let first = 0; first < words.length; first++) {
      const firstLength = (words[first] as string).length;
      let joined = '';
      for (let last = first; last < words.length; last++) {
        const before = joined.length;
        // A name found from here on would have to be longer than the words between the first and the last.
        if (before - firstLength >= this.longestTerm) break;
        joined += words[last];
        if (this.terms.has(joined)) {
          const following = words[last + 1];
          if (following === undefined || !DESCRIPTIVE_QUALIFIERS.has(following)) return true;
        }
        for (const term of this.substringTerms) {
          if (joined.length <= term.length) continue;
          const index = joined.indexOf(term, Math.max(0, before - term.length + 1));
          if (index !== -1 && index < firstLength) return true;
        }
      }
    }
    return false;
  }
}

/** Builds the key-name list from the options: `replace` (or the built-ins), plus `add`, minus `remove`. */
export function resolveKeyNames(
  options: { replace?: readonly string[]; add?: readonly string[]; remove?: readonly string[] } | undefined,
): string[] {
  for (const field of ['replace', 'add', 'remove'] as const) {
    if (options?.[field] !== undefined && !Array.isArray(options[field]))
      throw new TypeError(`Invalid redactor keyNames.${field}: expected a list of strings`);
  }
  const base = options?.replace ?? defaultKeyNames;
  const names = [...base, ...(options?.add ?? [])];
  for (const name of names) {
    if (typeof name !== 'string') throw new TypeError(`Invalid redaction key name ${String(name)}: expected a string`);
  }
  if (options?.remove === undefined || options.remove.length === 0) return names;
  const removed = new Set(options.remove.map((name) => normaliseKeyName(String(name))));
  return names.filter((name) => !removed.has(normaliseKeyName(name)));
}
