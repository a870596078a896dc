import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, createGateway, defineTool } from '../../src/index.js';
import { jsonRequest } from '../helpers.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  while (gateways.length > 0) await gateways.pop()?.close();
});

const strictInput = defineTool({
  name: 'crm.tag',
  description: 'tags a customer',
  inputSchema: { type: 'object', properties: { tag: { type: 'string' } }, additionalProperties: false } as const,
  handler: () => ({ ok: true }),
});

const keyedOutput = defineTool({
  name: 'crm.segments',
  description: 'customers by segment',
  inputSchema: { type: 'object', properties: {} } as const,
  outputSchema: { type: 'object', additionalProperties: { type: 'number' } },
  // A key of the output is itself personal data, and its value breaks the schema.
  handler: () => ({ 'ada@example.com': 'vip', '4111111111111111': 'x' }) as never,
});

async function setup() {
  const gateway = createGateway({ tools: [strictInput, keyedOutput], policy: [{ id: 'all', effect: 'allow' }] });
  gateways.push(gateway);
  const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
  const invoke = async (tool: string, input: unknown) => {
    const response = await gateway.fetch(jsonRequest(`/tools/${tool}/invoke`, { key: apiKey, body: { input } }));
    return { status: response.status, text: await response.text() };
  };
  return { gateway, apiKey, invoke };
}

describe('schema issue paths', () => {
  it('of an output that fails its outputSchema have personal data in keys redacted: answer, record, MCP', async () => {
    const { gateway, apiKey, invoke } = await setup();
    const answer = await invoke('crm.segments', {});
    expect(answer.status).toBe(502);
    const body = JSON.parse(answer.text);
    expect(body.error.code).toBe('UPSTREAM_ERROR');
    expect(body.error.details.issues.length).toBeGreaterThan(0);
    expect(answer.text).not.toContain('ada@example.com');
    expect(answer.text).not.toContain('4111111111111111');

    const record = await gateway.admin.getInvocation(body.invocationId);
    expect(record.error?.details).toMatchObject({ issues: expect.any(Array) });
    expect(JSON.stringify(record)).not.toMatch(/ada@example\.com|4111111111111111/);

    const mcp = await gateway.fetch(
      new Request('http://localhost/mcp', {
        method: 'POST',
        headers: {
          authorization: `Bearer ${apiKey}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'crm.segments', arguments: {} } }),
      }),
    );
    const text = await mcp.text();
    expect(text).toContain('"isError":true');
    expect(text).not.toMatch(/ada@example\.com|4111111111111111/);
  });

  it('of input the schema refuses are redacted the same way, in the answer and in the record', async () => {
    const { gateway, invoke } = await setup();
    const answer = await invoke('crm.tag', { 'bob@example.com': 1, tag: 'x' });
    expect(answer.status).toBe(422);
    const body = JSON.parse(answer.text);
    expect(body.error.details).toEqual([{ path: '/***', message: 'must not have additional properties' }]);
    const record = await gateway.admin.getInvocation(body.invocationId);
    expect(JSON.stringify(record)).not.toContain('bob@example.com');
  });

  it('of input are redacted with what policy adds for the agent and tool, as the stored input is', async () => {
    const tool = defineTool({
      name: 'net.tag',
      description: 'tags hosts',
      inputSchema: { type: 'object', additionalProperties: { type: 'string' } } as const,
      handler: () => ({ ok: true }),
    });
    const gateway = createGateway({ tools: [tool], policy: [{ id: 'all', effect: 'allow', redact: { detectors: { ipv4: true } } }] });
    gateways.push(gateway);
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const response = await gateway.fetch(jsonRequest('/tools/net.tag/invoke', { key: apiKey, body: { input: { '10.1.2.3': 5 } } }));
    const text = await response.text();
    expect(response.status).toBe(422);
    expect(text).not.toContain('10.1.2.3');
    const record = await gateway.admin.getInvocation(JSON.parse(text).invocationId);
    expect(record.input).toEqual({ '***': 5 });
    expect(JSON.stringify(record)).not.toContain('10.1.2.3');
  });

  it('keep ordinary keys as they are, escaped as JSON Pointer', async () => {
    const { invoke } = await setup();
    const answer = await invoke('crm.tag', { 'a/b~c': 1 });
    expect(JSON.parse(answer.text).error.details).toEqual([{ path: '/a~1b~0c', message: 'must not have additional properties' }]);
  });
});
