/**
 * MCP tasks against the real gateway behind the real node:http bridge.
 *
 * 2025-11-25 tasks are driven by the official v1 client (`@modelcontextprotocol/sdk`,
 * `client.experimental.tasks`): a task-augmented call waits for a human, an approver decides
 * through the admin API, and the task completes with the tool's result, executed once.
 *
 * The 2026-07-28 tasks extension is driven with raw JSON-RPC over fetch: the official v2
 * client (`@modelcontextprotocol/client` 2.4) rejects a `resultType: "task"` answer as an
 * unsupported result type and has no API for the extension's task methods.
 */
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeHandler } from '../../adapters/node.js';
import { outage } from '../../src/errors.js';
import { type Gateway, GatewayError, createGateway, defineTool } from '../../src/index.js';
import { adminTokens, refund } from '../fixtures.js';
import { breakableStore, jsonRequest, listen, mcp2026Headers, mcpHeaders, servedGateway } from '../helpers.js';

let gateway: Gateway;
let url: URL;
let apiKey: string;
let otherKey: string;
let close: () => Promise<void>;
const refundRuns: string[] = [];

const countedRefund = defineTool({
  ...refund,
  handler: ({ orderId, amount }: { orderId: string; amount: number }) => {
    refundRuns.push(orderId);
    return { orderId, refunded: amount };
  },
});

beforeAll(async () => {
  gateway = createGateway({
    tools: [countedRefund],
    policy: [
      { id: 'refunds-small', effect: 'allow', tools: ['refunds.*'], when: [{ path: 'amount', op: 'lte', value: 100 }] },
      { id: 'refunds-big', effect: 'require_approval', tools: ['refunds.*'], when: [{ path: 'amount', op: 'gt', value: 100 }] },
    ],
    admin: { tokens: [{ token: adminTokens.approver, id: 'bob', roles: ['approver'] }] },
  });
  apiKey = (await gateway.admin.createAgent({ name: 'tasks-agent' })).apiKey;
  otherKey = (await gateway.admin.createAgent({ name: 'other-agent' })).apiKey;
  const server = await listen(createNodeHandler(gateway));
  url = new URL(`${server.url}/mcp`);
  close = async () => {
    await server.close();
    await gateway.close();
  };
});

afterAll(async () => {
  await close();
});

async function connectV1(key = apiKey): Promise<ClientV1> {
  const client = new ClientV1({ name: 'tasks-e2e', version: '1.0.0' });
  await client.connect(new TransportV1(url, { requestInit: { headers: { Authorization: `Bearer ${key}` } } }));
  // The client sends params.task only for tools it has seen listed as task-capable.
  await client.listTools();
  return client;
}

/** The pending approval of an invocation, as an approver sees it through the admin API. */
async function approvalOf(invocationId: string): Promise<string> {
  const response = await gateway.fetch(jsonRequest('/admin/approvals?status=pending', { key: adminTokens.approver }));
  const { items } = (await response.json()) as { items: Array<{ id: string; invocationId: string }> };
  const approval = items.find((item) => item.invocationId === invocationId);
  if (approval === undefined) throw new Error(`no pending approval for ${invocationId}`);
  return approval.id;
}

async function decide(approvalId: string, decision: 'approve' | 'deny'): Promise<number> {
  const response = await gateway.fetch(jsonRequest(`/admin/approvals/${approvalId}/${decision}`, { key: adminTokens.approver, body: {} }));
  await response.body?.cancel();
  return response.status;
}

describe('MCP tasks, 2025-11-25, official v1 client', () => {
  it('advertises tasks and marks the tool as task-capable', async () => {
    const client = await connectV1();
    expect(client.getServerCapabilities()?.tasks).toEqual({ list: {}, cancel: {}, requests: { tools: { call: {} } } });
    const { tools } = await client.listTools();
    expect(tools.find((tool) => tool.name === 'refunds.create')?.execution).toEqual({ taskSupport: 'optional' });
    await client.close();
  });

  it('pending → approved via the admin API → completed with the result, executed once; visible to its agent only', async () => {
    const client = await connectV1();
    const before = refundRuns.length;
    const messages: Array<{ type: string; status?: string }> = [];
    let taskId: string | undefined;
    let result: any;
    for await (const message of client.experimental.tasks.callToolStream({
      name: 'refunds.create',
      arguments: { orderId: 'T-700', amount: 700 },
    })) {
      messages.push({ type: message.type, ...('task' in message ? { status: message.task.status } : {}) });
      if (message.type === 'taskCreated') {
        taskId = message.task.taskId;
        expect(message.task.statusMessage).toMatch(/^Approval required/);
        expect(message.task.ttl).toBeNull();
        expect(refundRuns.length).toBe(before);
        const waiting = await client.experimental.tasks.getTask(taskId);
        expect(waiting.status).toBe('working');
        expect(await decide(await approvalOf(taskId), 'approve')).toBe(200);
      }
      if (message.type === 'result') result = message.result;
      if (message.type === 'error') throw message.error;
    }
    expect(messages).toEqual([{ type: 'taskCreated', status: 'working' }, { type: 'taskStatus', status: 'completed' }, { type: 'result' }]);
    expect(JSON.parse(result.content[0].text)).toEqual({ orderId: 'T-700', refunded: 700 });
    if (taskId === undefined) throw new Error('no task was created');

    const task = await client.experimental.tasks.getTask(taskId);
    expect(task).toMatchObject({ taskId, status: 'completed' });
    const again = await client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
    expect(again.content).toEqual(result.content);
    expect(again._meta?.['io.modelcontextprotocol/related-task']).toEqual({ taskId });
    expect(refundRuns.slice(before)).toEqual(['T-700']);

    const listed = await client.experimental.tasks.listTasks();
    expect(listed.tasks.find((entry) => entry.taskId === taskId)).toMatchObject({ status: 'completed' });

    const other = await connectV1(otherKey);
    await expect(other.experimental.tasks.getTask(taskId)).rejects.toMatchObject({ code: -32602 });
    await expect(other.experimental.tasks.getTaskResult(taskId, CallToolResultSchema)).rejects.toMatchObject({ code: -32602 });
    await expect(other.experimental.tasks.cancelTask(taskId)).rejects.toMatchObject({ code: -32602 });
    expect((await other.experimental.tasks.listTasks()).tasks.some((entry) => entry.taskId === taskId)).toBe(false);
    await other.close();
    await client.close();
  });

  it('tasks/result answers with the outcome once an approver has decided', async () => {
    const client = await connectV1();
    const stream = client.experimental.tasks.callToolStream({ name: 'refunds.create', arguments: { orderId: 'T-800', amount: 800 } });
    const first = await stream.next();
    await stream.return(undefined);
    if (first.done || first.value.type !== 'taskCreated') throw new Error('no task was created');
    const taskId = first.value.task.taskId;
    const waiting = client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
    expect(await decide(await approvalOf(taskId), 'deny')).toBe(200);
    const denied = await waiting;
    expect(denied.isError).toBe(true);
    expect((denied.content[0] as { text: string }).text).toMatch(/^APPROVAL_DENIED: Denied by an approver/);
    expect((await client.experimental.tasks.getTask(taskId)).status).toBe('failed');
    expect(refundRuns).not.toContain('T-800');
    await client.close();
  });

  it('cancels a task waiting for approval: it never runs and can no longer be approved', async () => {
    const client = await connectV1();
    const stream = client.experimental.tasks.callToolStream({ name: 'refunds.create', arguments: { orderId: 'T-900', amount: 900 } });
    const first = await stream.next();
    await stream.return(undefined);
    if (first.done || first.value.type !== 'taskCreated') throw new Error('no task was created');
    const taskId = first.value.task.taskId;
    const approvalId = await approvalOf(taskId);
    const cancelled = await client.experimental.tasks.cancelTask(taskId);
    expect(cancelled).toMatchObject({ taskId, status: 'cancelled' });
    expect(await decide(approvalId, 'approve')).toBe(409);
    expect((await client.experimental.tasks.getTask(taskId)).status).toBe('cancelled');
    await expect(client.experimental.tasks.cancelTask(taskId)).rejects.toMatchObject({ code: -32602 });
    expect(refundRuns).not.toContain('T-900');
    await client.close();
  });

  it('gives a task that is already complete for a call that needed no approval', async () => {
    const client = await connectV1();
    const types: string[] = [];
    let result: any;
    for await (const message of client.experimental.tasks.callToolStream({
      name: 'refunds.create',
      arguments: { orderId: 'T-5', amount: 5 },
    })) {
      types.push(message.type === 'taskCreated' || message.type === 'taskStatus' ? `${message.type}:${message.task.status}` : message.type);
      if (message.type === 'result') result = message.result;
    }
    expect(types).toEqual(['taskCreated:completed', 'taskStatus:completed', 'result']);
    expect(JSON.parse(result.content[0].text)).toEqual({ orderId: 'T-5', refunded: 5 });
    await client.close();
  });
});

describe('MCP tasks extension, 2026-07-28, raw JSON-RPC', () => {
  let requestId = 0;
  const tasksCapability = { extensions: { 'io.modelcontextprotocol/tasks': {} } };

  async function rpc(method: string, params: Record<string, unknown>, key = apiKey): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': method,
    };
    const name = typeof params.taskId === 'string' ? params.taskId : params.name;
    if (typeof name === 'string') headers['mcp-name'] = name;
    const body = {
      jsonrpc: '2.0',
      id: ++requestId,
      method,
      params: {
        ...params,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientCapabilities': tasksCapability,
          'io.modelcontextprotocol/clientInfo': { name: 'raw-e2e', version: '1.0.0' },
        },
      },
    };
    const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
    return { status: response.status, body: await response.json() };
  }

  it('advertises the extension in server/discover', async () => {
    const { body } = await rpc('server/discover', {});
    expect(body.result.capabilities.extensions).toEqual({ 'io.modelcontextprotocol/tasks': {} });
    expect(body.result.capabilities).not.toHaveProperty('tasks');
  });

  it('pending → approved → tasks/get completed with the result inlined, executed once', async () => {
    const created = await rpc('tools/call', { name: 'refunds.create', arguments: { orderId: 'M-700', amount: 700 } });
    expect(created.body.result).toMatchObject({ resultType: 'task', status: 'working', ttlMs: null });
    const taskId = created.body.result.taskId as string;
    expect((await rpc('tasks/get', { taskId })).body.result).toMatchObject({ resultType: 'complete', status: 'working' });
    expect((await rpc('tasks/get', { taskId }, otherKey)).body.error.code).toBe(-32602);

    expect(await decide(await approvalOf(taskId), 'approve')).toBe(200);
    const done = await rpc('tasks/get', { taskId });
    expect(done.body.result).toMatchObject({ resultType: 'complete', status: 'completed' });
    expect(JSON.parse(done.body.result.result.content[0].text)).toEqual({ orderId: 'M-700', refunded: 700 });
    expect((await rpc('tasks/cancel', { taskId })).body.result).toMatchObject({ resultType: 'complete' });
    expect((await rpc('tasks/get', { taskId })).body.result.status).toBe('completed');
    expect(refundRuns.filter((orderId) => orderId === 'M-700')).toHaveLength(1);
  });

  it('cancels a task waiting for approval', async () => {
    const created = await rpc('tools/call', { name: 'refunds.create', arguments: { orderId: 'M-900', amount: 900 } });
    const taskId = created.body.result.taskId as string;
    const ack = await rpc('tasks/cancel', { taskId });
    expect(ack.body.result).not.toHaveProperty('status');
    expect((await rpc('tasks/get', { taskId })).body.result.status).toBe('cancelled');
    expect(refundRuns).not.toContain('M-900');
  });
});

describe('MCP tasks whose approval has expired', () => {
  it('read as expired as soon as the gateway clock passes the expiry, as REST does, before any sweep and without a write', async () => {
    let clock = Date.parse('2030-01-01T00:00:00Z');
    const served = await servedGateway({
      tools: [refund],
      policy: [{ id: 'refunds-big', effect: 'require_approval', tools: ['refunds.*'] }],
      approvalTtlMs: 60_000,
      now: () => clock,
    });
    const client = new ClientV1({ name: 'expiry-e2e', version: '1.0.0' });
    await client.connect(
      new TransportV1(new URL(served.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${served.apiKey}` } } }),
    );
    await client.listTools();
    const invocationUrl = (id: string) => served.mcpUrl.replace(/\/mcp$/, `/invocations/${id}`);
    const rest = async (id: string) =>
      (await (await fetch(invocationUrl(id), { headers: { authorization: `Bearer ${served.apiKey}` } })).json()) as any;
    const modernGet = async (taskId: string) => {
      const response = await fetch(served.mcpUrl, {
        method: 'POST',
        headers: mcp2026Headers(served.apiKey, 'tasks/get', taskId),
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tasks/get',
          params: {
            taskId,
            _meta: {
              'io.modelcontextprotocol/protocolVersion': '2026-07-28',
              'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } },
            },
          },
        }),
      });
      return ((await response.json()) as any).result;
    };
    try {
      const stream = client.experimental.tasks.callToolStream({ name: 'refunds.create', arguments: { orderId: 'E-1', amount: 500 } });
      const first = await stream.next();
      await stream.return(undefined);
      if (first.done || first.value.type !== 'taskCreated') throw new Error('no task was created');
      const taskId = first.value.task.taskId;
      const { approvalId } = await rest(taskId);

      clock += 59_999;
      expect(await client.experimental.tasks.getTask(taskId)).toMatchObject({ status: 'working' });
      expect((await rest(taskId)).status).toBe('pending_approval');

      clock += 1;
      const message = 'APPROVAL_EXPIRED: The approval expired before anyone decided';
      const expired = await client.experimental.tasks.getTask(taskId);
      expect(expired).toMatchObject({ taskId, status: 'failed', statusMessage: message, lastUpdatedAt: '2030-01-01T00:01:00.000Z' });
      expect(expired).not.toHaveProperty('pollInterval');
      const listed = (await client.experimental.tasks.listTasks()).tasks.find((task) => task.taskId === taskId);
      expect(listed).toMatchObject({ status: 'failed', statusMessage: message });
      const viewed = await rest(taskId);
      expect(viewed).toMatchObject({ status: 'expired', error: { code: 'APPROVAL_EXPIRED', details: { approvalId } } });
      const modern = await modernGet(taskId);
      expect(modern).toMatchObject({ status: 'completed', result: { isError: true } });
      expect(modern.result.content[0].text).toMatch(/^APPROVAL_EXPIRED: The approval expired before anyone decided/);
      const result = await client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
      expect(result.isError).toBe(true);
      expect((result.content[0] as { text: string }).text).toBe(modern.result.content[0].text);

      // Reading wrote nothing: the approval is still pending in the store until it is swept.
      expect((await served.gateway.admin.listAudit({ type: 'approval.expired' })).items).toEqual([]);
      expect(await served.gateway.admin.expireApprovals()).toBe(1);
      // And the sweep makes it what the reads said.
      expect(await client.experimental.tasks.getTask(taskId)).toMatchObject({ status: 'failed', statusMessage: message });
      expect(await rest(taskId)).toMatchObject({ status: 'expired', error: viewed.error });
      expect((await modernGet(taskId)).result).toEqual(modern.result);
    } finally {
      await client.close();
      await served.close();
    }
  });
});

describe('MCP tasks whose approved call a tool refused with Retry-After', () => {
  it('tasks/result says when to retry, counted down from the first answer', async () => {
    let clock = Date.parse('2030-01-01T00:00:00Z');
    const busy = defineTool({
      name: 'crm.busy',
      description: 'refuses',
      inputSchema: { type: 'object' } as const,
      handler: () => {
        throw new GatewayError({ code: 'RATE_LIMITED', message: 'The CRM is busy', headers: { 'Retry-After': '30' } });
      },
    });
    const served = await servedGateway({ tools: [busy], policy: [{ id: 'hold', effect: 'require_approval' }], now: () => clock });
    const client = new ClientV1({ name: 'retry-e2e', version: '1.0.0' });
    await client.connect(
      new TransportV1(new URL(served.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${served.apiKey}` } } }),
    );
    try {
      await client.listTools();
      const stream = client.experimental.tasks.callToolStream({ name: 'crm.busy', arguments: {} });
      const first = await stream.next();
      await stream.return(undefined);
      if (first.done || first.value.type !== 'taskCreated') throw new Error('no task was created');
      const taskId = first.value.task.taskId;
      const [approval] = (await served.gateway.admin.listApprovals({ status: 'pending' })).items;
      await served.gateway.admin.decide(approval?.id as string, { decision: 'approve' }, { id: 'bob', roles: ['approver'] });

      clock += 12_000;
      const result = await client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
      expect(result.isError).toBe(true);
      expect((result.content[0] as { text: string }).text).toBe('RATE_LIMITED: The CRM is busy\nRetry after 18 seconds.');
    } finally {
      await client.close();
      await served.close();
    }
  });
});

describe('MCP failures the gateway did not expect', () => {
  it('are told to onError, as on the other routes, while the client gets -32603 without details', async () => {
    const { store, setBroken } = breakableStore('getInvocation', 'connection to the database lost');
    const told: unknown[] = [];
    let policyBroken = false;
    const served = await servedGateway({
      store,
      tools: [refund],
      policy: {
        evaluate: () => ({ effect: 'allow', ruleIds: ['all'] }),
        canSee: () => {
          if (policyBroken) throw new Error('policy engine crashed');
          return true;
        },
      },
      onError: (error) => told.push(error),
    });
    const rpc = async (method: string, params: Record<string, unknown>, key = served.apiKey) => {
      const response = await fetch(served.mcpUrl, {
        method: 'POST',
        headers: mcpHeaders(key),
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      });
      return (await response.json()) as any;
    };
    try {
      const created = await rpc('tools/call', { name: 'refunds.create', arguments: { orderId: 'F-1', amount: 1 }, task: {} });
      const taskId = created.result.task.taskId as string;

      setBroken(true);
      for (const method of ['tasks/get', 'tasks/result', 'tasks/cancel']) {
        expect(await rpc(method, { taskId })).toMatchObject({ error: { code: -32603, message: 'Internal error' } });
      }
      setBroken(false);
      expect(told.map((error) => (error as Error).message)).toEqual(Array(3).fill('connection to the database lost'));

      // A listing is computed once per agent and policy generation: a new agent's is computed now.
      const { apiKey: newcomer } = await served.gateway.admin.createAgent({ name: 'newcomer' });
      told.length = 0;
      policyBroken = true;
      expect(await rpc('tools/list', {}, newcomer)).toMatchObject({ error: { code: -32603, message: 'Internal error' } });
      expect(told.map((error) => (error as Error).message)).toEqual(['policy engine crashed']);
    } finally {
      await served.close();
    }
  });

  it('answer task reads while the store is out of reach as tasks/cancel does: what failed, data.code and when to retry', async () => {
    const cause = new Error('connect ECONNREFUSED 10.0.0.5:5432 (postgres://atg:hunter2@db.internal/atg)');
    const { store, setBroken } = breakableStore(['getInvocation', 'listInvocations'], () =>
      outage('STORE_UNAVAILABLE', 'The store is unavailable', cause),
    );
    const told: unknown[] = [];
    const served = await servedGateway({
      store,
      tools: [refund],
      policy: [{ id: 'refunds', effect: 'allow', tools: ['refunds.*'] }],
      onError: (error) => told.push(error),
    });
    const post = async (headers: Record<string, string>, method: string, params: Record<string, unknown>) => {
      const response = await fetch(served.mcpUrl, {
        method: 'POST',
        headers,
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      });
      return { status: response.status, text: await response.text() };
    };
    const modernMeta = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } },
    };
    const client = new ClientV1({ name: 'outage-e2e', version: '1.0.0' });
    await client.connect(
      new TransportV1(new URL(served.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${served.apiKey}` } } }),
    );
    try {
      const created = await post(mcpHeaders(served.apiKey), 'tools/call', {
        name: 'refunds.create',
        arguments: { orderId: 'S-1', amount: 1 },
        task: {},
      });
      const taskId = JSON.parse(created.text).result.task.taskId as string;

      setBroken(true);
      const answers = [
        ...(await Promise.all(
          [
            ['tasks/get', { taskId }],
            ['tasks/result', { taskId }],
            ['tasks/list', {}],
            ['tasks/cancel', { taskId }],
          ].map(([method, params]) => post(mcpHeaders(served.apiKey), method as string, params as Record<string, unknown>)),
        )),
        await post(mcp2026Headers(served.apiKey, 'tasks/get', taskId), 'tasks/get', { taskId, _meta: modernMeta }),
        await post(mcp2026Headers(served.apiKey, 'tasks/update', taskId), 'tasks/update', {
          taskId,
          inputResponses: {},
          _meta: modernMeta,
        }),
      ];
      for (const { status, text } of answers) {
        expect(status).toBe(200);
        expect(JSON.parse(text)).toEqual({
          jsonrpc: '2.0',
          id: 1,
          error: {
            code: -32603,
            message: 'STORE_UNAVAILABLE: The store is unavailable Retry after 5 seconds.',
            data: { code: 'STORE_UNAVAILABLE' },
          },
        });
        for (const leak of ['ECONNREFUSED', 'hunter2', 'postgres://', '10.0.0.5', 'stack']) expect(text).not.toContain(leak);
      }
      // The official client hands the same error to its caller.
      for (const read of [
        () => client.experimental.tasks.getTask(taskId),
        () => client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema),
        () => client.experimental.tasks.listTasks(),
      ]) {
        await expect(read()).rejects.toMatchObject({ code: -32603, data: { code: 'STORE_UNAVAILABLE' } });
      }
      expect(told.length).toBeGreaterThan(0);
      for (const error of told) expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE', cause });

      setBroken(false);
      expect(await client.experimental.tasks.getTask(taskId)).toMatchObject({ taskId, status: 'completed' });
    } finally {
      await client.close();
      await served.close();
    }
  });
});
