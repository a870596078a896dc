import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { detectorNames, detectorRule } from '../../src/redaction/detectors.js';
import { keyValueRule, urlCredentialRule } from '../../src/redaction/inline-credentials.js';
import { KeyNameMatcher, resolveKeyNames } from '../../src/redaction/key-names.js';
import { createRedactor } from '../../src/redaction/redactor.js';
import { CombinedScanner, isTimestamp, ScanFeature, scanFeatures, timestampKeys } from '../../src/redaction/text-scanner.js';

const everyFeature = Object.values(ScanFeature).reduce((all, bit) => all | bit, 0);
const scanner = new CombinedScanner<string>([
  urlCredentialRule,
  ...detectorNames.map(detectorRule),
  keyValueRule(new KeyNameMatcher(resolveKeyNames(undefined))),
]);

/** Pieces of the formats the rules look for, and of what surrounds them, to build strings from. */
const pieces = [
  ...'0123456789 .-()/+@:=_,;"\'\n\\'.split(''),
  'A',
  'Z',
  'a',
  'x',
  '4111',
  '1111',
  '5555 4444',
  '415',
  '555-2671',
  '+44 20',
  '123-45-6789',
  'DE89',
  'GB82 WEST 1234 5698 7654 32',
  'example.com',
  'ada',
  'password',
  'api_key',
  'Bearer ',
  'postgres://admin:',
  'AKIAIOSFODNN7EXAMPLE',
  'eyJhbGciOiJIUzI1NiJ9',
  'sk-ant-',
  'sk-proj-',
  'abcdefghij1234567890',
  'ghp_',
  'xoxb-',
  '-----BEGIN PRIVATE KEY-----',
  'AIza',
  '_live_',
  'fe80::1',
  '192.168.1.10',
];

describe('feature gating of the combined scanner', () => {
  it('finds exactly what the scan of every rule finds', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 40 }), (parts) => {
        const text = parts.join('');
        expect(scanner.scan(text, scanFeatures(text))).toEqual(scanner.scan(text, everyFeature));
      }),
      { numRuns: 3000 },
    );
  });

  it('reports the features of each kind of finding', () => {
    expect(scanFeatures('ada@example.com') & ScanFeature.at).toBe(ScanFeature.at);
    expect(scanFeatures('(415) 555-2671') & ScanFeature.digits8).toBe(ScanFeature.digits8);
    expect(scanFeatures('4111-1111-1111-1111') & ScanFeature.digits13).toBe(ScanFeature.digits13);
    expect(scanFeatures('GB82WEST12345698765432') & ScanFeature.ibanStart).toBe(ScanFeature.ibanStart);
    expect(scanFeatures('key sk-ant-api03-abcdefghijklmnop') & ScanFeature.tokenPrefix).toBe(ScanFeature.tokenPrefix);
    expect(scanFeatures('fe80::1') & ScanFeature.twoColons).toBe(ScanFeature.twoColons);
    expect(scanFeatures('ｆ') & ScanFeature.nonAscii).toBe(ScanFeature.nonAscii);
  });

  it('gives the strings of an ordinary record none of the features the default rules need', () => {
    expect(scanFeatures('ord_20481')).toBe(ScanFeature.digits4);
    expect(scanFeatures('SKU-1042-A')).toBe(ScanFeature.digits4);
    expect(scanFeatures('2029-08')).toBe(ScanFeature.digits4);
    for (const text of ['delivered', 'Ada Lovelace', 'GBP', 'Prefers e-mail contact.']) expect(scanFeatures(text)).toBe(0);
  });

  it('exercises findings in the generated strings', () => {
    const texts = fc
      .sample(fc.array(fc.constantFrom(...pieces), { maxLength: 40 }), { numRuns: 500, seed: 7 })
      .map((parts) => parts.join(''));
    const withFindings = texts.filter((text) => scanner.scan(text, everyFeature) !== null).length;
    // A fixed seed: the same 500 strings every run.
    expect(withFindings).toBeGreaterThan(50);
  });
});

/** RFC 3339 dates and date-times in every written form isTimestamp accepts, with arbitrary digits. */
const digitString = (minLength: number, maxLength = minLength) =>
  fc.string({ unit: fc.constantFrom(...'0123456789'.split('')), minLength, maxLength });
const timestamps = fc
  .tuple(
    digitString(8),
    fc.option(
      fc.tuple(
        fc.constantFrom('T', 't', ' '),
        digitString(4),
        fc.option(fc.tuple(digitString(2), fc.option(digitString(1, 9)))),
        fc.option(
          fc.oneof(
            fc.constantFrom('Z', 'z'),
            fc.tuple(fc.constantFrom('+', '-'), digitString(4)).map(([sign, digits]) => `${sign}${digits.slice(0, 2)}:${digits.slice(2)}`),
          ),
        ),
      ),
    ),
  )
  .map(([date, time]) => {
    let text = `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6)}`;
    if (time === null) return text;
    const [between, clock, seconds, zone] = time;
    text += `${between}${clock.slice(0, 2)}:${clock.slice(2)}`;
    if (seconds !== null) text += `:${seconds[0]}${seconds[1] === null ? '' : `.${seconds[1]}`}`;
    return text + (zone ?? '');
  });

describe('timestamps', () => {
  it('recognises every RFC 3339 form, and no rule finds anything in one', () => {
    fc.assert(
      fc.property(timestamps, (text) => {
        expect(isTimestamp(text)).toBe(true);
        // Every rule, the opt-in detectors included, at every offset.
        expect(scanner.scan(text, everyFeature)).toBeNull();
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses near misses', () => {
    for (const text of [
      '2025-01-03T10',
      '2025-1-03',
      '2025-01-03T10:00:00+0530',
      '2025-01-03T10:00:00.1234567890Z',
      '2025-01-03T10:00:00.Z',
      '2025-01-03T10:00:00Z ',
      ' 2025-01-03',
      '2025-01-03T10:00:00ZZ',
      '2025-01-03_10:00',
      '2025/01/03',
      '20250103',
      '2025-01-03T10:00:00+05:3',
    ]) {
      expect(isTimestamp(text), text).toBe(false);
    }
  });

  it('are scanned after all when a key name matches the hour the key: value rule reads in them', () => {
    expect(timestampKeys()).toContain('T10');
    expect(timestampKeys()).toContain('t99');
    const text = '2025-01-03T10:00:00Z';
    expect(createRedactor().compile().text(text)).toBe(text);
    // "T10" is now a sensitive key, so "T10:00:00Z" reads as a credential pair.
    expect(
      createRedactor({ keyNames: { add: ['t10'] } })
        .compile()
        .text(text),
    ).toBe('2025-01-03T10:***');
  });

  it('still lose a layer 1 secret written inside them', () => {
    expect(
      createRedactor()
        .compile({ secrets: ['10:00:00'] })
        .text('2025-01-03T10:00:00Z'),
    ).toBe('2025-01-03T***Z');
  });
});
