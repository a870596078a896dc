import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Gateway, memoryStore } from '../../src/index.js';
import type { SqlStore } from '../../src/store/sql/index.js';
import { pgliteEngine, randomSchema } from '../e2e/fixtures/sql-engines.js';
import { testGateway } from '../fixtures.js';
import { jsonRequest } from '../helpers.js';

const engine = pgliteEngine();
let gateway: Gateway | undefined;
let store: SqlStore | undefined;
afterEach(async () => {
  await gateway?.close();
  await store?.close();
  gateway = undefined;
  store = undefined;
});
afterAll(() => engine.close());

async function invoke(key: string): Promise<number> {
  const response = await (gateway as Gateway).fetch(jsonRequest('/tools/echo/invoke', { key, body: { input: { text: 'hi' } } }));
  await response.body?.cancel();
  return response.status;
}

/** A gateway on a store that announces changes (the SQL store on PGlite), with a clock the test moves. */
async function cachingGateway(agentCacheMs?: number) {
  let clock = Date.parse('2026-03-01T12:00:00.000Z');
  store = engine.store(randomSchema('atg_agent_cache'));
  gateway = testGateway({ store, now: () => clock, ...(agentCacheMs === undefined ? {} : { agentCacheMs }) });
  const { apiKey, agent } = await gateway.admin.createAgent({ name: 'support-bot', tags: ['support'] });
  return {
    apiKey,
    agentId: agent.id,
    store,
    advance: (milliseconds: number) => {
      clock += milliseconds;
    },
  };
}

describe('agent cache', () => {
  it('refuses a key revoked on this instance at once', async () => {
    const { apiKey, agentId } = await cachingGateway();
    expect(await invoke(apiKey)).toBe(200);
    await gateway?.admin.revokeAgent(agentId);
    expect(await invoke(apiKey)).toBe(401);
  });

  it('bounds an unannounced change elsewhere by agentCacheMs (default 1000 ms)', async () => {
    const { apiKey, agentId, store: sql, advance } = await cachingGateway();
    expect(await invoke(apiKey)).toBe(200);
    // Another instance's revocation whose announcement never arrived: only the database knows.
    await sql.updateAgent(agentId, { status: 'revoked' });
    advance(999);
    expect(await invoke(apiKey)).toBe(200);
    advance(1);
    expect(await invoke(apiKey)).toBe(401);
  });

  it('with agentCacheMs: 0, reads the agent on every call', async () => {
    const { apiKey, agentId, store: sql } = await cachingGateway(0);
    expect(await invoke(apiKey)).toBe(200);
    await sql.updateAgent(agentId, { status: 'disabled' });
    expect(await invoke(apiKey)).toBe(401);
  });

  it('does not cache on a store that cannot announce changes (the memory store)', async () => {
    const shared = memoryStore();
    gateway = testGateway({ store: shared });
    const { apiKey, agent } = await gateway.admin.createAgent({ name: 'support-bot', tags: ['support'] });
    expect(await invoke(apiKey)).toBe(200);
    await shared.updateAgent(agent.id, { status: 'revoked' });
    expect(await invoke(apiKey)).toBe(401);
  });

  it('refuses a negative agentCacheMs', () => {
    expect(() => testGateway({ agentCacheMs: -1 })).toThrow(/agentCacheMs/);
  });
});
