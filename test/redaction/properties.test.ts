import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRedactor } from '../../src/redaction/index.js';

type Encoding = 'raw' | 'base64' | 'base64url' | 'hex' | 'url';
const encodingNames: readonly Encoding[] = ['raw', 'base64', 'base64url', 'hex', 'url'];

function encode(secret: string, encoding: Encoding): string {
  const bytes = Buffer.from(secret, 'utf8');
  switch (encoding) {
    case 'raw':
      return secret;
    case 'base64':
      return bytes.toString('base64');
    case 'base64url':
      return bytes.toString('base64url');
    case 'hex':
      return bytes.toString('hex');
    case 'url':
      return encodeURIComponent(secret);
  }
}

/** True when `text` shows the canary in any of the encodings (hex compared case-insensitively). */
function revealsCanary(text: string, canary: string): boolean {
  const lower = text.toLowerCase();
  return encodingNames.some((encoding) => {
    const encoded = encode(canary, encoding);
    return encoding === 'hex' ? lower.includes(encoded) : text.includes(encoded);
  });
}

/** Every string of a value: object keys and string leaves. */
function stringsOf(value: unknown): string[] {
  const found: string[] = [];
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const current = pending.pop();
    if (typeof current === 'string') found.push(current);
    else if (Array.isArray(current)) pending.push(...current);
    else if (current !== null && typeof current === 'object') {
      for (const [key, member] of Object.entries(current)) {
        found.push(key);
        pending.push(member);
      }
    }
  }
  return found;
}

/**
 * Plants `payload` somewhere in `host`, following `choices`: inside a string, as a new string
 * element or member, as an object key, or in place of a scalar.
 */
function plant(host: unknown, payload: string, choices: readonly number[], prefix: string, suffix: string): unknown {
  const planted = `${prefix}${payload}${suffix}`;
  const [choice = 0, ...rest] = choices;
  if (typeof host === 'string') {
    const at = choice % (host.length + 1);
    return host.slice(0, at) + planted + host.slice(at);
  }
  if (Array.isArray(host)) {
    if (host.length === 0 || choice % 3 === 0) {
      const copy = [...host];
      copy.splice(choice % (host.length + 1), 0, planted);
      return copy;
    }
    const index = choice % host.length;
    return host.map((element, position) => (position === index ? plant(element, payload, rest, prefix, suffix) : element));
  }
  if (host !== null && typeof host === 'object') {
    const entries = Object.entries(host);
    if (entries.length === 0 || choice % 4 === 0) return { ...host, [planted]: rest[0] ?? 1 };
    if (choice % 4 === 1) return { ...host, [`member${choice}`]: planted };
    const [key] = entries[choice % entries.length] as [string, unknown];
    const copy: Record<string, unknown> = { ...host };
    Object.defineProperty(copy, key, {
      value: plant(copy[key], payload, rest, prefix, suffix),
      enumerable: true,
      writable: true,
      configurable: true,
    });
    return copy;
  }
  return planted;
}

const canaryAlphabet = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', ..." -_.~!$&'()+,;=:@/?#[]%é€😀"];
const canary = fc.string({ unit: fc.constantFrom(...canaryAlphabet), minLength: 8, maxLength: 40 });
const surrounding = fc.string({ maxLength: 12 });
const redactor = createRedactor();

describe('a secret never survives redaction', () => {
  it('in any encoding, planted anywhere in a random JSON value', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 4 }),
        canary,
        fc.constantFrom(...encodingNames),
        fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
        surrounding,
        surrounding,
        (host, secret, encoding, choices, prefix, suffix) => {
          const input = plant(host, encode(secret, encoding), choices, prefix, suffix);
          const output = redactor.compile({ secrets: [secret] }).value(input);
          for (const text of stringsOf(output)) expect(revealsCanary(text, secret), `leaked in ${JSON.stringify(text)}`).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('in any encoding, planted in free text', () => {
    fc.assert(
      fc.property(
        canary,
        fc.constantFrom(...encodingNames),
        surrounding,
        surrounding,
        fc.nat(3),
        (secret, encoding, prefix, suffix, copies) => {
          const encoded = encode(secret, encoding);
          const text = `${prefix}${Array.from({ length: copies + 1 }, () => encoded).join(suffix)}${suffix}`;
          const output = redactor.compile({ secrets: [secret] }).text(text);
          expect(revealsCanary(output, secret)).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('whatever mode the profile uses', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 3 }),
        canary,
        fc.constantFrom('mask', 'partial', 'remove', 'hash') as fc.Arbitrary<'mask' | 'partial' | 'remove' | 'hash'>,
        fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        (host, secret, mode, choices, selectEverything) => {
          const input = plant(host, secret, choices, '', '');
          const output = redactor.compile({ secrets: [secret], mode, paths: selectEverything ? ['$..*'] : [] }).value(input);
          for (const text of stringsOf(output)) expect(revealsCanary(text, secret)).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('the walk', () => {
  it('never mutates its input and returns JSON-equal values when nothing matches', () => {
    const compiled = createRedactor().compile({ detectors: [] });
    const harmless = fc.jsonValue({ maxDepth: 4 }).filter((value) => !JSON.stringify(value).match(/[:=]/));
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), harmless, (value, plain) => {
        const snapshot = JSON.stringify(value);
        compiled.value(value);
        expect(JSON.stringify(value)).toBe(snapshot);
        const copy = compiled.value(plain);
        expect(JSON.stringify(copy)).toBe(JSON.stringify(plain));
      }),
      { numRuns: 200 },
    );
  });
});

describe('a card number never survives redaction', () => {
  /** Spaces and hyphens, as written in ASCII and in the Unicode forms that fold to them. */
  const separators = [
    '',
    ' ',
    '-',
    '\u00a0',
    '\u2007',
    '\u202f',
    '\u2010',
    '\u2011',
    '\u2012',
    '\u2013',
    '\u2043',
    '\u2212',
    '\ufe63',
    '\uff0d',
  ];
  const cardNumber = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 14, maxLength: 14 }).map((body) => {
    const digits = [4, ...body];
    let sum = 0;
    for (let index = 0; index < digits.length; index++) {
      const digit = digits[digits.length - 1 - index] as number;
      sum += index % 2 === 0 ? (digit * 2 > 9 ? digit * 2 - 9 : digit * 2) : digit;
    }
    return [...digits, (10 - (sum % 10)) % 10].join('');
  });

  it('grouped by any kind of space or hyphen, planted anywhere in a random JSON value', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 3 }),
        cardNumber,
        fc.array(fc.constantFrom(...separators), { minLength: 3, maxLength: 3 }),
        fc.constantFrom('mask', 'partial', 'remove', 'hash') as fc.Arbitrary<'mask' | 'partial' | 'remove' | 'hash'>,
        fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
        (host, digits, [first, second, third], mode, choices) => {
          const groups = digits.match(/[0-9]{4}/g) as string[];
          const written = `${groups[0]}${first}${groups[1]}${second}${groups[2]}${third}${groups[3]}`;
          const output = redactor.compile({ mode }).value(plant(host, written, choices, ' card ', ' . '));
          for (const text of stringsOf(output)) {
            expect(text).not.toContain(written);
            expect(text.replace(/[^0-9]/g, '')).not.toContain(digits);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
