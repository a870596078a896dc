import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, defineTool } from '../../src/index.js';
import { adminTokens, testGateway } from '../fixtures.js';
import { jsonRequest, mcpRequest } from '../helpers.js';

// `JSON.parse` reads a number beyond a double's range (`1e400`) as Infinity: valid JSON text,
// a value JSON cannot write back. A schema that leaves a member untyped lets it through.

let gateway: Gateway;
afterEach(async () => {
  await gateway?.close();
});

let runs = 0;
const open = defineTool({
  name: 'open',
  description: 'Takes a text and anything else',
  inputSchema: { type: 'object', properties: { text: { type: 'string' } } } as const,
  handler: (input) => {
    runs++;
    return { keys: Object.keys(input) };
  },
});

async function setup() {
  runs = 0;
  gateway = testGateway({ tools: [open], policy: [{ id: 'all', effect: 'allow' }] });
  const { apiKey, agent } = await gateway.admin.createAgent({ name: 'bot' });
  return { apiKey, agentId: agent.id };
}

async function send(request: Request) {
  const response = await gateway.fetch(request);
  return { status: response.status, body: (await response.json()) as any };
}

function mcpCall(key: string, argumentsJson: string): Request {
  return mcpRequest(key, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"open","arguments":${argumentsJson}}}`);
}

describe('input holding a number JSON cannot carry', () => {
  it('is a 400 BAD_REQUEST naming the path over REST, recorded as invalid, and nothing runs', async () => {
    const { apiKey } = await setup();
    const result = await send(jsonRequest('/tools/open/invoke', { key: apiKey, body: '{"input":{"text":"hi","n":1e400}}' }));
    expect(result.status).toBe(400);
    expect(result.body.error).toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('/n'),
      details: [{ path: '/n', message: expect.stringContaining('finite') }],
    });
    expect(runs).toBe(0);
    const record = await gateway.admin.getInvocation(result.body.invocationId);
    expect(record).toMatchObject({ status: 'invalid', error: { code: 'BAD_REQUEST' }, inputDigest: null });
    const events = await gateway.admin.listAudit({ type: 'invocation.invalid' });
    expect(events.items.map((entry) => entry.event.invocationId)).toEqual([result.body.invocationId]);
    expect(await gateway.admin.verifyAudit()).toMatchObject({ ok: true });
  });

  it('names the first such number, however deep, and the sign does not matter', async () => {
    const { apiKey } = await setup();
    const result = await send(
      jsonRequest('/tools/open/invoke', { key: apiKey, body: '{"input":{"a":{"list":[1,-1e999,1e400]},"b":1e400}}' }),
    );
    expect(result.status).toBe(400);
    expect(result.body.error.details).toEqual([{ path: '/a/list/1', message: expect.any(String) }]);
  });

  it('is an isError result with BAD_REQUEST over MCP, not an internal error', async () => {
    const { apiKey } = await setup();
    const result = await send(mcpCall(apiKey, '{"text":"hi","n":1e400}'));
    expect(result.status).toBe(200);
    expect(result.body.result.isError).toBe(true);
    const text = result.body.result.content[0].text as string;
    expect(text).toMatch(/^BAD_REQUEST: /);
    expect(text).toContain('- /n: ');
    expect(text).not.toContain('INTERNAL');
    expect(runs).toBe(0);
    const invalid = await gateway.admin.listInvocations({ status: 'invalid' });
    expect(invalid.items).toHaveLength(1);
  });

  it('is BAD_REQUEST through gateway.invoke for NaN, Infinity and bigint', async () => {
    const { agentId } = await setup();
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, 10n]) {
      const outcome = await gateway.invoke({ agentId, tool: 'open', input: { text: 'hi', n: value } });
      expect(outcome.status === 'error' && outcome.error.code).toBe('BAD_REQUEST');
    }
    expect(runs).toBe(0);
    expect((await gateway.admin.listInvocations({ status: 'invalid' })).items).toHaveLength(3);
  });

  it('leaves large finite numbers alone', async () => {
    const { apiKey } = await setup();
    const result = await send(jsonRequest('/tools/open/invoke', { key: apiKey, body: '{"input":{"text":"hi","n":1e308,"m":-5e-324}}' }));
    expect(result.status).toBe(200);
    expect(result.body.output).toEqual({ keys: ['text', 'n', 'm'] });
  });
});

describe('admin bodies holding a number JSON cannot carry', () => {
  const admin = { key: adminTokens.admin };

  it('refuses a policy rule with a 400 before it is stored, takes effect or is audited', async () => {
    await setup();
    const created = await send(
      jsonRequest('/admin/policies', { ...admin, body: '{"id":"p","effect":"deny","when":[{"path":"$.x","op":"eq","value":1e400}]}' }),
    );
    expect(created.status).toBe(400);
    expect(created.body.error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('when.0.value') });
    expect((await gateway.fetch(jsonRequest('/admin/policies/p', admin))).status).toBe(404);

    const stored = await send(
      jsonRequest('/admin/policies', { ...admin, body: { id: 'q', effect: 'deny', when: [{ path: '$.x', op: 'eq', value: 1 }] } }),
    );
    expect(stored.status).toBe(201);
    const patched = await send(
      jsonRequest('/admin/policies/q', { ...admin, method: 'PATCH', body: '{"when":[{"path":"$.x","op":"in","value":[1,1e400]}]}' }),
    );
    expect(patched.status).toBe(400);
    expect(patched.body.error.details).toEqual([{ path: 'when.0.value.1', message: expect.any(String) }]);
    expect((await send(jsonRequest('/admin/policies/q', admin))).body.when).toEqual([{ path: '$.x', op: 'eq', value: 1 }]);

    const events = await gateway.admin.listAudit({ type: 'admin.policy', limit: 100 });
    expect(events.items.map((entry) => entry.event.type)).toEqual(['admin.policy.created']);
    expect(await gateway.admin.verifyAudit()).toMatchObject({ ok: true });
  });

  it('refuses a stored tool whose schema holds one, on create and on update', async () => {
    await setup();
    const schema = (maximum: string) => `{"type":"object","properties":{"n":{"type":"number","maximum":${maximum}}}}`;
    const body = (maximum: string) =>
      `{"name":"api.n","description":"n","method":"GET","url":"https://api.example.com/n","inputSchema":${schema(maximum)}}`;
    const created = await send(jsonRequest('/admin/tools', { ...admin, body: body('1e400') }));
    expect(created.status).toBe(400);
    expect(created.body.error.message).toContain('inputSchema.properties.n.maximum');
    expect((await gateway.fetch(jsonRequest('/admin/tools/api.n', admin))).status).toBe(404);

    expect((await send(jsonRequest('/admin/tools', { ...admin, body: body('10') }))).status).toBe(201);
    const patched = await send(
      jsonRequest('/admin/tools/api.n', { ...admin, method: 'PATCH', body: `{"inputSchema":${schema('-1e400')}}` }),
    );
    expect(patched.status).toBe(400);
    const view = (await send(jsonRequest('/admin/tools/api.n', admin))).body;
    expect(view.inputSchema.properties.n.maximum).toBe(10);
    const events = await gateway.admin.listAudit({ type: 'admin.tool', limit: 100 });
    expect(events.items.map((entry) => entry.event.type)).toEqual(['admin.tool.created']);
  });
});
