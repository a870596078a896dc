import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, createGateway, defineTool, memoryStore } from '../../src/index.js';
import { jsonRequest } from '../helpers.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  while (gateways.length > 0) await gateways.pop()?.close();
});

function sqlTool(counter: { runs: number }) {
  return defineTool({
    name: 'db.query',
    description: 'runs a query',
    inputSchema: { type: 'object', properties: { sql: { type: 'string' } }, required: ['sql'] } as const,
    handler: ({ sql }) => {
      counter.runs++;
      return { ran: sql };
    },
  });
}

const at = '2026-01-01T00:00:00.000Z';

/** A gateway over a store that already holds `rules`, as another version of the gateway could have left them. */
async function gatewayOver(rules: Record<string, unknown>[]) {
  const store = memoryStore();
  for (const rule of rules) await store.putPolicy({ id: String(rule.id), rule, createdAt: at, updatedAt: at });
  const counter = { runs: 0 };
  const errors: string[] = [];
  const gateway = createGateway({
    store,
    tools: [sqlTool(counter)],
    policy: [{ id: 'all', effect: 'allow' }],
    onError: (error) => errors.push((error as Error).message),
  });
  gateways.push(gateway);
  await gateway.ready();
  const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
  const call = async (sql: string) => {
    const response = await gateway.fetch(jsonRequest('/tools/db.query/invoke', { key: apiKey, body: { input: { sql } } }));
    return { status: response.status, body: (await response.json()) as any };
  };
  return { gateway, counter, errors, call };
}

describe('a stored policy rule that does not compile', () => {
  it('a deny rule still denies every call of its tools, without its conditions, and onError says so', async () => {
    // A lookaround: accepted by an engine that backtracks, refused by the linear one.
    const { counter, errors, call } = await gatewayOver([
      { id: 'no-drops', effect: 'deny', tools: ['db.*'], when: [{ path: '$.sql', op: 'matches', value: '(?=drop)drop' }] },
    ]);
    // A deny without conditions covers every call of the tool: the agent no longer sees it.
    const refused = await call('select 1');
    expect(refused.status).toBe(404);
    expect(refused.body.error.code).toBe('TOOL_NOT_FOUND');
    expect(counter.runs).toBe(0);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^Stored policy rule "no-drops" does not compile \(.+\); enforced as deny for every call it covers/);
  });

  it('an approval rule holds every call of its tools for approval', async () => {
    const { counter, call } = await gatewayOver([
      { id: 'review', effect: 'require_approval', tools: ['db.*'], when: [{ path: '$.sql', op: 'bogus', value: 1 }] },
    ]);
    const held = await call('select 1');
    expect(held.status).toBe(202);
    expect(counter.runs).toBe(0);
  });

  it('an allow rule is left out, a rule whose scope is unreadable too denies everything, and the admin API still answers', async () => {
    const { gateway, counter, errors, call } = await gatewayOver([
      { id: 'reads', effect: 'allow', tools: ['db.*'], when: [{ path: '$.sql', op: 'matches', value: '\\1' }] },
      { id: 'garbled', effect: 'deny', tools: 'db.*' },
    ]);
    expect((await call('select 1')).status).toBe(404);
    expect(counter.runs).toBe(0);
    expect(errors.map((message) => message.replace(/\(.*\)/, '(…)')).sort()).toEqual([
      'Stored policy rule "garbled" does not compile (…); enforced as deny for every call it covers, without its conditions',
      'Stored policy rule "reads" does not compile (…); left out',
    ]);
    // Deleting the rule through the admin API brings the code rules back alone.
    await gateway.admin.deletePolicy('garbled');
    expect((await call('select 1')).status).toBe(200);
  });

  it('a rule with an empty agents or tools list, which applied to no call, is left out rather than refusing every call', async () => {
    const { counter, errors, call } = await gatewayOver([
      { id: 'nobody', effect: 'deny', agents: [] },
      { id: 'nothing', effect: 'require_approval', tools: [] },
    ]);
    expect((await call('select 1')).status).toBe(200);
    expect(counter.runs).toBe(1);
    expect(errors.map((message) => message.replace(/\(.*\)/, '(…)')).sort()).toEqual([
      'Stored policy rule "nobody" does not compile (…); left out',
      'Stored policy rule "nothing" does not compile (…); left out',
    ]);
  });

  it('whose id another rule has is enforced under a new id (an allow rule is left out), and the gateway keeps serving', async () => {
    const { gateway, counter, errors, call } = await gatewayOver([
      // Written by hand or by an instance whose code rules differ: the id of this one's code rule.
      { id: 'all', effect: 'deny', tools: ['db.*'], when: [{ path: '$.sql', op: 'matches', value: '^drop' }] },
    ]);
    expect((await call('select 1')).status).toBe(200);
    const refused = await call('drop table users');
    expect(refused.status).toBe(403);
    expect(refused.body.error.details.rule).toEqual(['all (stored)']);
    expect(counter.runs).toBe(1);
    expect(errors).toEqual(['Stored policy rule "all" has the id of another rule; enforced as deny under the id "all (stored)"']);
    expect((await gateway.admin.listPolicies()).length).toBeGreaterThan(0);
  });
});
