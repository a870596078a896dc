import { GatewayError } from '../errors.js';
import { IDEMPOTENCY_KEY_RULE, isIdempotencyKey } from '../pipeline/idempotency.js';
import type { CallOutcome } from '../pipeline/types.js';
import type { InvocationRecord } from '../store/types.js';
import { errorResponse, jsonResponse, preferWaitMs, readJsonBody } from './http.js';
import type { JsonReply, Reply } from './reply.js';
import type { GatewayRuntime } from './runtime.js';
import { requestAbort } from './node-request.js';
import { NEVER_ABORTED } from '../util/call-abort.js';

const INVOKE_KEYS = new Set(['input', 'idempotencyKey']);

/** `{ input, idempotencyKey? }`, or a 400 naming what is wrong. */
function parseInvokeBody(body: unknown): { input: unknown; idempotencyKey?: string } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError({ code: 'BAD_REQUEST', message: 'Body must be a JSON object: { "input": { ... } }' });
  }
  for (const key of Object.keys(body)) {
    if (!INVOKE_KEYS.has(key)) throw new GatewayError({ code: 'BAD_REQUEST', message: `Unknown body field "${key.slice(0, 64)}"` });
  }
  const { input, idempotencyKey } = body as { input?: unknown; idempotencyKey?: unknown };
  if (input !== undefined && (input === null || typeof input !== 'object' || Array.isArray(input))) {
    throw new GatewayError({ code: 'BAD_REQUEST', message: '"input" must be a JSON object' });
  }
  if (idempotencyKey !== undefined && !isIdempotencyKey(idempotencyKey)) {
    throw new GatewayError({ code: 'BAD_REQUEST', message: IDEMPOTENCY_KEY_RULE });
  }
  return idempotencyKey === undefined ? { input: input ?? {} } : { input: input ?? {}, idempotencyKey };
}

/** An outcome as the REST door answers it. */
export function outcomeResponse(outcome: CallOutcome, headers?: Record<string, string>): JsonReply {
  switch (outcome.status) {
    case 'succeeded':
      // A tool that returned nothing (`undefined`) answers `output: null`: the member is always there.
      return jsonResponse(200, { invocationId: outcome.invocationId, status: 'succeeded', output: outcome.output ?? null }, headers);
    case 'pending_approval':
    case 'running':
      return jsonResponse(202, { invocationId: outcome.invocationId, status: outcome.status, approval: outcome.approval }, headers);
    default:
      return errorResponse(outcome.error, outcome.invocationId, headers);
  }
}

/** `GET /tools`: the tools this agent may call. */
export async function listToolsRoute(runtime: GatewayRuntime, request: Request): Promise<Reply> {
  const agent = await runtime.authenticateRequest(request);
  const items = runtime.visibleTools(agent).map((tool) => tool.view);
  return jsonResponse(200, { items });
}

/** `POST /tools/{name}/invoke`. */
export async function invokeRoute(runtime: GatewayRuntime, request: Request, toolName: string): Promise<Reply> {
  const agent = await runtime.authenticateRequest(request);
  const { input, idempotencyKey } = parseInvokeBody(await readJsonBody(request, runtime.maxBodyBytes));
  const abort = requestAbort(request);
  let outcome = await runtime.call({
    door: 'rest',
    agent,
    toolName,
    input,
    // A client that sent a key learns the outcome by retrying with it, so a dropped connection
    // does not cancel the call: it runs to its end (under the tool's deadline) and is recorded.
    abort: idempotencyKey === undefined ? abort : NEVER_ABORTED,
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
  });
  if (outcome.status === 'pending_approval' || outcome.status === 'running') {
    const waitMs = preferWaitMs(request, runtime.maxWaitSeconds);
    if (waitMs !== undefined && waitMs > 0) {
      outcome = (await runtime.waitForOutcome(outcome.invocationId, waitMs, abort)) ?? outcome;
      return outcomeResponse(outcome, { 'preference-applied': `wait=${waitMs / 1000}` });
    }
  }
  return outcomeResponse(outcome);
}

/** The agent's view of one of its invocations. */
export function invocationView(record: InvocationRecord): Record<string, unknown> {
  const view: Record<string, unknown> = {
    invocationId: record.id,
    tool: record.tool,
    status: record.status,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
  if (record.status === 'succeeded') view.output = record.output ?? null;
  if (record.error !== null) view.error = record.error;
  if (record.approvalId !== null) view.approvalId = record.approvalId;
  return view;
}

/**
 * `GET /invocations/{id}`: the agent's own invocation as it stands now (a call whose approval
 * has expired undecided is `expired` at once, not first when the sweep gets to it); anyone
 * else's is a 404.
 */
export async function getInvocationRoute(runtime: GatewayRuntime, request: Request, id: string): Promise<Reply> {
  const agent = await runtime.authenticateRequest(request);
  const record = await runtime.store.getInvocation(id);
  if (record === undefined || record.agentId !== agent.id) {
    throw new GatewayError({ code: 'NOT_FOUND', message: 'Invocation not found' });
  }
  return jsonResponse(200, invocationView(await runtime.invocationAsOfNow(record)));
}
