/**
 * The 2026-07-28 tasks extension (io.modelcontextprotocol/tasks) over the fake backend:
 * server-directed tasks for calls waiting for approval, tasks/get with the result inlined,
 * tasks/update, tasks/cancel, the capability gate and the Mcp-Name routing header.
 */
import { describe, expect, it } from 'vitest';
import { createMcpHandler, taskPollIntervalMs } from '../../../src/protocol/mcp/index.js';
import { createFakeBackend, mcpPost, modernMeta, modernPost, otherKey, send, testOptions } from './fake-backend.js';

const serverInfoMeta = { 'io.modelcontextprotocol/serverInfo': { name: 'test-gateway', version: '9.9.9' } };
const withExtension = { extensions: { 'io.modelcontextprotocol/tasks': {} } };

function setup() {
  const backend = createFakeBackend();
  const handler = createMcpHandler(backend, testOptions);
  let id = 0;
  /** A 2026-07-28 request with matching headers; `capabilities` defaults to declaring the extension. */
  const request = (
    method: string,
    params: Record<string, unknown> = {},
    options: { capabilities?: Record<string, unknown>; headers?: Record<string, string>; key?: string } = {},
  ) => {
    const headers: Record<string, string> = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': method };
    if (typeof params.name === 'string') headers['mcp-name'] = params.name;
    if (typeof params.taskId === 'string') headers['mcp-name'] = params.taskId;
    if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
    const meta = modernMeta({ 'io.modelcontextprotocol/clientCapabilities': options.capabilities ?? withExtension });
    return send(
      handler,
      mcpPost({ jsonrpc: '2.0', id: ++id, method, params: { ...params, _meta: meta } }, { ...headers, ...options.headers }),
    );
  };
  return { backend, handler, request };
}

describe('MCP tasks extension (2026-07-28): task creation', () => {
  it('answers a call waiting for approval with a flat CreateTaskResult', async () => {
    const { request, backend } = setup();
    const { status, body } = await request('tools/call', { name: 'needs_approval', arguments: {} });
    expect(status).toBe(200);
    const record = backend.records.get('inv_1');
    expect(body.result).toEqual({
      resultType: 'task',
      taskId: 'inv_1',
      status: 'working',
      statusMessage: expect.stringContaining('Approval id: apr_42.'),
      createdAt: record?.createdAt,
      lastUpdatedAt: record?.updatedAt,
      ttlMs: null,
      pollIntervalMs: taskPollIntervalMs,
      _meta: {
        ...serverInfoMeta,
        'io.agent-tool-gateway/approval': { approvalId: 'apr_42', expiresAt: '2030-01-01T00:00:00.000Z', invocationId: 'inv_1' },
        'io.agent-tool-gateway/invocationId': 'inv_1',
      },
    });
  });

  it('never returns a task to a client that did not declare the extension on the request', async () => {
    const { request } = setup();
    const { body } = await request('tools/call', { name: 'needs_approval', arguments: {} }, { capabilities: {} });
    expect(body.result.resultType).toBe('complete');
    expect(body.result).not.toHaveProperty('taskId');
    expect(body.result.content[0].text).toMatch(/^Approval required/);
  });

  it('answers a call that finishes at once synchronously, also with a legacy task field', async () => {
    const { request } = setup();
    for (const params of [
      { name: 'greet', arguments: {} },
      { name: 'greet', arguments: {}, task: { ttl: 1000 } },
    ]) {
      const { body } = await request('tools/call', params);
      expect(body.result).toMatchObject({ resultType: 'complete', content: [{ type: 'text', text: 'Hello, agent' }] });
      expect(body.result).not.toHaveProperty('taskId');
    }
  });
});

describe('MCP tasks extension (2026-07-28): tasks/get', () => {
  it('reports working, then completed with the tool result inlined', async () => {
    const { request, backend } = setup();
    await request('tools/call', { name: 'needs_approval', arguments: {} });
    const working = await request('tasks/get', { taskId: 'inv_1' });
    expect(working.body.result).toMatchObject({
      resultType: 'complete',
      taskId: 'inv_1',
      status: 'working',
      ttlMs: null,
      _meta: serverInfoMeta,
    });
    expect(working.body.result).not.toHaveProperty('result');

    backend.decide('inv_1', 'approve');
    const done = await request('tasks/get', { taskId: 'inv_1' });
    expect(done.body.result).toMatchObject({
      resultType: 'complete',
      status: 'completed',
      result: { content: [{ type: 'text', text: '{"approved":true}' }], _meta: { 'io.agent-tool-gateway/invocationId': 'inv_1' } },
    });
    expect(done.body.result).not.toHaveProperty('pollIntervalMs');
    expect(done.body.result).not.toHaveProperty('error');
    expect(done.body.result.result._meta).not.toHaveProperty('io.modelcontextprotocol/related-task');
  });

  it('reports a tool error as completed with isError, not failed', async () => {
    const { request, backend } = setup();
    await request('tools/call', { name: 'needs_approval', arguments: {} });
    backend.decide('inv_1', 'deny');
    const { body } = await request('tasks/get', { taskId: 'inv_1' });
    expect(body.result.status).toBe('completed');
    expect(body.result.result.isError).toBe(true);
    expect(body.result.result.content[0].text).toMatch(/^APPROVAL_DENIED: Denied by an approver/);
  });

  it('reports a JSON-RPC error as failed with the error inlined', async () => {
    const { request, backend } = setup();
    await request('tools/call', { name: 'needs_approval', arguments: {} });
    const record = backend.records.get('inv_1');
    if (record === undefined) throw new Error('no record');
    backend.records.set('inv_1', { ...record, status: 'invalid', error: { code: 'TOOL_NOT_FOUND', message: 'Unknown tool' } });
    const { body } = await request('tasks/get', { taskId: 'inv_1' });
    expect(body.result).toMatchObject({ status: 'failed', error: { code: -32602, message: 'Unknown tool: needs_approval' } });
    expect(body.result).not.toHaveProperty('result');
  });

  it('refuses unknown and other agents’ tasks with -32602', async () => {
    const { request } = setup();
    await request('tools/call', { name: 'needs_approval', arguments: {} });
    for (const [taskId, key] of [
      ['inv_404', undefined],
      ['inv_1', otherKey],
    ] as const) {
      const { status, body } = await request('tasks/get', { taskId }, key === undefined ? {} : { key });
      expect(status).toBe(200);
      expect(body.error).toEqual({ code: -32602, message: 'Failed to retrieve task: Task not found' });
    }
  });
});

describe('MCP tasks extension (2026-07-28): gating and routing', () => {
  it('refuses the task methods with 400 and -32021 when the request does not declare the extension', async () => {
    const { request } = setup();
    for (const [method, params] of [
      ['tasks/get', { taskId: 'gate-test' }],
      ['tasks/update', { taskId: 'gate-test', inputResponses: {} }],
      ['tasks/cancel', { taskId: 'gate-test' }],
    ] as const) {
      const { status, body } = await request(method, params, { capabilities: {} });
      expect(status).toBe(400);
      expect(body.error).toMatchObject({
        code: -32021,
        data: { requiredCapabilities: { extensions: { 'io.modelcontextprotocol/tasks': {} } } },
      });
    }
  });

  it('does not serve tasks/result or tasks/list, which the extension removed', async () => {
    const { request } = setup();
    for (const method of ['tasks/result', 'tasks/list']) {
      const { status, body } = await request(method, { taskId: 'inv_1' });
      expect(status).toBe(404);
      expect(body.error.code).toBe(-32601);
    }
  });

  it('checks Mcp-Name against params.taskId', async () => {
    const { request, handler } = setup();
    const mismatched = await request('tasks/get', { taskId: 'inv_1' }, { headers: { 'mcp-name': 'inv_2' } });
    expect(mismatched.status).toBe(400);
    expect(mismatched.body.error).toEqual({ code: -32020, message: 'Header mismatch: Mcp-Name is inv_2 but params.taskId is inv_1' });
    const missing = await send(
      handler,
      mcpPost(
        { jsonrpc: '2.0', id: 9, method: 'tasks/cancel', params: { taskId: 'inv_1', _meta: modernMeta() } },
        { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tasks/cancel' },
      ),
    );
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toBe('Header mismatch: the required Mcp-Name header is missing');
    const unchecked = await send(handler, modernPost('server/discover', {}, { 'mcp-name': 'anything' }));
    expect(unchecked.status).toBe(200);
  });
});

describe('MCP tasks extension (2026-07-28): tasks/update and tasks/cancel', () => {
  it('acknowledges tasks/update for a known task and ignores its responses', async () => {
    const { request, backend } = setup();
    await request('tools/call', { name: 'needs_approval', arguments: {} });
    const ack = await request('tasks/update', { taskId: 'inv_1', inputResponses: { name: { action: 'accept' } } });
    expect(ack.body.result).toEqual({ resultType: 'complete', _meta: serverInfoMeta });
    expect(backend.records.get('inv_1')?.status).toBe('pending_approval');
    expect((await request('tasks/update', { taskId: 'inv_404', inputResponses: {} })).body.error.code).toBe(-32602);
    expect((await request('tasks/update', { taskId: 'inv_1' })).body.error).toEqual({
      code: -32602,
      message: 'Invalid params: inputResponses must be an object',
    });
  });

  it('cancels a call waiting for approval with an empty acknowledgement, idempotently', async () => {
    const { request, backend } = setup();
    await request('tools/call', { name: 'needs_approval', arguments: {} });
    const ack = await request('tasks/cancel', { taskId: 'inv_1' });
    expect(ack.body.result).toEqual({ resultType: 'complete', _meta: serverInfoMeta });
    expect(backend.records.get('inv_1')?.status).toBe('cancelled');
    expect((await request('tasks/get', { taskId: 'inv_1' })).body.result).toMatchObject({ status: 'cancelled' });
    const again = await request('tasks/cancel', { taskId: 'inv_1' });
    expect(again.body.result).toEqual({ resultType: 'complete', _meta: serverInfoMeta });
  });

  it('acknowledges a cancel that lost the race to an approver, and refuses unknown tasks', async () => {
    const { request, backend } = setup();
    await request('tools/call', { name: 'needs_approval', arguments: {} });
    const original = backend.cancelInvocation;
    backend.cancelInvocation = async (agent, invocationId) => {
      backend.decide(invocationId, 'approve');
      return original(agent, invocationId);
    };
    expect((await request('tasks/cancel', { taskId: 'inv_1' })).body.result.resultType).toBe('complete');
    expect(backend.records.get('inv_1')?.status).toBe('succeeded');
    expect((await request('tasks/cancel', { taskId: 'inv_1' }, { key: otherKey })).body.error.code).toBe(-32602);
    expect((await request('tasks/cancel', { taskId: 'inv_404' })).body.error.code).toBe(-32602);
  });
});
