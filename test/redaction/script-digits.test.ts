import { describe, expect, it } from 'vitest';
import { createRedactor, redact, redactText } from '../../src/index.js';
import { foldForMatching, originalEnd, originalStart, withAsciiDigits } from '../../src/redaction/normalize.js';

/** `ascii` with its digits written in the script whose zero is `zero`. */
function inScript(ascii: string, zero: number): string {
  return ascii.replace(/[0-9]/g, (digit) => String.fromCodePoint(zero + Number(digit)));
}

const scripts: Array<[string, number]> = [
  ['Arabic-Indic', 0x660],
  ['Extended Arabic-Indic', 0x6f0],
  ['Devanagari', 0x966],
  ['Bengali', 0x9e6],
  ['Thai', 0xe50],
  ['Myanmar', 0x1040],
  ['Adlam (outside the BMP)', 0x1e950],
];

describe('decimal digits of other scripts', () => {
  it('hide no card number', () => {
    expect(redact('٤١١١١١١١١١١١١١١١')).toBe('***');
  });

  it.each(scripts)('are read as ASCII digits in %s', (_, zero) => {
    expect(redactText(`card ${inScript('4111 1111 1111 1111', zero)} ok`)).toBe('card *** ok');
    expect(redactText(`call ${inScript('+1 415 555 2671', zero)} now`)).toBe('call *** now');
    expect(redactText(`ssn ${inScript('078-05-1120', zero)}.`)).toBe('ssn ***.');
    expect(redact({ note: inScript('4111111111111111', zero) })).toEqual({ note: '***' });
  });

  it('keep the text around a finding as it was, and give partial and hash the ASCII digits', () => {
    const partial = createRedactor({ detectors: { card: 'partial' } });
    expect(partial.text('٤١١١-١١١١-١١١١-١١١١ and ٣ more')).toBe('***1111 and ٣ more');
    const hashed = createRedactor({ hashKey: 'k', detectors: { card: 'hash' } });
    expect(hashed.text('٤١١١١١١١١١١١١١١١')).toBe(hashed.text('4111111111111111'));
  });

  it('leave numbers that are no finding alone', () => {
    expect(redactText('order ٤١١١١١١١١١١١١١١٢ placed')).toBe('order ٤١١١١١١١١١١١١١١٢ placed');
  });
});

describe('withAsciiDigits', () => {
  it('gives the value of every decimal digit, runs of ten that adjoin included', () => {
    for (const [, zero] of scripts) expect(withAsciiDigits(inScript('x0123456789y', zero))).toBe('x0123456789y');
    // Mathematical digits: five adjoining runs from U+1D7CE (NFKC folds them too).
    expect(withAsciiDigits(String.fromCodePoint(0x1d7ce + 27))).toBe('7');
  });

  it('returns the same string when there is no digit to map', () => {
    const text = 'Zoë — 東京 🙂 ok';
    expect(withAsciiDigits(text)).toBe(text);
  });
});

describe('foldForMatching', () => {
  it('keeps offsets as they are when only digits of the BMP change', () => {
    const folded = foldForMatching('رقم ٤٢ هنا');
    expect(folded?.text).toBe('رقم 42 هنا');
    if (folded === null) return;
    expect([originalStart(folded, 4), originalEnd(folded, 6)]).toEqual([4, 6]);
  });

  it('maps a digit outside the BMP (two UTF-16 units) to one ASCII unit, offsets kept', () => {
    const original = `a ${inScript('42', 0x1e950)} b`;
    const folded = foldForMatching(original);
    expect(folded?.text).toBe('a 42 b');
    if (folded === null) return;
    expect(original.slice(originalStart(folded, 2), originalEnd(folded, 4))).toBe(inScript('42', 0x1e950));
  });
});
