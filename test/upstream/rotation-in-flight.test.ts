import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEncryptionKey } from '../../src/secrets/keyring.js';
import { secret } from '../../src/secrets/secret-value.js';
import { resealSecretHeaders, sealSecretHeaders } from '../../src/secrets/tool-secrets.js';
import { createVault } from '../../src/secrets/vault.js';
import { createUpstreamClient } from '../../src/upstream/client.js';
import { createHttpExecutor } from '../../src/upstream/executor.js';
import { callContext, loopbackTool, rejection } from './harness.js';
import { type LoopbackServer, sendJson, startLoopbackServer } from './loopback-server.js';

const SECRET = 'Bearer rotate-me-0123456789';

let server: LoopbackServer;
const client = createUpstreamClient();
const held: ServerResponse[] = [];
const arrivalWaiters: Array<{ count: number; resolve: () => void }> = [];

function arrivals(count: number): Promise<void> {
  return new Promise((resolve) => {
    arrivalWaiters.push({ count, resolve });
    checkArrivals();
  });
}

function checkArrivals(): void {
  for (const waiter of [...arrivalWaiters]) {
    if (held.length >= waiter.count) {
      arrivalWaiters.splice(arrivalWaiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  }
}

beforeAll(async () => {
  server = await startLoopbackServer((request, response) => {
    if (request.rawPath === '/held') {
      held.push(response);
      checkArrivals();
      return;
    }
    sendJson(response, 200, { auth: request.headers.authorization === SECRET });
  });
});
afterAll(async () => {
  await client.close();
  await server.close();
});

describe('key rotation with calls in flight', () => {
  it('every call succeeds while the keyring changes and secrets are re-sealed', async () => {
    const keyOne = generateEncryptionKey();
    const keyTwo = generateEncryptionKey();
    const vault = createVault({ encryptionKey: { active: 'k1', keys: { k1: keyOne } } });
    const stored = sealSecretHeaders(
      loopbackTool(server.origin, { url: `${server.origin}/held`, secretHeaders: { authorization: secret(SECRET) } }),
      vault,
    );
    const first = createHttpExecutor(stored, { client, vault });

    const calls = Array.from({ length: 5 }, () => first({}, callContext()));
    await arrivals(5);

    vault.setEncryptionKey({ active: 'k2', keys: { k1: keyOne, k2: keyTwo } });
    const resealed = resealSecretHeaders(stored, vault);
    expect(resealed).toMatchObject({ changed: 1, unchanged: 0 });
    const afterReseal = createHttpExecutor(resealed.definition, { client, vault });
    const notYetReloaded = createHttpExecutor(stored, { client, vault });
    for (let index = 0; index < 5; index++) {
      calls.push(afterReseal({}, callContext()), notYetReloaded({}, callContext()), first({}, callContext()));
    }
    await arrivals(20);
    for (const response of held) sendJson(response, 200, { done: true });

    const results = await Promise.all(calls);
    expect(results).toHaveLength(20);
    for (const result of results) expect(result).toEqual({ output: { done: true }, upstreamStatus: 200 });
    const sent = server.requests.filter((request) => request.rawPath === '/held').map((request) => request.headers.authorization);
    expect(sent).toEqual(Array.from({ length: 20 }, () => SECRET));

    // With the old key gone, only the re-sealed definition opens.
    vault.setEncryptionKey({ active: 'k2', keys: { k2: keyTwo } });
    const fresh = loopbackTool(server.origin, { url: `${server.origin}/check` });
    const reloaded = createHttpExecutor({ ...resealed.definition, url: fresh.url }, { client, vault });
    expect((await reloaded({}, callContext())).output).toEqual({ auth: true });
    const stale = createHttpExecutor({ ...stored, url: fresh.url }, { client, vault });
    const error = await rejection(stale({}, callContext()), 'SECRET_UNAVAILABLE');
    expect(error.message).toContain('"authorization"');
    expect(error.message).not.toContain('rotate-me');
    expect(stale.secretValues()).toEqual([]);
  });
});
