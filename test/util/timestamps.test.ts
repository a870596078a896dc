import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoTimestamp } from '../../src/util/timestamps.js';

describe('isoTimestamp', () => {
  it('writes what Date#toISOString writes', () => {
    fc.assert(
      fc.property(fc.integer({ min: -62_198_755_200_000, max: 8_640_000_000_000_000 }), (milliseconds) => {
        expect(isoTimestamp(milliseconds)).toBe(new Date(milliseconds).toISOString());
        expect(isoTimestamp(milliseconds)).toBe(new Date(milliseconds).toISOString());
      }),
      { numRuns: 5000 },
    );
  });

  it('is right within one second, at its edges and across years', () => {
    const start = Date.UTC(2026, 11, 31, 23, 59, 59);
    for (let offset = 0; offset <= 1001; offset++) {
      expect(isoTimestamp(start + offset)).toBe(new Date(start + offset).toISOString());
    }
    expect(isoTimestamp(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(isoTimestamp(1.5)).toBe(new Date(1.5).toISOString());
    expect(() => isoTimestamp(Number.NaN)).toThrow(RangeError);
  });
});
