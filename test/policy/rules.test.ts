import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../../src/index.js';

const agent = { id: 'A1', name: 'bot', tags: ['support', 'eu'] };
const tool = { name: 'refunds.create', risk: 'high' as const };

describe('compilePolicy', () => {
  it('lets deny beat require_approval beat allow, and carries the rule ids', () => {
    const engine = compilePolicy([
      { id: 'allow-all', effect: 'allow' },
      { id: 'approve-high', effect: 'require_approval', tools: ['risk:high'] },
      { id: 'deny-eu-big', effect: 'deny', agents: ['tag:eu'], when: [{ path: 'amount', op: 'gte', value: 1000 }] },
    ]);
    expect(engine.evaluate({ agent, tool: { name: 'echo' }, input: {} })).toEqual({ effect: 'allow', ruleIds: ['allow-all'] });
    expect(engine.evaluate({ agent, tool, input: { amount: 10 } })).toEqual({ effect: 'require_approval', ruleIds: ['approve-high'] });
    expect(engine.evaluate({ agent, tool, input: { amount: 1000 } })).toEqual({ effect: 'deny', ruleIds: ['deny-eu-big'] });
  });

  it('denies by default and can be configured otherwise', () => {
    expect(compilePolicy([]).evaluate({ agent, tool, input: {} })).toEqual({ effect: 'deny', ruleIds: [] });
    expect(compilePolicy([], { defaultEffect: 'allow' }).evaluate({ agent, tool, input: {} }).effect).toBe('allow');
  });

  it('matches agents by id or tag, tools by name, glob or risk', () => {
    const engine = compilePolicy([
      { id: 'by-id', effect: 'allow', agents: ['A1'], tools: ['exact.name'] },
      { id: 'by-tag', effect: 'allow', agents: ['tag:support'], tools: ['crm.*'] },
      { id: 'by-risk', effect: 'allow', tools: ['risk:low'] },
    ]);
    const other = { id: 'B2', name: 'x', tags: [] };
    expect(engine.evaluate({ agent, tool: { name: 'exact.name' }, input: {} }).ruleIds).toEqual(['by-id']);
    expect(engine.evaluate({ agent: other, tool: { name: 'exact.name' }, input: {} }).effect).toBe('deny');
    expect(engine.evaluate({ agent, tool: { name: 'crm.get' }, input: {} }).ruleIds).toEqual(['by-tag']);
    expect(engine.evaluate({ agent, tool: { name: 'crmXget' }, input: {} }).effect).toBe('deny');
    expect(engine.evaluate({ agent: other, tool: { name: 'any', risk: 'low' }, input: {} }).ruleIds).toEqual(['by-risk']);
    expect(engine.evaluate({ agent, tool: { name: 'EXACT.NAME' }, input: {} }).effect).toBe('deny');
  });

  it('evaluates every condition operator on input paths', () => {
    const cases: Array<[object, unknown, boolean]> = [
      [{ path: '$.a', op: 'eq', value: 1 }, { a: 1 }, true],
      [{ path: '$.a', op: 'eq', value: 1 }, { a: '1' }, false],
      [{ path: '$.a', op: 'eq', value: { x: [1] } }, { a: { x: [1] } }, true],
      [{ path: '$.a', op: 'eq', value: { x: 1, y: [2, { z: 3 }] } }, { a: { y: [2, { z: 3 }], x: 1 } }, true],
      [{ path: '$.a', op: 'eq', value: { x: 1 } }, { a: { x: 1, y: 2 } }, false],
      [{ path: '$.a', op: 'in', value: ['x', { sku: 'A', qty: 1 }, [1, 2]] }, { a: { qty: 1, sku: 'A' } }, true],
      [{ path: '$.a', op: 'in', value: ['x', { sku: 'A', qty: 1 }, [1, 2]] }, { a: [1, 2] }, true],
      [{ path: '$.a', op: 'in', value: ['x', { sku: 'A', qty: 1 }, [1, 2]] }, { a: [2, 1] }, false],
      [{ path: '$.a', op: 'not_in', value: [{ sku: 'A' }] }, { a: { sku: 'B' } }, true],
      [{ path: 'a', op: 'ne', value: 1 }, { a: 2 }, true],
      [{ path: 'a', op: 'ne', value: 1 }, {}, true],
      [{ path: 'a.b', op: 'gt', value: 5 }, { a: { b: 6 } }, true],
      [{ path: 'a.b', op: 'gt', value: 5 }, { a: { b: '6' } }, false],
      [{ path: 'a', op: 'gte', value: 5 }, { a: 5 }, true],
      [{ path: 'a', op: 'lt', value: 5 }, { a: 4 }, true],
      [{ path: 'a', op: 'lte', value: 5 }, { a: 6 }, false],
      [{ path: 'items[1].sku', op: 'in', value: ['x', 'y'] }, { items: [{}, { sku: 'y' }] }, true],
      [{ path: 'items[1].sku', op: 'in', value: ['x', 'y'] }, { items: [{ sku: 'y' }] }, false],
      [{ path: 'a', op: 'not_in', value: ['x'] }, { a: 'z' }, true],
      [{ path: 'a', op: 'exists' }, { a: null }, true],
      [{ path: 'a', op: 'exists', value: false }, {}, true],
      [{ path: "$['odd.key']", op: 'eq', value: 1 }, { 'odd.key': 1 }, true],
      [{ path: 'email', op: 'matches', value: '@example\\.com$' }, { email: 'a@example.com' }, true],
      [{ path: 'email', op: 'matches', value: '@example\\.com$' }, { email: 5 }, false],
      [{ path: 'toString', op: 'exists' }, {}, false],
      [{ path: 'a.length', op: 'eq', value: 3 }, { a: 'abc' }, true],
      [{ path: 'items.length', op: 'gt', value: 1 }, { items: ['x', 'y'] }, true],
      [{ path: 'items.length', op: 'gt', value: 1 }, { items: { length: 5 } }, true],
      [{ path: 'a.length', op: 'exists' }, { a: 5 }, false],
      // Read as a tool in JavaScript reads it: an index of an object with that key, a key of an array.
      [{ path: 'items[0].sku', op: 'eq', value: 'X' }, { items: { 0: { sku: 'X' } } }, true],
      [{ path: "items['1']", op: 'eq', value: 'Y' }, { items: ['X', 'Y'] }, true],
      [{ path: "items['01']", op: 'exists' }, { items: ['X', 'Y'] }, false],
      [{ path: 'items[0]', op: 'exists' }, { items: {} }, false],
    ];
    for (const [condition, input, expected] of cases) {
      const engine = compilePolicy([{ id: 'r', effect: 'allow', when: [condition as never] }]);
      expect(engine.evaluate({ agent, tool, input }).effect, JSON.stringify([condition, input])).toBe(expected ? 'allow' : 'deny');
    }
  });

  it('lets no reshaped argument past a deny or require_approval condition, and no allow condition take one', () => {
    // A field of a type the operator cannot judge (a tool may read "500" or [500] as 500):
    // the condition holds in a restricting rule, and does not in an allowing one.
    const unjudgeable: Array<[object, unknown]> = [
      [{ path: 'amount', op: 'gt', value: 100 }, { amount: '500' }],
      [{ path: 'amount', op: 'gt', value: 100 }, { amount: [500] }],
      [{ path: 'amount', op: 'lte', value: 100 }, { amount: ' 50' }],
      [{ path: 'amount', op: 'eq', value: 500 }, { amount: '500' }],
      [{ path: 'role', op: 'eq', value: 'root' }, { role: ['root'] }],
      [{ path: 'role', op: 'ne', value: 'user' }, { role: ['user'] }],
      [{ path: 'flag', op: 'eq', value: true }, { flag: 'true' }],
      [{ path: 'country', op: 'in', value: ['KP', 'IR'] }, { country: ['KP'] }],
      [{ path: 'country', op: 'not_in', value: ['US', 'CA'] }, { country: 1 }],
      [{ path: 'email', op: 'matches', value: '@rival\\.com$' }, { email: ['x@rival.com'] }],
      // A path that runs into a reshaped field: a list by a name, a string, a number.
      [{ path: 'order.total', op: 'gt', value: 100 }, { order: [{ total: 500 }] }],
      [{ path: 'order.total', op: 'eq', value: null }, { order: '{"total":null}' }],
      [{ path: 'order.coupon', op: 'not_in', value: ['VIP'] }, { order: 7 }],
      [{ path: 'order.coupon', op: 'exists' }, { order: ['coupon'] }],
    ];
    for (const [condition, input] of unjudgeable) {
      const label = JSON.stringify([condition, input]);
      for (const effect of ['deny', 'require_approval'] as const) {
        const restricting = compilePolicy([
          { id: 'allow-all', effect: 'allow' },
          { id: 'restrict', effect, when: [condition as never] },
        ]);
        expect(restricting.evaluate({ agent, tool, input }).effect, `${effect} ${label}`).toBe(effect);
      }
      const allowing = compilePolicy([{ id: 'allow', effect: 'allow', when: [condition as never] }]);
      expect(allowing.evaluate({ agent, tool, input }).effect, `allow ${label}`).toBe('deny');
    }
    // Judged as ever: values of the operand's type, null against any operand, and missing fields.
    const judged = compilePolicy([
      { id: 'allow-all', effect: 'allow' },
      { id: 'big', effect: 'deny', when: [{ path: 'amount', op: 'gt', value: 100 }] },
      { id: 'no-coupon', effect: 'deny', when: [{ path: 'coupon', op: 'eq', value: null }] },
    ]);
    expect(judged.evaluate({ agent, tool, input: { amount: 50, coupon: 'SAVE10' } }).effect).toBe('allow');
    expect(judged.evaluate({ agent, tool, input: { amount: 500, coupon: 'SAVE10' } }).effect).toBe('deny');
    expect(judged.evaluate({ agent, tool, input: { coupon: 'SAVE10' } }).effect).toBe('allow');
    expect(judged.evaluate({ agent, tool, input: { amount: 50, coupon: null } }).ruleIds).toEqual(['no-coupon']);
  });

  it('judges null under every operator, and a list of only nulls against any type', () => {
    // An optional field sent as null (as strict tool-calling modes send them) triggers nothing.
    const restricting = compilePolicy([
      { id: 'allow-all', effect: 'allow' },
      { id: 'big', effect: 'deny', when: [{ path: 'amount', op: 'gt', value: 1000 }] },
      { id: 'drops', effect: 'require_approval', when: [{ path: 'q', op: 'matches', value: '(?i)drop' }] },
      { id: 'unset', effect: 'deny', when: [{ path: 'x', op: 'in', value: [null] }] },
    ]);
    expect(restricting.evaluate({ agent, tool, input: { amount: null, q: null, x: 'a' } })).toEqual({
      effect: 'allow',
      ruleIds: ['allow-all'],
    });
    expect(restricting.evaluate({ agent, tool, input: { x: null } }).ruleIds).toEqual(['unset']);
    const allowing = compilePolicy([
      { id: 'set', effect: 'allow', when: [{ path: 'x', op: 'not_in', value: [null] }] },
      { id: 'any', effect: 'allow', tools: ['echo'], when: [{ path: 'x', op: 'not_in', value: [] }] },
    ]);
    expect(allowing.evaluate({ agent, tool, input: { x: 'a' } }).ruleIds).toEqual(['set']);
    expect(allowing.evaluate({ agent, tool: { name: 'echo' }, input: { x: 7 } }).ruleIds).toEqual(['set', 'any']);
    expect(allowing.evaluate({ agent, tool, input: { x: null } }).effect).toBe('deny');
  });

  it('keeps what an allow rule restricts when its condition cannot judge the field: its rate limit and redaction', () => {
    const engine = compilePolicy([
      { id: 'allow-all', effect: 'allow' },
      { id: 'big-slow', effect: 'allow', when: [{ path: 'amount', op: 'gt', value: 100 }], rateLimit: { limit: 5, windowMs: 60_000 } },
      { id: 'eu-emails', effect: 'allow', when: [{ path: 'region', op: 'eq', value: 'EU' }], redact: { paths: ['$..email'] } },
    ]);
    const judged = engine.evaluate({ agent, tool, input: { amount: 500, region: 'EU' } });
    expect(judged).toMatchObject({ effect: 'allow', ruleIds: ['allow-all', 'big-slow', 'eu-emails'], redact: { paths: ['$..email'] } });
    expect(judged.rateLimits).toHaveLength(1);
    const reshaped = engine.evaluate({ agent, tool, input: { amount: '500', region: ['EU'] } });
    expect(reshaped).toMatchObject({ effect: 'allow', ruleIds: ['allow-all'], redact: { paths: ['$..email'] } });
    expect(reshaped.rateLimits).toHaveLength(1);
    // Nothing else allows it: the default decides, and nothing is charged.
    const alone = compilePolicy([
      { id: 'big-slow', effect: 'allow', when: [{ path: 'amount', op: 'gt', value: 100 }], rateLimit: { limit: 5, windowMs: 60_000 } },
    ]);
    expect(alone.evaluate({ agent, tool, input: { amount: '500' } })).toEqual({ effect: 'deny', ruleIds: [] });
    // A default denial keeps the rules' redaction, for the call's record; it charges nothing.
    const redacting = compilePolicy([
      { id: 'small', effect: 'allow', when: [{ path: 'amount', op: 'lte', value: 100 }], redact: { paths: ['$.note'] } },
    ]);
    for (const amount of ['50', 500]) {
      // Whatever the input: a call the default denies is recorded as redacted as an invalid one.
      expect(redacting.evaluate({ agent, tool, input: { amount } })).toEqual({
        effect: 'deny',
        ruleIds: [],
        redact: { paths: ['$.note'] },
      });
    }
    // A default that lets it go on keeps them.
    for (const defaultEffect of ['allow', 'require_approval'] as const) {
      const byDefault = compilePolicy(
        [
          {
            id: 'big-slow',
            effect: 'allow',
            when: [{ path: 'amount', op: 'gt', value: 100 }],
            rateLimit: { limit: 5, windowMs: 60_000 },
            redact: { paths: ['$.note'] },
          },
        ],
        { defaultEffect },
      ).evaluate({ agent, tool, input: { amount: '500' } });
      expect(byDefault).toMatchObject({ effect: defaultEffect, ruleIds: [], redact: { paths: ['$.note'] } });
      expect(byDefault.rateLimits).toHaveLength(1);
    }
  });

  it('refuses patterns the linear-time engine cannot run, bad paths, bad operands and duplicate ids at compile time', () => {
    const bad = [
      { id: 'r', effect: 'allow', when: [{ path: 'a', op: 'matches', value: '(?=a)' }] },
      { id: 'r', effect: 'allow', when: [{ path: 'a', op: 'matches', value: '(a)\\1' }] },
      { id: 'r', effect: 'allow', when: [{ path: 'a', op: 'matches', value: '[' }] },
      { id: 'r', effect: 'allow', when: [{ path: 'a..b', op: 'eq', value: 1 }] },
      { id: 'r', effect: 'allow', when: [{ path: 'a', op: 'gt', value: '5' }] },
      { id: 'r', effect: 'allow', when: [{ path: 'a', op: 'in', value: 'x' }] },
      { id: 'r', effect: 'allow', when: [{ path: 'a', op: 'nope' }] },
      { id: 'r', effect: 'sometimes' },
    ];
    for (const rule of bad) expect(() => compilePolicy([rule as never]), JSON.stringify(rule)).toThrow(/rule "r"|invalid/);
    expect(() =>
      compilePolicy([
        { id: 'x', effect: 'allow' },
        { id: 'x', effect: 'deny' },
      ]),
    ).toThrow(/twice/);
  });

  it('decides visibility ignoring input conditions, hiding tools behind unconditional denials', () => {
    const engine = compilePolicy([
      { id: 'allow-crm', effect: 'allow', tools: ['crm.*'] },
      { id: 'deny-delete', effect: 'deny', tools: ['crm.delete'] },
      { id: 'approve-refunds', effect: 'require_approval', tools: ['refunds.*'], when: [{ path: 'a', op: 'gt', value: 1 }] },
      { id: 'deny-big-refunds', effect: 'deny', tools: ['refunds.*'], when: [{ path: 'a', op: 'gt', value: 1000 }] },
    ]);
    const canSee = (name: string) => engine.canSee?.(agent, { name });
    expect(canSee('crm.get')).toBe(true);
    expect(canSee('crm.delete')).toBe(false);
    expect(canSee('refunds.create')).toBe(true);
    expect(canSee('other')).toBe(false);
  });

  it('returns the same merged redaction profile object for the same rules', () => {
    const engine = compilePolicy([
      { id: 'a', effect: 'allow', redact: { paths: ['$.email'] } },
      { id: 'b', effect: 'allow', redact: { paths: ['$.phone'] } },
    ]);
    const first = engine.evaluate({ agent, tool, input: {} });
    const second = engine.evaluate({ agent, tool, input: {} });
    expect(first.redact).toEqual({ paths: ['$.email', '$.phone'] });
    expect(first.redact).toBe(second.redact);
  });
});
