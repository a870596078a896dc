/**
 * The load generator: one process per scenario, so it never shares an event loop with the
 * servers. Asked with `{ type: 'run', ...LoadConfig }`, it checks sample responses, warms
 * the server up, runs autocannon for the timed period (checking every response body),
 * checks samples again, and answers `{ type: 'result', ...LoadResult }`. With
 * `ratePerSecond`, the timed period sends requests at that steady rate instead (see
 * {@link paced}).
 */
import autocannon from 'autocannon';
import { Pool, request } from 'undici';
import { onParentMessage, sendToParent } from './child-process.js';
import { LatencyRecorder, type LatencySummary } from './latency-stats.js';
import { type ResponseKind, quickCheck, strictCheck } from './response-checks.js';

/** What one load run sends, and for how long. */
export interface LoadConfig {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  kind: ResponseKind;
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
  /** Sequential requests checked in full before and after the timed run. */
  samples: number;
  /**
   * Send the timed run's requests at this steady rate (open loop) instead of as fast as the
   * connections allow. The warm-up still runs flat out, followed by 2 s at the rate, not
   * recorded, to warm the paced client. Latency is then what a request costs at that load,
   * not the queueing of a saturated server.
   */
  ratePerSecond?: number;
}

/** Errors of a load run, by cause. Every one of them counts. */
export interface LoadErrors {
  /** Responses that were not 2xx (timed run and warm-up). */
  non2xx: number;
  /** 2xx responses whose body was not the expected success. */
  wrongBody: number;
  /** Connection errors and timeouts. */
  transport: number;
  /** Sample responses that failed the full check. */
  samples: number;
  total: number;
  /** Why the first failing sample failed. */
  firstSampleFailure?: string;
}

/** What a load run measured. */
export interface LoadResult {
  requestsPerSecond: number;
  latency: LatencySummary;
  /** Responses received in the timed run. */
  responses: number;
  durationSeconds: number;
  errors: LoadErrors;
  /** Every response received in all phases (samples, warm-up, timed run). */
  responsesAllPhases: number;
  /** CPU the load generator used in the timed run, as a share of one core. */
  loadGeneratorCpu: number;
}

/** What a timed run measured in the load generator. */
interface TimedOutcome {
  /** Responses received. */
  responses: number;
  latencies: LatencyRecorder;
  elapsedSeconds: number;
  cpuSeconds: number;
}

interface CannonOutcome extends TimedOutcome {
  result: autocannon.Result;
}

function cannon(config: LoadConfig, seconds: number): Promise<CannonOutcome> {
  const latencies = new LatencyRecorder();
  const kind = config.kind;
  return new Promise((resolve, reject) => {
    let started = 0;
    let cpuAtStart = process.cpuUsage();
    const instance = autocannon(
      {
        url: config.url,
        method: config.method,
        headers: config.headers,
        ...(config.body === undefined ? {} : { body: config.body }),
        connections: config.connections,
        pipelining: 1,
        duration: seconds,
        timeout: 10,
        verifyBody: (body) => quickCheck(kind, String(body)),
      },
      (error, result) => {
        if (error) {
          reject(error);
          return;
        }
        const cpu = process.cpuUsage(cpuAtStart);
        const elapsedSeconds = (performance.now() - started) / 1000;
        resolve({ result, responses: result.requests.total, latencies, elapsedSeconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
      },
    );
    started = performance.now();
    cpuAtStart = process.cpuUsage();
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.record(responseTime);
    });
  });
}

/**
 * Requests at a steady rate: request `n` is due at `n / rate` seconds and is handed to the
 * pool then (sent on a free connection, or queued for one), whether or not earlier requests
 * have been answered. So a slow answer shows in the latencies instead of slowing the sender
 * down (no coordinated omission). Latency counts from the hand-over, not from the due time:
 * the sender's timers fire up to a millisecond late, which would add the same noise to
 * every server. autocannon's own rate limit sends each connection's quota for a second back
 * to back and then waits, which measures bursts, not a steady load.
 */
async function paced(pool: Pool, config: LoadConfig, seconds: number, rate: number, errors: LoadErrors): Promise<TimedOutcome> {
  const latencies = new LatencyRecorder();
  const target = new URL(config.url);
  const total = Math.round(seconds * rate);
  const intervalMs = 1000 / rate;
  const pending = new Set<Promise<void>>();
  let answered = 0;
  const send = () => {
    const sentAt = performance.now();
    const exchange = pool
      .request({
        path: target.pathname + target.search,
        method: config.method,
        headers: config.headers,
        ...(config.body === undefined ? {} : { body: config.body }),
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      })
      .then(
        async (answer) => {
          let body: string;
          try {
            body = await answer.body.text();
          } catch {
            errors.transport++;
            return;
          }
          const latency = performance.now() - sentAt;
          answered++;
          if (answer.statusCode < 200 || answer.statusCode >= 300) errors.non2xx++;
          else if (!quickCheck(config.kind, body)) errors.wrongBody++;
          else latencies.record(latency);
        },
        () => {
          errors.transport++;
        },
      )
      .finally(() => pending.delete(exchange));
    pending.add(exchange);
  };
  const cpuAtStart = process.cpuUsage();
  const started = performance.now();
  let sent = 0;
  // Timers fire at best every millisecond: each tick sends every request that has come due.
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      for (; sent < total && started + sent * intervalMs <= now; sent++) send();
      if (sent < total) setTimeout(tick, Math.max(0, started + sent * intervalMs - performance.now()));
      else resolve();
    };
    tick();
  });
  while (pending.size > 0) await Promise.all(pending);
  const elapsedSeconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  return { responses: answered, latencies, elapsedSeconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/** Seconds of steady load, not recorded, before a paced timed run: they warm the paced client's own code and connections. */
const pacedWarmupSeconds = 2;

async function checkSamples(config: LoadConfig, errors: LoadErrors): Promise<number> {
  for (let index = 0; index < config.samples; index++) {
    let failure: string | undefined;
    try {
      const answer = await request(config.url, {
        method: config.method,
        headers: config.headers,
        ...(config.body === undefined ? {} : { body: config.body }),
      });
      failure = strictCheck(config.kind, answer.statusCode, await answer.body.text());
    } catch (error) {
      failure = `request failed: ${(error as Error).message}`;
    }
    if (failure !== undefined) {
      errors.samples++;
      errors.firstSampleFailure ??= failure;
    }
  }
  return config.samples;
}

function countErrors(result: autocannon.Result, errors: LoadErrors): void {
  errors.non2xx += result.non2xx;
  errors.wrongBody += (result as autocannon.Result & { mismatches?: number }).mismatches ?? 0;
  errors.transport += result.errors + result.timeouts;
}

/** Runs one scenario's load: samples, warm-up, timed run, samples. */
export async function runLoad(config: LoadConfig): Promise<LoadResult> {
  const errors: LoadErrors = { non2xx: 0, wrongBody: 0, transport: 0, samples: 0, total: 0 };
  let responsesAllPhases = await checkSamples(config, errors);
  if (config.warmupSeconds > 0) {
    const warmup = await cannon(config, config.warmupSeconds);
    countErrors(warmup.result, errors);
    responsesAllPhases += warmup.result.requests.total;
  }
  let timed: TimedOutcome;
  if (config.ratePerSecond === undefined) {
    await sendToParent({ type: 'timed-start' });
    const flatOut = await cannon(config, config.durationSeconds);
    await sendToParent({ type: 'timed-end' });
    countErrors(flatOut.result, errors);
    timed = flatOut;
  } else {
    const pool = new Pool(new URL(config.url).origin, { connections: config.connections, pipelining: 1 });
    try {
      responsesAllPhases += (await paced(pool, config, pacedWarmupSeconds, config.ratePerSecond, errors)).responses;
      await sendToParent({ type: 'timed-start' });
      timed = await paced(pool, config, config.durationSeconds, config.ratePerSecond, errors);
      await sendToParent({ type: 'timed-end' });
    } finally {
      await pool.destroy();
    }
  }
  responsesAllPhases += timed.responses;
  responsesAllPhases += await checkSamples(config, errors);
  errors.total = errors.non2xx + errors.wrongBody + errors.transport + errors.samples;
  const responses = timed.responses;
  return {
    requestsPerSecond: Math.round(responses / timed.elapsedSeconds),
    latency: timed.latencies.summary(),
    responses,
    durationSeconds: Math.round(timed.elapsedSeconds * 100) / 100,
    errors,
    responsesAllPhases,
    loadGeneratorCpu: Math.round((timed.cpuSeconds / timed.elapsedSeconds) * 100) / 100,
  };
}

onParentMessage(
  async (message) => {
    if (message.type !== 'run') return;
    const { type: _type, ...config } = message;
    const result = await runLoad(config as unknown as LoadConfig);
    await sendToParent({ type: 'result', ...result });
  },
  async () => undefined,
);
await sendToParent({ type: 'ready' });
