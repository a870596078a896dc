import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, compilePolicy, createGateway, defineTool, memoryStore } from '../../src/index.js';
import { adminTokens } from '../fixtures.js';
import { jsonRequest, mcpRequest } from '../helpers.js';

let gateway: Gateway;
afterEach(async () => {
  await gateway?.close();
});

const lookup = defineTool({
  name: 'people.lookup',
  description: 'Look a person up',
  inputSchema: {
    type: 'object',
    properties: {
      ssnish: { type: 'string' },
      note: { type: 'string' },
      plain: { type: 'string' },
      deny: { type: 'boolean' },
      count: { type: 'integer' },
    },
    additionalProperties: false,
  } as const,
  handler: (input) => ({ echoed: input }),
});

async function setup() {
  gateway = createGateway({
    store: memoryStore(),
    tools: [lookup],
    policy: [
      { id: 'people', effect: 'allow', tools: ['people.*'], redact: { paths: ['$..ssnish'] } },
      {
        id: 'no-flagged',
        effect: 'deny',
        tools: ['people.*'],
        when: [{ path: '$.deny', op: 'eq', value: true }],
        redact: { paths: ['$..note'] },
      },
      { id: 'elsewhere', effect: 'allow', tools: ['other.*'], redact: { paths: ['$..plain'] } },
      { id: 'other-agents', effect: 'allow', agents: ['tag:other'], redact: { paths: ['$..plain'] } },
    ],
    admin: { tokens: [{ token: adminTokens.admin, id: 'alice', roles: ['admin'] }] },
  });
  const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
  return { apiKey };
}

async function recordInput(invocationId: string) {
  const response = await gateway.fetch(jsonRequest(`/admin/invocations/${invocationId}`, { key: adminTokens.admin }));
  expect(response.status).toBe(200);
  return ((await response.json()) as { input: Record<string, unknown>; status: string }).input;
}

const secretInput = { ssnish: '078-05-1120-x', note: 'private note', plain: 'visible' };

describe('policy redaction in the records of every call', () => {
  it('redacts an allowed call with the profiles of the rules that allowed it', async () => {
    const { apiKey } = await setup();
    const response = await gateway.fetch(jsonRequest('/tools/people.lookup/invoke', { key: apiKey, body: { input: secretInput } }));
    expect(response.status).toBe(200);
    const { invocationId } = (await response.json()) as { invocationId: string };
    expect(await recordInput(invocationId)).toEqual({ ssnish: '***', note: 'private note', plain: 'visible' });
  });

  it('redacts a denied call with the profiles of every matching rule, over REST and MCP', async () => {
    const { apiKey } = await setup();
    const response = await gateway.fetch(
      jsonRequest('/tools/people.lookup/invoke', { key: apiKey, body: { input: { ...secretInput, deny: true } } }),
    );
    expect(response.status).toBe(403);
    const { invocationId } = (await response.json()) as { invocationId: string };
    expect(await recordInput(invocationId)).toEqual({ ssnish: '***', note: '***', plain: 'visible', deny: true });

    const mcp = await gateway.fetch(
      mcpRequest(apiKey, {
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'people.lookup', arguments: { ...secretInput, deny: true } },
      }),
    );
    expect(((await mcp.json()) as { result: { isError: boolean } }).result.isError).toBe(true);
    const denied = (await gateway.admin.listInvocations({})).items.filter((record) => record.status === 'denied');
    expect(denied).toHaveLength(2);
    for (const record of denied) expect(JSON.stringify(record.input)).not.toMatch(/078-05|private note/);
  });

  it('redacts a call that fails validation with the profiles of the rules for its agent and tool', async () => {
    const { apiKey } = await setup();
    const response = await gateway.fetch(
      jsonRequest('/tools/people.lookup/invoke', { key: apiKey, body: { input: { ...secretInput, count: 'many' } } }),
    );
    expect(response.status).toBe(422);
    const { invocationId } = (await response.json()) as { invocationId: string };
    // Conditions are not tested on invalid input: the deny rule's profile applies as well.
    expect(await recordInput(invocationId)).toEqual({ ssnish: '***', note: '***', plain: 'visible', count: 'many' });

    const programmatic = await gateway.invoke({ agentKey: apiKey, tool: 'people.lookup', input: { ...secretInput, extra: 1 } });
    expect(programmatic).toMatchObject({ status: 'error', error: { code: 'INVALID_INPUT' } });
    const record = await gateway.admin.getInvocation((programmatic as { invocationId: string }).invocationId);
    expect(record).toMatchObject({ status: 'invalid', input: { ssnish: '***', note: '***', plain: 'visible', extra: 1 } });
  });
});

describe('compiled policy redaction', () => {
  const agent = { id: 'a1', name: 'bot', tags: ['support'] };
  const tool = { name: 'people.lookup' };
  const engine = compilePolicy([
    { id: 'allow', effect: 'allow', redact: { paths: ['$..a'] } },
    { id: 'deny', effect: 'deny', when: [{ path: '$.x', op: 'eq', value: 1 }], redact: { paths: ['$..b'] } },
    { id: 'plain-deny', effect: 'deny', when: [{ path: '$.y', op: 'eq', value: 1 }] },
    { id: 'not-support', effect: 'allow', agents: ['tag:sales'], redact: { paths: ['$..c'] } },
  ]);

  it('gives a denial the merged profiles of every matching rule', () => {
    expect(engine.evaluate({ agent, tool, input: { x: 1 } })).toEqual({
      effect: 'deny',
      ruleIds: ['deny'],
      redact: { paths: ['$..a', '$..b'] },
    });
    expect(engine.evaluate({ agent, tool, input: { y: 1 } })).toEqual({
      effect: 'deny',
      ruleIds: ['plain-deny'],
      redact: { paths: ['$..a'] },
    });
    expect(engine.evaluate({ agent, tool, input: {} })).toEqual({ effect: 'allow', ruleIds: ['allow'], redact: { paths: ['$..a'] } });
  });

  it('answers the profiles of the rules for an agent and tool, ignoring conditions, the same object each time', () => {
    expect(engine.redactionFor(agent, tool)).toEqual({ paths: ['$..a', '$..b'] });
    expect(engine.redactionFor(agent, tool)).toBe(engine.redactionFor(agent, tool));
    expect(engine.redactionFor({ ...agent, tags: [] }, tool)).toBe(engine.redactionFor(agent, tool));
    expect(compilePolicy([{ id: 'all', effect: 'allow' }]).redactionFor(agent, tool)).toBeUndefined();
  });
});

describe("the gateway's own agent keys in a call's data", () => {
  it('are masked in the answer and the record, while the key in the Authorization header still works', async () => {
    gateway = createGateway({ store: memoryStore(), tools: [lookup], policy: [{ id: 'all', effect: 'allow' }] });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const response = await gateway.fetch(
      jsonRequest('/tools/people.lookup/invoke', { key: apiKey, body: { input: { note: `my key is ${apiKey}, keep it` } } }),
    );
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { invocationId: string; output: { echoed: { note: string } } };
    expect(answer.output.echoed.note).toBe('my key is ***, keep it');
    const record = await gateway.admin.getInvocation(answer.invocationId);
    expect(JSON.stringify(record)).not.toContain(apiKey);
    expect(record.input).toEqual({ note: 'my key is ***, keep it' });
  });
});
