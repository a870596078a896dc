import { describe, expect, it } from 'vitest';
import { redactText } from '../../src/index.js';
import { quoteDelimiter } from '../../src/redaction/inline-credentials.js';

/** `value` written as JSON inside a JSON string `levels` times (as a log line or error body carries it). */
function embedded(value: unknown, levels: number): string {
  let text = JSON.stringify(value);
  for (let level = 0; level < levels; level++) text = JSON.stringify(text).slice(1, -1);
  return text;
}

describe('a quoted value under a key name in embedded JSON', () => {
  it('is masked up to the quote that closes it, past escaped quotes inside it', () => {
    expect(redactText('{\\"password\\":\\"hun\\\\\\"ter2-tail\\"}')).toBe('{\\"password\\":\\"***\\"}');
    expect(redactText(embedded({ user: 'ann', password: 'pa"ss-w0rd-Secret' }, 1))).toBe('{\\"user\\":\\"ann\\",\\"password\\":\\"***\\"}');
  });

  it('is masked whole when it ends in a backslash or holds several escaped quotes', () => {
    for (const password of ['tail\\', 'a"b"c-Secret', '\\"x\\"-Secret', 'x\\\\"y-Secret']) {
      const output = redactText(embedded({ password, user: 'ann' }, 1));
      expect(output).toBe('{\\"password\\":\\"***\\",\\"user\\":\\"ann\\"}');
    }
  });

  it.each([2, 3, 4])('is masked whole %i levels deep', (levels) => {
    const text = embedded({ password: 'pa"zz\\w0rd-Secret', user: 'ann' }, levels);
    const output = redactText(`body: "${text}"`);
    expect(output).not.toContain('zz');
    expect(output).not.toContain('Secret');
    expect(output).toContain('user');
    expect(output).toContain('ann');
  });

  it('ends where the string around the embedded JSON ends, when the value is not closed at its own level', () => {
    expect(redactText('{"body":"{\\"password\\":\\"hunter2","user":"ann"}')).toBe('{"body":"{\\"password\\":\\"***","user":"ann"}');
  });

  it('runs to the end of the line when it is not closed at all', () => {
    expect(redactText('{\\"password\\":\\"hun\\\\\\"ter2\nnext line')).toBe('{\\"password\\":\\"***\nnext line');
  });

  it('costs linear time on long runs of escaped quotes and backslashes', () => {
    const text = `${'\\"password\\":\\"'.repeat(20_000)}${'\\\\\\"'.repeat(50_000)}${'\\'.repeat(100_000)}"`;
    expect(typeof redactText(text)).toBe('string');
  });
});

describe('quoteDelimiter', () => {
  // The content of the string starts at offset 0; the quote looked at is the last character.
  it.each([
    ['"', 0, 0],
    ['\\"', 0, -1],
    ['\\\\"', 0, 0],
    ['\\"', 1, 1],
    ['"', 1, 0],
    ['\\\\\\"', 1, -1],
    ['\\\\\\\\\\"', 1, 1],
    ['\\\\"', 1, 0],
    ['\\\\\\"', 2, 3],
    ['\\"', 2, 1],
    ['\\\\\\\\\\\\\\"', 2, -1],
    ['x\\\\\\\\\\\\\\\\\\\\\\"', 2, 3],
  ])('reads %j at level %i as %i', (text, level, expected) => {
    expect(quoteDelimiter(text, text.length - 1, 0, level)).toBe(expected);
  });

  it('does not count backslashes before the start of the content', () => {
    expect(quoteDelimiter('\\\\"', 2, 2, 1)).toBe(0);
  });
});
