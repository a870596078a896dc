import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { entrypoints } from './scripts/entrypoints.mjs';

const root = fileURLToPath(new URL('.', import.meta.url));
const alias = Object.entries(entrypoints).map(([subpath, source]) => ({
  find: new RegExp(`^agent-tool-gateway${subpath === '.' ? '' : subpath.slice(1)}$`),
  replacement: `${root}${source}`,
}));

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
  },
});
