import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, GatewayError, type Store, createGateway, defineTool, memoryStore } from '../../src/index.js';
import { latestRun } from '../../src/util/latest-run.js';
import { deferred, jsonRequest } from '../helpers.js';

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

const alice = { id: 'alice', roles: ['admin' as const] };

const echo = defineTool({
  name: 'echo',
  description: 'echoes',
  inputSchema: { type: 'object' } as const,
  handler: () => ({ ok: true }),
});

/** Every pending callback and promise job run: the memory store's work is all in them. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A memory store that announces changes as the SQL store does (`watch`), and whose next
 * read of `method` can be held: it reads the store at once, then waits for `release` before
 * it answers what it read.
 */
function watchedStore(method: 'listTools' | 'listPolicies') {
  const inner = memoryStore();
  let onChange: ((kind: 'tools' | 'policies' | 'agents') => void) | undefined;
  let hold: { read: () => void; released: Promise<void> } | undefined;
  let afterWrite: (() => void) | undefined;
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'watch') {
        return (listener: typeof onChange) => {
          onChange = listener;
          return () => (onChange = undefined);
        };
      }
      const original = Reflect.get(target, property, receiver);
      if (property === method) {
        return async (...args: unknown[]) => {
          const answer = await (original as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          const held = hold;
          hold = undefined;
          if (held !== undefined) {
            held.read();
            await held.released;
          }
          return answer;
        };
      }
      if (property === 'replaceTool' || property === 'putPolicy' || property === 'replacePolicy') {
        return async (...args: unknown[]) => {
          const answer = await (original as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          afterWrite?.();
          return answer;
        };
      }
      return original;
    },
  }) as Store;
  return {
    store,
    announce: (kind: 'tools' | 'policies') => onChange?.(kind),
    /** Holds the next read: `read` settles once it has read the store, `release` lets it answer. */
    holdNextRead() {
      const read = deferred();
      const released = deferred();
      hold = { read: read.resolve, released: released.promise };
      return { read: read.promise, release: released.resolve };
    },
    /** Settles after the next write of a tool or a policy. */
    nextWrite() {
      const written = deferred();
      afterWrite = () => {
        afterWrite = undefined;
        written.resolve();
      };
      return written.promise;
    },
  };
}

describe('reloads of the store’s tools and rules', () => {
  it('never let an older read of the tools undo a newer one', async () => {
    const { store, announce, holdNextRead, nextWrite } = watchedStore('listTools');
    gateway = createGateway({ store, tools: [echo], refreshIntervalMs: 0 });
    await gateway.ready();

    // Another instance announces a change: this reload reads the tools (none) and is held.
    const older = holdNextRead();
    announce('tools');
    await older.read;

    // Meanwhile a tool is created here, and its own reload asked for.
    const written = nextWrite();
    const creating = gateway.admin.createTool(
      { name: 'crm.orders', description: 'Orders', method: 'GET', url: 'https://crm.example/orders', inputSchema: { type: 'object' } },
      alice,
    );
    await written;
    await turn();
    older.release();
    await creating;

    expect((await gateway.admin.listTools()).map((tool) => tool.name)).toContain('crm.orders');
    await turn();
    expect((await gateway.admin.listTools()).map((tool) => tool.name)).toContain('crm.orders');
  });

  it('never let an older read of the rules undo a newer one', async () => {
    const { store, announce, holdNextRead, nextWrite } = watchedStore('listPolicies');
    gateway = createGateway({
      store,
      tools: [echo],
      policy: [{ id: 'allow', effect: 'allow', tools: ['*'] }],
      refreshIntervalMs: 0,
    });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    await gateway.ready();

    const older = holdNextRead();
    announce('policies');
    await older.read;

    const written = nextWrite();
    const creating = gateway.admin.createPolicy({ id: 'echo-needs-approval', effect: 'require_approval', tools: ['echo'] }, alice);
    await written;
    await turn();
    older.release();
    await creating;
    await turn();

    expect(await gateway.invoke({ agentKey: apiKey, tool: 'echo' })).toMatchObject({ status: 'pending_approval' });
  });
});

describe('a store outage met by reloads', () => {
  it('is told to onError with the calls that meet it, once every 5 s, not once per reload', async () => {
    const inner = memoryStore();
    let down = true;
    let onChange: ((kind: 'tools' | 'policies' | 'agents') => void) | undefined;
    const store = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === 'watch') {
          return (listener: typeof onChange) => {
            onChange = listener;
            return () => (onChange = undefined);
          };
        }
        const original = Reflect.get(target, property, receiver);
        if (typeof original !== 'function' || property === 'close') return original;
        return (...args: unknown[]) =>
          down
            ? Promise.reject(
                new GatewayError({ code: 'STORE_UNAVAILABLE', message: 'The store is unavailable', cause: new Error('ECONNREFUSED') }),
              )
            : (original as (...a: unknown[]) => unknown).apply(target, args);
      },
    }) as Store;
    const errors: unknown[] = [];
    let clock = Date.parse('2030-01-01T00:00:00Z');
    // Started while the store is down: its first load fails in the background, and so does the call's.
    gateway = createGateway({
      store,
      tools: [echo],
      policy: [{ id: 'allow', effect: 'allow', tools: ['*'] }],
      refreshIntervalMs: 0,
      now: () => clock,
      onError: (error) => errors.push(error),
    });
    const outages = () => errors.filter((error) => error instanceof GatewayError && error.code === 'STORE_UNAVAILABLE');

    const refused = await gateway.fetch(jsonRequest('/tools/echo/invoke', { key: 'atg_x', body: { input: {} } }));
    expect(refused.status).toBe(503);
    await turn();
    expect(outages()).toHaveLength(1);

    // Reloads another instance's announcements ask for meet the same outage within the 5 s.
    onChange?.('tools');
    onChange?.('policies');
    await turn();
    expect(outages()).toHaveLength(1);

    clock += 5000;
    onChange?.('tools');
    await turn();
    expect(outages()).toHaveLength(2);

    // Back: the next load succeeds, and nothing more is told.
    down = false;
    clock += 1;
    await gateway.ready();
    expect(errors).toHaveLength(2);
  });
});

describe('latestRun', () => {
  it('runs one at a time, and a call during a run gets a run that starts after it', async () => {
    const reads: number[] = [];
    const gates: Array<() => void> = [];
    let state = 0;
    const run = latestRun(async () => {
      const read = state;
      await new Promise<void>((resolve) => gates.push(resolve));
      reads.push(read);
    });

    const first = run();
    state = 1;
    const second = run();
    state = 2;
    const third = run();
    expect(third).toBe(second);
    expect(gates).toHaveLength(1);

    gates[0]?.();
    await first;
    await turn();
    expect(gates).toHaveLength(2);
    gates[1]?.();
    await second;
    // The run after the first read the state as the later calls left it.
    expect(reads).toEqual([0, 2]);
  });

  it('gives a call between the end of a run and the start of the queued one that queued run', async () => {
    let inFlight = 0;
    let most = 0;
    let runs = 0;
    const gates: Array<() => void> = [];
    const run = latestRun(async () => {
      runs++;
      most = Math.max(most, ++inFlight);
      await new Promise<void>((resolve) => gates.push(resolve));
      inFlight--;
    });
    const first = run();
    const second = run();
    gates[0]?.();
    await first;
    // The first run has ended; the queued one has not started yet.
    const third = run();
    expect(third).toBe(second);
    await turn();
    gates[1]?.();
    await second;
    expect({ runs, most }).toEqual({ runs: 2, most: 1 });
  });

  it('starts the next run after a failed one, and passes the failure to its own callers only', async () => {
    let calls = 0;
    const gate = deferred();
    const run = latestRun(async () => {
      calls++;
      if (calls === 1) {
        await gate.promise;
        throw new Error('store down');
      }
    });
    const first = run();
    const second = run();
    gate.resolve();
    await expect(first).rejects.toThrow('store down');
    await expect(second).resolves.toBeUndefined();
    expect(calls).toBe(2);
    await expect(run()).resolves.toBeUndefined();
    expect(calls).toBe(3);
  });
});
