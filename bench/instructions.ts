/**
 * Machine instructions per request, counted by valgrind's callgrind: a cost figure that does
 * not depend on how busy or fast the machine is. Timed runs (`bench/run.ts`) on a shared
 * 2-core machine move by ±10–20% between runs. Counted twice, the in-process pipeline
 * (scenario 8) agrees within about 2%, which is what a change on the hot path needs; the
 * HTTP scenarios agree less well (the ceiling moved by 20% between two counts), because how
 * many reads, writes and event-loop turns a request takes depends on timing.
 *
 * Each server (and the in-process loop of scenario 8) runs alone under callgrind, counting
 * every thread of the process (V8's compiler and garbage-collector helpers included). The
 * upstream and the client run natively, outside the count. The client sends the scenario's
 * request on one keep-alive connection, one at a time: first a warm-up (so the code is
 * optimised), then the counted requests, with callgrind's counters dumped
 * (`callgrind_control --dump`) before and after. Every answer is checked.
 *
 * One request at a time means no batching (each audit append is its own write) and no
 * waiting counted: the figures are the work a request costs, not a throughput. Node under
 * callgrind runs some 50× slower, so a full count takes about half an hour. Needs valgrind
 * (with callgrind_control) on PATH.
 *
 *   npx tsx bench/instructions.ts [--requests=3000] [--warmup=5000] [--only=2,5,8]
 *                                 [--output=instructions] [--source]
 *
 * Writes bench/results/<output>.json and <output>.md and prints the table.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Client } from 'undici';
import { type BenchChild, readArguments, startChild } from './child-process.js';
import { type CodeUnderTest, assertBuilt, loadInChildren } from './code-under-test.js';
import { markdownTable, table } from './report.js';
import { quickCheck, strictCheck } from './response-checks.js';
import { type HttpScenario, httpScenarios, startServer } from './scenarios.js';

const args = readArguments();
const count = (name: string, fallback: number) => {
  const value = Number(args.get(name) ?? fallback);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive whole number`);
  return value;
};
const requests = count('requests', 3000);
const warmup = count('warmup', 5000);
const code: CodeUnderTest = args.has('source') ? 'source' : 'dist';
const outputName = args.get('output') ?? 'instructions';
if (!/^[A-Za-z0-9._-]+$/.test(outputName)) throw new Error('--output must be a plain file name (letters, digits, ".", "_", "-")');
/** The servers counted by default: the in-memory ones (PGlite under callgrind would take hours). */
const defaultSelection = ['2', '2b', '2c', '3', '3b', '4', '5', '6', '8'];
const only = args
  .get('only')
  ?.split(',')
  .map((entry) => entry.trim());
const selected = (number: string) =>
  only === undefined ? defaultSelection.includes(number) : only.includes(number) || only.includes(number.replace(/[a-z]$/, ''));

/**
 * Optimised code is compiled on the main thread when a function gets hot, so it is ready
 * after the same number of requests in every run; V8's background compiler thread, which
 * callgrind schedules rarely, would otherwise leave code unoptimised for a varying while.
 */
const countedNodeFlags = ['--no-concurrent-recompilation'];
const resultsDirectory = fileURLToPath(new URL('./results/', import.meta.url));
const countsDirectory = `${resultsDirectory}callgrind/`;

/** One counted scenario (or in-process mode). */
export interface InstructionCount {
  number: string;
  title: string;
  status: 'measured' | 'failed' | 'skipped';
  reason?: string;
  /** Instructions per request (or call), all threads of the server process. */
  instructionsPerRequest?: number;
  /** Divided by the ceiling's (scenario 2) and the SDK baseline's (scenario 3). */
  toCeiling?: number | null;
  toSdkBaseline?: number | null;
  requests?: number;
  errors?: number;
}

/** Callgrind under the server: counting from the start, one output file per dump. */
function callgrindWrapper(id: string): string[] {
  return [
    'valgrind',
    '--tool=callgrind',
    // V8 writes machine code into the heap and rewrites it: callgrind must notice.
    '--smc-check=all-non-file',
    `--callgrind-out-file=${countsDirectory}${id}.out`,
    `--log-file=${countsDirectory}${id}.log`,
  ];
}

/** Dumps (and zeroes) the counters of a process under callgrind; returns the dump's instruction total. */
function dumpCounters(child: BenchChild, id: string, dump: number): number {
  const pid = child.process.pid;
  if (pid === undefined) throw new Error('the counted process has no pid');
  execFileSync('callgrind_control', ['--dump', String(pid)], { stdio: 'ignore', timeout: 120_000 });
  const text = readFileSync(`${countsDirectory}${id}.out.${dump}`, 'utf8');
  const totals = /^totals:\s+(\d+)/m.exec(text) ?? /^summary:\s+(\d+)/m.exec(text);
  if (totals === null) throw new Error(`no totals in callgrind dump ${id}.out.${dump}`);
  return Number(totals[1]);
}

/** Sends `total` requests one after the other; the number of wrong answers. */
async function sendInSequence(client: Client, scenario: HttpScenario, headers: Record<string, string>, total: number): Promise<number> {
  let errors = 0;
  for (let index = 0; index < total; index++) {
    const answer = await client.request({ method: 'POST', path: scenario.path, headers, body: scenario.request.body });
    const body = await answer.body.text();
    const wrong = index === 0 ? strictCheck(scenario.kind, answer.statusCode, body) !== undefined : !quickCheck(scenario.kind, body);
    if (wrong || answer.statusCode !== 200) errors++;
  }
  return errors;
}

async function countHttpScenario(scenario: HttpScenario, upstreamUrl: string): Promise<InstructionCount> {
  const base = { number: scenario.number, title: scenario.title };
  if (scenario.skip !== undefined) return { ...base, status: 'skipped', reason: scenario.skip };
  const server = await startServer(scenario, upstreamUrl, {
    wrapper: callgrindWrapper(scenario.id),
    nodeFlags: countedNodeFlags,
    readyTimeoutMs: 600_000,
  });
  if (server.unavailable !== undefined) return { ...base, status: 'skipped', reason: server.unavailable };
  const child = server.child as BenchChild;
  const client = new Client(server.url, { pipelining: 1, headersTimeout: 120_000, bodyTimeout: 120_000 });
  try {
    const headers = { ...scenario.request.headers, ...(scenario.agentKey ? { authorization: `Bearer ${server.agentKey}` } : {}) };
    let errors = await sendInSequence(client, scenario, headers, warmup);
    dumpCounters(child, scenario.id, 1);
    errors += await sendInSequence(client, scenario, headers, requests);
    const instructions = dumpCounters(child, scenario.id, 2);
    return { ...base, status: 'measured', instructionsPerRequest: Math.round(instructions / requests), requests, errors };
  } catch (error) {
    return { ...base, status: 'failed', reason: (error as Error).message };
  } finally {
    await client.close();
    await child.stop(120_000);
  }
}

async function countInProcess(upstreamUrl: string): Promise<InstructionCount[]> {
  const id = 'in-process';
  const child = startChild('in-process.ts', {
    args: [`--upstream=${upstreamUrl}`],
    wrapper: callgrindWrapper(id),
    nodeFlags: countedNodeFlags,
  });
  const modes = [
    { output: 'record', title: 'in-process invoke(), 2 KiB record' },
    { output: 'tiny', title: 'in-process invoke(), tiny output' },
  ];
  try {
    await child.next('ready', 600_000);
    let errors = 0;
    for (const mode of modes) {
      errors += Number((await child.ask({ type: 'calls', output: mode.output, count: warmup }, 'calls-done', 3_600_000)).errors);
    }
    dumpCounters(child, id, 1);
    const counts: InstructionCount[] = [];
    for (const [index, mode] of modes.entries()) {
      const reply = await child.ask({ type: 'calls', output: mode.output, count: requests }, 'calls-done', 3_600_000);
      const instructions = dumpCounters(child, id, index + 2);
      counts.push({
        number: '8',
        title: mode.title,
        status: 'measured',
        instructionsPerRequest: Math.round(instructions / requests),
        requests,
        errors: errors + Number(reply.errors),
      });
    }
    return counts;
  } catch (error) {
    return modes.map((mode) => ({ number: '8', title: mode.title, status: 'failed', reason: (error as Error).message }));
  } finally {
    await child.stop(120_000);
  }
}

function addCountRatios(counts: InstructionCount[]): void {
  const per = (number: string) => counts.find((entry) => entry.number === number)?.instructionsPerRequest;
  const ceiling = per('2');
  const sdk = per('3');
  for (const entry of counts) {
    if (entry.instructionsPerRequest === undefined) continue;
    const ratio = (reference: number | undefined) =>
      reference === undefined ? null : Math.round(((entry.instructionsPerRequest as number) / reference) * 100) / 100;
    entry.toCeiling = ratio(ceiling);
    entry.toSdkBaseline = ratio(sdk);
  }
}

function rows(counts: InstructionCount[]): string[][] {
  const ratio = (value: number | null | undefined) => (value === null || value === undefined ? '–' : `${value.toFixed(2)}×`);
  return counts.map((entry) =>
    entry.status === 'measured'
      ? [
          entry.number,
          entry.title,
          String(Math.round((entry.instructionsPerRequest as number) / 1000)),
          ratio(entry.toCeiling),
          ratio(entry.toSdkBaseline),
          String(entry.errors ?? 0),
        ]
      : [entry.number, entry.title, `${entry.status}: ${entry.reason ?? ''}`, '', '', ''],
  );
}

function requireValgrind(): void {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    execFileSync('callgrind_control', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('bench/instructions.ts needs valgrind (with callgrind_control) on PATH, e.g. `apt-get install valgrind`');
  }
}

async function main(): Promise<void> {
  requireValgrind();
  if (code === 'dist') assertBuilt();
  loadInChildren(code);
  rmSync(countsDirectory, { recursive: true, force: true });
  mkdirSync(countsDirectory, { recursive: true });
  const commit = (() => {
    try {
      return execFileSync('git', ['rev-parse', '--short=10', 'HEAD'], { encoding: 'utf8' }).trim();
    } catch {
      return null;
    }
  })();
  const upstream = startChild('servers/upstream.ts');
  const upstreamUrl = String((await upstream.next('ready')).url);
  const counts: InstructionCount[] = [];
  try {
    for (const scenario of httpScenarios.filter((entry) => entry.server !== undefined && selected(entry.number))) {
      process.stdout.write(`${scenario.number} ${scenario.title} … `);
      const result = await countHttpScenario(scenario, upstreamUrl);
      console.log(
        result.status === 'measured' ? `${result.instructionsPerRequest} instructions/request` : `${result.status}: ${result.reason}`,
      );
      counts.push(result);
    }
    if (selected('8')) {
      process.stdout.write('8 in-process invoke() … ');
      const results = await countInProcess(upstreamUrl);
      console.log(results.map((entry) => `${entry.title}: ${entry.instructionsPerRequest ?? entry.status}`).join('; '));
      counts.push(...results);
    }
  } finally {
    await upstream.stop();
  }
  addCountRatios(counts);

  const valgrind = execFileSync('valgrind', ['--version'], { encoding: 'utf8' }).trim();
  const heading =
    `Counted ${new Date().toISOString()} at ${commit ?? 'an unknown commit'}: node ${process.version}, ${valgrind} (callgrind), ` +
    `${cpus()[0]?.model.trim() ?? 'unknown CPU'}; ${warmup} warm-up + ${requests} counted requests per scenario, one at a time; ` +
    `${code === 'source' ? 'sources through tsx' : 'built package (dist/)'}.`;
  const headers = ['#', 'scenario', 'k instructions/request', '×ceiling', '×sdk', 'errors'];
  const align = [false, false, true, true, true, true];
  const results = { countedAt: new Date().toISOString(), commit, node: process.version, valgrind, warmup, requests, code, counts };
  writeFileSync(`${resultsDirectory}${outputName}.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(`${resultsDirectory}${outputName}.md`, [heading, '', ...markdownTable(headers, rows(counts), align), ''].join('\n'));
  console.log(['', heading, '', ...table(headers, rows(counts), align), ''].join('\n'));
  console.log(`written: bench/results/${outputName}.json, bench/results/${outputName}.md`);
  const failures = counts.filter((entry) => entry.status === 'failed' || (entry.errors ?? 0) > 0);
  if (failures.length > 0) process.exitCode = 1;
}

await main();
