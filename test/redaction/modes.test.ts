import { describe, expect, it } from 'vitest';
import { createRedactor, MASK } from '../../src/redaction/index.js';

const HASH = /^hmac:[0-9a-f]{16}$/;

describe('mask', () => {
  it('replaces selected values and findings by ***', () => {
    const compiled = createRedactor().compile({ paths: ['$.a', '$.n', '$.o'], mode: 'mask' });
    expect(compiled.value({ a: 'long secret value', n: 12345, o: { x: 1 }, note: 'mail ada@example.com' })).toEqual({
      a: MASK,
      n: MASK,
      o: MASK,
      note: `mail ${MASK}`,
    });
  });
});

describe('partial', () => {
  const compiled = createRedactor().compile({ paths: ['$.card', '$.short', '$.number', '$.object'], mode: 'partial' });

  it('keeps the last 4 characters of values of 8 characters or more', () => {
    expect(compiled.value({ card: '4111111111111111', short: '1234567', number: 12345678, object: { a: 1 } })).toEqual({
      card: '***1111',
      short: '***',
      number: '***5678',
      object: '***',
    });
  });

  it('keeps the last 4 characters of the normalised finding in text', () => {
    expect(compiled.text('card 4111 1111 1111 1111 on file')).toBe('card ***1111 on file');
    expect(compiled.text('mail ada@example.com')).toBe('mail ***.com');
  });

  it('keeps the last 4 characters of the normalised finding a whole value is', () => {
    expect(compiled.value({ card: '4111-1111-1111-1111', short: 'Ada@Example.COM' })).toEqual({ card: '***1111', short: '***.com' });
  });

  it('never splits a surrogate pair', () => {
    expect(compiled.value({ card: 'abcdefg😀xyz' })).toEqual({ card: '***😀xyz' });
  });
});

describe('remove', () => {
  const compiled = createRedactor().compile({ paths: ['$.a', '$.list[1]'], detectors: { email: 'remove' }, mode: 'remove' });

  it('drops object members and array elements', () => {
    expect(compiled.value({ a: 1, b: 2, list: ['x', 'y', 'z'], password: 'p' })).toEqual({ b: 2, list: ['x', 'z'] });
  });

  it('deletes findings from text', () => {
    expect(compiled.text('write to ada@example.com today')).toBe('write to  today');
  });
});

describe('hash', () => {
  const redactor = createRedactor({ hashKey: 'test-hash-key' });
  const compiled = redactor.compile({ paths: ['$..id', '$.o'], detectors: { email: 'hash', card: 'hash' }, mode: 'hash' });

  it('replaces values by a keyed HMAC so that equal values correlate', () => {
    const output = compiled.value({ id: 'customer-42', o: { b: 1, a: 2 }, again: { id: 'customer-42' } }) as Record<string, unknown>;
    expect(output.id).toMatch(HASH);
    expect(output.o).toMatch(HASH);
    expect((output.again as Record<string, unknown>).id).toBe(output.id);
    expect(compiled.value({ o: { a: 2, b: 1 } })).toEqual({ o: output.o });
  });

  it('hashes the normalised finding, so spellings of one value correlate', () => {
    const first = compiled.text('ADA@Example.com');
    expect(first).toMatch(HASH);
    expect(compiled.text('ada@example.com')).toBe(first);
    expect(compiled.text('4111 1111 1111 1111')).toBe(compiled.text('4111-1111-1111-1111'));
  });

  it('hashes a whole value selected by a path or key name in the normalised form of the finding it is', () => {
    const byPath = redactor.compile({
      paths: [
        { path: '$..email', mode: 'hash' },
        { path: '$..card', mode: 'hash' },
      ],
    });
    const output = byPath.value([
      { email: 'Ada@Example.com', card: '4111 1111 1111 1111' },
      { email: 'ada@example.com', card: '4111111111111111' },
      { email: 'ＡＤＡ@example.com', card: 4111111111111111 },
    ]) as Array<Record<string, unknown>>;
    expect(output[0]?.email).toMatch(HASH);
    expect(output.map((entry) => entry.email)).toEqual([output[0]?.email, output[0]?.email, output[0]?.email]);
    expect(output.map((entry) => entry.card)).toEqual([output[0]?.card, output[0]?.card, output[0]?.card]);
    // The same hash as the detector's for the address inside text, and as a key name in hash mode.
    expect(compiled.text('Ada@Example.com')).toBe(output[0]?.email);
    expect(redactor.value({ password: '4111-1111-1111-1111' }, { mode: 'hash' })).toEqual({ password: output[0]?.card });
    // A value that holds more than the finding is hashed as it is written.
    expect(byPath.value({ email: 'Ada@Example.com ' })).not.toEqual({ email: output[0]?.email });
  });

  it('depends on the key', () => {
    const other = createRedactor({ hashKey: new TextEncoder().encode('another-key') }).compile({ detectors: { email: 'hash' } });
    expect(other.text('ada@example.com')).not.toBe(compiled.text('ada@example.com'));
    const random = createRedactor().compile({ detectors: { email: 'hash' } });
    expect(random.text('ada@example.com')).toMatch(HASH);
    expect(random.text('ada@example.com')).not.toBe(compiled.text('ada@example.com'));
  });

  it('refuses an empty key', () => {
    expect(() => createRedactor({ hashKey: '' })).toThrow(TypeError);
    expect(() => createRedactor({ hashKey: new Uint8Array(0) })).toThrow(TypeError);
  });
});

describe('mode precedence', () => {
  it('uses the profile mode for key names, paths and detectors without their own', () => {
    const compiled = createRedactor().compile({ paths: ['$.field'], mode: 'partial' });
    expect(compiled.value({ field: 'abcdefghij', password: 'hunter2hunter2', note: 'mail ada@example.com' })).toEqual({
      field: '***ghij',
      password: '***ter2',
      note: 'mail ***.com',
    });
  });

  it('lets a per-detector mode of the configuration beat the profile mode, and the profile detector mode beat both', () => {
    const redactor = createRedactor({ detectors: { email: 'hash' }, mode: 'partial' });
    expect(redactor.text('ada@example.com')).toMatch(HASH);
    expect(redactor.text('ada@example.com', { mode: 'mask' })).toMatch(HASH);
    expect(redactor.text('ada@example.com', { detectors: { email: 'remove' } })).toBe('');
    expect(redactor.text('4111 1111 1111 1111')).toBe('***1111');
  });

  it('lets the stricter mode win where findings overlap', () => {
    const compiled = createRedactor().compile({ secrets: ['ada@example'], detectors: { email: 'partial' } });
    expect(compiled.text('mail ada@example.com')).toBe('mail ***');
  });
});
