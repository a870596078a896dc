/**
 * Scenario 8: the governed pipeline alone. `gateway.invoke()` of a local tool (same
 * governance: key authentication, schema, policy with conditions, redaction, audit to the
 * memory store), in a tight loop with 1 call in flight and with many in flight. No HTTP
 * anywhere. Two tools: one returns the same ~2 KiB record as the upstream (the figure the
 * goal is judged on), one returns `{ ok: true }` (the pipeline's fixed cost). Asked with
 * `{ type: 'run', ... }`, measures every mode once per round and answers
 * `{ type: 'result', modes: [...] }` with each mode's median round; asked with
 * `{ type: 'calls', output, count }`, makes that many calls one after the other and answers
 * `{ type: 'calls-done', errors }` (for counts that do not depend on time, as
 * bench/instructions.ts takes).
 */
import { onParentMessage, readArguments, sendToParent } from './child-process.js';
import { startCpuProfile } from './cpu-profiler.js';
import { customerCard, customerEmail, customerInput, localCustomerToolName, localPingToolName } from './fixtures.js';
import { createBenchGateway } from './gateway-setup.js';
import { LatencyRecorder, type LatencySummary, medianBy } from './latency-stats.js';

/** The measurement of one tool at one concurrency. */
export interface InProcessMode {
  /** `record` (the ~2 KiB customer record) or `tiny` (`{ ok: true }`). */
  output: 'record' | 'tiny';
  inFlight: number;
  calls: number;
  /** Wall-clock time per call: elapsed / calls. */
  microsecondsPerCall: number;
  callsPerSecond: number;
  /** Latency of each call, in milliseconds. */
  latency: LatencySummary;
  errors: number;
  firstError?: string;
  /** µs per call of every round, in the order run; the figures above are the median round's. */
  roundMicroseconds?: number[];
}

const upstreamUrl = readArguments().get('upstream') ?? 'http://127.0.0.1:9';
const bench = await createBenchGateway({ upstreamUrl, store: 'memory' });
const callsByOutput = {
  record: { agentKey: bench.agentKey, tool: localCustomerToolName, input: customerInput },
  tiny: { agentKey: bench.agentKey, tool: localPingToolName, input: customerInput },
};

function outcomeProblem(outcome: Awaited<ReturnType<typeof bench.gateway.invoke>>, full: boolean): string | undefined {
  if (outcome.status !== 'succeeded') {
    return outcome.status === 'error' ? `${outcome.error.code}: ${outcome.error.message}` : outcome.status;
  }
  if (full) {
    const text = JSON.stringify(outcome.output);
    if (text.includes(customerEmail) || text.includes(customerCard)) return 'personal data left in clear';
  }
  return undefined;
}

async function measure(output: InProcessMode['output'], inFlight: number, seconds: number, record: boolean): Promise<InProcessMode> {
  const call = callsByOutput[output];
  const latencies = new LatencyRecorder();
  let calls = 0;
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const callStarted = performance.now();
      const outcome = await bench.gateway.invoke(call);
      if (record) latencies.record(performance.now() - callStarted);
      // The full check (a serialisation) only on every 1000th call, so it stays off the clock.
      const problem = outcomeProblem(outcome, calls % 1000 === 0);
      calls++;
      if (problem !== undefined) {
        errors++;
        firstError ??= problem;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsed = performance.now() - started;
  return {
    output,
    inFlight,
    calls,
    microsecondsPerCall: Math.round(((elapsed * 1000) / calls) * 100) / 100,
    callsPerSecond: Math.round(calls / (elapsed / 1000)),
    latency: latencies.summary(),
    errors,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

/** A mode's median round (by µs per call), with every round's figure and the errors of all rounds. */
function medianRound(rounds: InProcessMode[]): InProcessMode {
  const median = medianBy(rounds, (round) => round.microsecondsPerCall);
  const firstError = rounds.find((round) => round.firstError !== undefined)?.firstError;
  return {
    ...median,
    errors: rounds.reduce((sum, round) => sum + round.errors, 0),
    ...(firstError === undefined ? {} : { firstError }),
    roundMicroseconds: rounds.map((round) => round.microsecondsPerCall),
  };
}

/** `count` calls, one after the other; the number that failed. */
async function callInSequence(output: InProcessMode['output'], count: number): Promise<number> {
  let errors = 0;
  for (let index = 0; index < count; index++) {
    if (outcomeProblem(await bench.gateway.invoke(callsByOutput[output]), index === 0) !== undefined) errors++;
  }
  return errors;
}

onParentMessage(
  async (message) => {
    if (message.type === 'calls') {
      const output = message.output === 'tiny' ? 'tiny' : 'record';
      await sendToParent({ type: 'calls-done', errors: await callInSequence(output, Number(message.count)) });
      return;
    }
    if (message.type !== 'run') return;
    const { warmupSeconds, durationSeconds, concurrencies, rounds, profileFile } = message as unknown as {
      warmupSeconds: number;
      durationSeconds: number;
      concurrencies: number[];
      /** Every mode is measured once per round, the rounds one after the other. Default 1. */
      rounds?: number;
      /** When set, the measured part (not the warm-up) is CPU-profiled into this file. */
      profileFile?: string;
    };
    await measure('record', 64, warmupSeconds, false);
    await measure('tiny', 64, warmupSeconds / 2, false);
    const profile = profileFile === undefined ? undefined : await startCpuProfile(profileFile);
    const measured: InProcessMode[][] = [];
    for (let round = 0; round < Math.max(1, rounds ?? 1); round++) {
      let index = 0;
      for (const output of ['record', 'tiny'] as const) {
        for (const inFlight of concurrencies) {
          (measured[index++] ??= []).push(await measure(output, inFlight, durationSeconds, true));
        }
      }
    }
    await profile?.stop();
    await sendToParent({ type: 'result', modes: measured.map(medianRound) });
  },
  () => bench.close(),
);
await sendToParent({ type: 'ready' });
