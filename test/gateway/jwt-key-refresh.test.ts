import type { ServerResponse } from 'node:http';
import { type CryptoKey, type JWK, SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Gateway, GatewayOptions } from '../../src/index.js';
import { testGateway } from '../fixtures.js';
import { jsonRequest, listen } from '../helpers.js';

const issuer = 'https://auth.example.test/';
const audience = 'https://gateway.example.test/mcp';
const maxBytes = 1024 * 1024;

let signingKey: CryptoKey;
let publicJwk: JWK;
let nextKey: CryptoKey;
let nextJwk: JWK;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  signingKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'ES256', use: 'sig' };
  const next = await generateKeyPair('ES256');
  nextKey = next.privateKey;
  nextJwk = { ...(await exportJWK(next.publicKey)), kid: 'key-2', alg: 'ES256', use: 'sig' };
});

/** A request for the key set the issuer holds until the test answers it. */
interface HeldFetch {
  res: ServerResponse;
  /** True once the gateway gave up on it (closed the connection before the answer was sent). */
  abandoned: boolean;
}

/**
 * The issuer's JWK Set endpoint: it answers with `answer` at once, or, while `holding`, keeps
 * each request open until `release()`.
 */
let answer: (res: ServerResponse) => void;
let holding = false;
let held: HeldFetch[] = [];
let fetches = 0;
let arrivals: Array<(fetch: HeldFetch) => void> = [];
let server: Awaited<ReturnType<typeof listen>>;

const serveKeys = (keys: JWK[]) => (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
};

/** The next request for the key set that is held open. */
function nextHeldFetch(): Promise<HeldFetch> {
  return new Promise((resolve) => arrivals.push(resolve));
}

/** Answers every held request with `answer` (ends those a test began answering itself). */
function release() {
  holding = false;
  for (const fetch of held.splice(0)) {
    if (fetch.res.headersSent) fetch.res.end();
    else answer(fetch.res);
  }
}

beforeAll(async () => {
  server = await listen((_req, res) => {
    fetches++;
    if (!holding) {
      answer(res);
      return;
    }
    const fetch: HeldFetch = { res, abandoned: false };
    res.on('close', () => {
      if (!res.writableEnded) fetch.abandoned = true;
    });
    held.push(fetch);
    for (const arrived of arrivals.splice(0)) arrived(fetch);
  });
});
afterAll(async () => {
  await server.close();
});

let gateway: Gateway;
let clock = Date.parse('2026-06-01T12:00:00Z');
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeEach(() => {
  answer = serveKeys([publicJwk]);
  holding = false;
  held = [];
  fetches = 0;
  arrivals = [];
  clock = Date.parse('2026-06-01T12:00:00Z');
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(async () => {
  release();
  process.off('unhandledRejection', onUnhandled);
  await gateway?.close();
});

async function setup(overrides: GatewayOptions = {}) {
  gateway = testGateway({ jwt: { issuer, audience, jwksUri: `${server.url}/jwks` }, now: () => clock, ...overrides });
  const { agent } = await gateway.admin.createAgent({ name: 'support-bot' });
  return agent.id;
}

let serial = 0;
/** A new token (never a remembered one) for `sub`, signed by key-1 unless told otherwise. */
function token(sub: string, options: { kid?: string; key?: CryptoKey } = {}): Promise<string> {
  const at = Math.floor(clock / 1000);
  return new SignJWT({ n: serial++ })
    .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? 'key-1' })
    .setIssuer(issuer)
    .setAudience(audience)
    .setSubject(sub)
    .setIssuedAt(at)
    .setExpirationTime(at + 300)
    .sign(options.key ?? signingKey);
}

async function invoke(credential: string) {
  const response = await gateway.fetch(jsonRequest('/tools/echo/invoke', { key: credential, body: { input: { text: 'hi' } } }));
  return { status: response.status, body: (await response.json()) as any };
}

describe('the issuer keys, while a fetch of them hangs', () => {
  it('verifies new tokens with the keys it has once they are due, fetching them again once, in the background', async () => {
    const agentId = await setup();
    expect((await invoke(await token(agentId))).status).toBe(200);
    expect(fetches).toBe(1);

    holding = true;
    const arrived = nextHeldFetch();
    clock += 10 * 60_000;
    const due = await Promise.all([1, 2, 3].map(async () => (await invoke(await token(agentId))).status));
    expect(due).toEqual([200, 200, 200]);
    // The calls were answered while the fetch they started is still held open by the issuer.
    const fetch = await arrived;
    expect(fetch.abandoned).toBe(false);
    for (let index = 0; index < 3; index++) expect((await invoke(await token(agentId))).status).toBe(200);
    expect(held).toHaveLength(1);
    expect(fetch.abandoned).toBe(false);

    // The issuer answers with a new key: tokens it signs are accepted, and no other fetch was made.
    answer = serveKeys([publicJwk, nextJwk]);
    release();
    expect((await invoke(await token(agentId, { kid: 'key-2', key: nextKey }))).status).toBe(200);
    expect((await invoke(await token(agentId))).status).toBe(200);
    expect(fetches).toBe(2);
    expect(unhandled).toEqual([]);
  });

  it('waits for a fetch when it has no keys, or only keys an hour past their age', async () => {
    const agentId = await setup();
    holding = true;
    let released = false;
    let arrived = nextHeldFetch();
    const first = invoke(await token(agentId)).then(({ status }) => ({ status, released }));
    await arrived;
    released = true;
    release();
    expect(await first).toEqual({ status: 200, released: true });

    holding = true;
    released = false;
    arrived = nextHeldFetch();
    clock += 70 * 60_000;
    const late = invoke(await token(agentId)).then(({ status }) => ({ status, released }));
    await arrived;
    released = true;
    release();
    expect(await late).toEqual({ status: 200, released: true });
    expect(fetches).toBe(2);
  });

  it('waits for the fetch under way for a key id the keys lack', async () => {
    const agentId = await setup();
    expect((await invoke(await token(agentId))).status).toBe(200);
    holding = true;
    const arrived = nextHeldFetch();
    clock += 10 * 60_000;
    expect((await invoke(await token(agentId))).status).toBe(200);
    await arrived;
    let released = false;
    const rotated = invoke(await token(agentId, { kid: 'key-2', key: nextKey })).then(({ status }) => ({ status, released }));
    answer = serveKeys([publicJwk, nextJwk]);
    released = true;
    release();
    expect(await rotated).toEqual({ status: 200, released: true });
    expect(fetches).toBe(2);
  });

  it('keeps the keys when the background fetch fails, tells onError once, and again once the keys run out', async () => {
    const errors: Error[] = [];
    let told: (() => void) | undefined;
    const agentId = await setup({
      onError: (error) => {
        errors.push(error as Error);
        told?.();
      },
    });
    expect((await invoke(await token(agentId))).status).toBe(200);

    holding = true;
    const arrived = nextHeldFetch();
    clock += 10 * 60_000;
    expect((await invoke(await token(agentId))).status).toBe(200);
    await arrived;
    answer = (res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('issuer down: secret=abc');
    const staleTold = new Promise<void>((resolve) => {
      told = resolve;
    });
    release();
    await staleTold;
    // The operator hears that the keys in use are getting old, and until when they serve.
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toBe(
      "The issuer's keys could not be fetched again; the keys fetched before stay in use until 2026-06-01T13:10:00.000Z",
    );
    expect((errors[0]?.cause as Error | undefined)?.message).toBe('the key set answered 500');

    // Until an hour past their age the keys serve; a failed fetch is not tried again for 5 s,
    // and the failures that follow are not told again.
    for (let index = 0; index < 3; index++) {
      clock += 6000;
      expect((await invoke(await token(agentId))).status).toBe(200);
    }
    expect(errors).toHaveLength(1);

    clock += 60 * 60_000;
    const down = await invoke(await token(agentId));
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe('AUTH_UNAVAILABLE');
    expect(JSON.stringify(down.body)).not.toContain('secret');
    expect(errors).toHaveLength(2);
    expect(unhandled).toEqual([]);
  });

  it('tells onError of a new run of failed fetches after one succeeded', async () => {
    const errors: Error[] = [];
    let told: (() => void) | undefined;
    const nextTold = () =>
      new Promise<void>((resolve) => {
        told = resolve;
      });
    const staleReports = () => errors.filter((error) => error.message.startsWith("The issuer's keys could not be fetched again")).length;
    const agentId = await setup({
      onError: (error) => {
        errors.push(error as Error);
        told?.();
      },
    });
    expect((await invoke(await token(agentId))).status).toBe(200);

    // The keys are due every ten minutes: their fetch, in the background, fails, then works, then fails.
    answer = (res) => res.writeHead(503).end();
    let reported = nextTold();
    clock += 11 * 60_000;
    expect((await invoke(await token(agentId))).status).toBe(200);
    await reported;
    expect(staleReports()).toBe(1);

    answer = serveKeys([publicJwk, nextJwk]);
    clock += 60_000;
    expect((await invoke(await token(agentId, { kid: 'key-2', key: nextKey }))).status).toBe(200);

    answer = (res) => res.writeHead(503).end();
    reported = nextTold();
    clock += 11 * 60_000;
    expect((await invoke(await token(agentId))).status).toBe(200);
    await reported;
    expect(staleReports()).toBe(2);
  });
});

describe('an oversized key set', () => {
  /** A call with a new token, the fetch of the keys it starts held open, and what onError hears. */
  async function callWithHeldFetch() {
    const errors: any[] = [];
    const agentId = await setup({ onError: (error) => errors.push(error) });
    holding = true;
    const arrived = nextHeldFetch();
    const call = invoke(await token(agentId));
    return { call, fetch: await arrived, errors };
  }
  const refusedForSize = [`the key set is larger than ${maxBytes} bytes`];

  it('is refused on its declared length, before its body is read', async () => {
    const { call, fetch, errors } = await callWithHeldFetch();
    fetch.res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(maxBytes + 1) });
    fetch.res.write('{"keys":[');
    const refused = await call;
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('AUTH_UNAVAILABLE');
    // Refused for its size, not for the time its body takes.
    expect(errors.map((error) => error.cause?.message)).toEqual(refusedForSize);
  });

  it('is refused once the bytes read pass 1 MiB, without waiting for the rest', async () => {
    const { call, fetch, errors } = await callWithHeldFetch();
    fetch.res.writeHead(200, { 'content-type': 'application/json' });
    fetch.res.write(`{"keys":[${JSON.stringify(publicJwk)}],"padding":"${' '.repeat(maxBytes)}`);
    // The body never ends: the answer comes from the limit, not from the end of the stream.
    expect((await call).status).toBe(503);
    expect(errors.map((error) => error.cause?.message)).toEqual(refusedForSize);
  });

  it('counts bytes, not characters', async () => {
    const padded = (characters: number) => (res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"keys":[${JSON.stringify(publicJwk)}],"padding":"${'é'.repeat(characters)}"}`);
    };
    // 600,000 characters, 1,200,000 bytes in UTF-8.
    answer = padded(600_000);
    let agentId = await setup();
    expect((await invoke(await token(agentId))).status).toBe(503);
    await gateway.close();

    // 500,000 characters, 1,000,000 bytes: within the limit.
    answer = padded(500_000);
    agentId = await setup();
    expect((await invoke(await token(agentId))).status).toBe(200);
  });
});
