import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { createHttpExecutor, createUpstreamClient, httpTool } from '../../src/index.js';
import { callContext, loopbackTool } from './harness.js';
import { type LoopbackServer, startLoopbackServer } from './loopback-server.js';

// The connect and first-byte deadlines are Node timers. With only setTimeout faked, the clock
// moves exactly as far as a test says and no further, so a deadline that fires on a coarser
// tick (undici's own timers check theirs twice a second) cannot pass these tests by chance.

let server: LoopbackServer;

beforeAll(async () => {
  server = await startLoopbackServer(() => {}); // answers nothing, ever
});

afterAll(async () => {
  await server.close();
});

afterEach(() => {
  vi.useRealTimers();
});

/** Resolves once `done` is true, letting real I/O run in between. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setImmediate(resolve));
}

/** Records how a promise settled, without awaiting it. */
function watch(promise: Promise<unknown>): { readonly outcome: unknown } {
  const state = { outcome: 'pending' as unknown };
  promise.then(
    () => {
      state.outcome = 'resolved';
    },
    (error: unknown) => {
      state.outcome = error;
    },
  );
  return state;
}

/**
 * Moves the clock to a millisecond before `dueMs`, where the call must still wait, then to
 * `dueMs`, where it must have failed with `expected`.
 */
async function expectFailureDueAt(call: { readonly outcome: unknown }, dueMs: number, expected: { code: string; message: string }) {
  await vi.advanceTimersByTimeAsync(dueMs - 1);
  expect(call.outcome).toBe('pending');
  await vi.advanceTimersByTimeAsync(1);
  expect(call.outcome).toBeInstanceOf(GatewayError);
  expect(call.outcome).toMatchObject(expected);
}

describe('deadlines below a second fire when they are due', () => {
  it('first byte: the call fails at firstByteTimeoutMs after the request went out, not a tick later', async () => {
    const client = createUpstreamClient();
    try {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const before = server.requests.length;
      const tool = loopbackTool(server.origin, { firstByteTimeoutMs: 150, timeoutMs: 20_000 });
      const call = watch(createHttpExecutor(tool, { client })({}, callContext()));
      await until(() => server.requests.length > before);

      await expectFailureDueAt(call, 150, { code: 'UPSTREAM_TIMEOUT', message: 'upstream sent no response within 150 ms' });
    } finally {
      vi.useRealTimers();
      await client.close();
    }
  });

  it('connect: the call fails at connectTimeoutMs, a DNS lookup that never ends included', async () => {
    let lookups = 0;
    const client = createUpstreamClient({
      resolveHost: () => {
        lookups++;
        return new Promise(() => {});
      },
    });
    try {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const tool = httpTool({
        name: 'slow.dns',
        description: 'An upstream whose name never resolves',
        method: 'GET',
        url: 'http://upstream.test:8080/items',
        inputSchema: { type: 'object', properties: {} },
        connectTimeoutMs: 150,
        timeoutMs: 20_000,
      });
      const call = watch(createHttpExecutor(tool, { client })({}, callContext()));
      await until(() => lookups > 0);

      await expectFailureDueAt(call, 150, { code: 'UPSTREAM_TIMEOUT', message: 'upstream connection timed out after 150 ms' });
      // The cause names no address.
      expect(String((call.outcome as GatewayError).cause)).not.toMatch(/upstream\.test|8080/);
    } finally {
      vi.useRealTimers();
      await client.close();
    }
  });

  it('a tool without a first-byte deadline of its own answers at its total deadline', async () => {
    const client = createUpstreamClient();
    try {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const before = server.requests.length;
      const call = watch(createHttpExecutor(loopbackTool(server.origin, { timeoutMs: 400 }), { client })({}, callContext()));
      await until(() => server.requests.length > before);

      await expectFailureDueAt(call, 400, { code: 'UPSTREAM_TIMEOUT', message: 'upstream did not answer within 400 ms' });
    } finally {
      vi.useRealTimers();
      await client.close();
    }
  });
});
