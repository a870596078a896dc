import { describe, expect, it } from 'vitest';
import { retryAfterAt, retryAfterInstant } from '../../src/util/retry-after.js';

const now = Date.parse('2030-01-01T00:00:00Z');

describe('retryAfterInstant', () => {
  it('reads delta-seconds from now and an HTTP-date as it is', () => {
    expect(retryAfterInstant('30', now)).toBe(now + 30_000);
    expect(retryAfterInstant(' 0 ', now)).toBe(now);
    expect(retryAfterInstant('Tue, 01 Jan 2030 00:02:00 GMT', now)).toBe(now + 120_000);
  });

  it('names no instant for a value that is neither', () => {
    for (const value of [undefined, null, '', '1.5', '-3', '+30', '30s', 'soon']) {
      expect(retryAfterInstant(value, now), String(value)).toBeUndefined();
    }
  });
});

describe('retryAfterAt', () => {
  it('counts down the whole seconds left, and 0 once passed', () => {
    const at = new Date(now + 12_500).toISOString();
    expect(retryAfterAt(at, now)).toEqual({ 'retry-after': '13' });
    expect(retryAfterAt(at, now + 60_000)).toEqual({ 'retry-after': '0' });
  });
});
