/**
 * The store conformance suite as a store author runs it: in a vitest of its own, on the
 * broken stores of test/testing/fixtures/broken-stores.conformance.ts, each of which it must
 * fail where its defect lies (and pass the faithful one).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface TestResult {
  ancestorTitles: string[];
  title: string;
  status: string;
  failureMessages: string[];
}

let results: TestResult[] = [];

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'atg-conformance-'));
  try {
    const report = join(dir, 'report.json');
    const stderr = await new Promise<string>((resolve) => {
      execFile(
        process.execPath,
        [
          join(root, 'node_modules/vitest/vitest.mjs'),
          'run',
          '--config',
          'test/testing/fixtures/vitest.config.ts',
          '--reporter=json',
          `--outputFile=${report}`,
        ],
        { cwd: root, maxBuffer: 64 * 1024 * 1024 },
        // It fails (the broken stores do): the report says how.
        (_error, _stdout, stderr) => resolve(stderr),
      );
    });
    const text = await readFile(report, 'utf8').catch(() => {
      throw new Error(`the conformance run wrote no report:\n${stderr}`);
    });
    const parsed = JSON.parse(text) as { testResults: Array<{ assertionResults: TestResult[] }> };
    results = parsed.testResults.flatMap((file) => file.assertionResults);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);

/** The results of the suite run on the store of that name. */
function suiteOf(name: string): TestResult[] {
  const suite = results.filter((result) => result.ancestorTitles.includes(`store conformance: ${name}`));
  expect(suite.length, name).toBeGreaterThan(30);
  return suite;
}

/** The titles of the tests that failed on the store of that name. */
function failedOn(name: string): string[] {
  return suiteOf(name)
    .filter((result) => result.status === 'failed')
    .map((result) => result.title);
}

describe('runStoreConformance', () => {
  it('passes a faithful store, in a project that runs the tests of a file concurrently too', () => {
    expect(failedOn('faithful')).toEqual([]);
  });

  it('fails only the test whose store could not be made, for that reason, and cleans up each store it made once', () => {
    const suite = suiteOf('one store cannot be made');
    const failed = suite.filter((result) => result.status === 'failed');
    expect(failed.map((result) => result.title)).toEqual([suite[1]?.title]);
    expect(failed[0]?.failureMessages).toHaveLength(1);
    expect(failed[0]?.failureMessages[0]).toMatch(/cannot connect/);
  });

  it('fails a move or a release of an idempotency key that is not atomic', () => {
    const test =
      'moveIdempotencyKey (a store that has it): of racing moves and a release of one reservation exactly one takes effect (across handles when given)';
    expect(failedOn('move checks, then writes')).toEqual([test]);
    expect(failedOn('release checks, then deletes')).toEqual([test]);
  });

  it('fails a transition that cannot clear a decision', () => {
    expect(failedOn('transition ignores nulls')).toEqual([
      'transitionApproval: a null in the patch clears the field, as reopening a decision that does not stand does',
    ]);
  });

  it("fails a store's shared rate limiter that lets more than the limit through, or charges a refused call", () => {
    const test = 'rateLimiter (a store that has one): budgets shared by every handle, exactly the limit of racing calls, all or nothing';
    expect(failedOn('limiter checks, then counts')).toEqual([test]);
    expect(failedOn('limiter charges before a refusal')).toEqual([test]);
  });

  it('fails an agent update that does not compare the last change it expects', () => {
    expect(failedOn('agent update ignores the expected last change')).toEqual([
      'agents: an update with an expected status and last change applies only while both are those (across handles when given)',
    ]);
  });

  it('fails a list whose cursor skips records that share a timestamp, in a test that says so', () => {
    expect(failedOn('invocation cursor of the timestamp alone')).toContain(
      'lists: records that share a timestamp are each listed once, page by page',
    );
  });
});
