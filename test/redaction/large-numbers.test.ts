import { describe, expect, it } from 'vitest';
import { createRedactor, redact } from '../../src/index.js';
import { redactFresh } from '../../src/redaction/redactor.js';

// Luhn-valid 19-digit card numbers: JSON.parse rounds them to a double, whose digits then fail Luhn.
const body = '{"pan": 6212345678901234569, "other": -6212345678901234569, "list": [3530111333300000004]}';

describe('an integer JSON number too large to hold its digits exactly', () => {
  it('is masked as a card when it could be one, since its Luhn check cannot be trusted', () => {
    expect(redact(JSON.parse(body))).toEqual({ pan: '***', other: '***', list: ['***'] });
  });

  it('is replaced as the card detector replaces a number, in every mode', () => {
    const parsed = JSON.parse(body) as unknown;
    const mode = (card: 'mask' | 'partial' | 'hash' | 'remove') => createRedactor({ hashKey: 'k', detectors: { card } }).compile();
    expect(mode('partial').value(parsed)).toEqual({ pan: '***', other: '***', list: ['***'] });
    expect(mode('remove').value(parsed)).toEqual({ pan: '', other: '', list: [''] });
    expect(mode('remove').value(4111111111111111)).toBe(''); // as for a card the detector checks
    const hashed = mode('hash').value(parsed) as { pan: string; other: string };
    expect(hashed.pan).toMatch(/^hmac:[0-9a-f]{16}$/);
    expect(hashed.other).toBe(hashed.pan);
  });

  it('is masked by the walk of a fresh value too', () => {
    const compiled = createRedactor().compile();
    expect(redactFresh(compiled, JSON.parse(body))).toEqual({ pan: '***', other: '***', list: ['***'] });
  });

  it('is masked under a numeric secret, which scans every number', () => {
    expect(
      createRedactor()
        .compile({ secrets: ['98765'] })
        .value(JSON.parse(body)),
    ).toEqual({ pan: '***', other: '***', list: ['***'] });
  });

  it('is left alone when it cannot be a card, or when cards are not detected', () => {
    // Not a card: first digit 1 or 9, 20 digits or more, 2^53 + 2; a card's shape: 2^62 (19 digits, first 4).
    const values = JSON.parse(
      '[1234567890123456789, 9876543210987654321, 62123456789012345678, 6.2e25, 9007199254740994, 4611686018427387904]',
    ) as number[];
    expect(redact(values)).toEqual([...values.slice(0, 5), '***']);
    expect(
      createRedactor({ detectors: { card: false } })
        .compile()
        .value(JSON.parse(body)),
    ).toEqual(JSON.parse(body));
  });

  it('leaves fractions alone under a numeric secret', () => {
    expect(
      createRedactor()
        .compile({ secrets: ['98765'] })
        .value([2.5, 6.25, 4.5e15 + 0.5]),
    ).toEqual([2.5, 6.25, 4.5e15 + 0.5]);
  });

  it('does not change how safe integers are checked', () => {
    expect(redact([4111111111111111, 4111111111111112, 9007199254740991])).toEqual(['***', 4111111111111112, 9007199254740991]);
  });
});
