/**
 * Scenario 10: does memory stay flat? MCP 2026-07-28 `tools/call` requests of the HTTP
 * customer tool go through `gateway.fetch` (door, pipeline, upstream pool, memory store with
 * its default retention of 10 000 records) with 64 in flight. At each checkpoint the process
 * takes two readings of its RSS and heap:
 *
 * - right after two forced full collections (`gc()`), as this scenario always has;
 * - settled: the same, once RSS has stopped falling. V8 hands the pages a collection freed
 *   back to the system from a background thread, a little after the collection: the first
 *   reading still counts what is free but not yet returned, and how much of that there is
 *   depends on when the reading falls. The settled one is what the process keeps.
 *
 * Run with `--expose-gc`. One process is one round: bench/run.ts starts a fresh one per
 * round, because the readings differ between runs of the same build (V8's heap sizing).
 *
 *   args: --upstream=http://127.0.0.1:PORT
 */
import { getHeapSpaceStatistics } from 'node:v8';
import { onParentMessage, readArguments, sendToParent } from './child-process.js';
import { modernToolCall } from './fixtures.js';
import { createBenchGateway } from './gateway-setup.js';

/** Memory after a number of calls, garbage collected. */
export interface MemoryCheckpoint {
  calls: number;
  /** RSS right after two ordinary forced collections. */
  rssMiB: number;
  /**
   * RSS after the same collections once it has stopped falling (the freed pages returned to
   * the system). Optional: runs before it was measured do not have it.
   */
  settledRssMiB?: number;
  heapUsedMiB: number;
  /** What V8 holds for its heap (used or not). */
  heapTotalMiB: number;
  /**
   * V8's old space, committed and used: where what the store keeps lives, and where the
   * heap's growth under churn shows (committed well above used after the collections).
   */
  oldSpaceMiB?: number;
  oldSpaceUsedMiB?: number;
  externalMiB: number;
  arrayBuffersMiB: number;
}

const collect = (globalThis as { gc?: () => void }).gc;
if (collect === undefined) throw new Error('memory.ts needs node --expose-gc');
const upstreamUrl = readArguments().get('upstream');
if (upstreamUrl === undefined) throw new Error('memory: --upstream is required');

const bench = await createBenchGateway({ upstreamUrl, store: 'memory' });
const toolCall = modernToolCall();
const headers = { ...toolCall.headers, authorization: `Bearer ${bench.agentKey}`, host: '127.0.0.1' };
const mebibytes = (bytes: number) => Math.round((bytes / (1024 * 1024)) * 10) / 10;

async function checkpoint(calls: number): Promise<MemoryCheckpoint> {
  for (let round = 0; round < 2; round++) {
    collect?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const usage = process.memoryUsage();
  const oldSpace = getHeapSpaceStatistics().find((space) => space.space_name === 'old_space');
  return {
    calls,
    rssMiB: mebibytes(usage.rss),
    heapUsedMiB: mebibytes(usage.heapUsed),
    heapTotalMiB: mebibytes(usage.heapTotal),
    ...(oldSpace === undefined
      ? {}
      : { oldSpaceMiB: mebibytes(oldSpace.space_size), oldSpaceUsedMiB: mebibytes(oldSpace.space_used_size) }),
    externalMiB: mebibytes(usage.external),
    arrayBuffersMiB: mebibytes(usage.arrayBuffers),
    ...(await settledMemory()),
  };
}

const pause = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

/**
 * The settled reading: RSS every 100 ms until it has not fallen by more than 0.25 MiB three
 * times in a row (at most 5 s), with nothing else running.
 */
async function settledMemory(): Promise<Pick<MemoryCheckpoint, 'settledRssMiB'>> {
  const settleStep = 0.25 * 1024 * 1024;
  let previous = process.memoryUsage.rss();
  let steady = 0;
  for (let poll = 0; poll < 50 && steady < 3; poll++) {
    await pause(100);
    const rss = process.memoryUsage.rss();
    steady = previous - rss > settleStep ? 0 : steady + 1;
    previous = rss;
  }
  return { settledRssMiB: mebibytes(previous) };
}

async function run(checkpoints: number[], inFlight: number): Promise<{ checkpoints: MemoryCheckpoint[]; errors: number }> {
  const results: MemoryCheckpoint[] = [];
  let calls = 0;
  let errors = 0;
  for (const target of checkpoints) {
    const worker = async () => {
      while (calls < target) {
        calls++;
        const response = await bench.gateway.fetch(new Request('http://127.0.0.1/mcp', { method: 'POST', headers, body: toolCall.body }));
        const text = await response.text();
        if (response.status !== 200 || text.includes('"isError":true') || text.includes('"error"')) errors++;
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    results.push(await checkpoint(calls));
  }
  return { checkpoints: results, errors };
}

onParentMessage(
  async (message) => {
    if (message.type !== 'run') return;
    const { checkpoints, inFlight } = message as unknown as { checkpoints: number[]; inFlight: number };
    const started = performance.now();
    const outcome = await run(checkpoints, inFlight);
    await sendToParent({ type: 'result', ...outcome, seconds: Math.round((performance.now() - started) / 100) / 10 });
  },
  () => bench.close(),
);
await sendToParent({ type: 'ready' });
