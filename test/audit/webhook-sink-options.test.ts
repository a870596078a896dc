import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateAuditSigningKey } from '../../src/audit/keys.js';
import { createAuditLog } from '../../src/audit/log.js';
import { type WebhookSinkOptions, webhookSink } from '../../src/audit/webhook-sink.js';
import { memoryStore } from '../../src/store/memory.js';
import type { AuditEntry } from '../../src/store/types.js';
import { sampleEvent } from './helpers.js';

const { privateJwk } = await generateAuditSigningKey();
const url = 'https://siem.example.com/ingest/atg';

describe('webhookSink options', () => {
  it.each<[keyof WebhookSinkOptions, unknown]>([
    ['retries', Number.NaN],
    ['retries', -1],
    ['retries', 1.5],
    ['retries', Number.POSITIVE_INFINITY],
    ['timeoutMs', Number.NaN],
    ['timeoutMs', 0],
    ['timeoutMs', -5],
    ['timeoutMs', 2 ** 31],
    ['batchSize', Number.NaN],
    ['batchSize', 0],
    ['batchSize', 2.5],
    ['maxQueue', Number.NaN],
    ['maxQueue', 0],
    ['flushIntervalMs', Number.NaN],
    ['flushIntervalMs', -1],
    ['flushIntervalMs', Number.POSITIVE_INFINITY],
    ['retryBaseMs', Number.NaN],
    ['retryBaseMs', -1],
    ['retryBaseMs', '250'],
  ])('refuses %s: %s with a TypeError naming it', (name, value) => {
    expect(() => webhookSink({ url, signingKey: privateJwk, [name]: value })).toThrow(new RegExp(`^webhookSink: ${name} must be`));
    expect(() => webhookSink({ url, signingKey: privateJwk, [name]: value })).toThrow(TypeError);
  });

  it('refuses a URL that is not absolute http(s), and a fetch that is not a function', () => {
    for (const bad of ['/relative', 'not a url', 'ftp://siem.example.com/atg', 'file:///tmp/x']) {
      expect(() => webhookSink({ url: bad, signingKey: privateJwk })).toThrow(/^webhookSink: url must be an absolute http or https URL$/);
    }
    expect(() => webhookSink({ url, signingKey: privateJwk, fetch: 'fetch' as unknown as typeof fetch })).toThrow(
      /^webhookSink: fetch must be a function$/,
    );
  });

  it('takes the documented values, the bounds included', () => {
    expect(() => webhookSink({ url, signingKey: privateJwk })).not.toThrow();
    expect(() =>
      webhookSink({
        url: new URL(url),
        signingKey: privateJwk,
        retries: 0,
        retryBaseMs: 0,
        flushIntervalMs: 0,
        timeoutMs: 1,
        batchSize: 1,
        maxQueue: 1,
      }),
    ).not.toThrow();
    expect(() => webhookSink({ url: 'http://127.0.0.1:8080/atg', signingKey: privateJwk, timeoutMs: 2 ** 31 - 1 })).not.toThrow();
  });
});

async function entriesOf(count: number): Promise<AuditEntry[]> {
  const audit = createAuditLog({ store: memoryStore() });
  const entries = await Promise.all(Array.from({ length: count }, (_, index) => audit.append(sampleEvent(index))));
  await audit.close();
  return entries as AuditEntry[];
}

/** The fake time of every fetch, answering `answers` in turn (204 once they run out). */
function answeringFetch(answers: Array<() => Response>): { fetch: typeof fetch; calls: number[] } {
  const calls: number[] = [];
  const fetch = (async () => {
    calls.push(Date.now());
    return (answers[calls.length - 1] ?? (() => new Response(null, { status: 204 })))();
  }) as unknown as typeof globalThis.fetch;
  return { fetch, calls };
}

/** Runs timers, one at a time in time order, until `calls` has `count` entries. */
async function runUntil(calls: number[], count: number): Promise<void> {
  while (calls.length < count) {
    // Signing runs off the event loop's timers: let it finish before looking for the next timer.
    await new Promise((resolve) => setImmediate(resolve));
    await vi.advanceTimersToNextTimerAsync();
  }
}

describe('webhookSink Retry-After', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits as long as a 503 asks in seconds, when that is longer than the back-off', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { fetch, calls } = answeringFetch([() => new Response(null, { status: 503, headers: { 'retry-after': '5' } })]);
    const sink = webhookSink({ url, signingKey: privateJwk, fetch, retryBaseMs: 1, flushIntervalMs: 0 });
    await sink.write(await entriesOf(1));
    await runUntil(calls, 2);
    expect(calls[1]! - calls[0]!).toBe(5000);
  });

  it('caps a longer wait (an HTTP date) at 30 s, and ignores Retry-After on other statuses', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { fetch, calls } = answeringFetch([
      () => new Response(null, { status: 429, headers: { 'retry-after': new Date(Date.now() + 3_600_000).toUTCString() } }),
      () => new Response(null, { status: 500, headers: { 'retry-after': '20' } }),
    ]);
    const sink = webhookSink({ url, signingKey: privateJwk, fetch, retryBaseMs: 1, flushIntervalMs: 0 });
    await sink.write(await entriesOf(1));
    await runUntil(calls, 3);
    expect(calls[1]! - calls[0]!).toBe(30_000);
    // The 500's Retry-After is not honoured: the back-off of the second retry is at most 2 ms.
    expect(calls[2]! - calls[1]!).toBeLessThanOrEqual(2);
  });
});

describe('webhookSink url with user info', () => {
  it('is refused when the sink is created (every POST would fail), without spelling the password out', () => {
    let thrown: unknown;
    try {
      webhookSink({ url: 'https://siem-user:s3cr3t-pw@siem.example.com/atg', signingKey: privateJwk });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as Error).message).toMatch(/^webhookSink: url must not contain user info/);
    expect((thrown as Error).message).not.toContain('s3cr3t-pw');
  });
});

describe('webhookSink headers', () => {
  it('refuses a header fetch would refuse on every POST, naming it and never its value', () => {
    let thrown: unknown;
    try {
      webhookSink({ url, signingKey: privateJwk, headers: { 'x-api-key': 'siem-key-123\nsiem-key-456' } });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as Error).message).toMatch(/^webhookSink: headers\["x-api-key"\] is not a valid header/);
    expect((thrown as Error).message).not.toContain('siem-key');
  });
});
