/**
 * The bench's results: their shape (written to bench/results/latest.json), the ratios to
 * the ceiling and the SDK baseline, the goals with met/missed, and the tables printed to
 * the console and written as Markdown.
 */
import type { ApprovalResult } from './approval.js';
import type { InProcessMode } from './in-process.js';
import { type LatencySummary, medianBy } from './latency-stats.js';
import type { LoadErrors } from './load.js';
import type { MemoryCheckpoint } from './memory.js';
import type { ProfileSummary } from './profile-summary.js';
import type { RedactionFigure } from './redaction-figures.js';

/** One HTTP scenario: measured, skipped (with why) or failed (with why). */
export interface HttpScenarioResult {
  id: string;
  /** The issue's scenario number, e.g. `5` or `7a`. */
  number: string;
  title: string;
  status: 'measured' | 'skipped' | 'failed';
  reason?: string;
  requestsPerSecond?: number;
  latency?: LatencySummary;
  errors?: LoadErrors & { upstreamMissing: number };
  responses?: number;
  durationSeconds?: number;
  /**
   * CPU used in the timed run, in cores (1.0 = one core busy); `serverKernel` is the part of
   * the server's spent in the kernel (system calls: the sockets' reads and writes).
   */
  cpu?: { server: number | null; serverKernel?: number | null; upstream: number | null; loadGenerator: number };
  /** Requests the upstream served vs responses the load generator received, all phases. */
  upstreamCheck?: { responses: number; upstreamRequests: number };
  /** SQL statements and transactions the store sent per call (SQL store scenarios). */
  sqlPerCall?: { statements: number; transactions: number };
  /** Every round, when there were several: the median round is reported, with the median of the per-round ratios. */
  rounds?: Array<{ requestsPerSecond: number; p50: number; p99: number; ratios?: HttpScenarioResult['ratios'] }>;
  ratios?: { throughputToCeiling: number | null; throughputToSdkBaseline: number | null; p99ToCeiling: number | null };
}

/** Throughput and latency (ms) of one side of the equal-load measurement. */
export interface EqualLoadLatency {
  requestsPerSecond: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** One round of the equal-load latency measurement: the ceiling and scenario 5 at the same steady rate. */
export interface EqualLoadRound {
  ceiling: EqualLoadLatency;
  gateway: EqualLoadLatency;
  /** The gateway's p99 over the ceiling's, in this round. */
  p99ToCeiling: number;
  errors: number;
}

/** One goal of the issue, judged. */
export interface GoalResult {
  goal: string;
  target: string;
  actual: string;
  met: boolean | null;
  /** How far from the target, e.g. "+12%" over or "-30%" short; null when not measured. */
  margin: string | null;
}

/** Everything one bench run produced. */
export interface BenchResults {
  generatedAt: string;
  machine: {
    node: string;
    v8: string;
    platform: string;
    arch: string;
    cpuModel: string;
    cores: number;
    memoryGiB: number;
    /** 1, 5 and 15 minute load averages when the run began: above the core count, other work competed. */
    loadAverageAtStart: number[];
    /**
     * Share of the machine's CPU time the hypervisor gave to other guests while the bench ran
     * (`steal` in /proc/stat), in percent; null where not known. Above a few percent, the
     * absolute figures of this run are slower than the machine is, and rounds disagree more.
     */
    stealPercent?: number | null;
  };
  gitCommit: string | null;
  /** Files under src/ and adapters/ that differed from that commit when the run began. */
  modifiedSources: string[];
  /** True when src/ or adapters/ changed while the bench ran: the figures then mix two versions. */
  sourcesChangedDuringRun: boolean;
  settings: {
    quick: boolean;
    durationSeconds: number;
    warmupSeconds: number;
    connections: number;
    samples: number;
    rounds: number;
    upstreamPayloadBytes: number;
    /** `dist`: the built package users install; `source`: the TypeScript sources through tsx. */
    code?: 'dist' | 'source';
  };
  scenarios: HttpScenarioResult[];
  /**
   * Latency at equal load (`L`): the median round by p99 ratio (`errors` counts every round),
   * every round when there were several. Optional: runs before it was measured do not have it.
   */
  equalLoad?:
    | ({ status: 'measured'; ratePerSecond: number; shareOfScenario5: number; rounds?: EqualLoadRound[] } & EqualLoadRound)
    | { status: 'skipped' | 'failed'; reason: string };
  /** 8, 9, 10 and R: `skipped` with the reason "not selected" when `--only` left them out. */
  inProcess: { status: 'measured' | 'skipped' | 'failed'; reason?: string; modes: InProcessMode[] };
  approval: ({ status: 'measured' } & ApprovalResult) | { status: 'skipped' | 'failed'; reason: string };
  memory:
    | {
        status: 'measured';
        /**
         * The median round (by settled growth): its checkpoints, duration and RSS growth;
         * `errors` is of every round.
         */
        checkpoints: MemoryCheckpoint[];
        errors: number;
        seconds: number;
        /** Growth of the RSS read right after two ordinary forced collections. */
        growthPercent: number;
        /**
         * Growth of the settled RSS (see bench/memory.ts): the figure the goal is judged on.
         * Optional: runs before it was measured do not have it.
         */
        settledGrowthPercent?: number;
        /** RSS growth of every round, in the order run (with more than one round). */
        roundGrowthPercents?: number[];
        /** Settled RSS growth of every round, in the order run (with more than one round). */
        roundSettledGrowthPercents?: number[];
      }
    | { status: 'skipped' | 'failed'; reason: string };
  redaction: { status: 'measured'; header: string; figures: RedactionFigure[] } | { status: 'skipped' | 'failed'; reason: string };
  goals: GoalResult[];
  profiles?: ProfileSummary[];
}

const round2 = (value: number) => Math.round(value * 100) / 100;

/** Every error of an HTTP scenario's run: the load generator's and the calls the upstream never saw. */
export const scenarioErrors = (scenario: HttpScenarioResult): number =>
  (scenario.errors?.total ?? 0) + (scenario.errors?.upstreamMissing ?? 0);

/** A number with its sign: `+0.37`, `-0.06` (the digits as `toFixed` writes them). */
export const signed = (value: number, digits: number): string => `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`;

/** A percentage with its sign: `+8%`, `-4.2%`. */
export const signedPercent = (percent: number): string => `${percent >= 0 ? '+' : ''}${percent}%`;

/** Fills in each scenario's ratios to the ceiling (2) and the SDK baseline (3). */
export function addRatios(scenarios: HttpScenarioResult[]): void {
  const ceiling = scenarios.find((scenario) => scenario.id === 'ceiling' && scenario.status === 'measured');
  const sdk = scenarios.find((scenario) => scenario.id === 'sdk-baseline' && scenario.status === 'measured');
  for (const scenario of scenarios) {
    if (scenario.status !== 'measured' || scenario.requestsPerSecond === undefined || scenario.latency === undefined) continue;
    scenario.ratios = {
      throughputToCeiling: ceiling?.requestsPerSecond ? round2(scenario.requestsPerSecond / ceiling.requestsPerSecond) : null,
      throughputToSdkBaseline: sdk?.requestsPerSecond ? round2(scenario.requestsPerSecond / sdk.requestsPerSecond) : null,
      p99ToCeiling: ceiling?.latency?.p99 ? round2(scenario.latency.p99 / ceiling.latency.p99) : null,
    };
  }
}

function judge(
  goal: string,
  target: string,
  actual: number | null | undefined,
  limit: number,
  direction: 'atLeast' | 'atMost',
  unit = '',
): GoalResult {
  if (actual === null || actual === undefined || !Number.isFinite(actual)) {
    return { goal, target, actual: 'not measured', met: null, margin: null };
  }
  const met = direction === 'atLeast' ? actual >= limit : actual <= limit;
  // Positive margin: better than the target by that much; negative: short of it.
  const margin = direction === 'atLeast' ? actual / limit - 1 : limit / actual - 1;
  return { goal, target, actual: `${round2(actual)}${unit}`, met, margin: signedPercent(Math.round(margin * 100)) };
}

/** Judges the issue's goals on a run's results. */
export function evaluateGoals(results: Omit<BenchResults, 'goals'>): GoalResult[] {
  const mcp = results.scenarios.find((scenario) => scenario.id === 'gateway-mcp-2026');
  const modes = results.inProcess.modes;
  const mode = (output: 'record' | 'tiny', single: boolean) =>
    modes.find((entry) => entry.output === output && (single ? entry.inFlight === 1 : entry.inFlight > 1));
  const many = mode('record', false)?.inFlight ?? 64;
  // Judged on the settled RSS; results from before it was measured have only the first reading.
  const growth =
    results.memory.status === 'measured' ? 1 + (results.memory.settledGrowthPercent ?? results.memory.growthPercent) / 100 : null;
  const errorTotal =
    results.scenarios.reduce((sum, scenario) => sum + scenarioErrors(scenario), 0) +
    modes.reduce((sum, mode) => sum + mode.errors, 0) +
    (results.approval.status === 'measured' ? results.approval.errors : 0) +
    (results.memory.status === 'measured' ? results.memory.errors : 0) +
    (results.equalLoad?.status === 'measured' ? results.equalLoad.errors : 0);
  // A measurement left out with `--only` is skipped, not failed.
  const broken = (measurement: { status: string } | undefined) => (measurement?.status === 'failed' ? 1 : 0);
  const failed =
    results.scenarios.filter((scenario) => scenario.status === 'failed').length +
    broken(results.equalLoad) +
    broken(results.inProcess) +
    broken(results.approval) +
    broken(results.memory);
  const memoryLabel =
    results.memory.status === 'measured'
      ? `${results.memory.settledGrowthPercent === undefined ? 'RSS' : 'settled RSS'} ${results.memory.checkpoints[0]?.calls ?? '?'} → ${results.memory.checkpoints.at(-1)?.calls ?? '?'} calls`
      : 'RSS growth';
  return [
    judge('5 throughput vs ceiling', '≥ 0.60×', mcp?.ratios?.throughputToCeiling, 0.6, 'atLeast', '×'),
    judge('5 throughput vs sdk-baseline', '≥ 5×', mcp?.ratios?.throughputToSdkBaseline, 5, 'atLeast', '×'),
    judge('5 p99 vs ceiling p99', '≤ 2×', mcp?.ratios?.p99ToCeiling, 2, 'atMost', '×'),
    judge('8 µs/call, 2 KiB record, 1 in flight', '< 20 µs', mode('record', true)?.microsecondsPerCall, 20, 'atMost', ' µs'),
    judge(`8 µs/call, 2 KiB record, ${many} in flight`, '< 20 µs', mode('record', false)?.microsecondsPerCall, 20, 'atMost', ' µs'),
    judge('8 µs/call, tiny output, 1 in flight', '< 20 µs', mode('tiny', true)?.microsecondsPerCall, 20, 'atMost', ' µs'),
    judge(`8 µs/call, tiny output, ${many} in flight`, '< 20 µs', mode('tiny', false)?.microsecondsPerCall, 20, 'atMost', ' µs'),
    judge(`10 ${memoryLabel}`, '≤ 1.10×', growth, 1.1, 'atMost', '×'),
    {
      goal: 'errors, every scenario',
      target: '0',
      actual: `${errorTotal}${failed > 0 ? ` (+${failed} failed)` : ''}`,
      met: errorTotal === 0 && failed === 0,
      margin: null,
    },
  ];
}

/** A plain-text table, columns padded to their widest cell. */
export function table(headers: string[], rows: string[][], alignRight: boolean[]): string[] {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((cell, column) => (alignRight[column] ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0))).join('  ');
  return [line(headers), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)];
}

/** A Markdown table. */
export function markdownTable(headers: string[], rows: string[][], alignRight: boolean[]): string[] {
  return [
    `| ${headers.join(' | ')} |`,
    `|${alignRight.map((right) => (right ? '---:' : ':---')).join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ];
}

const fixed = (value: number | null | undefined, digits: number) => (value === null || value === undefined ? '–' : value.toFixed(digits));
const cores = (value: number | null | undefined) => (value === null || value === undefined ? '–' : value.toFixed(2));
/**
 * The server's CPU time per request, in microseconds (all its threads): the figure that
 * compares across scenarios and days better than throughput, since it does not depend on
 * how much of the machine the other processes took. `coresUsed` picks another share of the
 * server's CPU (its kernel part).
 */
const serverMicrosecondsPerRequest = (scenario: HttpScenarioResult, coresUsed = scenario.cpu?.server): string => {
  const rate = scenario.requestsPerSecond;
  return coresUsed === null || coresUsed === undefined || rate === undefined || rate <= 0
    ? '–'
    : String(Math.round((coresUsed / rate) * 1e6));
};

function scenarioRows(results: BenchResults): string[][] {
  return results.scenarios.map((scenario) => {
    if (scenario.status !== 'measured') {
      return [scenario.number, scenario.title, `${scenario.status}: ${scenario.reason ?? ''}`, '', '', '', '', '', '', '', '', ''];
    }
    const errors = scenarioErrors(scenario);
    return [
      scenario.number,
      scenario.title,
      String(scenario.requestsPerSecond),
      fixed(scenario.latency?.p50, 2),
      fixed(scenario.latency?.p99, 2),
      String(errors),
      fixed(scenario.ratios?.throughputToCeiling, 2),
      fixed(scenario.ratios?.throughputToSdkBaseline, 2),
      fixed(scenario.ratios?.p99ToCeiling, 2),
      cores(scenario.cpu?.server),
      serverMicrosecondsPerRequest(scenario),
      `${cores(scenario.cpu?.upstream)} / ${cores(scenario.cpu?.loadGenerator)}`,
    ];
  });
}

const scenarioHeaders = [
  '#',
  'scenario',
  'req/s',
  'p50 ms',
  'p99 ms',
  'errors',
  '×ceiling',
  '×sdk',
  'p99/ceiling',
  'server CPU',
  'server µs/req',
  'upstream / load CPU',
];
const scenarioAlign = [false, false, true, true, true, true, true, true, true, true, true, true];

function otherRows(results: BenchResults): { headers: string[]; rows: string[][]; align: boolean[] } {
  const rows: string[][] = [];
  const equalLoad = results.equalLoad;
  if (equalLoad?.status === 'measured') {
    const { ratePerSecond, shareOfScenario5, ceiling, gateway, p99ToCeiling, errors, rounds } = equalLoad;
    rows.push([
      'L',
      `latency at equal load: 2 and 5 at ${ratePerSecond} req/s (${Math.round(shareOfScenario5 * 100)}% of 5's throughput)`,
      `ceiling p50 ${ceiling.p50.toFixed(2)} / p99 ${ceiling.p99.toFixed(2)} ms`,
      `gateway p50 ${gateway.p50.toFixed(2)} / p99 ${gateway.p99.toFixed(2)} ms`,
      `p99 ${p99ToCeiling.toFixed(2)}× the ceiling's, p50 ${signed(gateway.p50 - ceiling.p50, 2)} ms` +
        (rounds === undefined ? '' : `; p99 ratio per round ${rounds.map((round) => `${round.p99ToCeiling.toFixed(2)}×`).join(' / ')}`),
      String(errors),
    ]);
  } else if (equalLoad !== undefined) {
    rows.push(['L', 'latency at equal load', `${equalLoad.status}: ${equalLoad.reason}`, '', '', '']);
  }
  if (results.inProcess.status !== 'measured') {
    rows.push(['8', 'in-process invoke()', `${results.inProcess.status}: ${results.inProcess.reason}`, '', '', '']);
  }
  for (const mode of results.inProcess.modes) {
    rows.push([
      '8',
      `in-process invoke(), ${mode.output === 'record' ? '2 KiB record' : 'tiny output'}, ${mode.inFlight} in flight`,
      `${mode.microsecondsPerCall.toFixed(2)} µs/call`,
      `${mode.callsPerSecond} calls/s`,
      `p50 ${mode.latency.p50.toFixed(3)} ms, p99 ${mode.latency.p99.toFixed(3)} ms` +
        (mode.roundMicroseconds !== undefined && mode.roundMicroseconds.length > 1
          ? `; rounds ${mode.roundMicroseconds.map((value) => value.toFixed(1)).join(' / ')} µs`
          : ''),
      String(mode.errors),
    ]);
  }
  if (results.approval.status === 'measured') {
    const approval = results.approval;
    rows.push([
      '9',
      `approval round trip (${approval.roundTrips}×)`,
      `p50 ${approval.latency.p50.toFixed(2)} ms`,
      `p99 ${approval.latency.p99.toFixed(2)} ms`,
      `p50 request ${approval.steps.request.p50.toFixed(2)} / approve ${approval.steps.approve.p50.toFixed(2)} / result ${approval.steps.result.p50.toFixed(2)} ms`,
      String(approval.errors),
    ]);
  } else rows.push(['9', 'approval round trip', `${results.approval.status}: ${results.approval.reason}`, '', '', '']);
  if (results.memory.status === 'measured') {
    const { checkpoints, growthPercent, settledGrowthPercent, errors, roundGrowthPercents, roundSettledGrowthPercents } = results.memory;
    const median = roundGrowthPercents === undefined ? '' : ', median round';
    const oldSpace = checkpoints.every((point) => point.oldSpaceMiB !== undefined)
      ? `, old space ${checkpoints.map((point) => `${point.oldSpaceMiB}/${point.oldSpaceUsedMiB}`).join(' → ')} MiB committed/used`
      : '';
    const rounds = (percents: number[] | undefined) =>
      percents === undefined ? '' : ` (rounds ${percents.map(signedPercent).join(' / ')})`;
    if (settledGrowthPercent !== undefined) {
      rows.push([
        '10',
        `memory (settled RSS${median})`,
        checkpoints.map((point) => `${point.calls / 1000}k: ${point.settledRssMiB} MiB`).join(', '),
        `growth ${signedPercent(settledGrowthPercent)}${rounds(roundSettledGrowthPercents)}`,
        `returned after the first reading: ${checkpoints.map((point) => Math.round((point.rssMiB - (point.settledRssMiB ?? point.rssMiB)) * 10) / 10).join(' → ')} MiB`,
        String(errors),
      ]);
    }
    rows.push([
      '10',
      // With a settled reading, the median round is chosen by it; this row is that round's.
      `memory (RSS right after GC${median === '' ? '' : settledGrowthPercent === undefined ? median : ', same round'})`,
      checkpoints.map((point) => `${point.calls / 1000}k: ${point.rssMiB} MiB`).join(', '),
      `growth ${signedPercent(growthPercent)}${rounds(roundGrowthPercents)}`,
      `heap used ${checkpoints.map((point) => point.heapUsedMiB).join(' → ')} MiB, heap total ${checkpoints.map((point) => point.heapTotalMiB).join(' → ')} MiB${oldSpace}`,
      String(errors),
    ]);
  } else rows.push(['10', 'memory', `${results.memory.status}: ${results.memory.reason}`, '', '', '']);
  if (results.redaction.status === 'measured') {
    for (const figure of results.redaction.figures) {
      rows.push([
        'R',
        `redaction ${figure.label}`,
        `${figure.microsecondsPerOperation.toFixed(1)} µs/op`,
        `${figure.operationsPerSecond} ops/s`,
        `${figure.mebibytesPerSecond.toFixed(1)} MiB/s`,
        '',
      ]);
    }
  } else rows.push(['R', 'redaction', `${results.redaction.status}: ${results.redaction.reason}`, '', '', '']);
  return { headers: ['#', 'measurement', 'figure', 'figure', 'detail', 'errors'], rows, align: [false, false, true, true, false, true] };
}

/**
 * Scenario 5's throughput over 2c's (the ceiling behind the bridge as the gateway uses it):
 * the median of the ratios taken within a round, as for the ceiling; null unless both ran.
 */
export function throughputToBridgedCeiling(scenarios: HttpScenarioResult[]): number | null {
  const measured = (id: string) => scenarios.find((scenario) => scenario.id === id && scenario.status === 'measured');
  const gateway = measured('gateway-mcp-2026');
  const bridged = measured('ceiling-bridge-request');
  if (gateway?.requestsPerSecond === undefined || !bridged?.requestsPerSecond) return null;
  const gatewayRounds = gateway.rounds ?? [];
  const bridgedRounds = bridged.rounds ?? [];
  if (gatewayRounds.length === 0 || gatewayRounds.length !== bridgedRounds.length) {
    return round2(gateway.requestsPerSecond / bridged.requestsPerSecond);
  }
  const ratios = gatewayRounds.map(
    (round, index) => round.requestsPerSecond / (bridgedRounds[index] as { requestsPerSecond: number }).requestsPerSecond,
  );
  return round2(medianBy(ratios, (ratio) => ratio));
}

function notes(results: BenchResults): string[] {
  const lines: string[] = [];
  const toBridged = throughputToBridgedCeiling(results.scenarios);
  if (toBridged !== null) {
    lines.push(`5 vs 2c (the ceiling behind the bridge as the gateway uses it): ×${toBridged.toFixed(2)} throughput (not a goal)`);
  }
  for (const scenario of results.scenarios) {
    if (scenario.sqlPerCall !== undefined) {
      lines.push(
        `${scenario.number}: ${scenario.sqlPerCall.statements} SQL statements in ${scenario.sqlPerCall.transactions} transactions per call`,
      );
    }
    const kernel = serverMicrosecondsPerRequest(scenario, scenario.cpu?.serverKernel);
    if (kernel !== '–') {
      lines.push(
        `${scenario.number}: server CPU per request ${serverMicrosecondsPerRequest(scenario)} µs, of which ${kernel} µs in the kernel`,
      );
    }
    if (scenario.rounds !== undefined) {
      const perRound = scenario.rounds.map(
        (round) =>
          `${round.requestsPerSecond}${round.ratios?.throughputToCeiling == null ? '' : ` (×${round.ratios.throughputToCeiling.toFixed(2)})`}`,
      );
      lines.push(`${scenario.number}: req/s (×ceiling) per round: ${perRound.join(', ')}`);
    }
  }
  return lines;
}

function goalRows(goals: GoalResult[]): string[][] {
  return goals.map((goal) => [
    goal.goal,
    goal.target,
    goal.actual,
    goal.met === null ? 'not measured' : goal.met ? 'met' : 'MISSED',
    goal.margin ?? '',
  ]);
}

function machineLine(results: BenchResults): string {
  const { machine, settings } = results;
  return (
    `node ${machine.node} (V8 ${machine.v8}), ${machine.platform}/${machine.arch}, ${machine.cores} cores (${machine.cpuModel}), ` +
    `${machine.memoryGiB} GiB, load average ${machine.loadAverageAtStart.join(' ')} at start; ${settings.connections} connections, ${settings.warmupSeconds} s warm-up + ${settings.durationSeconds} s per scenario` +
    `${settings.rounds > 1 ? `, median of ${settings.rounds} rounds` : ''}${settings.quick ? ', QUICK smoke run' : ''}; ` +
    `upstream record ${settings.upstreamPayloadBytes} B; ${settings.code === 'source' ? 'sources through tsx' : 'built package (dist/)'}` +
    `${machine.stealPercent === undefined || machine.stealPercent === null ? '' : `; CPU steal ${machine.stealPercent}% during the run`}` +
    `${results.sourcesChangedDuringRun ? '; WARNING: the sources changed during the run' : ''}`
  );
}

/** The printed report. */
export function formatConsoleReport(results: BenchResults): string {
  const other = otherRows(results);
  return [
    '',
    machineLine(results),
    '',
    ...table(scenarioHeaders, scenarioRows(results), scenarioAlign),
    ...notes(results),
    '',
    ...table(other.headers, other.rows, other.align),
    '',
    'Goals (reported, not asserted)',
    ...table(['goal', 'target', 'actual', 'status', 'margin'], goalRows(results.goals), [false, false, true, false, true]),
    '',
  ].join('\n');
}

/** The same report as Markdown (bench/results/latest.md), for BENCHMARKS.md. */
export function formatMarkdownReport(results: BenchResults): string {
  const other = otherRows(results);
  return [
    `Run of ${results.generatedAt}${results.gitCommit ? ` at ${results.gitCommit.slice(0, 10)}` : ''}` +
      `${results.modifiedSources.length > 0 ? ` plus ${results.modifiedSources.length} modified source files` : ''}: ${machineLine(results)}.`,
    '',
    ...markdownTable(scenarioHeaders, scenarioRows(results), scenarioAlign),
    '',
    ...notes(results).map((line) => `- ${line}`),
    '',
    ...markdownTable(other.headers, other.rows, other.align),
    '',
    ...markdownTable(['goal', 'target', 'actual', 'status', 'margin'], goalRows(results.goals), [false, false, true, false, true]),
    '',
  ].join('\n');
}
