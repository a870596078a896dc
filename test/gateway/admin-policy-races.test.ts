import { PGlite } from '@electric-sql/pglite';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createNodeHandler } from '../../adapters/node.js';
import { type Gateway, type Store, createGateway, memoryStore } from '../../src/index.js';
import { sqlStore } from '../../src/store/sql/index.js';
import { randomSchema } from '../e2e/fixtures/sql-engines.js';
import { adminTokens } from '../fixtures.js';
import { deferred, listen } from '../helpers.js';

let gateway: Gateway | undefined;
let server: Awaited<ReturnType<typeof listen>> | undefined;
afterEach(async () => {
  await server?.close();
  await gateway?.close();
  server = undefined;
  gateway = undefined;
});

/**
 * A memory store whose next write of a policy rule (whatever method makes it) waits, before
 * it touches the store, until the test releases it: `arrived` settles when it is held.
 */
function heldWriteStore() {
  const inner = memoryStore();
  let hold: { arrived: () => void; released: Promise<void> } | undefined;
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const original = Reflect.get(target, property, receiver);
      if (property !== 'putPolicy' && property !== 'replacePolicy') return original;
      return async (...args: unknown[]) => {
        const held = hold;
        hold = undefined;
        if (held !== undefined) {
          held.arrived();
          await held.released;
        }
        return (original as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  }) as Store;
  return {
    store,
    holdNextWrite() {
      const arrived = deferred();
      const released = deferred();
      hold = { arrived: arrived.resolve, released: released.promise };
      return { arrived: arrived.promise, release: released.resolve };
    },
  };
}

async function serve(store: Store): Promise<(method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>> {
  gateway = createGateway({ store, admin: { tokens: [{ token: adminTokens.admin, id: 'alice', roles: ['admin'] }] } });
  server = await listen(createNodeHandler(gateway));
  const url = server.url;
  return async (method, path, body) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminTokens.admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
  };
}

describe('admin changes of stored policy rules that race', () => {
  it('a PATCH that loses to a DELETE does not bring the rule back: 409, the rule stays deleted', async () => {
    const { store, holdNextWrite } = heldWriteStore();
    const admin = await serve(store);
    expect((await admin('POST', '/admin/policies', { id: 'hold-refunds', effect: 'require_approval', tools: ['refunds.*'] })).status).toBe(
      201,
    );

    const held = holdNextWrite();
    const patch = admin('PATCH', '/admin/policies/hold-refunds', { description: 'refunds wait for a human' });
    await held.arrived;
    expect((await admin('DELETE', '/admin/policies/hold-refunds')).status).toBe(204);
    held.release();

    const patched = await patch;
    expect(patched.status).toBe(409);
    expect(patched.body.error.code).toBe('CONFLICT');
    expect((await admin('GET', '/admin/policies/hold-refunds')).status).toBe(404);
    expect(await store.getPolicy('hold-refunds')).toBeUndefined();
  });

  it('of two PATCHes of one rule, the one that read a rule changed meanwhile gets 409 and overwrites nothing', async () => {
    const { store, holdNextWrite } = heldWriteStore();
    const admin = await serve(store);
    await admin('POST', '/admin/policies', { id: 'reads', effect: 'allow', tools: ['crm.*'] });

    const held = holdNextWrite();
    const slow = admin('PATCH', '/admin/policies/reads', { description: 'CRM reads' });
    await held.arrived;
    const tightened = await admin('PATCH', '/admin/policies/reads', { when: [{ path: '$.limit', op: 'lte', value: 10 }] });
    expect(tightened.status).toBe(200);
    held.release();

    expect((await slow).status).toBe(409);
    const rule = (await admin('GET', '/admin/policies/reads')).body;
    expect(rule.when).toEqual([{ path: '$.limit', op: 'lte', value: 10 }]);
    expect(rule.description).toBeUndefined();
  });

  it('of two creates of one id, one answers 201 and the other 409; the winner is what is stored', async () => {
    const { store, holdNextWrite } = heldWriteStore();
    const admin = await serve(store);

    const held = holdNextWrite();
    const first = admin('POST', '/admin/policies', { id: 'refunds', effect: 'allow', tools: ['refunds.*'] });
    await held.arrived;
    const second = await admin('POST', '/admin/policies', { id: 'refunds', effect: 'deny', tools: ['refunds.*'] });
    expect(second.status).toBe(201);
    held.release();

    const lost = await first;
    expect(lost.status).toBe(409);
    expect(lost.body.error).toEqual({ code: 'CONFLICT', message: 'A policy rule with id "refunds" exists' });
    expect((await admin('GET', '/admin/policies/refunds')).body.effect).toBe('deny');
    // Only the change that took effect is in the audit trail.
    const events = (await gateway?.admin.listAudit({ type: 'admin.policy.created' }))?.items ?? [];
    expect(events.map((entry) => (entry.event.data as { rule: { effect: string } }).rule.effect)).toEqual(['deny']);
  });

  it('a rule stored by hand with other spacing can still be changed on the SQL store', async () => {
    const schema = randomSchema('atg_policy_cas');
    const admin = await serve(sqlStore({ client: database, schema }));
    await gateway?.ready();
    await database.query(`INSERT INTO "${schema}".policies (id, rule, created_at, updated_at) VALUES ($1, $2::json, $3, $3)`, [
      'by-hand',
      '{ "id": "by-hand",  "effect": "deny", "tools": [ "refunds.*" ] }',
      '2030-01-01T00:00:00.000Z',
    ]);
    const patched = await admin('PATCH', '/admin/policies/by-hand', { description: 'no refunds' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id: 'by-hand', effect: 'deny', tools: ['refunds.*'], description: 'no refunds' });
  });
});

const database = new PGlite();
afterAll(() => database.close());
