/**
 * The benchmark harness (`npm run bench`; not part of `npm test`). Everything runs on
 * loopback, each server and each load generator in its own process:
 *
 *   1 direct            load straight at the upstream
 *   2 ceiling           node:http → undici pool → upstream, nothing else (2b: the same through adapters/node.ts's bridge
 *                       and a Web Response; 2c: through the bridge as the gateway's own JSON answers use it)
 *   3 sdk-baseline      official @modelcontextprotocol/server v2 createMcpHandler (2026-07-28; 3b: 2025-11-25)
 *   4 gateway REST      POST /tools/{name}/invoke, full governance
 *   5 gateway MCP 2026  tools/call, 2026-07-28 era, full governance
 *   6 gateway MCP 2025  tools/call, 2025-11-25, stateless
 *   7 scenario 5 on the SQL store: PGlite (7a), Postgres when ATG_TEST_POSTGRES_URL is set (7b)
 *   8 in-process        gateway.invoke() of a local tool, µs per call
 *   9 approval          request → approve → result, latency
 *  10 memory            RSS after N calls, garbage collected (median of the rounds)
 *   L equal load        2 and 5 at the same steady rate (a quarter of 5's throughput): latency
 *   R redaction         bench/redaction.ts figures
 *
 * Writes bench/results/latest.json and latest.md (or <name>.json and <name>.md with
 * --output=<name>) and prints the tables and the goals.
 *
 *   npx tsx bench/run.ts [--quick] [--duration=10] [--warmup=3] [--connections=32]
 *                        [--rounds=3] [--samples=20] [--only=2,3,5,L] [--profile[=5,8]] [--output=latest] [--source]
 *
 * The children load the built package (dist/; `npm run bench` builds it first), or with
 * --source the TypeScript sources (see bench/code-under-test.ts).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ApprovalResult } from './approval.js';
import { type BenchChild, readArguments, startChild } from './child-process.js';
import { type CodeUnderTest, assertBuilt, loadInChildren } from './code-under-test.js';
import { customerJson } from './fixtures.js';
import type { InProcessMode } from './in-process.js';
import { medianBy } from './latency-stats.js';
import type { LoadConfig, LoadResult } from './load.js';
import type { MemoryCheckpoint } from './memory.js';
import { formatProfileSummary, type ProfileSummary, summarizeProfile } from './profile-summary.js';
import { measureRedaction } from './redaction-figures.js';
import {
  type BenchResults,
  type EqualLoadLatency,
  type EqualLoadRound,
  type HttpScenarioResult,
  addRatios,
  evaluateGoals,
  formatConsoleReport,
  formatMarkdownReport,
  scenarioErrors,
  signedPercent,
} from './report.js';
import { type HttpScenario, type StartedServer, gatewayServer, httpScenarios, startServer } from './scenarios.js';

const args = readArguments();
const quick = args.has('quick');
const numberFlag = (name: string, fallback: number) => {
  const value = args.get(name);
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`--${name} must be a positive number`);
  return parsed;
};
const settings = {
  quick,
  durationSeconds: numberFlag('duration', quick ? 3 : 10),
  warmupSeconds: numberFlag('warmup', quick ? 1 : 3),
  connections: Math.round(numberFlag('connections', 32)),
  samples: Math.round(numberFlag('samples', quick ? 5 : 20)),
  rounds: Math.round(numberFlag('rounds', quick ? 1 : 3)),
  upstreamPayloadBytes: Buffer.byteLength(customerJson),
  code: (args.has('source') ? 'source' : 'dist') as CodeUnderTest,
};
const only = args
  .get('only')
  ?.split(',')
  .map((entry) => entry.trim());
const selected = (number: string) => only === undefined || only.includes(number) || only.includes(number.replace(/[a-z]$/, ''));
const profileFlag = args.get('profile');
/** Scenarios to profile in extra runs after the measured ones: `--profile` is 5 and 8. */
const profiled = profileFlag === undefined ? [] : profileFlag === 'true' ? ['5', '8'] : profileFlag.split(',').map((entry) => entry.trim());

const resultsDirectory = fileURLToPath(new URL('./results/', import.meta.url));
const outputName = args.get('output') ?? 'latest';
if (!/^[A-Za-z0-9._-]+$/.test(outputName)) throw new Error('--output must be a plain file name (letters, digits, ".", "_", "-")');
const profileDirectory = `${resultsDirectory}profiles/`;

/** CPU seconds a process has used so far, and how many of them in the kernel (Linux /proc; null elsewhere). */
function cpuSeconds(pid: number | undefined): { total: number; kernel: number } | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the file, 12th and 13th after the name; in ticks of 1/100 s.
    const kernel = Number(fields[12]) / 100;
    return { total: Number(fields[11]) / 100 + kernel, kernel };
  } catch {
    return null;
  }
}

async function measureHttpScenario(
  scenario: HttpScenario,
  upstream: BenchChild,
  upstreamUrl: string,
  profileFile?: string,
  ratePerSecond?: number,
): Promise<HttpScenarioResult> {
  const base = { id: scenario.id, number: scenario.number, title: scenario.title };
  if (scenario.skip !== undefined) return { ...base, status: 'skipped', reason: scenario.skip };
  let server: StartedServer;
  try {
    server = await startServer(scenario, upstreamUrl);
  } catch (error) {
    return { ...base, status: 'failed', reason: (error as Error).message };
  }
  if (server.unavailable !== undefined) return { ...base, status: 'skipped', reason: server.unavailable };
  const load = startChild('load.ts');
  try {
    await load.next('ready');
    const headers = { ...scenario.request.headers, ...(scenario.agentKey ? { authorization: `Bearer ${server.agentKey}` } : {}) };
    const config: LoadConfig = {
      url: server.url + scenario.path,
      method: 'POST',
      headers,
      body: scenario.request.body,
      kind: scenario.kind,
      connections: settings.connections,
      warmupSeconds: settings.warmupSeconds,
      durationSeconds: settings.durationSeconds,
      samples: settings.samples,
      ...(ratePerSecond === undefined ? {} : { ratePerSecond }),
    };
    const serverPid = server.child?.process.pid ?? upstream.process.pid;
    const upstreamBefore = Number((await upstream.ask({ type: 'count' }, 'count')).requests);
    const sql = scenario.server?.args?.some((argument) => argument === '--store=pglite' || argument === '--store=postgres') ?? false;
    const statementsBefore = sql ? await server.child?.ask({ type: 'statements' }, 'statements') : undefined;
    const profiled = profileFile === undefined ? undefined : server.child;
    const timedStart = load.next('timed-start', 600_000).then(() => {
      profiled?.process.send({ type: 'profile-start', file: profileFile });
      return { server: cpuSeconds(serverPid), upstream: cpuSeconds(upstream.process.pid), at: performance.now() };
    });
    const timedEnd = load.next('timed-end', 600_000).then(async () => {
      const snapshot = { server: cpuSeconds(serverPid), upstream: cpuSeconds(upstream.process.pid), at: performance.now() };
      await profiled?.ask({ type: 'profile-stop' }, 'profile-written');
      return snapshot;
    });
    // If the load generator dies first, these reject with it; the failure is reported through `ask`.
    timedStart.catch(() => undefined);
    timedEnd.catch(() => undefined);
    const reply = await load.ask({ type: 'run', ...config }, 'result', 600_000);
    const [start, end] = await Promise.all([timedStart, timedEnd]);
    const upstreamAfter = Number((await upstream.ask({ type: 'count' }, 'count')).requests);
    const statementsAfter = sql ? await server.child?.ask({ type: 'statements' }, 'statements') : undefined;
    const { type: _type, ...result } = reply as unknown as LoadResult & { type: string };
    const seconds = (end.at - start.at) / 1000;
    const share = (before: number | undefined, after: number | undefined) =>
      before === undefined || after === undefined ? null : Math.round(((after - before) / seconds) * 100) / 100;
    const upstreamRequests = upstreamAfter - upstreamBefore;
    return {
      ...base,
      status: 'measured',
      requestsPerSecond: result.requestsPerSecond,
      latency: result.latency,
      // Every answered call must have reached the upstream (more is fine: calls in flight when a run stopped).
      errors: { ...result.errors, upstreamMissing: Math.max(0, result.responsesAllPhases - upstreamRequests) },
      responses: result.responses,
      durationSeconds: result.durationSeconds,
      cpu: {
        server: scenario.server === undefined ? null : share(start.server?.total, end.server?.total),
        serverKernel: scenario.server === undefined ? null : share(start.server?.kernel, end.server?.kernel),
        upstream: share(start.upstream?.total, end.upstream?.total),
        loadGenerator: result.loadGeneratorCpu,
      },
      upstreamCheck: { responses: result.responsesAllPhases, upstreamRequests },
      ...(statementsBefore === undefined || statementsAfter === undefined
        ? {}
        : {
            sqlPerCall: {
              statements:
                Math.round(((Number(statementsAfter.statements) - Number(statementsBefore.statements)) / result.responsesAllPhases) * 10) /
                10,
              transactions:
                Math.round(
                  ((Number(statementsAfter.transactions) - Number(statementsBefore.transactions)) / result.responsesAllPhases) * 10,
                ) / 10,
            },
          }),
    };
  } catch (error) {
    return { ...base, status: 'failed', reason: (error as Error).message };
  } finally {
    await load.stop();
    await server.child?.stop();
  }
}

/**
 * Runs every selected HTTP scenario `rounds` times, interleaved (round 1 of each, then round
 * 2…). Each scenario reports its median round; its ratios are the medians of the ratios
 * taken within each round, so a disturbance that hits one round cancels out.
 */
async function measureHttpScenarios(upstream: BenchChild, upstreamUrl: string): Promise<HttpScenarioResult[]> {
  const chosen = httpScenarios.filter((scenario) => selected(scenario.number));
  const rounds: Array<Map<string, HttpScenarioResult>> = [];
  for (let round = 1; round <= settings.rounds; round++) {
    const results = new Map<string, HttpScenarioResult>();
    for (const scenario of chosen) {
      const label = `${scenario.number} ${scenario.title}${settings.rounds > 1 ? ` (round ${round})` : ''}`;
      process.stdout.write(`${label} … `);
      const result = await measureHttpScenario(scenario, upstream, upstreamUrl);
      console.log(
        result.status === 'measured'
          ? `${result.requestsPerSecond} req/s, p50 ${result.latency?.p50} ms, p99 ${result.latency?.p99} ms, errors ${scenarioErrors(result)}` +
              (result.errors?.firstSampleFailure ? ` (first: ${result.errors.firstSampleFailure})` : '') +
              (result.sqlPerCall
                ? `; ${result.sqlPerCall.statements} SQL statements, ${result.sqlPerCall.transactions} transactions per call`
                : '')
          : `${result.status}: ${result.reason}`,
      );
      results.set(scenario.id, result);
    }
    addRatios([...results.values()]);
    rounds.push(results);
  }
  return chosen.map((scenario) => {
    const all = rounds.map((round) => round.get(scenario.id) as HttpScenarioResult);
    const measured = all.filter((result) => result.status === 'measured');
    if (measured.length === 0) return all[0] as HttpScenarioResult;
    const median = medianBy(measured, (result) => result.requestsPerSecond ?? 0);
    if (settings.rounds === 1) return median;
    const medianRatio = (pick: (ratios: NonNullable<HttpScenarioResult['ratios']>) => number | null) => {
      const values = measured
        .map((result) => (result.ratios ? pick(result.ratios) : null))
        .filter((value): value is number => value !== null);
      return values.length === 0 ? null : medianBy(values, (value) => value);
    };
    return {
      ...median,
      ratios: {
        throughputToCeiling: medianRatio((ratios) => ratios.throughputToCeiling),
        throughputToSdkBaseline: medianRatio((ratios) => ratios.throughputToSdkBaseline),
        p99ToCeiling: medianRatio((ratios) => ratios.p99ToCeiling),
      },
      rounds: measured.map((result) => ({
        requestsPerSecond: result.requestsPerSecond ?? 0,
        p50: result.latency?.p50 ?? 0,
        p99: result.latency?.p99 ?? 0,
        ...(result.ratios === undefined ? {} : { ratios: result.ratios }),
      })),
    };
  });
}

/** Scenario 5's share of its own throughput at which the equal-load latency is measured. */
const equalLoadShare = 0.25;

/**
 * Latency at equal load: the ceiling (2) and the gateway's MCP `tools/call` (5) at the same
 * steady rate, a quarter of scenario 5's median throughput in this run, in rounds. At that
 * load neither server queues much, so the p99 says what a request costs, where the flat-out
 * scenarios' p99 mostly says how long the queue of 32 connections is (it roughly follows
 * the inverse of the throughput).
 */
async function measureEqualLoad(
  upstream: BenchChild,
  upstreamUrl: string,
  scenarios: HttpScenarioResult[],
): Promise<NonNullable<BenchResults['equalLoad']>> {
  const gatewayResult = scenarios.find((scenario) => scenario.id === 'gateway-mcp-2026' && scenario.status === 'measured');
  const ceiling = httpScenarios.find((scenario) => scenario.id === 'ceiling');
  const gateway = httpScenarios.find((scenario) => scenario.id === 'gateway-mcp-2026');
  if (gatewayResult?.requestsPerSecond === undefined || ceiling === undefined || gateway === undefined) {
    return { status: 'skipped', reason: 'needs a measured scenario 5 in the same run, for the rate' };
  }
  const ratePerSecond = Math.max(1, Math.round(gatewayResult.requestsPerSecond * equalLoadShare));
  const rounds: EqualLoadRound[] = [];
  for (let round = 1; round <= settings.rounds; round++) {
    const sides: Partial<Record<'ceiling' | 'gateway', EqualLoadLatency>> = {};
    let errors = 0;
    // Each goes first in every other round, so neither always meets a machine warmed by the other.
    const order = round % 2 === 1 ? (['ceiling', 'gateway'] as const) : (['gateway', 'ceiling'] as const);
    for (const side of order) {
      const scenario = side === 'ceiling' ? ceiling : gateway;
      process.stdout.write(
        `L ${scenario.number} ${scenario.title} at ${ratePerSecond} req/s${settings.rounds > 1 ? ` (round ${round})` : ''} … `,
      );
      const result = await measureHttpScenario(scenario, upstream, upstreamUrl, undefined, ratePerSecond);
      const latency = result.latency;
      if (result.status !== 'measured' || latency === undefined || latency.count === 0 || latency.p99 <= 0) {
        const reason = result.status === 'measured' ? 'no successful answer to time' : result.reason;
        console.log(`failed: ${reason}`);
        return { status: 'failed', reason: `${scenario.number} at ${ratePerSecond} req/s, round ${round}: ${reason}` };
      }
      console.log(
        `${result.requestsPerSecond} req/s, p50 ${latency.p50} ms, p90 ${latency.p90} ms, p99 ${latency.p99} ms, max ${latency.max} ms`,
      );
      const { p50, p90, p99, max } = latency;
      sides[side] = { requestsPerSecond: result.requestsPerSecond ?? 0, p50, p90, p99, max };
      errors += scenarioErrors(result);
    }
    const { ceiling: ceilingSide, gateway: gatewaySide } = sides as Record<'ceiling' | 'gateway', EqualLoadLatency>;
    rounds.push({
      ceiling: ceilingSide,
      gateway: gatewaySide,
      p99ToCeiling: Math.round((gatewaySide.p99 / ceilingSide.p99) * 100) / 100,
      errors,
    });
  }
  const median = medianBy(rounds, (round) => round.p99ToCeiling);
  return {
    status: 'measured',
    ratePerSecond,
    shareOfScenario5: equalLoadShare,
    ...median,
    errors: rounds.reduce((sum, round) => sum + round.errors, 0),
    ...(rounds.length > 1 ? { rounds } : {}),
  };
}

async function measureInProcess(upstreamUrl: string, profileFile?: string): Promise<BenchResults['inProcess']> {
  const child = startChild('in-process.ts', { args: [`--upstream=${upstreamUrl}`] });
  try {
    await child.next('ready');
    const reply = await child.ask(
      {
        type: 'run',
        warmupSeconds: quick ? 0.5 : 2,
        durationSeconds: quick ? 1 : Math.min(settings.durationSeconds, 5),
        concurrencies: [1, 64],
        rounds: settings.rounds,
        ...(profileFile === undefined ? {} : { profileFile }),
      },
      'result',
      600_000,
    );
    return { status: 'measured', modes: reply.modes as InProcessMode[] };
  } catch (error) {
    return { status: 'failed', reason: (error as Error).message, modes: [] };
  } finally {
    await child.stop();
  }
}

async function measureApproval(upstreamUrl: string): Promise<BenchResults['approval']> {
  const server = await startServer({ server: gatewayServer('memory') }, upstreamUrl);
  const worker = startChild('approval.ts');
  try {
    await worker.next('ready');
    const reply = await worker.ask(
      { type: 'run', url: server.url, agentKey: server.agentKey ?? '', warmupRoundTrips: quick ? 10 : 50, roundTrips: quick ? 50 : 500 },
      'result',
      600_000,
    );
    const { type: _type, ...result } = reply as unknown as ApprovalResult & { type: string };
    return { status: 'measured', ...result };
  } catch (error) {
    return { status: 'failed', reason: (error as Error).message };
  } finally {
    await worker.stop();
    await server.child?.stop();
  }
}

/** Growth from the first checkpoint to the last, in percent (one decimal). */
function growthPercent(first: number | undefined, last: number | undefined): number {
  return first !== undefined && last !== undefined && first > 0 ? Math.round((last / first - 1) * 1000) / 10 : 0;
}

/**
 * Scenario 10 in `rounds` fresh processes, one after the other: the median round by settled
 * RSS growth is the figure, every round's growth (both readings) is kept beside it.
 */
async function measureMemory(upstreamUrl: string): Promise<BenchResults['memory']> {
  const checkpoints = quick ? [10_000, 30_000] : [10_000, 50_000, 100_000, 200_000];
  const rounds: Array<{
    checkpoints: MemoryCheckpoint[];
    errors: number;
    seconds: number;
    growthPercent: number;
    settledGrowthPercent: number;
  }> = [];
  for (let round = 1; round <= settings.rounds; round++) {
    const child = startChild('memory.ts', { args: [`--upstream=${upstreamUrl}`], nodeFlags: ['--expose-gc'] });
    try {
      await child.next('ready');
      const reply = await child.ask({ type: 'run', checkpoints, inFlight: 64 }, 'result', 1_800_000);
      const points = reply.checkpoints as MemoryCheckpoint[];
      rounds.push({
        checkpoints: points,
        errors: Number(reply.errors),
        seconds: Number(reply.seconds),
        growthPercent: growthPercent(points[0]?.rssMiB, points.at(-1)?.rssMiB),
        settledGrowthPercent: growthPercent(points[0]?.settledRssMiB, points.at(-1)?.settledRssMiB),
      });
    } catch (error) {
      return { status: 'failed', reason: (error as Error).message };
    } finally {
      await child.stop();
    }
  }
  const median = medianBy(rounds, (round) => round.settledGrowthPercent);
  return {
    status: 'measured',
    ...median,
    // Errors of every round count, not only the median one's.
    errors: rounds.reduce((sum, round) => sum + round.errors, 0),
    ...(rounds.length > 1
      ? {
          roundGrowthPercents: rounds.map((round) => round.growthPercent),
          roundSettledGrowthPercents: rounds.map((round) => round.settledGrowthPercent),
        }
      : {}),
  };
}

/**
 * Extra runs of the scenarios in `--profile`, with the V8 profiler sampling the server (or
 * the in-process loop) during the timed period only. Their figures are not the reported
 * ones: profiling slows the process down.
 */
async function profileScenarios(upstream: BenchChild, upstreamUrl: string): Promise<ProfileSummary[]> {
  rmSync(profileDirectory, { recursive: true, force: true });
  mkdirSync(profileDirectory, { recursive: true });
  const summaries: ProfileSummary[] = [];
  for (const number of profiled) {
    const file = `${profileDirectory}scenario-${number}.cpuprofile`;
    let operations: number | undefined;
    if (number === '8') {
      console.log('profiling 8 in-process invoke() …');
      const result = await measureInProcess(upstreamUrl, file);
      operations = result.modes.reduce((sum, mode) => sum + mode.calls, 0);
    } else {
      const scenario = httpScenarios.find((entry) => entry.number === number);
      if (scenario?.server === undefined) {
        console.log(`profiling ${number}: not a scenario with a server of its own`);
        continue;
      }
      console.log(`profiling ${number} ${scenario.title} …`);
      const result = await measureHttpScenario(scenario, upstream, upstreamUrl, file);
      if (result.status !== 'measured') console.log(`  ${result.status}: ${result.reason}`);
      else console.log(`  (profiled run: ${result.requestsPerSecond} req/s)`);
      operations = result.responses;
    }
    if (!existsSync(file)) continue;
    const summary = summarizeProfile(file, 30, operations);
    summaries.push(summary);
    console.log(formatProfileSummary(summary));
  }
  return summaries;
}

/**
 * The commit measured, the source files that differ from it (the measured tree is that
 * commit plus these), and a fingerprint of both, compared at the end to tell whether the
 * sources changed while the bench ran (children load them when they start).
 */
function gitState(): { commit: string | null; modifiedSources: string[]; fingerprint: string | null } {
  const git = (...gitArgs: string[]) =>
    execFileSync('git', gitArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024 });
  try {
    const commit = git('rev-parse', 'HEAD').trim();
    const status = git('status', '--porcelain', '--untracked-files=all', '--', 'src', 'adapters');
    const modifiedSources = status
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => line.slice(3));
    const fingerprint = createHash('sha256')
      .update(commit)
      .update(status)
      .update(git('diff', 'HEAD', '--', 'src', 'adapters'))
      .digest('hex');
    return { commit, modifiedSources, fingerprint };
  } catch {
    return { commit: null, modifiedSources: [], fingerprint: null };
  }
}

/** The machine's CPU time counters (`cpu` line of /proc/stat, in ticks); null off Linux. */
function cpuTicks(): { total: number; steal: number } | null {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] as string).trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is counted in user already)
    const counted = fields.slice(0, 8);
    return { total: counted.reduce((sum, value) => sum + value, 0), steal: counted[7] ?? 0 };
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  if (settings.code === 'dist') assertBuilt();
  loadInChildren(settings.code);
  mkdirSync(resultsDirectory, { recursive: true });
  const cpuList = cpus();
  const machine = {
    node: process.version,
    v8: process.versions.v8,
    platform: platform(),
    arch: arch(),
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    loadAverageAtStart: loadavg().map((value) => Math.round(value * 100) / 100),
    stealPercent: null as number | null,
  };
  console.log(
    `agent-tool-gateway bench: node ${machine.node}, ${machine.cores} cores; ${settings.connections} connections, ` +
      `${settings.warmupSeconds} s warm-up + ${settings.durationSeconds} s per scenario${quick ? ' (quick)' : ''}`,
  );

  const git = gitState();
  const ticksAtStart = cpuTicks();
  const upstream = startChild('servers/upstream.ts');
  const upstreamUrl = String((await upstream.next('ready')).url);
  try {
    const scenarios = await measureHttpScenarios(upstream, upstreamUrl);
    let equalLoad: NonNullable<BenchResults['equalLoad']> = { status: 'skipped', reason: 'not selected' };
    if (selected('L')) equalLoad = await measureEqualLoad(upstream, upstreamUrl, scenarios);

    let inProcess: BenchResults['inProcess'] = { status: 'skipped', reason: 'not selected', modes: [] };
    if (selected('8')) {
      process.stdout.write('8 in-process invoke() … ');
      inProcess = await measureInProcess(upstreamUrl);
      console.log(
        inProcess.status === 'measured'
          ? inProcess.modes.map((mode) => `${mode.output}, ${mode.inFlight} in flight: ${mode.microsecondsPerCall} µs/call`).join('; ')
          : `failed: ${inProcess.reason}`,
      );
    }
    let approval: BenchResults['approval'] = { status: 'skipped', reason: 'not selected' };
    if (selected('9')) {
      process.stdout.write('9 approval round trip … ');
      approval = await measureApproval(upstreamUrl);
      console.log(
        approval.status === 'measured' ? `p50 ${approval.latency.p50} ms, p99 ${approval.latency.p99} ms` : `failed: ${approval.reason}`,
      );
    }
    let memory: BenchResults['memory'] = { status: 'skipped', reason: 'not selected' };
    if (selected('10')) {
      process.stdout.write('10 memory … ');
      memory = await measureMemory(upstreamUrl);
      console.log(
        memory.status === 'measured'
          ? memory.checkpoints
              .map((point) => `${point.calls}: ${point.settledRssMiB} MiB settled (${point.rssMiB} right after GC)`)
              .join(', ') +
              (memory.roundSettledGrowthPercents === undefined
                ? ''
                : ` (median round; settled RSS growth per round ${memory.roundSettledGrowthPercents.map(signedPercent).join(' / ')})`)
          : `failed: ${memory.reason}`,
      );
    }
    let redaction: BenchResults['redaction'] = { status: 'skipped', reason: 'not selected' };
    if (selected('R')) {
      process.stdout.write('R redaction … ');
      try {
        redaction = { status: 'measured', ...(await measureRedaction()) };
        console.log('done');
      } catch (error) {
        redaction = { status: 'failed', reason: (error as Error).message };
        console.log(redaction.reason);
      }
    }

    const sourcesChanged = git.fingerprint !== null && gitState().fingerprint !== git.fingerprint;
    if (sourcesChanged) console.log('WARNING: src/ or adapters/ changed while the bench ran: the figures mix two versions.');
    const ticksAtEnd = cpuTicks();
    if (ticksAtStart !== null && ticksAtEnd !== null && ticksAtEnd.total > ticksAtStart.total) {
      const steal = (100 * (ticksAtEnd.steal - ticksAtStart.steal)) / (ticksAtEnd.total - ticksAtStart.total);
      machine.stealPercent = Math.round(steal * 10) / 10;
    }
    const partial = {
      generatedAt: new Date().toISOString(),
      sourcesChangedDuringRun: sourcesChanged,
      machine,
      gitCommit: git.commit,
      modifiedSources: git.modifiedSources,
      settings,
      scenarios,
      equalLoad,
      inProcess,
      approval,
      memory,
      redaction,
    };
    const results: BenchResults = { ...partial, goals: evaluateGoals(partial) };
    if (profiled.length > 0) results.profiles = await profileScenarios(upstream, upstreamUrl);

    writeFileSync(`${resultsDirectory}${outputName}.json`, `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(`${resultsDirectory}${outputName}.md`, formatMarkdownReport(results));
    console.log(formatConsoleReport(results));
    console.log(`written: bench/results/${outputName}.json, bench/results/${outputName}.md`);
  } finally {
    await upstream.stop();
  }
}

await main();
