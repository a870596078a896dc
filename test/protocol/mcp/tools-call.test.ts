import { describe, expect, it } from 'vitest';
import { createMcpHandler } from '../../../src/protocol/mcp/index.js';
import { AbortSource, type CallAbort } from '../../../src/util/call-abort.js';
import { createFakeBackend, createTestHandler, mcpPost, modernPost, send, testAgent, testOptions } from './fake-backend.js';

function legacyCall(name: string, args?: unknown, version = '2025-11-25') {
  return mcpPost(
    { jsonrpc: '2.0', id: 'call-1', method: 'tools/call', params: args === undefined ? { name } : { name, arguments: args } },
    { 'mcp-protocol-version': version },
  );
}

async function callLegacy(name: string, args: unknown = {}, version = '2025-11-25') {
  const { handler } = createTestHandler();
  const response = await send(handler, legacyCall(name, args, version));
  expect(response.status).toBe(200);
  return response.body;
}

describe('MCP endpoint: tools/call', () => {
  it("passes the agent, name, arguments and the request's abort to the backend", async () => {
    const backend = createFakeBackend();
    let seenAbort: CallAbort | undefined;
    const original = backend.callTool;
    backend.callTool = async (agent, call) => {
      seenAbort = call.abort;
      return original(agent, call);
    };
    const handler = createMcpHandler(backend, testOptions);
    const abort = new AbortSource();
    const response = await handler.handle(legacyCall('echo', { message: 'hi' }), abort);
    expect(response.status).toBe(200);
    expect(backend.calls).toEqual([{ agent: testAgent, name: 'echo', arguments: { message: 'hi' } }]);
    expect(seenAbort).toBe(abort);
  });

  it('passes {} when arguments are omitted', async () => {
    const { handler, backend } = createTestHandler();
    await send(handler, legacyCall('echo'));
    expect(backend.calls[0]?.arguments).toEqual({});
  });

  it('returns a successful object output as JSON text', async () => {
    const body = await callLegacy('echo', { message: 'hi' });
    expect(body.result.content).toEqual([{ type: 'text', text: '{"message":"hi"}' }]);
    expect(body.result.isError).toBeUndefined();
    expect(body.result).not.toHaveProperty('structuredContent');
    expect(body.result._meta).toEqual({ 'io.agent-tool-gateway/invocationId': 'inv_1' });
  });

  it('returns a string output as is', async () => {
    const body = await callLegacy('greet');
    expect(body.result.content).toEqual([{ type: 'text', text: 'Hello, agent' }]);
  });

  it('adds structuredContent when the tool declares an outputSchema (2025-06-18+)', async () => {
    const body = await callLegacy('weather', { city: 'Oslo' });
    expect(body.result.structuredContent).toEqual({ city: 'Oslo', temperature: 21.5 });
    expect(JSON.parse(body.result.content[0].text)).toEqual({ city: 'Oslo', temperature: 21.5 });
  });

  it('leaves structuredContent out in 2025-03-26', async () => {
    const body = await callLegacy('weather', { city: 'Oslo' }, '2025-03-26');
    expect(body.result).not.toHaveProperty('structuredContent');
  });

  it('answers an unknown or invisible tool with JSON-RPC -32602', async () => {
    const body = await callLegacy('no_such_tool');
    expect(body.error).toEqual({ code: -32602, message: 'Unknown tool: no_such_tool' });
    expect(body.id).toBe('call-1');
  });

  it('reports invalid input as an isError result naming the failing paths', async () => {
    const body = await callLegacy('strict_input', { amount: 'ten' });
    expect(body.result.isError).toBe(true);
    expect(body.result.content[0].text).toBe(
      "INVALID_INPUT: Input does not match the tool schema\n- /amount: must be number\n- (input): must have required property 'amount'",
    );
    expect(body.result._meta['io.agent-tool-gateway/error'].code).toBe('INVALID_INPUT');
  });

  it('reports a policy denial with its rule ids', async () => {
    const body = await callLegacy('denied');
    expect(body.result.isError).toBe(true);
    expect(body.result.content[0].text).toBe('POLICY_DENIED: Denied by policy\nRules: deny-refunds, deny-weekends');
    expect(body.result._meta['io.agent-tool-gateway/error']).toEqual({
      code: 'POLICY_DENIED',
      details: { rule: ['deny-refunds', 'deny-weekends'] },
    });
  });

  it('reports upstream failures and timeouts as isError results', async () => {
    const failed = await callLegacy('flaky');
    expect(failed.result.isError).toBe(true);
    expect(failed.result.content[0].text).toBe('UPSTREAM_ERROR: Upstream answered 503\nDetails: {"upstreamStatus":503}');
    const timedOut = await callLegacy('slow');
    expect(timedOut.result.isError).toBe(true);
    expect(timedOut.result.content[0].text).toMatch(/^UPSTREAM_TIMEOUT: /);
  });

  it('says when to retry a rate-limited call', async () => {
    const body = await callLegacy('limited');
    expect(body.result.content[0].text).toBe('RATE_LIMITED: Too many calls\nRetry after 12 seconds.');
  });

  it('reports audit outages and backend crashes as isError results, never as HTTP 500', async () => {
    const audit = await callLegacy('audit_down');
    expect(audit.result.isError).toBe(true);
    expect(audit.result.content[0].text).toMatch(/^AUDIT_UNAVAILABLE: /);
    const { handler } = createTestHandler();
    const crash = await send(handler, legacyCall('crash', {}));
    expect(crash.status).toBe(200);
    expect(crash.body.result.isError).toBe(true);
    expect(crash.body.result.content[0].text).toBe('INTERNAL: Internal error');
    expect(crash.text).not.toContain('hunter2');
  });

  it('turns an output that cannot be serialised into an INTERNAL isError result', async () => {
    const backend = createFakeBackend();
    backend.callTool = async () => ({ status: 'succeeded', invocationId: 'inv_big', output: { count: 10n } });
    const handler = createMcpHandler(backend, testOptions);
    const { status, body } = await send(handler, legacyCall('echo', {}));
    expect(status).toBe(200);
    expect(body.result.isError).toBe(true);
    expect(body.result._meta['io.agent-tool-gateway/invocationId']).toBe('inv_big');
  });

  describe('pending approval', () => {
    it('explains the approval and how to get the outcome, as a non-error result', async () => {
      const body = await callLegacy('needs_approval', { orderId: 'o-1' });
      expect(body.result.isError).toBeUndefined();
      const text: string = body.result.content[0].text;
      expect(text).toContain('Approval required');
      expect(text).toContain('apr_42');
      expect(text).toContain('2030-01-01T00:00:00.000Z');
      expect(text).toContain('Call the same tool again with the same arguments');
      expect(body.result._meta['io.agent-tool-gateway/approval']).toEqual({
        approvalId: 'apr_42',
        expiresAt: '2030-01-01T00:00:00.000Z',
        invocationId: 'inv_1',
      });
      expect(body.result.structuredContent).toEqual({
        status: 'pending_approval',
        approvalId: 'apr_42',
        expiresAt: '2030-01-01T00:00:00.000Z',
        invocationId: 'inv_1',
      });
    });

    it('keeps structuredContent out and flags isError for a tool with an outputSchema', async () => {
      const body = await callLegacy('needs_approval_typed');
      expect(body.result.isError).toBe(true);
      expect(body.result).not.toHaveProperty('structuredContent');
      expect(body.result.content[0].text).toContain('apr_42');
      expect(body.result._meta['io.agent-tool-gateway/approval'].approvalId).toBe('apr_42');
    });

    it('has no structuredContent in 2025-03-26', async () => {
      const body = await callLegacy('needs_approval', {}, '2025-03-26');
      expect(body.result).not.toHaveProperty('structuredContent');
      expect(body.result._meta['io.agent-tool-gateway/approval'].approvalId).toBe('apr_42');
    });

    it('carries resultType and serverInfo next to the approval in 2026-07-28', async () => {
      const { handler } = createTestHandler();
      const { body } = await send(handler, modernPost('tools/call', { name: 'needs_approval', arguments: {} }));
      expect(body.result.resultType).toBe('complete');
      expect(Object.keys(body.result._meta).sort()).toEqual([
        'io.agent-tool-gateway/approval',
        'io.agent-tool-gateway/invocationId',
        'io.modelcontextprotocol/serverInfo',
      ]);
    });
  });

  it('lets any JSON value through as structuredContent in 2026-07-28', async () => {
    const backend = createFakeBackend();
    backend.callTool = async () => ({ status: 'succeeded', invocationId: 'inv_arr', output: [1, 2, 3] });
    const handler = createMcpHandler(backend, testOptions);
    const { body } = await send(handler, modernPost('tools/call', { name: 'weather', arguments: { city: 'x' } }));
    expect(body.result.structuredContent).toEqual([1, 2, 3]);
    const legacy = await send(handler, legacyCall('weather', { city: 'x' }));
    expect(legacy.body.result).not.toHaveProperty('structuredContent');
  });
});
