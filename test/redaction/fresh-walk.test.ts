import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRedactor, redactFresh } from '../../src/redaction/redactor.js';
import type { CompiledRedaction, RedactionProfileInput } from '../../src/redaction/types.js';

// The walk the gateway uses for an HTTP tool's parsed upstream body: the same result as the
// copying walk, with unchanged containers shared instead of copied.

const redactor = createRedactor();

function compiled(profile: RedactionProfileInput = {}): CompiledRedaction {
  return redactor.compile(profile);
}

/** A value as an upstream body gives it: parsed from JSON text, referenced by nothing else. */
function parsed(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

/** Every object and array of a value. */
function containersOf(value: unknown, found = new Set<object>()): Set<object> {
  if (value !== null && typeof value === 'object') {
    found.add(value);
    for (const member of Object.values(value)) containersOf(member, found);
  }
  return found;
}

const sensitiveStrings = fc.constantFrom(
  'ada.lovelace@example.com',
  '4111 1111 1111 1111',
  '+1 415 555 0142',
  'call +44 20 7946 0958 today',
  'Bearer crm-live-7f3a9c2e5b8d1f4a6c0e',
  'plain text',
  '',
);
const keys = fc.constantFrom('id', 'name', 'password', 'apiKey', 'notes', 'ada@example.com', '__proto__', 'street', 'zip', 'items');
const leaf = fc.oneof(
  sensitiveStrings,
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
);
const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('tree'), { maxLength: 5 }),
  object: fc.dictionary(keys, tie('tree'), { maxKeys: 5 }),
}));
const profiles: fc.Arbitrary<RedactionProfileInput> = fc.constantFrom<RedactionProfileInput>(
  {},
  { secrets: ['crm-live-7f3a9c2e5b8d1f4a6c0e'] },
  { paths: ['$..street', { path: '$..zip', mode: 'partial' }] },
  {
    paths: [
      { path: '$.items[*]', mode: 'remove' },
      { path: '$..name', mode: 'hash' },
    ],
  },
  { paths: [{ path: '$..id', mode: 'remove' }], mode: 'hash' },
  { paths: ['$'] },
  { paths: [{ path: '$.items[1]', mode: 'remove' }] },
  // A numeric secret: every number is scanned.
  { secrets: ['987654321012'] },
);

describe('the fresh walk', () => {
  it('gives the same result as the copying walk, and never changes its input', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), tree, profiles, (random, planted, profile) => {
        for (const value of [random, planted, { items: [planted, random], name: planted }]) {
          const redaction = compiled(profile);
          const input = parsed(value);
          const before = JSON.stringify(input);
          const fresh = redactFresh(redaction, input);
          expect(JSON.stringify(fresh)).toBe(JSON.stringify(redaction.value(parsed(value))));
          expect(fresh).toStrictEqual(redaction.value(parsed(value)));
          expect(JSON.stringify(input)).toBe(before);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('shares only containers in which nothing changed, where they were', () => {
    fc.assert(
      fc.property(tree, profiles, (value, profile) => {
        const redaction = compiled(profile);
        const input = parsed(value);
        const fresh = redactFresh(redaction, input);
        const copied = redaction.value(parsed(value));
        const originals = containersOf(input);
        // The two results have the same shape (the first test): every container the fresh one
        // kept from the input is what the copying walk made at the same place.
        const compare = (kept: unknown, made: unknown) => {
          if (kept === null || typeof kept !== 'object') return;
          if (originals.has(kept)) expect(made).toStrictEqual(kept);
          for (const [key, member] of Object.entries(kept)) compare(member, (made as Record<string, unknown>)[key]);
        };
        compare(fresh, copied);
      }),
      { numRuns: 400 },
    );
  });

  it('keeps unchanged parts and copies the containers on the way to a change', () => {
    const input = parsed({
      id: 'cus_1042',
      email: 'ada.lovelace@example.com',
      orders: [
        { sku: 'A-1', amount: 1999 },
        { sku: 'B-2', amount: 4999 },
      ],
      address: { street: '12 Market Street', city: 'San Francisco' },
      tags: ['priority'],
    }) as Record<string, Record<string, unknown>>;
    const fresh = redactFresh(compiled({ paths: ['$.address.street'] }), input) as Record<string, Record<string, unknown>>;
    expect(fresh).not.toBe(input);
    expect(fresh.email).toBe('***');
    expect(input.email).toBe('ada.lovelace@example.com');
    expect(fresh.orders).toBe(input.orders);
    expect(fresh.tags).toBe(input.tags);
    expect(fresh.address).not.toBe(input.address);
    expect(fresh.address).toEqual({ street: '***', city: 'San Francisco' });
    expect(Object.keys(fresh)).toEqual(['id', 'email', 'orders', 'address', 'tags']);
  });

  it('returns the input itself when the redaction changes nothing', () => {
    const input = parsed({ id: 'cus_1042', orders: [{ sku: 'A-1', amount: 1999 }], note: 'plain text' });
    expect(redactFresh(compiled(), input)).toBe(input);
  });

  it('keeps an own __proto__ member and both values of keys a redaction made equal', () => {
    for (const text of ['{"a":1,"__proto__":{"x":1},"ada@example.com":2,"***":3}', '{"***":3,"ada@example.com":2}']) {
      const fresh = redactFresh(compiled(), JSON.parse(text)) as Record<string, unknown>;
      expect(fresh).toStrictEqual(compiled().value(JSON.parse(text)));
      expect(Object.getPrototypeOf(fresh)).toBe(Object.prototype);
      expect(Object.values(fresh)).toEqual(expect.arrayContaining([2, 3]));
    }
    const first = redactFresh(compiled(), JSON.parse('{"a":1,"__proto__":{"x":1},"ada@example.com":2,"***":3}'));
    expect(Object.hasOwn(first as object, '__proto__')).toBe(true);
    expect(Object.keys(first as object)).toEqual(['a', '__proto__', '***', '***~2']);
  });

  it('leaves what is not plain JSON data to the copying walk', () => {
    const redaction = compiled();
    const inherited = Object.create({ inherited: 'ada@example.com' }) as Record<string, unknown>;
    inherited.own = 'plain';
    const odd = [
      { when: new Date(0), email: 'ada@example.com' },
      { nested: { toJSON: () => ({ card: '4111 1111 1111 1111' }) } },
      { gone: undefined, fn: () => 1, kept: 'plain' },
      [1, undefined, () => 2],
      // biome-ignore lint/suspicious/noSparseArray: a hole is what this checks
      [1, , 3],
      { proto: inherited },
    ];
    for (const value of odd) {
      const fresh = redactFresh(redaction, value);
      expect(fresh).toStrictEqual(redaction.value(value));
      expect(JSON.stringify(fresh)).toBe(JSON.stringify(redaction.value(value)));
    }
  });

  it('handles nesting deeper than the recursion limit', () => {
    let deep: unknown = { email: 'ada.lovelace@example.com', keep: [1, 2] };
    for (let level = 0; level < 300; level++) deep = { level, child: deep };
    const input = parsed(deep);
    const redaction = compiled();
    expect(redactFresh(redaction, input)).toStrictEqual(redaction.value(parsed(deep)));
  });
});
