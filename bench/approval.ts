/**
 * Scenario 9: the approval round trip, driven from its own process over HTTP. One round
 * trip is: the agent asks for a large refund (202, pending approval), an approver approves
 * it on the admin route (the gateway executes the held call then), and the agent reads the
 * outcome of its invocation. Each refund carries its own reference, so every round trip is a
 * new approval. Asked with `{ type: 'run', ... }`, answers `{ type: 'result', ... }`.
 */
import { Agent, request } from 'undici';
import { onParentMessage, sendToParent } from './child-process.js';
import { approverToken, customerId, refundToolName } from './fixtures.js';
import { LatencyRecorder, type LatencySummary } from './latency-stats.js';

/** What the approval scenario measured, in milliseconds. */
export interface ApprovalResult {
  roundTrips: number;
  /** request → approve → result, whole. */
  latency: LatencySummary;
  /** Each step alone. */
  steps: { request: LatencySummary; approve: LatencySummary; result: LatencySummary };
  errors: number;
  firstError?: string;
}

interface ApprovalConfig {
  url: string;
  agentKey: string;
  warmupRoundTrips: number;
  roundTrips: number;
}

const dispatcher = new Agent({ connections: 4, keepAliveTimeout: 30_000 });

async function send(url: string, method: 'GET' | 'POST', token: string, body?: unknown): Promise<{ status: number; json: any }> {
  const answer = await request(url, {
    method,
    dispatcher,
    headers: {
      authorization: `Bearer ${token}`,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: answer.statusCode, json: await answer.body.json() };
}

async function roundTrip(config: ApprovalConfig, reference: string, timings: LatencyRecorder[] | undefined): Promise<string | undefined> {
  const t0 = performance.now();
  const requested = await send(`${config.url}/tools/${refundToolName}/invoke`, 'POST', config.agentKey, {
    input: { customerId, amount: 250, reference },
  });
  if (requested.status !== 202 || typeof requested.json?.approval?.id !== 'string') {
    return `request: HTTP ${requested.status} ${JSON.stringify(requested.json).slice(0, 200)}`;
  }
  const t1 = performance.now();
  const approved = await send(`${config.url}/admin/approvals/${requested.json.approval.id}/approve`, 'POST', approverToken, {});
  if (approved.status !== 200 || approved.json?.invocation?.status !== 'succeeded') {
    return `approve: HTTP ${approved.status} ${JSON.stringify(approved.json).slice(0, 200)}`;
  }
  const t2 = performance.now();
  const result = await send(`${config.url}/invocations/${requested.json.invocationId}`, 'GET', config.agentKey);
  if (result.status !== 200 || result.json?.status !== 'succeeded') {
    return `result: HTTP ${result.status} ${JSON.stringify(result.json).slice(0, 200)}`;
  }
  const t3 = performance.now();
  if (timings !== undefined) {
    timings[0]?.record(t3 - t0);
    timings[1]?.record(t1 - t0);
    timings[2]?.record(t2 - t1);
    timings[3]?.record(t3 - t2);
  }
  return undefined;
}

async function run(config: ApprovalConfig): Promise<ApprovalResult> {
  const timings = [new LatencyRecorder(), new LatencyRecorder(), new LatencyRecorder(), new LatencyRecorder()];
  let errors = 0;
  let firstError: string | undefined;
  const runId = Date.now().toString(36);
  for (let index = 0; index < config.warmupRoundTrips + config.roundTrips; index++) {
    const measured = index >= config.warmupRoundTrips;
    let problem: string | undefined;
    try {
      problem = await roundTrip(config, `bench-${runId}-${index}`, measured ? timings : undefined);
    } catch (error) {
      problem = (error as Error).message;
    }
    if (problem !== undefined) {
      errors++;
      firstError ??= problem;
    }
  }
  const [whole, requested, approved, result] = timings.map((recorder) => recorder.summary()) as [
    LatencySummary,
    LatencySummary,
    LatencySummary,
    LatencySummary,
  ];
  return {
    roundTrips: config.roundTrips,
    latency: whole,
    steps: { request: requested, approve: approved, result },
    errors,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

onParentMessage(
  async (message) => {
    if (message.type !== 'run') return;
    const result = await run(message as unknown as ApprovalConfig);
    await sendToParent({ type: 'result', ...result });
  },
  () => dispatcher.close(),
);
await sendToParent({ type: 'ready' });
