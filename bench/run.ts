/**
 * The benchmark harness (`npm run bench`; not part of `npm test`). Everything runs on
 * loopback, each server and each load generator in its own process:
 *
 *   1 direct            load straight at the upstream
 *   2 ceiling           node:http → undici pool → upstream, nothing else
 *   3 sdk-baseline      official @modelcontextprotocol/server v2 createMcpHandler (2026-07-28; 3b: 2025-11-25)
 *   4 gateway REST      POST /tools/{name}/invoke, full governance
 *   5 gateway MCP 2026  tools/call, 2026-07-28 era, full governance
 *   6 gateway MCP 2025  tools/call, 2025-11-25, stateless
 *   7 scenario 5 on the SQL store: PGlite (7a), Postgres when ATG_TEST_POSTGRES_URL is set (7b)
 *   8 in-process        gateway.invoke() of a local tool, µs per call
 *   9 approval          request → approve → result, latency
 *  10 memory            RSS after N calls, garbage collected
 *   R redaction         bench/redaction.ts figures
 *
 * Writes bench/results/latest.json and latest.md and prints the tables and the goals.
 *
 *   npx tsx bench/run.ts [--quick] [--duration=10] [--warmup=3] [--connections=32]
 *                        [--rounds=1] [--samples=20] [--only=2,3,5] [--profile]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ApprovalResult } from './approval.js';
import { type BenchChild, readArguments, startChild } from './child-process.js';
import { customerJson, legacyToolCall, modernToolCall, restInvoke } from './fixtures.js';
import type { InProcessMode } from './in-process.js';
import type { LoadConfig, LoadResult } from './load.js';
import type { MemoryCheckpoint } from './memory.js';
import { formatProfileSummary, type ProfileSummary, summarizeProfile } from './profile-summary.js';
import { measureRedaction } from './redaction-figures.js';
import {
  type BenchResults,
  type HttpScenarioResult,
  addRatios,
  evaluateGoals,
  formatConsoleReport,
  formatMarkdownReport,
} from './report.js';
import type { ResponseKind } from './response-checks.js';

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
  rounds: Math.round(numberFlag('rounds', 1)),
  upstreamPayloadBytes: Buffer.byteLength(customerJson),
};
const only = args.get('only')?.split(',').map((entry) => entry.trim());
const selected = (number: string) => only === undefined || only.includes(number) || only.includes(number.replace(/[a-z]$/, ''));
const profile = args.has('profile');

const resultsDirectory = fileURLToPath(new URL('./results/', import.meta.url));
const profileDirectory = `${resultsDirectory}profiles/`;

/** An HTTP scenario: which server (none: the upstream itself), which request, which answer. */
interface HttpScenario {
  id: string;
  number: string;
  title: string;
  server?: { script: string; args?: string[] };
  path: string;
  request: { body: string; headers: Record<string, string> };
  kind: ResponseKind;
  /** The gateway's agent key goes into `authorization`. */
  agentKey?: boolean;
  skip?: string;
}

const modern = modernToolCall();
const legacy = legacyToolCall();
const rest = restInvoke();
const gatewayServer = (store: string) => ({ script: 'servers/gateway.ts', args: [`--store=${store}`] });

const httpScenarios: HttpScenario[] = [
  { id: 'direct', number: '1', title: 'direct (upstream alone)', path: '/customers/cus_1042', request: modern, kind: 'record' },
  { id: 'ceiling', number: '2', title: 'ceiling proxy (no governance)', server: { script: 'servers/ceiling.ts' }, path: '/mcp', request: modern, kind: 'record' },
  { id: 'sdk-baseline', number: '3', title: 'sdk-baseline MCP 2026-07-28', server: { script: 'servers/sdk-baseline.ts' }, path: '/mcp', request: modern, kind: 'mcp-plain' },
  { id: 'sdk-baseline-2025', number: '3b', title: 'sdk-baseline MCP 2025-11-25', server: { script: 'servers/sdk-baseline.ts' }, path: '/mcp', request: legacy, kind: 'mcp-plain' },
  { id: 'gateway-rest', number: '4', title: 'gateway REST invoke', server: gatewayServer('memory'), path: rest.path, request: rest, kind: 'rest-governed', agentKey: true },
  { id: 'gateway-mcp-2026', number: '5', title: 'gateway MCP 2026-07-28', server: gatewayServer('memory'), path: '/mcp', request: modern, kind: 'mcp-governed', agentKey: true },
  { id: 'gateway-mcp-2025', number: '6', title: 'gateway MCP 2025-11-25', server: gatewayServer('memory'), path: '/mcp', request: legacy, kind: 'mcp-governed', agentKey: true },
  { id: 'gateway-mcp-2026-pglite', number: '7a', title: 'gateway MCP 2026, SQL store on PGlite', server: gatewayServer('pglite'), path: '/mcp', request: modern, kind: 'mcp-governed', agentKey: true },
  {
    id: 'gateway-mcp-2026-postgres',
    number: '7b',
    title: 'gateway MCP 2026, SQL store on Postgres',
    server: gatewayServer('postgres'),
    path: '/mcp',
    request: modern,
    kind: 'mcp-governed',
    agentKey: true,
    ...(process.env.ATG_TEST_POSTGRES_URL ? {} : { skip: 'ATG_TEST_POSTGRES_URL is not set' }),
  },
];

/** CPU seconds a process has used so far (Linux /proc; null elsewhere). */
function cpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the file, 12th and 13th after the name; in ticks of 1/100 s.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

interface StartedServer {
  child?: BenchChild;
  url: string;
  agentKey?: string;
  unavailable?: string;
}

async function startServer(scenario: HttpScenario, upstreamUrl: string, nodeFlags: string[] = []): Promise<StartedServer> {
  if (scenario.server === undefined) return { url: upstreamUrl };
  const child = startChild(scenario.server.script, { args: [`--upstream=${upstreamUrl}`, ...(scenario.server.args ?? [])], nodeFlags });
  const first = await Promise.race([child.next('ready'), child.next('unavailable'), child.next('agent')]);
  if (first.type === 'unavailable') {
    await child.stop();
    return { child, url: '', unavailable: String(first.reason) };
  }
  const agentKey = first.type === 'agent' ? String(first.agentKey) : undefined;
  const ready = first.type === 'ready' ? first : await child.next('ready');
  return { child, url: String(ready.url), ...(agentKey === undefined ? {} : { agentKey }) };
}

async function measureHttpScenario(scenario: HttpScenario, upstream: BenchChild, upstreamUrl: string): Promise<HttpScenarioResult> {
  const base = { id: scenario.id, number: scenario.number, title: scenario.title };
  if (scenario.skip !== undefined) return { ...base, status: 'skipped', reason: scenario.skip };
  const server = await startServer(scenario, upstreamUrl);
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
    };
    const serverPid = server.child?.process.pid ?? upstream.process.pid;
    const upstreamBefore = Number((await upstream.ask({ type: 'count' }, 'count')).requests);
    const timedStart = load.next('timed-start', 600_000).then(() => ({
      server: cpuSeconds(serverPid),
      upstream: cpuSeconds(upstream.process.pid),
      at: performance.now(),
    }));
    const timedEnd = load.next('timed-end', 600_000).then(() => ({
      server: cpuSeconds(serverPid),
      upstream: cpuSeconds(upstream.process.pid),
      at: performance.now(),
    }));
    const reply = await load.ask({ type: 'run', ...config }, 'result', 600_000);
    const [start, end] = await Promise.all([timedStart, timedEnd]);
    const upstreamAfter = Number((await upstream.ask({ type: 'count' }, 'count')).requests);
    const { type: _type, ...result } = reply as unknown as LoadResult & { type: string };
    const seconds = (end.at - start.at) / 1000;
    const share = (before: number | null, after: number | null) =>
      before === null || after === null ? null : Math.round(((after - before) / seconds) * 100) / 100;
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
        server: scenario.server === undefined ? null : share(start.server, end.server),
        upstream: share(start.upstream, end.upstream),
        loadGenerator: result.loadGeneratorCpu,
      },
      upstreamCheck: { responses: result.responsesAllPhases, upstreamRequests },
    };
  } catch (error) {
    return { ...base, status: 'failed', reason: (error as Error).message };
  } finally {
    await load.stop();
    await server.child?.stop();
  }
}

/** Runs every selected HTTP scenario `rounds` times, interleaved, and keeps each one's median round. */
async function measureHttpScenarios(upstream: BenchChild, upstreamUrl: string): Promise<HttpScenarioResult[]> {
  const chosen = httpScenarios.filter((scenario) => selected(scenario.number));
  const rounds = new Map<string, HttpScenarioResult[]>();
  for (let round = 1; round <= settings.rounds; round++) {
    for (const scenario of chosen) {
      const label = `${scenario.number} ${scenario.title}${settings.rounds > 1 ? ` (round ${round})` : ''}`;
      process.stdout.write(`${label} … `);
      const result = await measureHttpScenario(scenario, upstream, upstreamUrl);
      console.log(
        result.status === 'measured'
          ? `${result.requestsPerSecond} req/s, p50 ${result.latency?.p50} ms, p99 ${result.latency?.p99} ms, errors ${(result.errors?.total ?? 0) + (result.errors?.upstreamMissing ?? 0)}` +
              (result.errors?.firstSampleFailure ? ` (first: ${result.errors.firstSampleFailure})` : '')
          : `${result.status}: ${result.reason}`,
      );
      rounds.set(scenario.id, [...(rounds.get(scenario.id) ?? []), result]);
    }
  }
  return chosen.map((scenario) => {
    const all = rounds.get(scenario.id) ?? [];
    const measured = all.filter((result) => result.status === 'measured');
    if (measured.length === 0) return all[0] as HttpScenarioResult;
    const sorted = [...measured].sort((a, b) => (a.requestsPerSecond ?? 0) - (b.requestsPerSecond ?? 0));
    const median = sorted[Math.floor((sorted.length - 1) / 2)] as HttpScenarioResult;
    return settings.rounds > 1 ? { ...median, rounds: measured.map((result) => result.requestsPerSecond ?? 0) } : median;
  });
}

async function measureInProcess(upstreamUrl: string, nodeFlags: string[] = []): Promise<BenchResults['inProcess']> {
  const child = startChild('in-process.ts', { args: [`--upstream=${upstreamUrl}`], nodeFlags });
  try {
    await child.next('ready');
    const reply = await child.ask(
      {
        type: 'run',
        warmupSeconds: quick ? 0.5 : 2,
        durationSeconds: quick ? 1 : Math.min(settings.durationSeconds, 5),
        concurrencies: [1, 64],
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
  const server = await startServer(
    { id: 'approval', number: '9', title: 'approval', server: gatewayServer('memory'), path: '', request: modern, kind: 'rest-governed' },
    upstreamUrl,
  );
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

async function measureMemory(upstreamUrl: string): Promise<BenchResults['memory']> {
  const child = startChild('memory.ts', { args: [`--upstream=${upstreamUrl}`], nodeFlags: ['--expose-gc'] });
  try {
    await child.next('ready');
    const checkpoints = quick ? [5_000, 20_000] : [10_000, 50_000, 100_000, 200_000];
    const reply = await child.ask({ type: 'run', checkpoints, inFlight: 64 }, 'result', 1_800_000);
    const points = reply.checkpoints as MemoryCheckpoint[];
    const first = points[0]?.rssMiB ?? 0;
    const last = points.at(-1)?.rssMiB ?? 0;
    return {
      status: 'measured',
      checkpoints: points,
      errors: Number(reply.errors),
      seconds: Number(reply.seconds),
      growthPercent: first > 0 ? Math.round((last / first - 1) * 1000) / 10 : 0,
    };
  } catch (error) {
    return { status: 'failed', reason: (error as Error).message };
  } finally {
    await child.stop();
  }
}

/** Profiles the gateway server under scenario 5's load and the in-process loop; summarises both. */
async function profileHotPath(upstreamUrl: string): Promise<ProfileSummary[]> {
  rmSync(profileDirectory, { recursive: true, force: true });
  mkdirSync(profileDirectory, { recursive: true });
  const summaries: ProfileSummary[] = [];
  const flags = (name: string) => ['--cpu-prof', `--cpu-prof-dir=${profileDirectory}`, `--cpu-prof-name=${name}.cpuprofile`];
  const scenario = httpScenarios.find((entry) => entry.id === 'gateway-mcp-2026') as HttpScenario;
  console.log('profiling: 5 gateway MCP 2026-07-28 (server child under --cpu-prof) …');
  const profiled: HttpScenario = { ...scenario, server: { ...(scenario.server as { script: string }), args: ['--store=memory'] } };
  const server = await startServer(profiled, upstreamUrl, flags('gateway-mcp-2026'));
  const load = startChild('load.ts');
  try {
    await load.next('ready');
    await load.ask(
      {
        type: 'run',
        url: server.url + profiled.path,
        method: 'POST',
        headers: { ...profiled.request.headers, authorization: `Bearer ${server.agentKey}` },
        body: profiled.request.body,
        kind: profiled.kind,
        connections: settings.connections,
        warmupSeconds: settings.warmupSeconds,
        durationSeconds: settings.durationSeconds,
        samples: 1,
      },
      'result',
      600_000,
    );
  } finally {
    await load.stop();
    await server.child?.stop();
  }
  console.log('profiling: 8 in-process invoke() under --cpu-prof …');
  await measureInProcess(upstreamUrl, flags('in-process'));
  for (const name of ['gateway-mcp-2026', 'in-process']) {
    const file = `${profileDirectory}${name}.cpuprofile`;
    if (!existsSync(file)) {
      console.log(`no profile written at ${file} (files: ${readdirSync(profileDirectory).join(', ')})`);
      continue;
    }
    const summary = summarizeProfile(file, 30);
    summaries.push(summary);
    console.log(formatProfileSummary(summary));
  }
  return summaries;
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
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
  };
  console.log(
    `agent-tool-gateway bench: node ${machine.node}, ${machine.cores} cores; ${settings.connections} connections, ` +
      `${settings.warmupSeconds} s warm-up + ${settings.durationSeconds} s per scenario${quick ? ' (quick)' : ''}`,
  );

  const upstream = startChild('servers/upstream.ts');
  const upstreamUrl = String((await upstream.next('ready')).url);
  try {
    const scenarios = await measureHttpScenarios(upstream, upstreamUrl);
    addRatios(scenarios);

    let inProcess: BenchResults['inProcess'] = { status: 'failed', reason: 'not selected', modes: [] };
    if (selected('8')) {
      process.stdout.write('8 in-process invoke() … ');
      inProcess = await measureInProcess(upstreamUrl);
      console.log(
        inProcess.status === 'measured'
          ? inProcess.modes.map((mode) => `${mode.inFlight} in flight: ${mode.microsecondsPerCall} µs/call`).join(', ')
          : `failed: ${inProcess.reason}`,
      );
    }
    let approval: BenchResults['approval'] = { status: 'failed', reason: 'not selected' };
    if (selected('9')) {
      process.stdout.write('9 approval round trip … ');
      approval = await measureApproval(upstreamUrl);
      console.log(approval.status === 'measured' ? `p50 ${approval.latency.p50} ms, p99 ${approval.latency.p99} ms` : `failed: ${approval.reason}`);
    }
    let memory: BenchResults['memory'] = { status: 'failed', reason: 'not selected' };
    if (selected('10')) {
      process.stdout.write('10 memory … ');
      memory = await measureMemory(upstreamUrl);
      console.log(
        memory.status === 'measured'
          ? memory.checkpoints.map((point) => `${point.calls}: ${point.rssMiB} MiB`).join(', ')
          : `failed: ${memory.reason}`,
      );
    }
    let redaction: BenchResults['redaction'] = { status: 'failed', reason: 'not selected' };
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

    const partial = {
      generatedAt: new Date().toISOString(),
      machine,
      gitCommit: gitCommit(),
      settings,
      scenarios,
      inProcess,
      approval,
      memory,
      redaction,
    };
    const results: BenchResults = { ...partial, goals: evaluateGoals(partial) };
    if (profile) results.profiles = await profileHotPath(upstreamUrl);

    writeFileSync(`${resultsDirectory}latest.json`, `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(`${resultsDirectory}latest.md`, formatMarkdownReport(results));
    console.log(formatConsoleReport(results));
    console.log('written: bench/results/latest.json, bench/results/latest.md');
  } finally {
    await upstream.stop();
  }
}

await main();
