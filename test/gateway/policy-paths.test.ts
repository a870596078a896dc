import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, type PolicyRule, createGateway, defineTool } from '../../src/index.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  while (gateways.length > 0) await gateways.pop()?.close();
});

/** A gateway with one tool whose schema takes any object, as a lenient upstream's would. */
async function gatewayWith(policy: PolicyRule[]) {
  const runs: unknown[] = [];
  const tool = defineTool({
    name: 'orders.place',
    description: 'places an order',
    inputSchema: { type: 'object' },
    handler: (input) => {
      runs.push(input);
      return { placed: true };
    },
  });
  const gateway = createGateway({ tools: [tool], policy });
  gateways.push(gateway);
  const { agent } = await gateway.admin.createAgent({ name: 'bot' });
  const call = async (input: Record<string, unknown>) => {
    const outcome = await gateway.invoke({ agentId: agent.id, tool: 'orders.place', input });
    return outcome.status === 'error' ? outcome.error.code : outcome.status;
  };
  return { call, runs };
}

describe('a condition whose path runs into a reshaped field', () => {
  it('still denies or holds the call: an object wrapped in a list, or sent as a string, is not a missing field', async () => {
    const { call, runs } = await gatewayWith([
      { id: 'all', effect: 'allow' },
      { id: 'big', effect: 'deny', when: [{ path: '$.order.total', op: 'gt', value: 100 }] },
      { id: 'banned', effect: 'require_approval', when: [{ path: '$.line.sku', op: 'in', value: ['BANNED'] }] },
    ]);
    expect(await call({ order: { total: 500 } })).toBe('POLICY_DENIED');
    expect(await call({ order: [{ total: 500 }] })).toBe('POLICY_DENIED');
    expect(await call({ order: '{"total":500}' })).toBe('POLICY_DENIED');
    expect(await call({ order: 500 })).toBe('POLICY_DENIED');
    expect(await call({ line: { sku: 'BANNED' } })).toBe('pending_approval');
    expect(await call({ line: [{ sku: 'BANNED' }] })).toBe('pending_approval');
    // A field that is not there, or null on the way, is missing as before.
    expect(await call({})).toBe('succeeded');
    expect(await call({ order: null, line: null })).toBe('succeeded');
    expect(await call({ order: {}, line: {} })).toBe('succeeded');
    expect(await call({ order: { total: 50 }, line: { sku: 'OK' } })).toBe('succeeded');
    expect(runs).toHaveLength(4);
  });

  it('allows nothing through an allow rule, whatever its operator', async () => {
    const { call, runs } = await gatewayWith([
      {
        id: 'not-prod',
        effect: 'allow',
        when: [
          { path: '$.target.env', op: 'ne', value: 'prod' },
          { path: '$.opts.debug', op: 'exists', value: false },
        ],
      },
    ]);
    expect(await call({ target: { env: 'dev' }, opts: {} })).toBe('succeeded');
    expect(await call({ target: [{ env: 'prod' }], opts: {} })).toBe('POLICY_DENIED');
    expect(await call({ target: 'prod', opts: {} })).toBe('POLICY_DENIED');
    expect(await call({ target: { env: 'dev' }, opts: ['debug'] })).toBe('POLICY_DENIED');
    expect(await call({ target: { env: 'dev' }, opts: 'debug' })).toBe('POLICY_DENIED');
    expect(runs).toHaveLength(1);
  });
});
