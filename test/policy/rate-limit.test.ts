import { describe, expect, it } from 'vitest';
import { compilePolicy, memoryRateLimiter } from '../../src/index.js';
import type { RateLimitCharge } from '../../src/index.js';

const charge = (key: string, limit: number, windowMs: number, ruleId = 'r'): RateLimitCharge => ({ key, limit, windowMs, ruleId });

describe('memoryRateLimiter', () => {
  it('lets at most `limit` calls through in any window, and says how long to wait', () => {
    const limiter = memoryRateLimiter();
    const budget = [charge('a', 3, 1000)];
    expect(limiter.take(budget, 0)).toBe(0);
    expect(limiter.take(budget, 100)).toBe(0);
    expect(limiter.take(budget, 900)).toBe(0);
    // The fourth waits for the first to leave the window.
    expect(limiter.take(budget, 950)).toBe(50);
    expect(limiter.take(budget, 999)).toBe(1);
    expect(limiter.take(budget, 1000)).toBe(0);
    // A sliding window, not a fixed one: 100 and 900 are still inside it.
    expect(limiter.take(budget, 1050)).toBe(50);
    expect(limiter.take(budget, 1100)).toBe(0);
    expect(limiter.take(budget, 1899)).toBe(1);
    expect(limiter.take(budget, 1900)).toBe(0);
  });

  it('counts a refused call nowhere, and takes a call from every budget or from none', () => {
    const limiter = memoryRateLimiter();
    const small = charge('small', 1, 1000);
    const large = charge('large', 5, 1000);
    expect(limiter.take([small, large], 0)).toBe(0);
    // Refused by `small`: `large` is not charged for it.
    for (let call = 0; call < 10; call++) expect(limiter.take([small, large], 10)).toBe(990);
    expect(limiter.take([large], 10)).toBe(0);
    expect(limiter.take([large], 10)).toBe(0);
    expect(limiter.take([large], 10)).toBe(0);
    expect(limiter.take([large], 10)).toBe(0);
    expect(limiter.take([large], 10)).toBe(990);
    // Budgets with other keys are apart.
    expect(limiter.take([charge('other', 1, 1000)], 10)).toBe(0);
  });

  it('keeps the calls of the last window when a rule changes its limit', () => {
    const limiter = memoryRateLimiter();
    for (let at = 0; at < 5; at++) expect(limiter.take([charge('k', 10, 1000)], at * 100)).toBe(0);
    // Tightened to 3: five calls are already in the window, the third newest leaves it at 1200.
    expect(limiter.take([charge('k', 3, 1000)], 500)).toBe(700);
    expect(limiter.take([charge('k', 3, 1000)], 1200)).toBe(0);
    // Loosened again: the three calls still in the window (300, 400, 1200) count.
    expect(limiter.take([charge('k', 4, 1000)], 1250)).toBe(0);
    expect(limiter.take([charge('k', 4, 1000)], 1250)).toBe(50);
  });

  it('counts every call still in the window when a budget is looked at with a lower limit, then charged with a higher one', () => {
    const limiter = memoryRateLimiter();
    for (let at = 0; at < 5; at++) expect(limiter.take([charge('k', 10, 1000)], at * 10)).toBe(0);
    // A call under a lower limit (a tightened rule, or a custom engine's call with another limit) is refused.
    expect(limiter.take([charge('k', 3, 1000)], 100)).toBe(920);
    // The five calls are still in the window: five more make ten, the eleventh waits.
    for (let call = 0; call < 5; call++) expect(limiter.take([charge('k', 10, 1000)], 200)).toBe(0);
    expect(limiter.take([charge('k', 10, 1000)], 200)).toBe(800);
  });

  it('after the clock steps back, counts calls stamped ahead of it as made now: a window, not the whole step', () => {
    const limiter = memoryRateLimiter();
    expect(limiter.take([charge('k', 1, 60_000)], 3_600_000)).toBe(0);
    expect(limiter.take([charge('k', 1, 60_000)], 0)).toBe(60_000);
    expect(limiter.take([charge('k', 1, 60_000)], 59_999)).toBe(1);
    expect(limiter.take([charge('k', 1, 60_000)], 60_000)).toBe(0);
  });

  it('sweeps idle budgets and keeps those in use', () => {
    const limiter = memoryRateLimiter({ sweepAbove: 2 });
    expect(limiter.take([charge('busy', 1, 10_000)], 0)).toBe(0);
    expect(limiter.take([charge('idle', 1, 10)], 0)).toBe(0);
    // A third budget sweeps: `idle` is gone (it would allow anyway), `busy` still refuses.
    expect(limiter.take([charge('new', 1, 10_000)], 100)).toBe(0);
    expect(limiter.take([charge('busy', 1, 10_000)], 100)).toBe(9900);
    expect(limiter.take([charge('idle', 1, 10)], 100)).toBe(0);
    expect(() => memoryRateLimiter({ sweepAbove: 0 })).toThrow(/sweepAbove/);
  });
});

describe('rateLimit on policy rules', () => {
  const agent = { id: 'A1', name: 'bot', tags: ['support'] };
  const tool = { name: 'refunds.create' };

  it('charges the call to every matching allow or approval rule, per agent or for all', () => {
    const engine = compilePolicy([
      { id: 'refunds', effect: 'allow', tools: ['refunds.*'], rateLimit: { limit: 10, windowMs: 60_000 } },
      {
        id: 'big',
        effect: 'require_approval',
        when: [{ path: 'amount', op: 'gt', value: 100 }],
        rateLimit: { limit: 2, windowMs: 3_600_000, per: 'all' },
      },
      { id: 'other-tools', effect: 'allow', tools: ['crm.*'], rateLimit: { limit: 1, windowMs: 1000 } },
    ]);
    expect(engine.evaluate({ agent, tool, input: { amount: 5 } })).toEqual({
      effect: 'allow',
      ruleIds: ['refunds'],
      rateLimits: [{ key: 'agent 7 refunds A1', limit: 10, windowMs: 60_000, ruleId: 'refunds' }],
    });
    expect(engine.evaluate({ agent, tool, input: { amount: 500 } })).toEqual({
      effect: 'require_approval',
      ruleIds: ['big'],
      rateLimits: [
        { key: 'agent 7 refunds A1', limit: 10, windowMs: 60_000, ruleId: 'refunds' },
        { key: 'all big', limit: 2, windowMs: 3_600_000, ruleId: 'big' },
      ],
    });
    // A denied call is charged nothing.
    const denying = compilePolicy([
      { id: 'limited', effect: 'allow', rateLimit: { limit: 1, windowMs: 1000 } },
      { id: 'no', effect: 'deny' },
    ]);
    expect(denying.evaluate({ agent, tool, input: {} })).toEqual({ effect: 'deny', ruleIds: ['no'] });
  });

  it('is refused on deny rules and outside its bounds, naming the rule', () => {
    expect(() => compilePolicy([{ id: 'd', effect: 'deny', rateLimit: { limit: 1, windowMs: 1000 } }])).toThrow(
      'policy rule "d" at rateLimit: a deny rule refuses every call it applies to, so it takes no rateLimit',
    );
    expect(() => compilePolicy([{ id: 'z', effect: 'allow', rateLimit: { limit: 0, windowMs: 1000 } }])).toThrow(
      /policy rule "z" at rateLimit\.limit/,
    );
    expect(() => compilePolicy([{ id: 'w', effect: 'allow', rateLimit: { limit: 1, windowMs: 10 } }])).toThrow(
      /policy rule "w" at rateLimit\.windowMs/,
    );
    expect(() => compilePolicy([{ id: 'p', effect: 'allow', rateLimit: { limit: 1, windowMs: 1000, per: 'tool' as 'all' } }])).toThrow(
      /policy rule "p" at rateLimit\.per/,
    );
  });
});
