import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { entrypoints } from '../scripts/entrypoints.mjs';

const read = (file: string) => JSON.parse(readFileSync(new URL(`../${file}`, import.meta.url), 'utf8'));
const distName = (subpath: string) => (subpath === '.' ? 'index' : subpath.slice(2));

describe('the one list of entry points', () => {
  it('is what package.json exports, with types, import and require for each subpath', () => {
    const { exports } = read('package.json');
    const subpaths = Object.keys(exports).filter((key) => key !== './package.json');
    expect(subpaths.sort()).toEqual(Object.keys(entrypoints).sort());
    for (const subpath of subpaths) {
      const name = distName(subpath);
      expect(exports[subpath]).toEqual({
        import: { types: `./dist/${name}.d.ts`, default: `./dist/${name}.js` },
        require: { types: `./dist/${name}.d.cts`, default: `./dist/${name}.cjs` },
      });
    }
  });

  it('is what tsconfig paths and typedoc entry points name', () => {
    const paths = read('tsconfig.json').compilerOptions.paths as Record<string, string[]>;
    const fromPaths = Object.fromEntries(
      Object.entries(paths).map(([specifier, [source]]) => [
        specifier === 'agent-tool-gateway' ? '.' : `.${specifier.slice('agent-tool-gateway'.length)}`,
        (source as string).replace(/^\.\//, ''),
      ]),
    );
    expect(fromPaths).toEqual(entrypoints);
    expect([...read('typedoc.json').entryPoints].sort()).toEqual(Object.values(entrypoints).sort());
  });
});
