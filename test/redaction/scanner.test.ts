import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { detectorNames, detectorRule } from '../../src/redaction/detectors.js';
import { keyValueRule, urlCredentialRule } from '../../src/redaction/inline-credentials.js';
import { KeyNameMatcher, resolveKeyNames } from '../../src/redaction/key-names.js';
import { CombinedScanner, ScanFeature, scanFeatures } from '../../src/redaction/text-scanner.js';

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
