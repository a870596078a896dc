/**
 * 2025-11-25 tasks over the fake backend: task-augmented tools/call, tasks/get,
 * tasks/result, tasks/list and tasks/cancel, each bound to the requesting agent.
 */
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { createMcpHandler, taskPollIntervalMs, taskResultMaxWaitMs } from '../../../src/protocol/mcp/index.js';
import { createFakeBackend, type FakeBackend, mcpPost, modernPost, otherKey, send, testOptions } from './fake-backend.js';

const relatedTask = 'io.modelcontextprotocol/related-task';

function setup() {
  const backend = createFakeBackend();
  const handler = createMcpHandler(backend, testOptions);
  let id = 0;
  const request = (method: string, params?: Record<string, unknown>, options: { key?: string; version?: string } = {}) =>
    send(
      handler,
      mcpPost(
        { jsonrpc: '2.0', id: ++id, method, ...(params === undefined ? {} : { params }) },
        {
          'mcp-protocol-version': options.version ?? '2025-11-25',
          ...(options.key === undefined ? {} : { authorization: `Bearer ${options.key}` }),
        },
      ),
    );
  const callAsTask = (name: string, args: Record<string, unknown> = {}, options: { key?: string } = {}) =>
    request('tools/call', { name, arguments: args, task: { ttl: 60_000 } }, options);
  return { backend, handler, request, callAsTask };
}

/** Resolves once the handler has started waiting for the outcome of a task. */
function waitEntered(backend: FakeBackend): Promise<void> {
  return new Promise((resolve) => {
    const original = backend.waitForOutcome;
    backend.waitForOutcome = (agent, invocationId, ms, signal) => {
      const waiting = original(agent, invocationId, ms, signal);
      resolve();
      return waiting;
    };
  });
}

describe('MCP tasks (2025-11-25): advertising', () => {
  it('marks every tool as optionally task-capable in 2025-11-25 listings only', async () => {
    const { request, handler } = setup();
    const current = await request('tools/list');
    expect(current.body.result.tools.length).toBeGreaterThan(0);
    for (const tool of current.body.result.tools) expect(tool.execution).toEqual({ taskSupport: 'optional' });
    const older = await request('tools/list', undefined, { version: '2025-06-18' });
    for (const tool of older.body.result.tools) expect(tool).not.toHaveProperty('execution');
    const modern = await send(handler, modernPost('tools/list'));
    for (const tool of modern.body.result.tools) expect(tool).not.toHaveProperty('execution');
  });
});

describe('MCP tasks (2025-11-25): task-augmented tools/call', () => {
  it('answers a call waiting for approval with a working task and nothing else', async () => {
    const { callAsTask, backend } = setup();
    const { status, body } = await callAsTask('needs_approval', { orderId: 'O-1' });
    expect(status).toBe(200);
    expect(Object.keys(body.result).sort()).toEqual(['_meta', 'task']);
    const { task, _meta: meta } = body.result;
    expect(task).toEqual({
      taskId: 'inv_1',
      status: 'working',
      statusMessage: expect.stringContaining('Approval id: apr_42. It expires at 2030-01-01T00:00:00.000Z.'),
      createdAt: backend.records.get('inv_1')?.createdAt,
      lastUpdatedAt: backend.records.get('inv_1')?.updatedAt,
      ttl: null,
      pollInterval: taskPollIntervalMs,
    });
    expect(meta[relatedTask]).toEqual({ taskId: 'inv_1' });
    expect(meta['io.modelcontextprotocol/model-immediate-response']).toMatch(/^Approval required/);
    expect(meta['io.agent-tool-gateway/approval']).toEqual({
      approvalId: 'apr_42',
      expiresAt: '2030-01-01T00:00:00.000Z',
      invocationId: 'inv_1',
    });
  });

  it('answers a call that finished at once with a terminal task whose result tasks/result gives', async () => {
    const { callAsTask, request } = setup();
    const created = await callAsTask('greet');
    expect(created.body.result.task).toMatchObject({ taskId: 'inv_1', status: 'completed', ttl: null });
    expect(created.body.result.task).not.toHaveProperty('pollInterval');
    expect(created.body.result._meta).not.toHaveProperty('io.modelcontextprotocol/model-immediate-response');
    const result = await request('tasks/result', { taskId: 'inv_1' });
    expect(result.body.result.content).toEqual([{ type: 'text', text: 'Hello, agent' }]);
    expect(result.body.result._meta).toEqual({ 'io.agent-tool-gateway/invocationId': 'inv_1', [relatedTask]: { taskId: 'inv_1' } });
  });

  it('reports a tool error as a failed task whose result is the isError tool result', async () => {
    const { callAsTask, request } = setup();
    const created = await callAsTask('denied');
    expect(created.body.result.task).toMatchObject({ status: 'failed', statusMessage: 'POLICY_DENIED: Denied by policy' });
    const result = await request('tasks/result', { taskId: created.body.result.task.taskId });
    expect(result.body.result.isError).toBe(true);
    expect(result.body.result.content[0].text).toMatch(/^POLICY_DENIED: Denied by policy\nRules: deny-refunds, deny-weekends/);
  });

  it('keeps structured content in the task result of a tool with an output schema', async () => {
    const { callAsTask, request } = setup();
    const created = await callAsTask('weather', { city: 'Oslo' });
    const result = await request('tasks/result', { taskId: created.body.result.task.taskId });
    expect(result.body.result.structuredContent).toEqual({ city: 'Oslo', temperature: 21.5 });
  });

  it('answers an unknown tool with -32602 and creates no task', async () => {
    const { callAsTask, backend } = setup();
    const { body } = await callAsTask('no_such_tool');
    expect(body.error).toEqual({ code: -32602, message: 'Unknown tool: no_such_tool' });
    expect(backend.records.size).toBe(0);
  });

  it('creates no task for a call that could not be recorded', async () => {
    const { callAsTask } = setup();
    const { body } = await callAsTask('audit_down');
    expect(body.error.code).toBe(-32603);
    expect(body.error.message).toMatch(/no task was created \(AUDIT_UNAVAILABLE: /);
  });

  it('refuses a malformed task field before running anything', async () => {
    const { request, backend } = setup();
    for (const task of ['soon', null, [], { ttl: -1 }, { ttl: 'long' }]) {
      const { body } = await request('tools/call', { name: 'greet', arguments: {}, task });
      expect(body.error.code).toBe(-32602);
      expect(body.error.message).toMatch(/^Invalid params: task/);
    }
    expect(backend.calls).toHaveLength(0);
  });

  it('ignores the task field in revisions without tasks, and has no task methods there', async () => {
    const { request } = setup();
    const call = await request('tools/call', { name: 'greet', arguments: {}, task: {} }, { version: '2025-06-18' });
    expect(call.body.result.content).toEqual([{ type: 'text', text: 'Hello, agent' }]);
    expect(call.body.result).not.toHaveProperty('task');
    for (const method of ['tasks/get', 'tasks/result', 'tasks/list', 'tasks/cancel']) {
      const { status, body } = await request(method, { taskId: 'inv_1' }, { version: '2025-06-18' });
      expect(status).toBe(200);
      expect(body.error.code).toBe(-32601);
    }
    expect((await request('tasks/update', { taskId: 'inv_1', inputResponses: {} })).body.error.code).toBe(-32601);
  });
});

describe('MCP tasks (2025-11-25): tasks/get and tasks/result', () => {
  it('follows a task from waiting for approval to completed', async () => {
    const { callAsTask, request, backend } = setup();
    await callAsTask('needs_approval');
    const waiting = await request('tasks/get', { taskId: 'inv_1' });
    expect(waiting.body.result).toMatchObject({
      taskId: 'inv_1',
      status: 'working',
      statusMessage: 'Waiting for a human approver to decide approval apr_42; the tool has not run yet.',
      ttl: null,
      pollInterval: taskPollIntervalMs,
    });
    expect(waiting.body.result).not.toHaveProperty('_meta');

    backend.decide('inv_1', 'approve');
    const done = await request('tasks/get', { taskId: 'inv_1' });
    expect(done.body.result).toMatchObject({ status: 'completed', createdAt: waiting.body.result.createdAt });
    expect(done.body.result.lastUpdatedAt > waiting.body.result.lastUpdatedAt).toBe(true);
    expect(done.body.result).not.toHaveProperty('pollInterval');
    const result = await request('tasks/result', { taskId: 'inv_1' });
    expect(result.body.result.content).toEqual([{ type: 'text', text: '{"approved":true}' }]);
    expect(result.body.result._meta[relatedTask]).toEqual({ taskId: 'inv_1' });
  });

  it('holds tasks/result until the approver decides', async () => {
    const { callAsTask, request, backend } = setup();
    await callAsTask('needs_approval');
    const entered = waitEntered(backend);
    const pending = request('tasks/result', { taskId: 'inv_1' });
    await entered;
    expect(backend.waits).toEqual([taskResultMaxWaitMs]);
    backend.decide('inv_1', 'deny');
    const { body } = await pending;
    expect(body.result.isError).toBe(true);
    expect(body.result.content[0].text).toMatch(/^APPROVAL_DENIED: Denied by an approver/);
    expect((await request('tasks/get', { taskId: 'inv_1' })).body.result.status).toBe('failed');
  });

  it('answers a tasks/result that waited as long as it may with -32001, not with a result', async () => {
    const { callAsTask, request, backend } = setup();
    await callAsTask('needs_approval');
    const entered = waitEntered(backend);
    const pending = request('tasks/result', { taskId: 'inv_1' });
    await entered;
    backend.endWaits();
    const { status, body } = await pending;
    expect(status).toBe(200);
    expect(body.error).toMatchObject({ code: -32001, data: { taskId: 'inv_1', status: 'working' } });
  });

  it('answers a task whose outcome was lost as failed, with an internal-error tool result', async () => {
    const { callAsTask, request, backend } = setup();
    await callAsTask('needs_approval');
    const record = backend.records.get('inv_1');
    if (record === undefined) throw new Error('no record');
    backend.records.set('inv_1', { ...record, status: 'outcome_unknown' });
    const task = await request('tasks/get', { taskId: 'inv_1' });
    expect(task.body.result).toMatchObject({ status: 'failed', statusMessage: expect.stringMatching(/outcome of this call is unknown/) });
    const result = await request('tasks/result', { taskId: 'inv_1' });
    expect(result.body.result.isError).toBe(true);
    expect(result.body.result.content[0].text).toMatch(/^INTERNAL: The outcome of this call is unknown/);
  });

  it('refuses unknown, malformed and other agents’ task ids with -32602', async () => {
    const { callAsTask, request } = setup();
    await callAsTask('needs_approval');
    for (const method of ['tasks/get', 'tasks/result', 'tasks/cancel']) {
      const unknown = await request(method, { taskId: 'inv_999' });
      expect(unknown.body.error).toEqual({ code: -32602, message: 'Failed to retrieve task: Task not found' });
      const foreign = await request(method, { taskId: 'inv_1' }, { key: otherKey });
      expect(foreign.body.error).toEqual({ code: -32602, message: 'Failed to retrieve task: Task not found' });
      for (const params of [undefined, {}, { taskId: 7 }, { taskId: '' }]) {
        expect((await request(method, params)).body.error.code).toBe(-32602);
      }
    }
    expect((await request('tasks/get', { taskId: 'inv_1' })).body.result.status).toBe('working');
  });

  it('answers a failing backend with -32603 and no details', async () => {
    const { callAsTask, request, backend } = setup();
    await callAsTask('needs_approval');
    backend.getInvocation = async () => {
      throw new Error('store offline at 10.0.0.5');
    };
    const { body, text } = await request('tasks/get', { taskId: 'inv_1' });
    expect(body.error).toEqual({ code: -32603, message: 'Internal error' });
    expect(text).not.toContain('10.0.0.5');
  });
});

describe('MCP tasks (2025-11-25): tasks/list', () => {
  it('lists the agent’s own tasks, newest first, a page at a time', async () => {
    const { callAsTask, request } = setup();
    await callAsTask('needs_approval');
    await callAsTask('greet');
    await callAsTask('denied');
    await callAsTask('greet', {}, { key: otherKey });
    await callAsTask('weather', { city: 'Rome' });
    const first = await request('tasks/list');
    expect(first.body.result.tasks.map((task: { taskId: string }) => task.taskId)).toEqual(['inv_5', 'inv_3', 'inv_2']);
    expect(first.body.result.tasks.map((task: { status: string }) => task.status)).toEqual(['completed', 'failed', 'completed']);
    const second = await request('tasks/list', { cursor: first.body.result.nextCursor });
    expect(second.body.result).toEqual({
      tasks: [expect.objectContaining({ taskId: 'inv_1', status: 'working', ttl: null, pollInterval: taskPollIntervalMs })],
    });
    const other = await request('tasks/list', {}, { key: otherKey });
    expect(other.body.result.tasks.map((task: { taskId: string }) => task.taskId)).toEqual(['inv_4']);
  });

  it('refuses a bad cursor with -32602', async () => {
    const { request } = setup();
    expect((await request('tasks/list', { cursor: 'forged' })).body.error).toEqual({
      code: -32602,
      message: 'Invalid params: invalid or expired cursor',
    });
    expect((await request('tasks/list', { cursor: 3 })).body.error.code).toBe(-32602);
  });

  it('answers a failing listing with -32603', async () => {
    const { request, backend } = setup();
    backend.listInvocations = async () => {
      throw new Error('store offline');
    };
    expect((await request('tasks/list')).body.error).toEqual({ code: -32603, message: 'Internal error' });
  });
});

describe('MCP tasks (2025-11-25): tasks/cancel', () => {
  it('cancels a call waiting for approval: it becomes cancelled and never runs', async () => {
    const { callAsTask, request, backend } = setup();
    await callAsTask('needs_approval');
    const { body } = await request('tasks/cancel', { taskId: 'inv_1' });
    expect(body.result).toMatchObject({
      taskId: 'inv_1',
      status: 'cancelled',
      statusMessage: 'CANCELLED: The agent cancelled this call before it was decided',
      ttl: null,
    });
    expect(backend.records.get('inv_1')?.status).toBe('cancelled');
    expect(() => backend.decide('inv_1', 'approve')).toThrow(/not waiting/);
    expect((await request('tasks/get', { taskId: 'inv_1' })).body.result.status).toBe('cancelled');
    const result = await request('tasks/result', { taskId: 'inv_1' });
    expect(result.body.result.isError).toBe(true);
    expect(result.body.result.content[0].text).toMatch(/^CANCELLED:/);
  });

  it('refuses to cancel a task in a terminal status', async () => {
    const { callAsTask, request } = setup();
    await callAsTask('needs_approval');
    await request('tasks/cancel', { taskId: 'inv_1' });
    expect((await request('tasks/cancel', { taskId: 'inv_1' })).body.error).toEqual({
      code: -32602,
      message: "Cannot cancel task: already in terminal status 'cancelled'",
    });
    await callAsTask('greet');
    expect((await request('tasks/cancel', { taskId: 'inv_2' })).body.error.message).toBe(
      "Cannot cancel task: already in terminal status 'completed'",
    );
  });

  it('refuses to cancel a call that is running or whose approval was decided first', async () => {
    const { callAsTask, request, backend } = setup();
    await callAsTask('needs_approval');
    const record = backend.records.get('inv_1');
    if (record === undefined) throw new Error('no record');
    backend.records.set('inv_1', { ...record, status: 'running' });
    expect((await request('tasks/cancel', { taskId: 'inv_1' })).body.error.message).toBe(
      'Cannot cancel task: the call is already running and cannot be stopped',
    );
    backend.records.set('inv_1', record);
    backend.cancelInvocation = async () => {
      throw new GatewayError({ code: 'APPROVAL_ALREADY_DECIDED', message: 'This approval was already decided' });
    };
    expect((await request('tasks/cancel', { taskId: 'inv_1' })).body.error).toEqual({
      code: -32602,
      message: 'Cannot cancel task: its approval was already decided and the call is running',
    });
  });

  it('answers a failing cancellation with -32603', async () => {
    const { callAsTask, request, backend } = setup();
    await callAsTask('needs_approval');
    backend.cancelInvocation = async () => {
      throw new Error('store offline');
    };
    expect((await request('tasks/cancel', { taskId: 'inv_1' })).body.error).toEqual({ code: -32603, message: 'Internal error' });
  });
});
