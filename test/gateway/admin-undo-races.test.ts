import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createNodeHandler } from '../../adapters/node.js';
import { type Gateway, type Store, createGateway, memoryStore } from '../../src/index.js';
import { type SqlEngine, pgliteEngine, postgresEngine, postgresUrl, randomSchema } from '../e2e/fixtures/sql-engines.js';
import { adminTokens } from '../fixtures.js';
import { deferred, listen } from '../helpers.js';

const engines: Array<{ name: string; engine?: () => SqlEngine }> = [
  { name: 'memory store' },
  { name: 'SQL store on PGlite', engine: pgliteEngine },
  ...(postgresUrl === undefined ? [] : [{ name: 'SQL store on Postgres', engine: () => postgresEngine(postgresUrl as string) }]),
];

/**
 * `inner` as one instance sees it: its audit appends fail while `broken`, and its next delete
 * of a tool or rule waits, once called, until the test releases it.
 */
function instanceStore(inner: Store) {
  const state = { broken: false, hold: undefined as { arrived: () => void; released: Promise<void> } | undefined };
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (property === 'appendAudit') {
        return async (...args: unknown[]) => {
          if (state.broken) throw new Error('disk full');
          return value.apply(target, args);
        };
      }
      if (property === 'deleteTool' || property === 'deletePolicy') {
        return async (...args: unknown[]) => {
          const held = state.hold;
          state.hold = undefined;
          if (held !== undefined) {
            held.arrived();
            await held.released;
          }
          return value.apply(target, args);
        };
      }
      return value;
    },
  });
  return {
    store,
    breakAudit: (broken: boolean) => {
      state.broken = broken;
    },
    holdNextDelete() {
      const arrived = deferred();
      const released = deferred();
      state.hold = { arrived: arrived.resolve, released: released.promise };
      return { arrived: arrived.promise, release: released.resolve };
    },
  };
}

describe.each(engines)(
  'an admin change the audit trail cannot record, undone while another instance changes the same tool or rule, $name',
  ({ engine: openEngine }) => {
    const engine = openEngine?.();
    const closers: Array<() => Promise<unknown>> = [];
    afterEach(async () => {
      while (closers.length > 0) await closers.pop()?.();
    });
    afterAll(() => engine?.close());

    /** Instance A, served over node:http with an audit trail that can break; instance B on the same data. */
    async function setup() {
      const schema = engine === undefined ? undefined : randomSchema('atg_undo_race');
      if (engine !== undefined && schema !== undefined) closers.push(() => engine.dropSchema(schema));
      const data = engine === undefined || schema === undefined ? memoryStore() : engine.store(schema);
      const instanceA = instanceStore(data);
      const a = createGateway({
        store: instanceA.store,
        admin: { tokens: [{ token: adminTokens.admin, id: 'alice', roles: ['admin'] }] },
        onError: () => undefined,
      });
      closers.push(() => a.close());
      // B opens the same data as another process would (on SQL, with a handle of its own).
      const b: Gateway = createGateway({ store: engine === undefined || schema === undefined ? data : engine.store(schema) });
      closers.push(() => b.close());
      await Promise.all([a.ready(), b.ready()]);
      const server = await listen(createNodeHandler(a));
      closers.push(() => server.close());
      const admin = async (method: string, path: string, body?: unknown) => {
        const response = await fetch(`${server.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${adminTokens.admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return { status: response.status, body: (await response.json()) as any };
      };
      return { a: { ...instanceA, admin }, b, data };
    }

    it('a tool updated on another instance between the undo’s read and its delete is kept, with its update', async () => {
      const { a, b, data } = await setup();
      a.breakAudit(true);
      const held = a.holdNextDelete();
      const created = a.admin('POST', '/admin/tools', {
        name: 'crm.get',
        description: 'v1',
        method: 'GET',
        url: 'http://127.0.0.1:9/x',
        inputSchema: { type: 'object' },
      });
      // The undo has read the tool it created, unchanged, and is about to delete it.
      await held.arrived;
      await b.admin.updateTool('crm.get', { description: 'v2, from another instance' });
      held.release();

      const answer = await created;
      expect(answer.status).toBe(503);
      expect(answer.body.error.code).toBe('AUDIT_UNAVAILABLE');
      // The other instance's update stands: it was recorded, and nothing deleted it unrecorded.
      expect((await data.getTool('crm.get'))?.definition).toMatchObject({ description: 'v2, from another instance' });
      expect((await b.admin.listAudit({ type: 'admin.tool' })).items.map((entry) => entry.event.type)).toEqual(['admin.tool.updated']);
    });

    it('a rule updated on another instance between the undo’s read and its delete is kept, with its update', async () => {
      const { a, b, data } = await setup();
      a.breakAudit(true);
      const held = a.holdNextDelete();
      const created = a.admin('POST', '/admin/policies', { id: 'crm-reads', effect: 'allow', tools: ['crm.*'] });
      await held.arrived;
      await b.admin.updatePolicy('crm-reads', { effect: 'require_approval' });
      held.release();

      const answer = await created;
      expect(answer.status).toBe(503);
      expect(answer.body.error.code).toBe('AUDIT_UNAVAILABLE');
      expect((await data.getPolicy('crm-reads'))?.rule).toMatchObject({ effect: 'require_approval' });
      expect((await b.admin.listAudit({ type: 'admin.policy' })).items.map((entry) => entry.event.type)).toEqual(['admin.policy.updated']);
    });

    it('a DELETE undone puts back the tool it deleted, with an update another instance made after the DELETE read it', async () => {
      const { a, b, data } = await setup();
      await b.admin.createTool({
        name: 'crm.get',
        description: 'v1',
        method: 'GET',
        url: 'http://127.0.0.1:9/x',
        inputSchema: { type: 'object' },
      });
      a.breakAudit(true);
      const held = a.holdNextDelete();
      const deleted = a.admin('DELETE', '/admin/tools/crm.get');
      // The DELETE has read v1 and is about to delete it.
      await held.arrived;
      await b.admin.updateTool('crm.get', { description: 'v2, from another instance' });
      held.release();

      expect((await deleted).status).toBe(503);
      // Not v1 put back over the recorded update: what stands is what the DELETE deleted.
      expect((await data.getTool('crm.get'))?.definition).toMatchObject({ description: 'v2, from another instance' });
      expect((await a.admin('GET', '/admin/tools/crm.get')).body.description).toBe('v2, from another instance');
    });

    it('a DELETE undone puts back the rule it deleted, with an update another instance made after the DELETE read it', async () => {
      const { a, b, data } = await setup();
      await b.admin.createPolicy({ id: 'crm-reads', effect: 'allow', tools: ['crm.*'] });
      a.breakAudit(true);
      const held = a.holdNextDelete();
      const deleted = a.admin('DELETE', '/admin/policies/crm-reads');
      await held.arrived;
      await b.admin.updatePolicy('crm-reads', { effect: 'deny' });
      held.release();

      expect((await deleted).status).toBe(503);
      expect((await data.getPolicy('crm-reads'))?.rule).toMatchObject({ effect: 'deny' });
      expect((await a.admin('GET', '/admin/policies/crm-reads')).body.effect).toBe('deny');
    });
  },
);
