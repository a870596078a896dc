import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, createGateway, defineTool, memoryStore } from '../../src/index.js';
import { adminTokens } from '../fixtures.js';
import { jsonRequest, mcpRequest } from '../helpers.js';

let gateway: Gateway;
afterEach(async () => {
  await gateway?.close();
});

async function setup() {
  let runs = 0;
  const query = defineTool({
    name: 'db.query',
    description: 'Run SQL',
    inputSchema: { type: 'object', properties: { sql: { type: 'string' } }, required: ['sql'], additionalProperties: false } as const,
    handler: () => {
      runs++;
      return { rows: [] };
    },
  });
  gateway = createGateway({
    store: memoryStore(),
    tools: [query],
    policy: [
      { id: 'all', effect: 'allow' },
      { id: 'no-drops', effect: 'deny', tools: ['db.query'], when: [{ path: '$.sql', op: 'matches', value: '(?i)drop\\s+table' }] },
    ],
    admin: { tokens: [{ token: adminTokens.admin, id: 'alice', roles: ['admin'] }] },
  });
  const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
  const rest = async (sql: string) => {
    const response = await gateway.fetch(jsonRequest('/tools/db.query/invoke', { key: apiKey, body: { input: { sql } } }));
    return { status: response.status, body: (await response.json()) as { error?: { code: string; details?: unknown } } };
  };
  return { apiKey, rest, runs: () => runs };
}

describe('policy matches at the doors', () => {
  it('applies a deny rule to a value of any length, over REST, MCP and invoke()', async () => {
    const { apiKey, rest, runs } = await setup();
    const padded = `drop table users${' '.repeat(100_000)}`;
    const denied = await rest(padded);
    expect(denied.status).toBe(403);
    expect(denied.body.error).toMatchObject({ code: 'POLICY_DENIED', details: { rule: ['no-drops'] } });

    const mcp = await gateway.fetch(
      mcpRequest(apiKey, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'db.query', arguments: { sql: padded } } }),
    );
    const result = (await mcp.json()) as { result?: { isError?: boolean } };
    expect(result.result?.isError).toBe(true);

    const programmatic = await gateway.invoke({
      agentKey: apiKey,
      tool: 'db.query',
      input: { sql: `${' '.repeat(3_000_000)}DROP\tTABLE x` },
    });
    expect(programmatic).toMatchObject({ status: 'error', error: { code: 'POLICY_DENIED' } });

    expect((await rest(' '.repeat(100_000))).status).toBe(200);
    expect(runs()).toBe(1);
    const records = (await gateway.admin.listInvocations({})).items;
    expect(records.filter((record) => record.status === 'denied')).toHaveLength(3);
  });

  it('accepts an ambiguous pattern through the admin API and still answers every call', async () => {
    const { rest, runs } = await setup();
    const created = await gateway.fetch(
      jsonRequest('/admin/policies', {
        key: adminTokens.admin,
        body: { id: 'digits-only', effect: 'deny', tools: ['db.query'], when: [{ path: '$.sql', op: 'matches', value: '^(\\w|\\d)+$' }] },
      }),
    );
    expect(created.status).toBe(201);
    expect((await rest(`${'1'.repeat(27)}!`)).status).toBe(200);
    expect((await rest(`${'1'.repeat(500_000)}!`)).status).toBe(200);
    expect((await rest('1'.repeat(500_000))).status).toBe(403);
    expect(runs()).toBe(2);
  });

  it('refuses with 400 a pattern the linear-time engine cannot run', async () => {
    await setup();
    for (const value of ['(a)\\1', '(?=x)y', '(?s).', 'x{5000}']) {
      const response = await gateway.fetch(
        jsonRequest('/admin/policies', {
          key: adminTokens.admin,
          body: { id: 'bad', effect: 'deny', when: [{ path: '$.sql', op: 'matches', value }] },
        }),
      );
      expect(response.status, value).toBe(400);
      expect(((await response.json()) as { error: { code: string; message: string } }).error).toMatchObject({
        code: 'BAD_REQUEST',
        message: expect.stringContaining('policy rule "bad" when[0]'),
      });
    }
  });
});

describe('an argument condition on a field whose schema takes more than one type', () => {
  it('stops the call whatever shape the argument takes, while the tool would read it as the same amount', async () => {
    const refunded: number[] = [];
    const refund = defineTool({
      name: 'refunds.create',
      description: 'Refund an order',
      inputSchema: {
        type: 'object',
        properties: { amount: { type: ['number', 'string', 'array'] } },
        required: ['amount'],
      } as const,
      handler: ({ amount }) => {
        refunded.push(Number(amount));
        return { refunded: Number(amount) };
      },
    });
    gateway = createGateway({
      tools: [refund],
      policy: [
        { id: 'refunds', effect: 'allow', tools: ['refunds.*'] },
        { id: 'big-refunds', effect: 'deny', tools: ['refunds.create'], when: [{ path: '$.amount', op: 'gt', value: 100 }] },
      ],
    });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    for (const amount of [500, '500', ' 500', '5e2', '0x1F4', [500]]) {
      const outcome = await gateway.invoke({ agentKey: apiKey, tool: 'refunds.create', input: { amount } });
      expect(outcome, JSON.stringify(amount)).toMatchObject({ status: 'error', error: { code: 'POLICY_DENIED' } });
    }
    expect((await gateway.invoke({ agentKey: apiKey, tool: 'refunds.create', input: { amount: 50 } })).status).toBe('succeeded');
    expect(refunded).toEqual([50]);
  });
});
