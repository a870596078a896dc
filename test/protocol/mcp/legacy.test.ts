import { describe, expect, it } from 'vitest';
import { createTestHandler, mcpPost, send } from './fake-backend.js';

function initialize(protocolVersion: unknown, id: number | string = 1) {
  return {
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: { protocolVersion, capabilities: {}, clientInfo: { name: 'legacy-client', version: '1.0.0' } },
  };
}

describe('MCP endpoint: 2025 era', () => {
  it.each(['2025-03-26', '2025-06-18', '2025-11-25'])('echoes the supported requested version %s', async (version) => {
    const { handler } = createTestHandler();
    const { status, body } = await send(handler, mcpPost(initialize(version)));
    expect(status).toBe(200);
    expect(body).toEqual({
      jsonrpc: '2.0',
      id: 1,
      result: {
        protocolVersion: version,
        capabilities:
          version === '2025-11-25'
            ? { tools: { listChanged: false }, tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } }
            : { tools: { listChanged: false } },
        serverInfo: { name: 'test-gateway', version: '9.9.9' },
        instructions: 'Use the tools carefully.',
      },
    });
  });

  it.each(['2024-11-05', '2099-01-01', '2026-07-28'])('answers an unsupported requested version %s with 2025-11-25', async (version) => {
    const { handler } = createTestHandler();
    const { body } = await send(handler, mcpPost(initialize(version, 'init-1')));
    expect(body.id).toBe('init-1');
    expect(body.result.protocolVersion).toBe('2025-11-25');
  });

  it('has no resultType or server _meta on legacy results', async () => {
    const { handler } = createTestHandler();
    const { body } = await send(handler, mcpPost(initialize('2025-11-25')));
    expect(body.result).not.toHaveProperty('resultType');
    expect(body.result).not.toHaveProperty('_meta');
    const list = await send(handler, mcpPost({ jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'mcp-protocol-version': '2025-11-25' }));
    expect(list.body.result).not.toHaveProperty('resultType');
    expect(list.body.result).not.toHaveProperty('ttlMs');
    expect(list.body.result).not.toHaveProperty('_meta');
  });

  it('rejects malformed initialize params with -32602', async () => {
    const { handler } = createTestHandler();
    const missingVersion = await send(handler, mcpPost({ jsonrpc: '2.0', id: 3, method: 'initialize', params: { capabilities: {} } }));
    expect(missingVersion.status).toBe(200);
    expect(missingVersion.body.error.code).toBe(-32602);
    const missingParams = await send(handler, mcpPost({ jsonrpc: '2.0', id: 4, method: 'initialize' }));
    expect(missingParams.body.error.code).toBe(-32602);
  });

  it('accepts notifications/initialized and other notifications with 202 and no body', async () => {
    const { handler } = createTestHandler();
    for (const method of ['notifications/initialized', 'notifications/cancelled', 'notifications/roots/list_changed']) {
      const response = await send(
        handler,
        mcpPost({ jsonrpc: '2.0', method, params: { requestId: 1 } }, { 'mcp-protocol-version': '2025-11-25' }),
      );
      expect(response.status).toBe(202);
      expect(response.text).toBe('');
    }
  });

  it('accepts a posted JSON-RPC response with 202', async () => {
    const { handler } = createTestHandler();
    const response = await send(handler, mcpPost({ jsonrpc: '2.0', id: 'server-1', result: {} }));
    expect(response.status).toBe(202);
  });

  it('answers ping with an empty result', async () => {
    const { handler } = createTestHandler();
    const { status, body } = await send(
      handler,
      mcpPost({ jsonrpc: '2.0', id: 7, method: 'ping' }, { 'mcp-protocol-version': '2025-06-18' }),
    );
    expect(status).toBe(200);
    expect(body).toEqual({ jsonrpc: '2.0', id: 7, result: {} });
  });

  it('answers unknown methods with -32601 in a 200', async () => {
    const { handler } = createTestHandler();
    for (const method of ['resources/list', 'prompts/list', 'completion/complete', 'logging/setLevel', 'server/discover']) {
      const { status, body } = await send(handler, mcpPost({ jsonrpc: '2.0', id: 8, method }, { 'mcp-protocol-version': '2025-11-25' }));
      expect(status).toBe(200);
      expect(body.error.code).toBe(-32601);
      expect(body.id).toBe(8);
    }
  });

  it('answers an unsupported MCP-Protocol-Version header with 400', async () => {
    const { handler } = createTestHandler();
    const { status, body } = await send(
      handler,
      mcpPost({ jsonrpc: '2.0', id: 9, method: 'tools/list' }, { 'mcp-protocol-version': '2024-11-05' }),
    );
    expect(status).toBe(400);
    expect(body.id).toBe(9);
    expect(body.error.code).toBe(-32022);
    expect(body.error.data).toEqual({ supported: ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26'], requested: '2024-11-05' });
    const notification = await send(
      handler,
      mcpPost({ jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-protocol-version': 'bogus' }),
    );
    expect(notification.status).toBe(400);
  });

  it('rejects initialize sent with a 2026 protocol header as a header mismatch', async () => {
    const { handler } = createTestHandler();
    const { status, body } = await send(handler, mcpPost(initialize('2025-11-25'), { 'mcp-protocol-version': '2026-07-28' }));
    expect(status).toBe(400);
    expect(body.error.code).toBe(-32020);
  });

  describe('JSON-RPC envelope', () => {
    const cases: Array<[string, unknown, number, unknown]> = [
      ['wrong jsonrpc version', { jsonrpc: '1.0', id: 1, method: 'ping' }, -32600, 1],
      ['missing jsonrpc', { id: 2, method: 'ping' }, -32600, 2],
      ['missing method', { jsonrpc: '2.0', id: 3 }, -32600, 3],
      ['non-string method', { jsonrpc: '2.0', id: 4, method: 42 }, -32600, 4],
      ['null id', { jsonrpc: '2.0', id: null, method: 'ping' }, -32600, null],
      ['fractional id', { jsonrpc: '2.0', id: 1.5, method: 'ping' }, -32600, null],
      ['primitive params', { jsonrpc: '2.0', id: 5, method: 'ping', params: 'x' }, -32600, 5],
      ['positional params', { jsonrpc: '2.0', id: 6, method: 'tools/list', params: [1] }, -32602, 6],
      ['a string body', 'hello', -32600, null],
      ['a number body', 42, -32600, null],
      ['a null body', null, -32600, null],
    ];
    it.each(cases)('rejects %s', async (_label, message, code, id) => {
      const { handler } = createTestHandler();
      const { status, body } = await send(handler, mcpPost(JSON.stringify(message)));
      expect(status).toBe(400);
      expect(body.jsonrpc).toBe('2.0');
      expect(body.id).toBe(id);
      expect(body.error.code).toBe(code);
    });
  });

  describe('batches (2025-03-26 only)', () => {
    it('answers a batch without a protocol header (2025-03-26) with an array in order', async () => {
      const { handler } = createTestHandler();
      const { status, body } = await send(
        handler,
        mcpPost([
          { jsonrpc: '2.0', id: 'a', method: 'ping' },
          { jsonrpc: '2.0', method: 'notifications/initialized' },
          { jsonrpc: '2.0', id: 'b', method: 'tools/call', params: { name: 'greet', arguments: {} } },
          { jsonrpc: '2.0', id: 'c', method: 'nope' },
          { jsonrpc: '1.0', id: 'd', method: 'ping' },
          { jsonrpc: '2.0', id: 'e', method: 'initialize', params: {} },
          { jsonrpc: '2.0', id: 'f', method: 'tools/list', params: [1] },
        ]),
      );
      expect(status).toBe(200);
      expect(body.map((reply: { id: unknown }) => reply.id)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
      expect(body[0].result).toEqual({});
      expect(body[1].result.content[0].text).toBe('Hello, agent');
      expect(body[2].error.code).toBe(-32601);
      expect(body[3].error.code).toBe(-32600);
      expect(body[4].error.code).toBe(-32600);
      // By-position params make a valid JSON-RPC request whose params MCP cannot take: -32602, as alone.
      expect(body[5].error).toEqual({ code: -32602, message: 'Invalid params: "params" must be an object' });
    });

    it('answers a batch of notifications only with 202', async () => {
      const { handler } = createTestHandler();
      const response = await send(
        handler,
        mcpPost([{ jsonrpc: '2.0', method: 'notifications/initialized' }], { 'mcp-protocol-version': '2025-03-26' }),
      );
      expect(response.status).toBe(202);
      expect(response.text).toBe('');
    });

    it('rejects batches in versions without batching', async () => {
      const { handler } = createTestHandler();
      for (const version of ['2025-06-18', '2025-11-25', '2026-07-28']) {
        const { status, body } = await send(
          handler,
          mcpPost([{ jsonrpc: '2.0', id: 1, method: 'ping' }], { 'mcp-protocol-version': version }),
        );
        expect(status).toBe(400);
        expect(body.error.code).toBe(-32600);
        expect(body.id).toBeNull();
      }
    });

    it('rejects empty batches, oversized batches and batches with per-request metadata', async () => {
      const { handler } = createTestHandler();
      expect((await send(handler, mcpPost([]))).body.error.code).toBe(-32600);
      const oversized = Array.from({ length: 101 }, (_, index) => ({ jsonrpc: '2.0', id: index, method: 'ping' }));
      expect((await send(handler, mcpPost(oversized))).status).toBe(400);
      const modern = [
        { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } },
      ];
      const rejected = await send(handler, mcpPost(modern));
      expect(rejected.status).toBe(400);
      expect(rejected.body.error.code).toBe(-32600);
    });
  });
});
