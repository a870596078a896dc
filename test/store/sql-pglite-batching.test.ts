import { PGlite } from '@electric-sql/pglite';
import { afterAll, describe, expect, it } from 'vitest';
import { defineTool } from '../../src/index.js';
import { sqlStore } from '../../src/store/sql/index.js';
import { randomSchema } from '../e2e/fixtures/sql-engines.js';
import { invocationRecord, testGateway } from '../fixtures.js';

const database = new PGlite();
afterAll(() => database.close());

/** Counts the statements sent to `database` from now on. */
function countStatements(): () => number {
  let count = 0;
  const query = database.query.bind(database);
  database.query = ((...args: Parameters<PGlite['query']>) => {
    count++;
    return query(...args);
  }) as PGlite['query'];
  return () => count;
}

/** A tool that answers on a later turn of the event loop, as one waiting on a socket does. */
const lookup = defineTool({
  name: 'crm.lookup',
  description: 'Look a customer up',
  inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } as const,
  handler: async ({ id }) => {
    await new Promise((resolve) => setImmediate(resolve));
    return { id };
  },
});

describe('sqlStore on PGlite under concurrent calls', () => {
  it('combines the calls’ records and outcome events into shared statements, and loses none', async () => {
    const store = sqlStore({ client: database, schema: randomSchema('atg_batching') });
    const gateway = testGateway({ store, tools: [lookup], policy: [{ id: 'lookups', effect: 'allow', tools: ['crm.*'] }] });
    try {
      const { apiKey } = await gateway.admin.createAgent({ name: 'support-bot' });
      await gateway.ready();
      const call = (id: string) => gateway.invoke({ agentKey: apiKey, tool: 'crm.lookup', input: { id } });
      // Reads the agent into the gateway's cache.
      expect((await call('first')).status).toBe('succeeded');

      const calls = 40;
      const statements = countStatements();
      const outcomes = await Promise.all(Array.from({ length: calls }, (_, index) => call(`c${index}`)));
      const sent = statements();
      expect(outcomes.every((outcome) => outcome.status === 'succeeded')).toBe(true);
      // PGlite runs a statement within the microtasks of its sender: sent at once, each call's
      // record and outcome event would be written before the next tool's answer is handled
      // (two statements per call). Sent a turn later, they wait for the others and share.
      expect(sent).toBeLessThanOrEqual(10);

      const records = (await store.listInvocations({ limit: 1000 })).items;
      expect(records).toHaveLength(calls + 1);
      expect(new Set(records.map((record) => (record.output as { id: string }).id)).size).toBe(calls + 1);
      expect((await gateway.admin.verifyAudit()).ok).toBe(true);
      expect((await store.listAudit({ type: 'invocation', limit: 1000 })).items).toHaveLength(2 * (calls + 1));
    } finally {
      await gateway.close();
      await store.close();
    }
  });

  it('writes the records accepted before close() before it closes', async () => {
    const schema = randomSchema('atg_close');
    const store = sqlStore({ client: database, schema });
    await store.migrate();
    // The first goes out at once; the rest wait for it, as under load.
    const writes = ['w1', 'w2', 'w3'].map((id) => store.putInvocation(invocationRecord(id)));
    const closing = store.close();
    expect(store.close()).toBe(closing);
    await closing;
    expect((await Promise.allSettled(writes)).map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    await expect(store.getInvocation('w1')).rejects.toThrow(/closed/);

    const reopened = sqlStore({ client: database, schema });
    try {
      expect((await reopened.listInvocations({ limit: 10 })).items.map((item) => item.id).sort()).toEqual(['w1', 'w2', 'w3']);
    } finally {
      await reopened.close();
    }
  });

  it('refuses schema names Postgres keeps for itself', () => {
    for (const schema of ['pg_atg', 'pg_catalog', 'pg_toast', 'information_schema']) {
      expect(() => sqlStore({ client: database, schema })).toThrow(/reserved by Postgres/);
    }
  });
});
