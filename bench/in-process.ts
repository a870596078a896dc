/**
 * Scenario 8: the governed pipeline alone. `gateway.invoke()` of the local customer tool
 * (same record, same governance: key authentication, schema, policy with conditions,
 * redaction, audit to the memory store), in a tight loop with 1 call in flight and with
 * many in flight. No HTTP anywhere. Asked with `{ type: 'run', ... }`, answers
 * `{ type: 'result', modes: [...] }`.
 */
import { onParentMessage, readArguments, sendToParent } from './child-process.js';
import { customerCard, customerEmail, customerInput, localCustomerToolName } from './fixtures.js';
import { createBenchGateway } from './gateway-setup.js';
import { LatencyRecorder, type LatencySummary } from './latency-stats.js';

/** The measurement of one concurrency. */
export interface InProcessMode {
  inFlight: number;
  calls: number;
  /** Wall-clock time per call: elapsed / calls. */
  microsecondsPerCall: number;
  callsPerSecond: number;
  /** Latency of each call, in milliseconds. */
  latency: LatencySummary;
  errors: number;
  firstError?: string;
}

const upstreamUrl = readArguments().get('upstream') ?? 'http://127.0.0.1:9';
const bench = await createBenchGateway({ upstreamUrl, store: 'memory' });
const call = { agentKey: bench.agentKey, tool: localCustomerToolName, input: customerInput };

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

async function measure(inFlight: number, seconds: number, record: boolean): Promise<InProcessMode> {
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
    inFlight,
    calls,
    microsecondsPerCall: Math.round(((elapsed * 1000) / calls) * 100) / 100,
    callsPerSecond: Math.round(calls / (elapsed / 1000)),
    latency: latencies.summary(),
    errors,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

onParentMessage(
  async (message) => {
    if (message.type !== 'run') return;
    const { warmupSeconds, durationSeconds, concurrencies } = message as unknown as {
      warmupSeconds: number;
      durationSeconds: number;
      concurrencies: number[];
    };
    await measure(64, warmupSeconds, false);
    const modes: InProcessMode[] = [];
    for (const inFlight of concurrencies) modes.push(await measure(inFlight, durationSeconds, true));
    await sendToParent({ type: 'result', modes });
  },
  () => bench.close(),
);
await sendToParent({ type: 'ready' });
