import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { generateAuditSigningKey } from '../../src/audit/keys.js';
import { createAuditLog } from '../../src/audit/log.js';
import { type WebhookDropReason, verifyAuditWebhook, webhookSink } from '../../src/audit/webhook-sink.js';
import { memoryStore } from '../../src/store/memory.js';
import type { AuditEntry } from '../../src/store/types.js';
import { sampleEvent } from './helpers.js';

const { privateJwk, publicJwk } = await generateAuditSigningKey();

async function entriesOf(count: number): Promise<AuditEntry[]> {
  const audit = createAuditLog({ store: memoryStore() });
  const entries = await Promise.all(Array.from({ length: count }, (_, index) => audit.append(sampleEvent(index))));
  await audit.close();
  return entries as AuditEntry[];
}

interface Receiver {
  url: string;
  /** Bodies of the POSTs received, whole. */
  bodies: string[];
  /** TCP connections opened to it. */
  connections: number;
}

let server: Server | undefined;

/** A receiver on 127.0.0.1 that reads each POST whole, then lets `answer` respond. */
async function receiver(answer: (request: IncomingMessage, response: ServerResponse, count: number) => void): Promise<Receiver> {
  const received: Receiver = { url: '', bodies: [], connections: 0 };
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.bodies.push(Buffer.concat(chunks).toString('utf8'));
      answer(request, response, received.bodies.length);
    });
  });
  server.on('connection', () => {
    received.connections++;
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  received.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/audit`;
  return received;
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  server = undefined;
});

describe("webhookSink and the receiver's answer body", () => {
  it('does not read a body that never ends: it takes the status and lets the connection go', async () => {
    let bodyCancelled!: () => void;
    const cancelled = new Promise<void>((resolve) => {
      bodyCancelled = resolve;
    });
    const chunk = Buffer.alloc(16 * 1024, 'x');
    const endless = await receiver((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      const pour = () => {
        while (!response.destroyed && response.write(chunk));
      };
      response.on('drain', pour);
      response.on('close', bodyCancelled);
      pour();
    });
    const drops: Array<[number, WebhookDropReason]> = [];
    const errors: unknown[] = [];
    // No deadline to end it: only not reading the body lets the delivery finish.
    const sink = webhookSink({
      url: endless.url,
      signingKey: privateJwk,
      timeoutMs: 2 ** 31 - 1,
      onDrop: (count, reason) => drops.push([count, reason]),
      onError: (error) => errors.push(error),
    });
    const entries = await entriesOf(3);
    await sink.write(entries);
    await sink.close?.();
    await cancelled;
    expect(await verifyAuditWebhook(endless.bodies[0] as string, publicJwk)).toEqual(entries);
    expect(drops).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('reads a short body to its end, so one keep-alive connection carries every POST', async () => {
    const errorBody = JSON.stringify({ error: 'busy', detail: 'y'.repeat(32 * 1024) });
    const busyOnce = await receiver((_request, response, count) => {
      response.writeHead(count % 2 === 1 ? 503 : 200, { 'content-type': 'application/json' });
      response.end(errorBody);
    });
    const sink = webhookSink({ url: busyOnce.url, signingKey: privateJwk, batchSize: 2, retryBaseMs: 1 });
    const entries = await entriesOf(6);
    await sink.write(entries);
    await sink.close?.();
    // Three batches, each answered 503 once and then 200.
    expect(busyOnce.bodies).toHaveLength(6);
    const delivered = await Promise.all(
      busyOnce.bodies.filter((_, index) => index % 2 === 1).map((body) => verifyAuditWebhook(body, publicJwk)),
    );
    expect(delivered.flat()).toEqual(entries);
    expect(busyOnce.connections).toBe(1);
  });
});

/**
 * A fetch shaped like node-fetch's: the answer's `body` is a Node `Readable`, not a Web stream
 * (no `getReader`). Answers with `statuses` in turn (the last one repeats); records each body
 * posted and each answer body handed out.
 */
function nodeStreamFetch(statuses: number[], answerBody: (status: number) => unknown = (status) => Readable.from([`status ${status}`])) {
  const posted: string[] = [];
  const answerBodies: unknown[] = [];
  const fetch = (async (_url: string, init: RequestInit) => {
    posted.push(String(init.body));
    const status = statuses[Math.min(posted.length, statuses.length) - 1] as number;
    const body = answerBody(status);
    answerBodies.push(body);
    return { ok: status >= 200 && status < 300, status, statusText: '', headers: new Headers(), body };
  }) as unknown as typeof globalThis.fetch;
  return { fetch, posted, answerBodies };
}

describe('webhookSink with a fetch whose answer body is not a Web stream (node-fetch)', () => {
  async function deliver(fetch: typeof globalThis.fetch, count: number) {
    const drops: Array<[number, WebhookDropReason]> = [];
    const errors: unknown[] = [];
    const sink = webhookSink({
      url: 'https://siem.example.com/atg',
      signingKey: privateJwk,
      fetch,
      retryBaseMs: 1,
      onDrop: (dropped, reason) => drops.push([dropped, reason]),
      onError: (error) => errors.push(error),
    });
    const entries = await entriesOf(count);
    await sink.write(entries);
    await sink.close?.();
    return { entries, drops, errors };
  }

  it('counts a 2xx as delivered and lets the Node stream body go, read to its end', async () => {
    const answers = nodeStreamFetch([200]);
    const { entries, drops, errors } = await deliver(answers.fetch, 3);
    expect({ drops, errors }).toEqual({ drops: [], errors: [] });
    expect(answers.posted).toHaveLength(1);
    expect(await verifyAuditWebhook(answers.posted[0] as string, publicJwk)).toEqual(entries);
    const body = answers.answerBodies[0] as Readable;
    if (!body.readableEnded) await once(body, 'end');
    expect(body.readableEnded).toBe(true);
  });

  it('retries a 503, as the status says, and delivers on the next attempt', async () => {
    const answers = nodeStreamFetch([503, 200]);
    const { entries, drops, errors } = await deliver(answers.fetch, 2);
    expect({ drops, errors }).toEqual({ drops: [], errors: [] });
    expect(answers.posted).toHaveLength(2);
    expect(await verifyAuditWebhook(answers.posted[1] as string, publicJwk)).toEqual(entries);
  });

  it('destroys a body longer than it reads, and ignores a body of no known kind', async () => {
    const endless = new Readable({
      read() {
        this.push(Buffer.alloc(16 * 1024, 'x'));
      },
    });
    const long = nodeStreamFetch([200], () => endless);
    expect(await deliver(long.fetch, 1)).toMatchObject({ drops: [], errors: [] });
    if (!endless.destroyed) await once(endless, 'close');
    expect(endless.destroyed).toBe(true);

    for (const body of [{}, 'ok', 42]) {
      const odd = nodeStreamFetch([503, 204], () => body);
      expect(await deliver(odd.fetch, 1), JSON.stringify(body)).toMatchObject({ drops: [], errors: [] });
      expect(odd.posted).toHaveLength(2);
    }
  });
});

/** A promise and the function that resolves it: a hook to wait on instead of a timer. */
function signal<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

describe('webhookSink when close() runs out of time', () => {
  it("at the log's sinkCloseTimeoutMs it stops retrying and reports what it held as closed", async () => {
    const firstPost = signal();
    const busy = await receiver((_request, response) => {
      firstPost.resolve();
      response.writeHead(503).end();
    });
    const drops: Array<[number, WebhookDropReason]> = [];
    const errors: unknown[] = [];
    // The first retry waits 15 s at least: only stopping lets close() end before it.
    const sink = webhookSink({
      url: busy.url,
      signingKey: privateJwk,
      flushIntervalMs: 0,
      retryBaseMs: 60_000,
      onDrop: (count, reason) => drops.push([count, reason]),
      onError: (error) => errors.push(error),
    });
    const logDrops: unknown[] = [];
    const audit = createAuditLog({
      store: memoryStore(),
      sinks: [sink],
      sinkCloseTimeoutMs: 20,
      onSinkDrop: (...drop) => logDrops.push(drop),
    });
    for (let index = 0; index < 10; index++) await audit.append(sampleEvent(index));
    await firstPost.promise;
    await audit.close();
    // Reported by the time close() resolves: a process that exits then has been told.
    expect(drops).toEqual([[10, 'closed']]);
    expect(busy.bodies).toHaveLength(1);
    // The sink took the entries: the log has nothing to report, and nothing failed.
    expect(logDrops).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('aborts the POST in flight', async () => {
    const posted = signal();
    const abandoned = signal();
    const silent = await receiver((_request, response) => {
      response.on('close', () => abandoned.resolve());
      posted.resolve();
    });
    const drops: Array<[number, WebhookDropReason]> = [];
    const sink = webhookSink({
      url: silent.url,
      signingKey: privateJwk,
      flushIntervalMs: 0,
      timeoutMs: 2 ** 31 - 1,
      onDrop: (count, reason) => drops.push([count, reason]),
    });
    const audit = createAuditLog({ store: memoryStore(), sinks: [sink], sinkCloseTimeoutMs: 0 });
    await Promise.all([0, 1, 2].map((index) => audit.append(sampleEvent(index))));
    await posted.promise;
    await audit.close();
    expect(drops).toEqual([[3, 'closed']]);
    // The receiver sees the request go: the sink does not wait out its 24-day deadline.
    await abandoned.promise;
  });

  it('does not report a batch the receiver accepted, only what it still held', async () => {
    const accepted = signal();
    // Answers 200 at once, then never finishes the body.
    const slowBody = await receiver((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.write('ok');
    });
    const fetchAnswered: typeof fetch = async (...args) => {
      const response = await fetch(...args);
      accepted.resolve();
      return response;
    };
    const drops: Array<[number, WebhookDropReason]> = [];
    const sink = webhookSink({
      url: slowBody.url,
      signingKey: privateJwk,
      fetch: fetchAnswered,
      batchSize: 2,
      timeoutMs: 2 ** 31 - 1,
      onDrop: (count, reason) => drops.push([count, reason]),
    });
    const entries = await entriesOf(4);
    await sink.write(entries);
    await accepted.promise;
    // The sink has the answer once the callbacks waiting on it have run.
    await new Promise((resolve) => setImmediate(resolve));
    const deadline = new AbortController();
    const closing = sink.close?.({ signal: deadline.signal });
    deadline.abort();
    await closing;
    expect(drops).toEqual([[2, 'closed']]);
    expect(slowBody.bodies).toHaveLength(1);
    expect(await verifyAuditWebhook(slowBody.bodies[0] as string, publicJwk)).toEqual(entries.slice(0, 2));
  });

  it('given a signal already aborted, sends nothing and reports everything; later writes are closed too', async () => {
    const unused = await receiver((_request, response) => {
      response.writeHead(204).end();
    });
    const drops: Array<[number, WebhookDropReason]> = [];
    const sink = webhookSink({
      url: unused.url,
      signingKey: privateJwk,
      flushIntervalMs: 60_000,
      onDrop: (count, reason) => drops.push([count, reason]),
    });
    const entries = await entriesOf(5);
    await sink.write(entries.slice(0, 4));
    await sink.close?.({ signal: AbortSignal.abort() });
    await sink.write(entries.slice(4));
    expect(drops).toEqual([
      [4, 'closed'],
      [1, 'closed'],
    ]);
    expect(unused.bodies).toEqual([]);
  });

  it('without a signal, close() still sends everything first', async () => {
    const busyTwice = await receiver((_request, response, count) => {
      response.writeHead(count <= 2 ? 503 : 204).end();
    });
    const drops: Array<[number, WebhookDropReason]> = [];
    const sink = webhookSink({
      url: busyTwice.url,
      signingKey: privateJwk,
      retryBaseMs: 1,
      onDrop: (count, reason) => drops.push([count, reason]),
    });
    const entries = await entriesOf(3);
    await sink.write(entries);
    await sink.close?.();
    expect(drops).toEqual([]);
    expect(await verifyAuditWebhook(busyTwice.bodies[2] as string, publicJwk)).toEqual(entries);
  });
});
