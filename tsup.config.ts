import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';
import { entrypoints } from './scripts/entrypoints.mjs';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

const entry = {
  ...Object.fromEntries(Object.entries(entrypoints).map(([subpath, source]) => [subpath === '.' ? 'index' : subpath.slice(2), source])),
  // The `atg` command: a bin, not an export subpath.
  cli: 'src/cli/main.ts',
};

export default defineConfig({
  entry,
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: true,
  treeshake: true,
  // The version the MCP endpoint reports by default (src/version.ts).
  define: { __ATG_VERSION__: JSON.stringify(version) },
  // Peer dependencies of subpaths (test runner, frameworks, database clients) are never bundled.
  external: ['vitest', 'pg', '@electric-sql/pglite', 'express', 'fastify', 'koa', 'next'],
});
