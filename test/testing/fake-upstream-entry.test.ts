/**
 * `agent-tool-gateway/testing/fake-upstream` is for suites that do not run on vitest: it
 * must load where vitest cannot be resolved, which `agent-tool-gateway/testing` (with the
 * store conformance suite) cannot. Checked in a child Node whose module resolution refuses
 * vitest.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entrypoints } from '../../scripts/entrypoints.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;
let register: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'atg-no-vitest-'));
  await writeFile(
    join(dir, 'hooks.mjs'),
    `export async function resolve(specifier, context, next) {
       if (specifier === 'vitest' || specifier.startsWith('vitest/')) throw new Error('vitest cannot be resolved here');
       return next(specifier, context);
     }`,
  );
  register = join(dir, 'register.mjs');
  await writeFile(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`,
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Imports a module of this package in a child Node without vitest; what it printed, or why it failed. */
function importWithoutVitest(source: string): Promise<string> {
  const script = `const m = await import(${JSON.stringify(pathToFileURL(join(root, source)).href)}); console.log(Object.keys(m).sort().join(','));`;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--import', pathToFileURL(register).href, '--input-type=module', '-e', script],
      { cwd: root },
      (error, stdout, stderr) => resolve(error === null ? stdout.trim() : `failed: ${stderr}`),
    );
  });
}

describe('the fake upstream entry point', () => {
  it('loads without vitest, where the testing entry point does not', async () => {
    expect(await importWithoutVitest(entrypoints['./testing/fake-upstream'] as string)).toBe('createFakeUpstream');
    expect(await importWithoutVitest(entrypoints['./testing'] as string)).toMatch(/^failed: [\s\S]*vitest cannot be resolved here/);
  });
});
