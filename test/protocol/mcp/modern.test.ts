import { describe, expect, it } from 'vitest';
import { createTestHandler, mcpPost, modernMeta, modernPost, send } from './fake-backend.js';

const serverInfoMeta = { 'io.modelcontextprotocol/serverInfo': { name: 'test-gateway', version: '9.9.9' } };

function base64Sentinel(value: string): string {
  return `=?base64?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

describe('MCP endpoint: 2026-07-28', () => {
  it('answers server/discover with versions, capabilities, identity and caching hints', async () => {
    const { handler } = createTestHandler();
    const { status, body } = await send(handler, modernPost('server/discover', {}, {}, 'discover-1'));
    expect(status).toBe(200);
    expect(body).toEqual({
      jsonrpc: '2.0',
      id: 'discover-1',
      result: {
        resultType: 'complete',
        supportedVersions: ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26'],
        capabilities: { tools: { listChanged: false }, extensions: { 'io.modelcontextprotocol/tasks': {} } },
        instructions: 'Use the tools carefully.',
        ttlMs: 300000,
        cacheScope: 'public',
        _meta: serverInfoMeta,
      },
    });
  });

  it('sends the description and icons with server/discover, and the identity alone on other results', async () => {
    const icons = [{ src: `data:image/png;base64,${'A'.repeat(4000)}`, mimeType: 'image/png', sizes: ['48x48'] }];
    const serverInfo = { name: 'acme', version: '2.0.0', title: 'Acme', description: 'Refunds, governed.', icons };
    const { handler } = createTestHandler(undefined, { serverInfo });
    const discovered = await send(handler, modernPost('server/discover', {}, {}, 'discover-2'));
    expect(discovered.body.result._meta).toEqual({ 'io.modelcontextprotocol/serverInfo': serverInfo });
    const identity = { 'io.modelcontextprotocol/serverInfo': { name: 'acme', version: '2.0.0', title: 'Acme' } };
    expect((await send(handler, modernPost('tools/list'))).body.result._meta).toEqual(identity);
    const called = await send(handler, modernPost('tools/call', { name: 'greet', arguments: {} }));
    expect(called.body.result._meta).toMatchObject(identity);
    expect(JSON.stringify(called.body)).not.toContain('data:image');
  });

  it('serves a request whose _meta omits clientInfo', async () => {
    const { handler } = createTestHandler();
    const meta = modernMeta();
    delete meta['io.modelcontextprotocol/clientInfo'];
    const request = mcpPost(
      { jsonrpc: '2.0', id: 5, method: 'server/discover', params: { _meta: meta } },
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' },
    );
    expect((await send(handler, request)).status).toBe(200);
  });

  it('puts resultType, caching hints and serverInfo on tools/list', async () => {
    const { handler } = createTestHandler();
    const { body } = await send(handler, modernPost('tools/list'));
    expect(body.result.resultType).toBe('complete');
    expect(body.result.ttlMs).toBe(60000);
    expect(body.result.cacheScope).toBe('private');
    expect(body.result._meta).toEqual(serverInfoMeta);
    expect(body.result.tools.map((tool: { name: string }) => tool.name)).toEqual(
      [...body.result.tools.map((tool: { name: string }) => tool.name)].sort(),
    );
  });

  it('puts resultType and serverInfo on tools/call results', async () => {
    const { handler } = createTestHandler();
    const { body } = await send(handler, modernPost('tools/call', { name: 'greet', arguments: {} }));
    expect(body.result.resultType).toBe('complete');
    expect(body.result.content).toEqual([{ type: 'text', text: 'Hello, agent' }]);
    expect(body.result._meta).toMatchObject(serverInfoMeta);
    expect(body.result._meta['io.agent-tool-gateway/invocationId']).toMatch(/^inv_/);
  });

  describe('per-request _meta', () => {
    const headers = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' };
    const cases: Array<[string, Record<string, unknown>]> = [
      ['missing _meta', {}],
      ['missing protocolVersion', { _meta: { 'io.modelcontextprotocol/clientCapabilities': {} } }],
      ['missing clientCapabilities', { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } }],
      ['non-object clientCapabilities', { _meta: modernMeta({ 'io.modelcontextprotocol/clientCapabilities': 'all' }) }],
      ['malformed clientInfo', { _meta: modernMeta({ 'io.modelcontextprotocol/clientInfo': { name: 'x' } }) }],
      ['non-string protocolVersion', { _meta: modernMeta({ 'io.modelcontextprotocol/protocolVersion': 20260728 }) }],
    ];
    it.each(cases)('rejects %s with 400 and -32602, echoing the id', async (_label, params) => {
      const { handler } = createTestHandler();
      const { status, body } = await send(handler, mcpPost({ jsonrpc: '2.0', id: 101, method: 'server/discover', params }, headers));
      expect(status).toBe(400);
      expect(body.id).toBe(101);
      expect(body.error.code).toBe(-32602);
    });
  });

  describe('versions', () => {
    it('answers an unknown version with 400, -32022 and the supported list', async () => {
      const { handler } = createTestHandler();
      const request = mcpPost(
        {
          jsonrpc: '2.0',
          id: 301,
          method: 'server/discover',
          params: { _meta: modernMeta({ 'io.modelcontextprotocol/protocolVersion': 'v999.0.0' }) },
        },
        { 'mcp-protocol-version': 'v999.0.0', 'mcp-method': 'server/discover' },
      );
      const { status, body } = await send(handler, request);
      expect(status).toBe(400);
      expect(body).toEqual({
        jsonrpc: '2.0',
        id: 301,
        error: {
          code: -32022,
          message: expect.any(String),
          data: { supported: ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26'], requested: 'v999.0.0' },
        },
      });
    });

    it('prefers the header mismatch over the unsupported version', async () => {
      const { handler } = createTestHandler();
      const request = mcpPost(
        {
          jsonrpc: '2.0',
          id: 302,
          method: 'server/discover',
          params: { _meta: modernMeta({ 'io.modelcontextprotocol/protocolVersion': 'v999.0.0' }) },
        },
        { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' },
      );
      const { status, body } = await send(handler, request);
      expect(status).toBe(400);
      expect(body.id).toBe(302);
      expect(body.error.code).toBe(-32020);
    });

    it('serves a request whose _meta names a 2025 version as legacy traffic', async () => {
      const { handler } = createTestHandler();
      const request = mcpPost(
        {
          jsonrpc: '2.0',
          id: 303,
          method: 'tools/list',
          params: { _meta: modernMeta({ 'io.modelcontextprotocol/protocolVersion': '2025-11-25' }) },
        },
        { 'mcp-protocol-version': '2025-11-25' },
      );
      const { status, body } = await send(handler, request);
      expect(status).toBe(200);
      expect(body.result).not.toHaveProperty('resultType');
    });
  });

  describe('standard headers', () => {
    it('rejects a missing MCP-Protocol-Version header', async () => {
      const { handler } = createTestHandler();
      const request = mcpPost(
        { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: modernMeta() } },
        { 'mcp-method': 'tools/list' },
      );
      const { status, body } = await send(handler, request);
      expect(status).toBe(400);
      expect(body.error.code).toBe(-32020);
    });

    it('rejects a missing Mcp-Method header', async () => {
      const { handler } = createTestHandler();
      const request = mcpPost(
        { jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: modernMeta() } },
        { 'mcp-protocol-version': '2026-07-28' },
      );
      const { status, body } = await send(handler, request);
      expect(status).toBe(400);
      expect(body.id).toBe(2);
      expect(body.error.code).toBe(-32020);
    });

    it('rejects an Mcp-Method that differs from the body, including by case', async () => {
      const { handler } = createTestHandler();
      for (const header of ['prompts/list', 'TOOLS/LIST']) {
        const { status, body } = await send(handler, modernPost('tools/list', {}, { 'mcp-method': header }));
        expect(status).toBe(400);
        expect(body.error.code).toBe(-32020);
      }
    });

    it('accepts header names in any case and trims white space around values', async () => {
      const { handler } = createTestHandler();
      const request = mcpPost(
        { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'greet', arguments: {}, _meta: modernMeta() } },
        { 'MCP-PROTOCOL-VERSION': ' 2026-07-28 ', 'MCP-METHOD': 'tools/call', 'mcp-name': '  greet  ' },
      );
      const { status, body } = await send(handler, request);
      expect(status).toBe(200);
      expect(body.result.isError).toBeUndefined();
    });

    it('rejects a missing or mismatched Mcp-Name on tools/call', async () => {
      const { handler, backend } = createTestHandler();
      const missing = mcpPost(
        { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'greet', arguments: {}, _meta: modernMeta() } },
        { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call' },
      );
      expect((await send(handler, missing)).body.error.code).toBe(-32020);
      const mismatched = await send(handler, modernPost('tools/call', { name: 'greet', arguments: {} }, { 'mcp-name': 'wrong_tool_name' }));
      expect(mismatched.status).toBe(400);
      expect(mismatched.body.error.code).toBe(-32020);
      expect(backend.calls).toHaveLength(0);
    });

    it('decodes a Base64 Mcp-Name and rejects a malformed one', async () => {
      const { handler } = createTestHandler();
      const encoded = await send(
        handler,
        modernPost('tools/call', { name: 'greet', arguments: {} }, { 'mcp-name': base64Sentinel('greet') }),
      );
      expect(encoded.status).toBe(200);
      const malformed = await send(
        handler,
        modernPost('tools/call', { name: 'greet', arguments: {} }, { 'mcp-name': '=?base64?Z3JlZXQ?=' }),
      );
      expect(malformed.status).toBe(400);
      expect(malformed.body.error.code).toBe(-32020);
    });
  });

  describe('Mcp-Param headers (x-mcp-header)', () => {
    const call = (args: Record<string, unknown>, headers: Record<string, string>) =>
      modernPost('tools/call', { name: 'regional', arguments: args }, headers);

    it('accepts matching plain, Base64 and numeric headers', async () => {
      const { handler, backend } = createTestHandler();
      expect((await send(handler, call({ region: 'us-west1' }, { 'mcp-param-region': 'us-west1' }))).status).toBe(200);
      expect((await send(handler, call({ region: 'Hello' }, { 'Mcp-Param-Region': base64Sentinel('Hello') }))).status).toBe(200);
      expect((await send(handler, call({ region: 'eu', shard: 42 }, { 'mcp-param-region': 'eu', 'mcp-param-shard': '42.0' }))).status).toBe(
        200,
      );
      const literal = Buffer.from('Hello').toString('base64');
      expect((await send(handler, call({ region: literal }, { 'mcp-param-region': literal }))).status).toBe(200);
      expect(backend.calls).toHaveLength(4);
    });

    it('rejects missing, mismatched and malformed headers before the call runs', async () => {
      const { handler, backend } = createTestHandler();
      const cases: Array<[Record<string, unknown>, Record<string, string>]> = [
        [{ region: 'us-west1' }, {}],
        [{ region: 'us-west1' }, { 'mcp-param-region': 'eu-west1' }],
        [{ region: 'Hello' }, { 'mcp-param-region': '=?base64?SGVsbG8?=' }],
        [{ region: 'Hello' }, { 'mcp-param-region': '=?base64?SGVs!!!bG8=?=' }],
        [
          { region: 'eu', shard: 42 },
          { 'mcp-param-region': 'eu', 'mcp-param-shard': '43' },
        ],
      ];
      for (const [args, headers] of cases) {
        const { status, body } = await send(handler, call(args, headers));
        expect(status).toBe(400);
        expect(body.error.code).toBe(-32020);
      }
      expect(backend.calls).toHaveLength(0);
    });

    it('does not expect a header for an absent or null value', async () => {
      const { handler } = createTestHandler();
      expect((await send(handler, call({ region: 'eu', shard: null }, { 'mcp-param-region': 'eu' }))).status).toBe(200);
    });

    it('follows nested properties and ignores annotations outside the properties chain', async () => {
      const nested = {
        name: 'nested',
        description: 'Nested header parameter',
        inputSchema: {
          type: 'object',
          properties: {
            options: { type: 'object', properties: { tenant: { type: 'string', 'x-mcp-header': 'Tenant' } } },
            tags: { type: 'array', items: { type: 'string', 'x-mcp-header': 'Tag' } },
          },
        },
      };
      const { handler } = createTestHandler([nested]);
      const call = (args: Record<string, unknown>, headers: Record<string, string>) =>
        send(handler, modernPost('tools/call', { name: 'nested', arguments: args }, headers));
      expect((await call({ options: { tenant: 'acme' } }, { 'mcp-param-tenant': 'acme' })).status).toBe(200);
      expect((await call({ options: { tenant: 'acme' } }, {})).status).toBe(400);
      expect((await call({ tags: ['a'] }, {})).status).toBe(200);
    });

    it('is not enforced on 2025 traffic', async () => {
      const { handler } = createTestHandler();
      const request = mcpPost(
        { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'regional', arguments: { region: 'us' } } },
        { 'mcp-protocol-version': '2025-11-25' },
      );
      expect((await send(handler, request)).status).toBe(200);
    });
  });

  describe('methods', () => {
    it.each(['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe', 'prompts/list', 'unknown/method'])(
      'answers %s with 404 and -32601, echoing the id',
      async (method) => {
        const { handler } = createTestHandler();
        const { status, body } = await send(handler, modernPost(method, {}, {}, 601));
        expect(status).toBe(404);
        expect(body.id).toBe(601);
        expect(body.error.code).toBe(-32601);
      },
    );

    it('accepts a modern notification with 202 and checks its Mcp-Method when present', async () => {
      const { handler } = createTestHandler();
      const notification = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1, _meta: modernMeta() } };
      expect((await send(handler, mcpPost(notification, { 'mcp-protocol-version': '2026-07-28' }))).status).toBe(202);
      const mismatch = await send(handler, mcpPost(notification, { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'ping' }));
      expect(mismatch.status).toBe(400);
      expect(mismatch.body.error.code).toBe(-32020);
    });

    it('rejects a posted JSON-RPC response', async () => {
      const { handler } = createTestHandler();
      const { status, body } = await send(
        handler,
        mcpPost({ jsonrpc: '2.0', id: 1, result: {} }, { 'mcp-protocol-version': '2026-07-28' }),
      );
      expect(status).toBe(400);
      expect(body.error.code).toBe(-32600);
    });

    it('answers malformed tools/call params in-band with -32602', async () => {
      const { handler } = createTestHandler();
      const noName = await send(handler, modernPost('tools/call', { arguments: {} }));
      expect(noName.status).toBe(200);
      expect(noName.body.error.code).toBe(-32602);
      const badArguments = await send(handler, modernPost('tools/call', { name: 'echo', arguments: [1, 2] }));
      expect(badArguments.body.error.code).toBe(-32602);
    });
  });
});
