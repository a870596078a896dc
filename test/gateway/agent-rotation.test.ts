import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Gateway, type Store, memoryStore } from '../../src/index.js';
import { type SqlEngine, pgliteEngine, postgresEngine, postgresUrl, randomSchema } from '../e2e/fixtures/sql-engines.js';
import { adminTokens, testGateway } from '../fixtures.js';
import { jsonRequest } from '../helpers.js';

/**
 * `inner`, except that the next `count` agent reads after `holdReads(count)` wait for one
 * another: racing operations are sure to have read the same agent before any writes.
 */
function gatedStore(inner: Store): { store: Store; holdReads(count: number): void } {
  const waiting: Array<() => void> = [];
  let expected = 0;
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property !== 'getAgent' || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const read = await value.apply(target, args);
        if (expected > 0) {
          const arrived = new Promise<void>((resolve) => waiting.push(resolve));
          if (waiting.length === expected) {
            expected = 0;
            for (const release of waiting.splice(0)) release();
          }
          await arrived;
        }
        return read;
      };
    },
  });
  return { store, holdReads: (count) => (expected = count) };
}

const engines: Array<{ name: string; engine?: () => SqlEngine }> = [
  { name: 'memory store' },
  { name: 'SQL store on PGlite', engine: pgliteEngine },
  ...(postgresUrl === undefined ? [] : [{ name: 'SQL store on Postgres', engine: () => postgresEngine(postgresUrl as string) }]),
];

describe.each(engines)('agent key rotation and status, $name', ({ engine: openEngine }) => {
  const engine = openEngine?.();
  let gateway: Gateway | undefined;
  let inner: Store | undefined;
  let schema: string | undefined;
  afterEach(async () => {
    await gateway?.close();
    await inner?.close();
    if (schema !== undefined) await engine?.dropSchema(schema);
    gateway = undefined;
    inner = undefined;
    schema = undefined;
  });
  afterAll(() => engine?.close());

  function setup() {
    schema = engine === undefined ? undefined : randomSchema('atg_agent_rotation');
    inner = engine === undefined || schema === undefined ? memoryStore() : engine.store(schema);
    const gated = gatedStore(inner);
    gateway = testGateway({ store: gated.store });
    return { gateway, holdReads: gated.holdReads };
  }

  async function post(path: string) {
    const response = await (gateway as Gateway).fetch(jsonRequest(path, { method: 'POST', key: adminTokens.admin }));
    return { status: response.status, body: (await response.json()) as any };
  }

  async function toolsStatus(key: string) {
    const response = await (gateway as Gateway).fetch(jsonRequest('/tools', { key }));
    await response.body?.cancel();
    return response.status;
  }

  it('lets one of two racing rotations win; the other gets 409 and no key, so every key handed out works', async () => {
    const { gateway, holdReads } = setup();
    const { agent, apiKey } = await gateway.admin.createAgent({ name: 'support-bot' });

    holdReads(2);
    const answers = await Promise.all([post(`/admin/agents/${agent.id}/rotate`), post(`/admin/agents/${agent.id}/rotate`)]);
    const winner = answers.find((answer) => answer.status === 200);
    const loser = answers.find((answer) => answer.status !== 200);
    expect(winner?.body.apiKey).toMatch(/^atg_/);
    expect(loser?.status).toBe(409);
    expect(loser?.body).toEqual({
      error: { code: 'CONFLICT', message: "The agent's key was rotated by another request meanwhile; rotate again for a key of your own" },
    });
    expect(await toolsStatus(winner?.body.apiKey)).toBe(200);
    expect(await toolsStatus(apiKey)).toBe(401);
    const rotated = (await gateway.admin.listAudit({ limit: 100 })).items.filter((item) => item.event.type === 'admin.agent.rotated');
    expect(rotated).toHaveLength(1);

    // The programmatic API behaves the same.
    holdReads(2);
    const settled = await Promise.allSettled([gateway.admin.rotateAgentKey(agent.id), gateway.admin.rotateAgentKey(agent.id)]);
    const kept = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value.apiKey] : []));
    expect(kept).toHaveLength(1);
    expect(settled.find((result) => result.status === 'rejected')).toMatchObject({ reason: { code: 'CONFLICT' } });
    expect(await toolsStatus(kept[0] as string)).toBe(200);
    expect(await toolsStatus(winner?.body.apiKey)).toBe(401);
  });

  it('words the refusal to change a revoked agent by the status asked for', async () => {
    const { gateway } = setup();
    const { agent } = await gateway.admin.createAgent({ name: 'support-bot' });
    expect((await post(`/admin/agents/${agent.id}/revoke`)).status).toBe(200);

    expect(await post(`/admin/agents/${agent.id}/enable`)).toEqual({
      status: 409,
      body: { error: { code: 'CONFLICT', message: 'A revoked agent cannot be re-enabled; create a new agent' } },
    });
    expect(await post(`/admin/agents/${agent.id}/disable`)).toEqual({
      status: 409,
      body: { error: { code: 'CONFLICT', message: 'A revoked agent cannot be disabled: revocation is final' } },
    });
    expect(await post(`/admin/agents/${agent.id}/rotate`)).toEqual({
      status: 409,
      body: { error: { code: 'CONFLICT', message: 'A revoked agent cannot get a new key' } },
    });
    expect((await post(`/admin/agents/${agent.id}/revoke`)).status).toBe(200);
    expect((await gateway.admin.getAgent(agent.id)).status).toBe('revoked');
  });
});
