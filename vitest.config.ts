import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { entrypoints } from './scripts/entrypoints.mjs';

const root = fileURLToPath(new URL('.', import.meta.url));
const alias = Object.entries(entrypoints).map(([subpath, source]) => ({
  find: new RegExp(`^agent-tool-gateway${subpath === '.' ? '' : subpath.slice(1)}$`),
  replacement: `${root}${source}`,
}));

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

export default defineConfig({
  // As tsup defines it for the build (src/version.ts).
  define: { __ATG_VERSION__: JSON.stringify(version) },
  resolve: { alias },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
  },
});
