import { describe, expect, it } from 'vitest';
import { hashAgentKey, newAgentId, newAgentKey } from '../../src/auth/agent-keys.js';
import { AgentAuthenticator } from '../../src/auth/agent-authenticator.js';
import { memoryStore } from '../../src/index.js';
import type { AgentRecord, Store } from '../../src/store/types.js';

/** A memory store that counts agent reads and can hold them until released. */
function countingStore() {
  const store = memoryStore();
  let reads = 0;
  let gate: Promise<void> | undefined;
  const counted: Store = {
    ...store,
    async getAgent(id) {
      reads++;
      const agent = await store.getAgent(id);
      if (gate !== undefined) await gate;
      return agent;
    },
  };
  return {
    store: counted,
    reads: () => reads,
    /** Holds every agent read made from now on after its store read, until the returned function is called. */
    hold(): () => void {
      let release = () => {};
      gate = new Promise<void>((resolve) => {
        release = () => {
          gate = undefined;
          resolve();
        };
      });
      return release;
    },
  };
}

async function addAgent(store: Store, overrides: Partial<AgentRecord> = {}): Promise<{ agent: AgentRecord; key: string }> {
  const id = newAgentId();
  const key = newAgentKey(id);
  const agent: AgentRecord = {
    id,
    name: 'support-bot',
    tags: ['support'],
    status: 'active',
    keyHash: hashAgentKey(key),
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    expiresAt: null,
    ...overrides,
  };
  await store.createAgent(agent);
  return { agent, key };
}

/**
 * An agent in a counting store, an authenticator caching for a minute, and agent reads held
 * after their store read until `release()`: the setting of the tests of reads under way.
 */
async function heldRead() {
  const counting = countingStore();
  const { agent, key } = await addAgent(counting.store);
  const authenticator = new AgentAuthenticator(counting.store, () => 0, 60_000);
  return { counting, agent, key, authenticator, release: counting.hold() };
}

describe('AgentAuthenticator', () => {
  it('reads the store on every call without a cache', async () => {
    const counting = countingStore();
    const { key } = await addAgent(counting.store);
    const authenticator = new AgentAuthenticator(counting.store, () => 0);
    for (let index = 0; index < 3; index++) expect((await authenticator.byKey(key))?.name).toBe('support-bot');
    expect(counting.reads()).toBe(3);
  });

  it('reuses an agent for cacheMs, then reads it again', async () => {
    const counting = countingStore();
    const { agent, key } = await addAgent(counting.store);
    let clock = 1_000;
    const authenticator = new AgentAuthenticator(counting.store, () => clock, 500);
    expect((await authenticator.byKey(key))?.id).toBe(agent.id);
    clock += 499;
    expect((await authenticator.byKey(key))?.id).toBe(agent.id);
    expect((await authenticator.byId(agent.id))?.id).toBe(agent.id);
    expect(counting.reads()).toBe(1);
    clock += 1;
    expect((await authenticator.byKey(key))?.id).toBe(agent.id);
    expect(counting.reads()).toBe(2);
  });

  it('keeps serving a change made behind its back until cacheMs has passed', async () => {
    const counting = countingStore();
    const { agent, key } = await addAgent(counting.store);
    let clock = 0;
    const authenticator = new AgentAuthenticator(counting.store, () => clock, 1000);
    expect(await authenticator.byKey(key)).toBeDefined();
    await counting.store.updateAgent(agent.id, { status: 'revoked' });
    expect(await authenticator.byKey(key)).toBeDefined();
    clock = 1000;
    expect(await authenticator.byKey(key)).toBeUndefined();
  });

  it('forgets one agent or all of them', async () => {
    const counting = countingStore();
    const first = await addAgent(counting.store);
    const second = await addAgent(counting.store);
    const authenticator = new AgentAuthenticator(counting.store, () => 0, 60_000);
    await authenticator.byKey(first.key);
    await authenticator.byKey(second.key);
    await counting.store.updateAgent(first.agent.id, { status: 'disabled' });
    authenticator.forget(first.agent.id);
    expect(await authenticator.byKey(first.key)).toBeUndefined();
    expect(await authenticator.byKey(second.key)).toBeDefined();
    expect(counting.reads()).toBe(3);
    await counting.store.updateAgent(second.agent.id, { status: 'revoked' });
    authenticator.forget();
    expect(await authenticator.byKey(second.key)).toBeUndefined();
  });

  it('never refuses because of what it cached: a new key or a re-enabled agent is checked against the store', async () => {
    const counting = countingStore();
    const { agent, key } = await addAgent(counting.store);
    const authenticator = new AgentAuthenticator(counting.store, () => 0, 60_000);
    expect(await authenticator.byKey(key)).toBeDefined();

    const rotated = newAgentKey(agent.id);
    await counting.store.updateAgent(agent.id, { keyHash: hashAgentKey(rotated) });
    expect(await authenticator.byKey(rotated)).toBeDefined();
    // The store was read again for the new key, and that read replaced the cached record.
    expect(await authenticator.byKey(key)).toBeUndefined();

    await counting.store.updateAgent(agent.id, { status: 'disabled' });
    authenticator.forget(agent.id);
    expect(await authenticator.byKey(rotated)).toBeUndefined();
    await counting.store.updateAgent(agent.id, { status: 'active' });
    expect(await authenticator.byKey(rotated)).toBeDefined();
  });

  it('does not cache unknown agents, wrong keys or expired agents as good', async () => {
    const counting = countingStore();
    const { agent } = await addAgent(counting.store, { expiresAt: '2026-06-01T00:00:00.000Z' });
    let clock = Date.parse('2026-05-31T23:59:59.000Z');
    const authenticator = new AgentAuthenticator(counting.store, () => clock, 60_000);
    const stranger = newAgentKey(newAgentId());
    expect(await authenticator.byKey(stranger)).toBeUndefined();
    expect(await authenticator.byKey(stranger)).toBeUndefined();
    expect(counting.reads()).toBe(2);
    expect(await authenticator.byKey(newAgentKey(agent.id))).toBeUndefined();
    expect(await authenticator.byId(agent.id)).toBeDefined();
    clock += 1000;
    // Expiry is checked on every call, cached or not.
    expect(await authenticator.byId(agent.id)).toBeUndefined();
  });

  it('does not cache a read that was in flight when the agent was forgotten', async () => {
    const { counting, agent, key, authenticator, release } = await heldRead();
    const pending = authenticator.byKey(key);
    // The read above saw the agent active; it is revoked and forgotten before the read ends.
    await counting.store.updateAgent(agent.id, { status: 'revoked' });
    authenticator.forget(agent.id);
    release();
    expect(await pending).toBeDefined();
    expect(await authenticator.byKey(key)).toBeUndefined();
    expect(counting.reads()).toBe(2);
  });

  it('calls that arrive while an agent is being read share that read', async () => {
    const { counting, agent, key, authenticator, release } = await heldRead();
    const pending = [authenticator.byKey(key), authenticator.byKey(key), authenticator.byId(agent.id), authenticator.byKey('atg_wrong')];
    release();
    const [first, second, byId, wrong] = await Promise.all(pending);
    expect(first?.id).toBe(agent.id);
    expect(second).toBe(first);
    expect(byId).toBe(first);
    expect(wrong).toBeUndefined();
    expect(counting.reads()).toBe(1);
  });

  it('a call after forget() does not join a read that started before it', async () => {
    const { counting, agent, key, authenticator, release } = await heldRead();
    const before = authenticator.byKey(key);
    await counting.store.updateAgent(agent.id, { status: 'revoked' });
    authenticator.forget(agent.id);
    const after = authenticator.byKey(key);
    release();
    expect((await before)?.id).toBe(agent.id);
    expect(await after).toBeUndefined();
    expect(counting.reads()).toBe(2);
  });

  it('a failed read fails the calls that shared it, and the next call reads again', async () => {
    const store = memoryStore();
    const { agent, key } = await addAgent(store);
    let failing = true;
    let reads = 0;
    const flaky: Store = {
      ...store,
      async getAgent(id) {
        reads++;
        await Promise.resolve();
        if (failing) throw new Error('connection lost');
        return store.getAgent(id);
      },
    };
    const authenticator = new AgentAuthenticator(flaky, () => 0, 60_000);
    const results = await Promise.allSettled([authenticator.byKey(key), authenticator.byKey(key)]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(reads).toBe(1);
    failing = false;
    expect((await authenticator.byKey(key))?.id).toBe(agent.id);
    expect(reads).toBe(2);
  });

  it('hands out a frozen copy, so no caller can change the cached agent or the store', async () => {
    const counting = countingStore();
    const { key } = await addAgent(counting.store);
    const authenticator = new AgentAuthenticator(counting.store, () => 0, 60_000);
    const agent = (await authenticator.byKey(key)) as AgentRecord;
    expect(Object.isFrozen(agent)).toBe(true);
    expect(() => agent.tags.push('admin')).toThrow(TypeError);
    expect(() => {
      (agent as { status: string }).status = 'active';
    }).toThrow(TypeError);
    expect((await authenticator.byKey(key))?.tags).toEqual(['support']);
  });
});
