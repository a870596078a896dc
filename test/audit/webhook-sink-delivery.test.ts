import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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
