import { describe, expect, it } from 'vitest';
import { redactText } from '../../src/index.js';
import { bracketedEnd } from '../../src/redaction/inline-credentials.js';

describe('an array or object under a key name inside text', () => {
  it.each([
    ['"Authorization": ["Bearer abc123"]', '"Authorization": ***'],
    ['{"password":{"value":"hunter2"}}', '{"password":***}'],
    ['{"apiKeys":["k-1","k-2"],"page":2}', '{"apiKeys":***,"page":2}'],
    ['{"secret": {"a": [1, {"b": "x"}], "c": "]}"}, "user": "ann"}', '{"secret": ***, "user": "ann"}'],
    ["{'password': {'value': 'hunter2'}, 'user': 'ann'}", "{'password': ***, 'user': 'ann'}"],
    [
      '{\n  "credentials": {\n    "user": "ann",\n    "password": "hunter2"\n  },\n  "ok": false\n}',
      '{\n  "credentials": ***,\n  "ok": false\n}',
    ],
    ['token=[abc def] page=2', 'token=*** page=2'],
    ['password: [one, two] and more\nuser: ann', 'password: ***\nuser: ann'],
    // An apostrophe inside a word opens no string: the value still ends at its bracket.
    ["error: invalid secret=[user's key] for account 42; retry later", 'error: invalid secret=*** for account 42; retry later'],
    ["password: [don't know]\nuser: ann", 'password: ***\nuser: ann'],
    ["token=['x]y', 'z'] tail", 'token=*** tail'],
    // Quotes after a string prefix, a parenthesis or `=` open strings, brackets inside them aside.
    ["secret=[b'abc]def', b'SECOND-SECRET-VALUE'] tail", 'secret=*** tail'],
    ["password=[('u]ser', 'hunter2hunter2')] tail", 'password=*** tail'],
    ["secret=[u'a]b', rb'SECOND-SECRET'] x", 'secret=*** x'],
    ["api_key={key=' ]x', other='SECOND-SECRET'} tail", 'api_key=*** tail'],
  ])('masks %j whole', (text, expected) => {
    expect(redactText(text)).toBe(expected);
  });

  it('masks one in JSON embedded in a string, brackets and escaped quotes inside its strings included', () => {
    const inner = JSON.stringify({ password: { value: 'a]}"b' }, user: 'ann' });
    const text = JSON.stringify({ body: inner });
    expect(redactText(text)).toBe('{"body":"{\\"password\\":***,\\"user\\":\\"ann\\"}"}');
    const deeper = JSON.stringify({ log: text });
    expect(redactText(deeper)).toBe(JSON.stringify({ log: '{"body":"{\\"password\\":***,\\"user\\":\\"ann\\"}"}' }));
  });

  it('masks an unclosed one to the end of the text, or to where the string embedding it ends', () => {
    expect(redactText('{"request":{"headers":{"Cookie":["a=b", "c=d"')).toBe('{"request":{"headers":{"Cookie":***');
    expect(redactText('{"password":{"value":"hunter2')).toBe('{"password":***');
    expect(redactText('{"body":"{\\"token\\":[\\"abc","user":"ann"}')).toBe('{"body":"{\\"token\\":***","user":"ann"}');
  });

  it('costs linear time on long, deep or unbalanced input', () => {
    for (const text of [
      '{"password":'.repeat(50_000),
      `{"password":${'['.repeat(200_000)}`,
      `{"secret":[${'"]",'.repeat(100_000)}`,
      `${'"token": ["a"], '.repeat(50_000)}`,
      `{\\"token\\":[${'\\\\\\"'.repeat(100_000)}`,
    ]) {
      expect(typeof redactText(text)).toBe('string');
    }
  });
});

describe('bracketedEnd', () => {
  it.each([
    ['[1, 2] x', 0, 6],
    ['{"a": "}"} x', 0, 10],
    ["{'a': '}'} x", 0, 10],
    ['{"a": "\\"}"} x', 0, 12],
    ['{\\"a\\":\\"}\\"} x', 1, 13],
    ['{\\"a\\":\\"\\\\\\"}\\"} x', 1, 17],
    ['{\\"a\\":1}" x', 1, 9],
    ['{\\"a\\":\\"x"} x', 1, 10],
    ['[[[', 0, 3],
    ['["]', 0, 3],
  ])('ends %j (level %i) at %i', (text, level, expected) => {
    expect(bracketedEnd(text, 0, level)).toBe(expected);
  });
});
