import { describe, expect, it } from 'vitest';
import { createGateway, defineTool, memoryStore } from '../../src/index.js';
import { canonicalJson, canonicalSnapshot } from '../../src/util/canonical-json.js';
import { freezeTree, isFrozenTree } from '../../src/util/frozen.js';

function everyContainerFrozen(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  return Object.isFrozen(value) && Object.values(value).every(everyContainerFrozen);
}

describe('frozen trees', () => {
  it('freezes every container and marks only the root', () => {
    const tree = { a: [1, { b: 'c' }], d: { e: null } };
    expect(freezeTree(tree)).toBe(tree);
    expect(everyContainerFrozen(tree)).toBe(true);
    expect(isFrozenTree(tree)).toBe(true);
    expect(isFrozenTree(tree.d)).toBe(false);
    // The mark is invisible to JSON, keys and equality.
    expect(JSON.stringify(tree)).toBe('{"a":[1,{"b":"c"}],"d":{"e":null}}');
    expect(Object.keys(tree)).toEqual(['a', 'd']);
    expect(tree).toEqual({ a: [1, { b: 'c' }], d: { e: null } });
  });

  it('does not take an object someone else froze for a frozen tree', () => {
    const shallow = Object.freeze({ nested: { mutable: true } });
    expect(isFrozenTree(shallow)).toBe(false);
  });

  it('gives the canonical text and a frozen copy of what it says', () => {
    const values: unknown[] = [
      { a: 1, b: [true, null, 'x'], c: { d: 2 } },
      { z: 1, a: { y: undefined, b: 2 } },
      { when: new Date(0), list: [undefined, 1] },
      JSON.parse('{"__proto__":{"polluted":true},"a":1}'),
      'text',
      42,
    ];
    for (const value of values) {
      const { text, copy } = canonicalSnapshot(value);
      expect(text).toBe(canonicalJson(value));
      expect(copy).toEqual(JSON.parse(text));
      expect(everyContainerFrozen(copy)).toBe(true);
      if (copy !== null && typeof copy === 'object') {
        expect(isFrozenTree(copy)).toBe(true);
        expect(copy).not.toBe(value);
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('freezes a root the caller gives up as it is, with copies of its containers', () => {
    const data = { list: [1, { deep: true }], note: 'x' };
    const root = { a: 1, data, z: null };
    const { text, copy } = canonicalSnapshot(root, true);
    expect(text).toBe('{"a":1,"data":{"list":[1,{"deep":true}],"note":"x"},"z":null}');
    expect(copy).toBe(root);
    expect(isFrozenTree(root)).toBe(true);
    expect(everyContainerFrozen(copy)).toBe(true);
    expect((copy as typeof root).data).not.toBe(data);
    // What the caller still holds stays its own, and changing it changes nothing in the snapshot.
    expect(Object.isFrozen(data)).toBe(false);
    data.note = 'changed';
    (data.list[1] as { deep: boolean }).deep = false;
    expect(JSON.stringify(copy)).toBe(text);
    // A root out of canonical order (or an array) is copied as before.
    const unordered = { b: 1, a: { c: 2 } };
    const snapshot = canonicalSnapshot(unordered, true);
    expect(snapshot.copy).not.toBe(unordered);
    expect(snapshot.copy).toEqual({ a: { c: 2 }, b: 1 });
    const list = [{ a: 1 }];
    expect(canonicalSnapshot(list, true).copy).not.toBe(list);
  });
});

describe('outputs of in-process calls', () => {
  it('are a redacted copy: changing one changes neither the tool nor the record', async () => {
    const record = { id: 'c1', email: 'ada@example.com', orders: [{ id: 'o1' }] };
    const gateway = createGateway({
      store: memoryStore(),
      tools: [defineTool({ name: 'crm.get', description: 'Get a customer', inputSchema: { type: 'object' }, handler: () => record })],
      policy: [{ id: 'all', effect: 'allow' }],
    });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const outcome = await gateway.invoke({ agentKey: apiKey, tool: 'crm.get', input: {} });
    expect(outcome.status).toBe('succeeded');
    if (outcome.status !== 'succeeded') return;
    expect(outcome.output).toEqual({ id: 'c1', email: '***', orders: [{ id: 'o1' }] });
    (outcome.output as { orders: Array<{ id: string }> }).orders[0] = { id: 'changed' };
    expect(record.orders[0]?.id).toBe('o1');
    const stored = await gateway.admin.getInvocation(outcome.invocationId);
    expect(stored?.output).toEqual({ id: 'c1', email: '***', orders: [{ id: 'o1' }] });
    await gateway.close();
  });
});
