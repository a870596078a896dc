/**
 * A reservation racing a release on the SQL store: the statement that reserves an
 * idempotency key can conflict with a row committed after its snapshot, and that row can be
 * released before the read that follows. The store then tries again. PGlite runs one
 * statement at a time, so the race is staged: the reserving statement answers as it would
 * have, and the release happens in between.
 */
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, describe, expect, it } from 'vitest';
import { sqlStore } from '../../src/store/sql/index.js';

const database = new PGlite();
afterAll(async () => {
  await database.close();
});

/** A PGlite client whose next `count` reserving statements find the row in the way gone. */
function stagedClient(schema: string) {
  const staged = { count: 0 };
  const client = {
    query: async (text: string, params?: unknown[]) => {
      if (staged.count > 0 && text.includes(`INSERT INTO "${schema}".idempotency_keys`)) {
        staged.count--;
        // The holder's row was committed after this statement's snapshot (so it saw neither
        // its own insert nor the row), and released right after.
        await database.query(`DELETE FROM "${schema}".idempotency_keys WHERE agent_id = $1 AND key = $2`, [params?.[0], params?.[1]]);
        return { rows: [], fields: [] };
      }
      return database.query(text, params);
    },
    transaction: database.transaction.bind(database),
    listen: database.listen.bind(database),
    close: async () => undefined,
  };
  return { client, staged };
}

const reservation = (invocationId: string) => ({
  agentId: 'agent-1',
  key: 'order-42',
  invocationId,
  fingerprint: 'refund:abc',
  createdAt: '2030-01-01T00:00:00.000Z',
});

describe('sqlStore reserveIdempotencyKey racing a release', () => {
  it('takes the key when the reservation in its way was released before it could read it', async () => {
    const schema = `race_${randomBytes(6).toString('hex')}`;
    const { client, staged } = stagedClient(schema);
    const store = sqlStore({ client, schema });
    try {
      expect((await store.reserveIdempotencyKey(reservation('inv-holder'))).created).toBe(true);
      staged.count = 1;
      expect(await store.reserveIdempotencyKey(reservation('inv-next'))).toEqual({ created: true, record: reservation('inv-next') });
      expect(await store.reserveIdempotencyKey(reservation('inv-late'))).toEqual({ created: false, record: reservation('inv-next') });
    } finally {
      await store.close();
    }
  });

  it('answers 409 CONFLICT, retry later, when the key keeps changing hands', async () => {
    const schema = `race_${randomBytes(6).toString('hex')}`;
    const { client, staged } = stagedClient(schema);
    const store = sqlStore({ client, schema });
    try {
      staged.count = 100;
      await expect(store.reserveIdempotencyKey(reservation('inv-1'))).rejects.toMatchObject({
        code: 'CONFLICT',
        status: 409,
        headers: { 'retry-after': '1' },
      });
      expect(staged.count).toBe(95);
    } finally {
      await store.close();
    }
  });
});
