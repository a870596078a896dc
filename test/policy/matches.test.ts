import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../../src/index.js';

const agent = { id: 'a1', name: 'bot', tags: [] };
const tool = { name: 'db.query' };

/** A policy that allows everything except inputs whose `s` matches `pattern`. */
function denying(pattern: string) {
  return compilePolicy([
    { id: 'all', effect: 'allow' },
    { id: 'r', effect: 'deny', when: [{ path: '$.s', op: 'matches', value: pattern }] },
  ]);
}

const effectOf = (pattern: string, s: string) => denying(pattern).evaluate({ agent, tool, input: { s } }).effect;

describe('policy matches', () => {
  it('tests ambiguous patterns in linear time: the inputs that backtrack for ever elsewhere are decided', () => {
    const cases: Array<[string, string, boolean]> = [
      ['^(\\w|\\d)+$', `${'1'.repeat(27)}!`, false],
      ['^(\\w|\\d)+$', `${'1'.repeat(1 << 20)}!`, false],
      ['^(\\w|\\d)+$', '1'.repeat(1 << 20), true],
      ['^(a|a)*$', `${'a'.repeat(1 << 16)}!`, false],
      ['^(a|ab)*c$', `${'ab'.repeat(1 << 16)}!`, false],
      ['^\\s*\\s*x$', `${' '.repeat(1 << 16)}!`, false],
      ['.*.*.*=.*', 'a'.repeat(1 << 16), false],
      ['^(a+)+$', `${'a'.repeat(1 << 16)}!`, false],
      ['(x+x+)+y', 'x'.repeat(1 << 16), false],
      ['^(\\d+|\\d+\\.\\d+)*$', `${'1.1'.repeat(1 << 14)}!`, false],
    ];
    for (const [pattern, s, denied] of cases) {
      expect(effectOf(pattern, s), `${pattern} on ${s.length} characters`).toBe(denied ? 'deny' : 'allow');
    }
  });

  it('tests a value of any length: a long string cannot slip past a deny rule', () => {
    const engine = denying('(?i)drop\\s+table');
    expect(engine.evaluate({ agent, tool, input: { s: `drop table users${' '.repeat(100_000)}` } }).effect).toBe('deny');
    expect(engine.evaluate({ agent, tool, input: { s: `${' '.repeat(2_000_000)}DROP  TABLE users` } }).effect).toBe('deny');
    expect(engine.evaluate({ agent, tool, input: { s: ' '.repeat(2_000_000) } }).effect).toBe('allow');
  });

  it('keeps the meaning JavaScript gives to \\s, \\S, . and \\u escapes', () => {
    const cases: Array<[string, string, boolean]> = [
      ['DROP\\s+TABLE', 'DROP\u00a0TABLE', true],
      ['DROP\\s+TABLE', 'DROP\u3000\u2028TABLE', true],
      ['DROP\\s+TABLE', 'DROPTABLE', false],
      ['^\\S+$', 'a\ufeffb', false],
      ['^[\\S]+$', 'ab', true],
      ['^[^\\s]+$', 'a\u00a0b', false],
      ['^a[\\s\\S]b$', 'a\nb', true],
      ['^a.b$', 'a\rb', false],
      ['^a.b$', 'a\u2029b', false],
      ['^a.b$', 'a\u{1F600}b', true],
      ['^\\u0041\\u{42}$', 'AB', true],
      ['^\\uD83D\\uDE00$', '\u{1F600}', true],
      ['^cus_', 'cus_123', true],
      ['@example\\.com$', 'a@example.com\n', false],
      ['(?i)^select\\b', 'SELECT 1', true],
      ['[[:digit:]]{3}', 'ab123', true],
      ['\\Q.*\\E', 'a.*b', true],
      ['\\Q.*\\E', 'ab', false],
    ];
    for (const [pattern, s, matches] of cases)
      expect(effectOf(pattern, s), `${pattern} on ${JSON.stringify(s)}`).toBe(matches ? 'deny' : 'allow');
  });

  it('answers alike for a literal and the same pattern made into a general one', () => {
    const patterns = [
      '^cus_',
      '@example\\.com$',
      '^a b$',
      'id',
      '^\\.\\*\\/$',
      '\\$\\^\\|\\?\\+\\(\\[\\{\\\\',
      '',
      '^$',
      '\u00fc\u{1F600}',
    ];
    const values = [
      'cus_1',
      'xcus_',
      'a@example.com',
      'a@example.com\n',
      'a\rb',
      'a\u2028b',
      'a\u00a0b',
      'a\ufeffb',
      'x5!',
      '\u00e95\u00e9',
      'my id',
      'grid',
      '.*/',
      '$^|?+([{\\',
      '',
      '\u00fc\u{1F600}',
      '\ud800',
    ];
    for (const pattern of patterns) {
      for (const value of values) {
        // `(?:)` matches the empty string and makes the pattern a general one.
        expect(effectOf(pattern, value), `${pattern} on ${JSON.stringify(value)}`).toBe(effectOf(`${pattern}(?:)`, value));
      }
    }
  });

  it('refuses, naming the rule, what the linear-time engine cannot run', () => {
    const refused: Array<[string, RegExp]> = [
      ['(a)\\1', /back-references/],
      ['\\k<name>', /back-references/],
      ['(?=a)b', /lookarounds/],
      ['(?<!a)b', /lookarounds/],
      ['(?s)a.b', /s flag/],
      ['(?is:a.b)', /s flag/],
      ['[', /invalid regular expression/],
      ['a{2000}', /invalid regular expression/],
      ['(?:[ab][^z]{30}){30}', /too large/],
      ['a'.repeat(513), /longer than 512/],
    ];
    for (const [pattern, message] of refused) {
      expect(() => denying(pattern), pattern.slice(0, 40)).toThrow(/policy rule "r" when\[0\]/);
      expect(() => denying(pattern), pattern.slice(0, 40)).toThrow(message);
    }
  });
});
