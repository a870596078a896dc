import type { Reply } from '../../../src/protocol/reply.js';
import { type CallAbort, NEVER_ABORTED } from '../../../src/util/call-abort.js';
import { GatewayError, unauthenticated } from '../../../src/errors.js';
import type { AgentPrincipal, CallOutcome } from '../../../src/pipeline/types.js';
import { endedOutcomeOfRecord } from '../../../src/pipeline/idempotency.js';
import type { InvocationRecord, InvocationStatus } from '../../../src/store/types.js';
import { createMcpHandler } from '../../../src/protocol/mcp/index.js';
import type { McpBackend, McpOptions, McpToolView } from '../../../src/protocol/mcp/index.js';

/** The key the fake backend accepts. */
export const goodKey = 'atg_test_good';

/** The principal behind {@link goodKey}. */
export const testAgent: AgentPrincipal = { id: 'agent_1', name: 'Test Agent', tags: ['test'] };

/** A second key the fake backend accepts, for isolation between agents. */
export const otherKey = 'atg_test_other';

/** The principal behind {@link otherKey}. */
export const otherAgent: AgentPrincipal = { id: 'agent_2', name: 'Other Agent', tags: [] };

/** Invocations per `listInvocations` page (small, so paging is exercised). */
export const invocationPageSize = 3;

const objectSchema = { type: 'object' } as const;

/** The tools of the default fake listing, by name. */
export const fakeTools: McpToolView[] = [
  { name: 'audit_down', description: 'Fails because audit is unavailable', inputSchema: objectSchema },
  { name: 'crash', description: 'Throws inside the backend', inputSchema: objectSchema },
  { name: 'denied', description: 'Always denied by policy', inputSchema: objectSchema },
  {
    name: 'echo',
    title: 'Echo',
    description: 'Returns its arguments',
    inputSchema: { type: 'object', properties: { message: { type: 'string' } } },
    annotations: { readOnlyHint: true },
  },
  { name: 'flaky', description: 'Its upstream answers 503', inputSchema: objectSchema },
  { name: 'greet', description: 'Returns a plain string', inputSchema: objectSchema },
  { name: 'limited', description: 'Always rate limited', inputSchema: objectSchema },
  { name: 'needs_approval', description: 'Waits for a human', inputSchema: objectSchema },
  {
    name: 'needs_approval_typed',
    description: 'Waits for a human; declares an output schema',
    inputSchema: objectSchema,
    outputSchema: { type: 'object', properties: { done: { type: 'boolean' } }, required: ['done'] },
  },
  {
    name: 'regional',
    description: 'Mirrors its region into a header',
    inputSchema: {
      type: 'object',
      properties: {
        region: { type: 'string', 'x-mcp-header': 'Region' },
        shard: { type: 'integer', 'x-mcp-header': 'Shard' },
        query: { type: 'string' },
      },
      required: ['region'],
    },
  },
  { name: 'slow', description: 'Its upstream times out', inputSchema: objectSchema },
  {
    name: 'strict_input',
    description: 'Needs a positive amount',
    inputSchema: { type: 'object', properties: { amount: { type: 'number', minimum: 1 } }, required: ['amount'] },
  },
  {
    name: 'weather',
    description: 'Returns structured weather',
    inputSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    outputSchema: {
      type: 'object',
      properties: { city: { type: 'string' }, temperature: { type: 'number' } },
      required: ['city', 'temperature'],
    },
  },
];

/** `count` simple tools named `tool_000`, `tool_001`, …, in name order. */
export function manyTools(count: number): McpToolView[] {
  return Array.from({ length: count }, (_, index) => ({
    name: `tool_${String(index).padStart(3, '0')}`,
    description: `Tool number ${index}`,
    inputSchema: { type: 'object', properties: {} },
  }));
}

/** A call the fake backend received. */
export interface ReceivedCall {
  agent: AgentPrincipal;
  name: string;
  arguments: unknown;
}

/** A fake {@link McpBackend} with the behaviours the MCP door must map. */
export interface FakeBackend extends McpBackend {
  readonly calls: ReceivedCall[];
  /** The invocation records of recorded calls, by id (tests may edit them). */
  readonly records: Map<string, InvocationRecord>;
  /** How long each `waitForOutcome` was allowed to wait, in call order. */
  readonly waits: number[];
  /** Replaces the listing (a new array object, as a changed listing would be). */
  setTools(tools: McpToolView[]): void;
  /** Decides a call waiting for approval, as an approver would: approving runs it. */
  decide(invocationId: string, decision: 'approve' | 'deny'): void;
  /** Ends every `waitForOutcome` still waiting without an outcome, as its time limit would. */
  endWaits(): void;
}

const errorStatus: Partial<Record<string, InvocationStatus>> = {
  POLICY_DENIED: 'denied',
  INVALID_INPUT: 'invalid',
  TOOL_NOT_FOUND: 'invalid',
  UPSTREAM_TIMEOUT: 'timeout',
  APPROVAL_EXPIRED: 'expired',
  CANCELLED: 'cancelled',
};

/** The outcome a record stands for once it is final (what the gateway's store gives back). */
function outcomeOfRecord(record: InvocationRecord): CallOutcome | undefined {
  switch (record.status) {
    case 'pending_approval':
    case 'running':
    case 'outcome_unknown':
      return undefined;
    default:
      return endedOutcomeOfRecord(record, Date.now());
  }
}

/** Creates the fake backend. */
export function createFakeBackend(tools: McpToolView[] = fakeTools): FakeBackend {
  let listing: readonly McpToolView[] = Object.freeze([...tools]);
  const calls: ReceivedCall[] = [];
  const records = new Map<string, InvocationRecord>();
  const waits: number[] = [];
  const waiters = new Set<() => void>();
  let invocations = 0;
  let clock = 0;
  const tick = () => new Date(Date.UTC(2030, 0, 1, 0, 0, clock++)).toISOString();

  function ownRecord(agent: AgentPrincipal, invocationId: string): InvocationRecord | undefined {
    const found = records.get(invocationId);
    return found?.agentId === agent.id ? found : undefined;
  }

  function update(current: InvocationRecord, patch: Partial<InvocationRecord>): void {
    records.set(current.id, { ...current, ...patch, updatedAt: tick() });
    for (const wake of [...waiters]) wake();
  }

  function record(agent: AgentPrincipal, name: string, args: unknown, outcome: CallOutcome): void {
    // Audit unavailable (fail-closed): nothing could be written.
    if (outcome.invocationId === undefined || name === 'audit_down') return;
    const at = tick();
    const status: InvocationStatus =
      outcome.status === 'succeeded'
        ? 'succeeded'
        : outcome.status === 'pending_approval' || outcome.status === 'running'
          ? outcome.status
          : (errorStatus[outcome.error.code] ?? 'failed');
    records.set(outcome.invocationId, {
      id: outcome.invocationId,
      agentId: agent.id,
      tool: name,
      toolVersion: '1',
      inputDigest: 'digest',
      input: args,
      decision: outcome.status === 'pending_approval' ? 'require_approval' : 'allow',
      ruleIds: [],
      approvalId: outcome.status === 'pending_approval' ? outcome.approval.id : null,
      status,
      door: 'mcp',
      upstreamStatus: null,
      latencyMs: null,
      output: outcome.status === 'succeeded' ? outcome.output : null,
      error:
        outcome.status === 'error'
          ? {
              code: outcome.error.code,
              message: outcome.error.message,
              ...(outcome.error.details === undefined ? {} : { details: outcome.error.details }),
            }
          : null,
      idempotencyKey: null,
      createdAt: at,
      updatedAt: at,
    });
  }

  function outcomeFor(name: string, args: unknown): CallOutcome {
    const invocationId = `inv_${++invocations}`;
    const fail = (error: GatewayError): CallOutcome => ({ status: 'error', invocationId, error });
    if (!listing.some((tool) => tool.name === name)) {
      return { status: 'error', error: new GatewayError({ code: 'TOOL_NOT_FOUND', message: 'Unknown tool' }) };
    }
    switch (name) {
      case 'audit_down':
        return fail(new GatewayError({ code: 'AUDIT_UNAVAILABLE', message: 'Audit log unavailable; nothing was executed' }));
      case 'crash':
        throw new Error('backend exploded with a secret: hunter2');
      case 'denied':
        return fail(
          new GatewayError({ code: 'POLICY_DENIED', message: 'Denied by policy', details: { rule: ['deny-refunds', 'deny-weekends'] } }),
        );
      case 'flaky':
        return fail(new GatewayError({ code: 'UPSTREAM_ERROR', message: 'Upstream answered 503', details: { upstreamStatus: 503 } }));
      case 'greet':
        return { status: 'succeeded', invocationId, output: 'Hello, agent' };
      case 'limited':
        return fail(new GatewayError({ code: 'RATE_LIMITED', message: 'Too many calls', headers: { 'retry-after': '12' } }));
      case 'needs_approval':
      case 'needs_approval_typed':
        return { status: 'pending_approval', invocationId, approval: { id: 'apr_42', expiresAt: '2030-01-01T00:00:00.000Z' } };
      case 'slow':
        return fail(new GatewayError({ code: 'UPSTREAM_TIMEOUT', message: 'Upstream did not answer within 30000 ms' }));
      case 'strict_input': {
        const amount = (args as { amount?: unknown }).amount;
        if (typeof amount === 'number' && amount >= 1) return { status: 'succeeded', invocationId, output: { ok: true } };
        return fail(
          new GatewayError({
            code: 'INVALID_INPUT',
            message: 'Input does not match the tool schema',
            details: [
              { path: '/amount', message: 'must be number' },
              { path: '', message: "must have required property 'amount'" },
            ],
          }),
        );
      }
      case 'weather':
        return { status: 'succeeded', invocationId, output: { city: (args as { city?: string }).city ?? '?', temperature: 21.5 } };
      default:
        return { status: 'succeeded', invocationId, output: args };
    }
  }

  return {
    calls,
    records,
    waits,
    setTools(next) {
      listing = Object.freeze([...next]);
    },
    decide(invocationId, decision) {
      const current = records.get(invocationId);
      if (current?.status !== 'pending_approval') throw new Error(`${invocationId} is not waiting for approval`);
      if (decision === 'approve') {
        update(current, { status: 'succeeded', output: current.tool === 'needs_approval_typed' ? { done: true } : { approved: true } });
      } else {
        update(current, {
          status: 'denied',
          error: { code: 'APPROVAL_DENIED', message: 'Denied by an approver', details: { approvalId: current.approvalId, rule: [] } },
        });
      }
    },
    endWaits() {
      for (const wake of [...waiters]) wake();
    },
    async authenticate(request) {
      const authorization = request.headers.get('authorization');
      if (authorization === `Bearer ${goodKey}`) return testAgent;
      if (authorization === `Bearer ${otherKey}`) return otherAgent;
      throw unauthenticated();
    },
    async listTools() {
      return listing;
    },
    async callTool(agent, call) {
      calls.push({ agent, name: call.name, arguments: call.arguments });
      const outcome = outcomeFor(call.name, call.arguments);
      record(agent, call.name, call.arguments, outcome);
      return outcome;
    },
    async getInvocation(agent, invocationId) {
      const found = ownRecord(agent, invocationId);
      return found === undefined ? undefined : { ...found };
    },
    async listInvocations(agent, cursor) {
      const own = [...records.values()].filter((entry) => entry.agentId === agent.id).reverse();
      let start = 0;
      if (cursor !== undefined) {
        const match = /^page:(\d+)$/.exec(cursor);
        if (match === null) throw new GatewayError({ code: 'BAD_REQUEST', message: 'Invalid cursor' });
        start = Number(match[1]);
      }
      const items = own.slice(start, start + invocationPageSize);
      const next = start + invocationPageSize;
      return next < own.length ? { items, nextCursor: `page:${next}` } : { items };
    },
    async waitForOutcome(agent, invocationId, ms, abort) {
      waits.push(ms);
      const first = ownRecord(agent, invocationId);
      if (first === undefined) return undefined;
      if (first.status !== 'pending_approval' && first.status !== 'running') return outcomeOfRecord(first);
      if (ms <= 0) return undefined;
      // Woken by a decision, by endWaits or by the abort: no clock involved.
      await new Promise<void>((resolve) => {
        const wake = () => {
          waiters.delete(wake);
          stopListening();
          resolve();
        };
        waiters.add(wake);
        const stopListening = abort.onAbort(wake);
      });
      const latest = ownRecord(agent, invocationId);
      return latest === undefined ? undefined : outcomeOfRecord(latest);
    },
    async cancelInvocation(agent, invocationId) {
      const current = ownRecord(agent, invocationId);
      if (current === undefined || current.approvalId === null) {
        throw new GatewayError({ code: 'NOT_FOUND', message: 'No such call waiting for approval' });
      }
      if (current.status !== 'pending_approval') {
        throw new GatewayError({ code: 'APPROVAL_ALREADY_DECIDED', message: 'This approval was already decided' });
      }
      const error = { code: 'CANCELLED', message: 'The agent cancelled this call before it was decided' };
      update(current, { status: 'cancelled', error });
      return { status: 'error', invocationId, error: new GatewayError({ code: 'CANCELLED', message: error.message }) };
    },
  };
}

/** Options for handlers under test. */
export const testOptions: McpOptions = {
  cursorSecret: new Uint8Array(32).fill(7),
  serverInfo: { name: 'test-gateway', version: '9.9.9' },
  instructions: 'Use the tools carefully.',
};

/** A handler over a fresh fake backend. */
export function createTestHandler(tools?: McpToolView[], options: Partial<McpOptions> = {}) {
  const backend = createFakeBackend(tools);
  const handler = createMcpHandler(backend, { ...testOptions, ...options });
  return { backend, handler };
}

/** The `_meta` a modern request carries. */
export function modernMeta(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientInfo': { name: 'unit-test', version: '1.0.0' },
    'io.modelcontextprotocol/clientCapabilities': {},
    ...overrides,
  };
}

/** Builds a POST to the MCP endpoint with the good key and JSON headers. */
export function mcpPost(body: unknown, headers: Record<string, string> = {}): Request {
  return new Request('http://127.0.0.1:3000/mcp', {
    method: 'POST',
    headers: {
      authorization: `Bearer ${goodKey}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Builds a modern (2026-07-28) request with matching standard headers. */
export function modernPost(
  method: string,
  params: Record<string, unknown> = {},
  extraHeaders: Record<string, string> = {},
  id: string | number = 1,
): Request {
  const headers: Record<string, string> = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': method };
  if (method === 'tools/call' && typeof params.name === 'string') headers['mcp-name'] = params.name;
  return mcpPost({ jsonrpc: '2.0', id, method, params: { ...params, _meta: modernMeta() } }, { ...headers, ...extraHeaders });
}

/** Sends a request and reads status, headers and JSON body (undefined when empty). */
export async function send(handler: { handle(request: Request, abort: CallAbort): Promise<Reply> }, request: Request) {
  const response = await handler.handle(request, NEVER_ABORTED);
  const text = await response.text();
  const body: any = text === '' ? undefined : JSON.parse(text);
  return { status: response.status, headers: response.headers, body, text };
}
