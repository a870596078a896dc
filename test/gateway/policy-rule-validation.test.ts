import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeHandler } from '../../adapters/node.js';
import { type Gateway, type PolicyRule, createGateway, defineTool, httpTool } from '../../src/index.js';
import { adminTokens } from '../fixtures.js';
import { listen } from '../helpers.js';

let gateway: Gateway;
let server: Awaited<ReturnType<typeof listen>>;
beforeAll(async () => {
  gateway = createGateway({ admin: { tokens: [{ token: adminTokens.admin, id: 'alice', roles: ['admin'] }] } });
  server = await listen(createNodeHandler(gateway));
});
afterAll(async () => {
  await server.close();
  await gateway.close();
});

async function admin(method: string, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminTokens.admin}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** Rules no call could ever satisfy as their author meant: refused, with what is wrong. */
const refused: Array<[string, Record<string, unknown>, RegExp]> = [
  [
    'eq without a value',
    { effect: 'deny', when: [{ path: '$.role', op: 'eq' }] },
    /when\[0\]: "eq" needs a value \(null to test for null\)/,
  ],
  ['ne without a value', { effect: 'allow', when: [{ path: '$.role', op: 'ne' }] }, /when\[0\]: "ne" needs a value/],
  ['no agents', { effect: 'deny', agents: [] }, /agents: an empty list applies to no agent; leave agents out for every agent/],
  ['no tools', { effect: 'deny', tools: [] }, /tools: an empty list applies to no tool; leave tools out for every tool/],
  ['a risk level tools lack', { effect: 'deny', tools: ['db.*', 'risk:Critical'] }, /at tools\[1\]: unknown risk level "Critical"/],
  ['a list in one entry', { effect: 'deny', tools: ['crm.*, billing.*'] }, /at tools\[0\]: "crm\.\*, billing\.\*" can never match a tool/],
  [
    'a glob of agents',
    { effect: 'allow', agents: ['*', 'bot-*'] },
    /at agents\[1\]: "bot-\*" is not an agent id; agents take ids, "tag:<tag>" or "\*"/,
  ],
  ['an empty tag', { effect: 'allow', agents: ['tag:'] }, /at agents\[0\]: "tag:" names no tag/],
];

describe('policy rules the engine could not apply as written', () => {
  it('are refused by the admin API with 400 BAD_REQUEST and a message that says what is wrong', async () => {
    for (const [label, rule, message] of refused) {
      const created = await admin('POST', '/admin/policies', { id: 'r', ...rule });
      expect(created.status, label).toBe(400);
      expect(created.body.error.code, label).toBe('BAD_REQUEST');
      expect(created.body.error.message, label).toMatch(message);
      expect(JSON.stringify(created.body), label).not.toMatch(/\n\s+at /);
    }
    // Nor can a PATCH make a stored rule so.
    expect((await admin('POST', '/admin/policies', { id: 'base', effect: 'deny', tools: ['db.*'] })).status).toBe(201);
    for (const [label, rule, message] of refused) {
      const patched = await admin('PATCH', '/admin/policies/base', rule);
      expect(patched.status, label).toBe(400);
      expect(patched.body.error.message, label).toMatch(message);
    }
    expect((await admin('GET', '/admin/policies/base', undefined)).body).toMatchObject({ effect: 'deny', tools: ['db.*'] });
  });

  it('are refused in code too, with operands JSON cannot carry', () => {
    const holey = [1, 2, 3];
    delete holey[1];
    const bad: Array<[string, PolicyRule, RegExp]> = [
      ...refused.map(([label, rule, message]) => [label, { id: 'r', ...rule } as PolicyRule, message] as [string, PolicyRule, RegExp]),
      [
        'eq NaN',
        { id: 'r', effect: 'deny', when: [{ path: 'n', op: 'eq', value: Number.NaN }] },
        /"eq" needs JSON data as its value, not NaN/,
      ],
      ['eq bigint', { id: 'r', effect: 'deny', when: [{ path: 'n', op: 'eq', value: 5n }] }, /not a bigint/],
      ['eq Date', { id: 'r', effect: 'deny', when: [{ path: 'at', op: 'eq', value: new Date(0) }] }, /not a Date object/],
      [
        'ne nested Infinity',
        { id: 'r', effect: 'deny', when: [{ path: 'o', op: 'ne', value: { a: [Number.POSITIVE_INFINITY] } }] },
        /not Infinity/,
      ],
      [
        'in with undefined',
        { id: 'r', effect: 'deny', when: [{ path: 'c', op: 'in', value: ['KP', undefined] }] },
        /"in" needs JSON data .* not undefined/,
      ],
      ['not_in with a hole', { id: 'r', effect: 'allow', when: [{ path: 'c', op: 'not_in', value: holey }] }, /not undefined/],
    ];
    for (const [label, rule, message] of bad) {
      expect(() => createGateway({ policy: [rule] }), label).toThrow(message);
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => createGateway({ policy: [{ id: 'r', effect: 'deny', when: [{ path: 'o', op: 'eq', value: cyclic }] }] })).toThrow(
      /nesting deeper than 64 levels \(or a cycle\)/,
    );
  });

  it('a tool whose risk no rule could name is refused when it is defined', () => {
    const definition = { name: 'db.drop', description: 'drops', inputSchema: { type: 'object' } } as const;
    expect(() => defineTool({ ...definition, risk: 'Critical' as never, handler: () => ({}) })).toThrow(
      'tool "db.drop": risk must be "low", "medium", "high" or "critical"',
    );
    expect(() => httpTool({ ...definition, method: 'POST', url: 'https://db.example/drop', risk: 'severe' as never })).toThrow(
      /risk must be/,
    );
    expect(defineTool({ ...definition, risk: 'critical', handler: () => ({}) }).risk).toBe('critical');
  });
});
