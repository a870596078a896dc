/**
 * Which code the benchmark children load. By default the built package (`dist/`, what users
 * install): the bench files import `agent-tool-gateway` and its subpaths, and the children run
 * tsx with a tsconfig that has no `paths`, so those names resolve through the package's own
 * `exports`. With `--source` the children take the TypeScript sources through tsconfig `paths`
 * instead (no build needed, and CPU profiles name the source files; tsx's transform adds a
 * little per-call overhead of its own).
 */
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `dist`: the built package; `source`: src/ and adapters/ through tsx. */
export type CodeUnderTest = 'dist' | 'source';

const builtTsconfig = fileURLToPath(new URL('./tsconfig.built.json', import.meta.url));
const builtEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const builtNodeEntry = fileURLToPath(new URL('../dist/node.js', import.meta.url));

/**
 * Makes every child started from now on load `code`: children inherit this process's
 * environment, and tsx reads its tsconfig from `TSX_TSCONFIG_PATH`.
 */
export function loadInChildren(code: CodeUnderTest): void {
  if (code === 'dist') process.env.TSX_TSCONFIG_PATH = builtTsconfig;
  else delete process.env.TSX_TSCONFIG_PATH;
}

/** Throws when the built package is missing (run `npm run build`, or bench with `--source`). */
export function assertBuilt(): void {
  if (!existsSync(builtEntry) || !existsSync(builtNodeEntry)) {
    throw new Error('dist/ is missing: run `npm run build` first (`npm run bench` does), or pass --source');
  }
}

/** When dist/index.js was built, as an ISO date (for the results). */
export function builtAt(): string | null {
  return existsSync(builtEntry) ? statSync(builtEntry).mtime.toISOString() : null;
}
