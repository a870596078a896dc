import { describe, expect, it } from 'vitest';
import { compileGlob } from '../../src/policy/glob.js';

/** What a glob means, as a regular expression: fine on the short names of this test. */
function reference(glob: string): RegExp {
  const source = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 's');
}

/** Every string of `alphabet` up to `maxLength` characters. */
function* strings(alphabet: string, maxLength: number): Generator<string> {
  let layer = [''];
  yield '';
  for (let length = 1; length <= maxLength; length++) {
    layer = layer.flatMap((prefix) => [...alphabet].map((char) => prefix + char));
    yield* layer;
  }
}

describe('tool globs', () => {
  it('match exactly what the glob says: every glob and name over a small alphabet', () => {
    const names = [...strings('ab.', 5)];
    const wrong: string[] = [];
    for (const glob of strings('ab.*?', 5)) {
      const matcher = compileGlob(glob);
      const expected = reference(glob);
      for (const name of names) if (matcher(name) !== expected.test(name)) wrong.push(`${glob} on "${name}"`);
    }
    expect(wrong).toEqual([]);
  });

  it('take linear time on globs a backtracking regular expression never finishes', () => {
    const name = 'a'.repeat(128);
    expect(compileGlob(`${'*a'.repeat(60)}*b`)(name)).toBe(false);
    expect(compileGlob(`${'*a'.repeat(60)}*`)(name)).toBe(true);
    expect(compileGlob(`${'*?a'.repeat(40)}*b`)(name)).toBe(false);
    expect(compileGlob(`${'*?a'.repeat(40)}*`)(name)).toBe(true);
  });
});
