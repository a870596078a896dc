import { appendFile, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateAuditSigningKey } from '../../src/audit/keys.js';
import { jsonlFileSink } from '../../src/audit/jsonl-file-sink.js';
import { createAuditLog } from '../../src/audit/log.js';
import { verifyAuditEntries } from '../../src/audit/verify.js';
import { type WebhookDropReason, verifyAuditWebhook, webhookSink } from '../../src/audit/webhook-sink.js';
import { memoryStore } from '../../src/store/memory.js';
import type { AuditEntry } from '../../src/store/types.js';
import { eventually, sampleEvent } from './helpers.js';

async function entriesOf(count: number): Promise<AuditEntry[]> {
  const store = memoryStore();
  const audit = createAuditLog({ store });
  const entries = await Promise.all(Array.from({ length: count }, (_, index) => audit.append(sampleEvent(index))));
  await audit.close();
  return entries as AuditEntry[];
}

function parseLines(text: string): AuditEntry[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as AuditEntry);
}

describe('jsonlFileSink', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'atg-jsonl-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('appends one entry per line, across reopenings', async () => {
    const path = join(dir, 'nested', 'audit.jsonl');
    const entries = await entriesOf(6);
    const first = jsonlFileSink({ path });
    await first.write(entries.slice(0, 3));
    await first.close?.();
    const second = jsonlFileSink({ path });
    await second.write(entries.slice(3));
    await second.close?.();
    const lines = parseLines(await readFile(path, 'utf8'));
    expect(lines).toEqual(entries);
    expect(await verifyAuditEntries(lines)).toEqual({ ok: true, through: 5 });
  });

  it('rotates by size to path.1, path.2 and keeps at most maxFiles rotated files', async () => {
    const path = join(dir, 'audit.jsonl');
    const entries = await entriesOf(60);
    const lineBytes = Math.max(...entries.map((entry) => Buffer.byteLength(`${JSON.stringify(entry)}\n`)));
    const maxBytes = lineBytes * 5;
    const sink = jsonlFileSink({ path, maxBytes, maxFiles: 2 });
    for (let index = 0; index < entries.length; index += 4) await sink.write(entries.slice(index, index + 4));
    await sink.close?.();

    expect((await readdir(dir)).sort()).toEqual(['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2']);
    for (const name of ['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2']) {
      expect((await stat(join(dir, name))).size).toBeLessThanOrEqual(maxBytes);
    }
    // Oldest to newest, the kept files hold the newest entries, consecutive, ending at the last.
    const kept = [
      ...parseLines(await readFile(`${path}.2`, 'utf8')),
      ...parseLines(await readFile(`${path}.1`, 'utf8')),
      ...parseLines(await readFile(path, 'utf8')),
    ];
    expect(kept.at(-1)?.seq).toBe(59);
    expect(kept.length).toBeGreaterThanOrEqual(11);
    expect(kept).toEqual(entries.slice(60 - kept.length));
    expect(await verifyAuditEntries(kept)).toEqual({ ok: true, through: 59 });
  });

  it('cuts off a partial last line left by a writer killed mid-line, and tells onError', async () => {
    const path = join(dir, 'audit.jsonl');
    const entries = await entriesOf(6);
    const first = jsonlFileSink({ path });
    await first.write(entries.slice(0, 3));
    await first.close?.();
    // What a process killed while appending seq 3 leaves behind.
    const fragment = JSON.stringify(entries[3]).slice(0, 40);
    await appendFile(path, fragment);

    const errors: Error[] = [];
    const second = jsonlFileSink({ path, onError: (error) => errors.push(error) });
    await second.write(entries.slice(3));
    await second.close?.();
    const text = await readFile(path, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(parseLines(text)).toEqual(entries);
    expect(await verifyAuditEntries(parseLines(text))).toEqual({ ok: true, through: 5 });
    expect(errors.map((error) => error.message)).toEqual([
      `jsonlFileSink: ${path} ended in a partial line; cut off its last ${fragment.length} bytes (left by a writer that stopped mid-line)`,
    ]);

    // A file that ends in a whole line is left as it is, and nothing is told.
    const third = jsonlFileSink({ path, onError: (error) => errors.push(error) });
    await third.write(entries.slice(5));
    await third.close?.();
    expect(parseLines(await readFile(path, 'utf8'))).toEqual([...entries, entries[5]]);
    expect(errors).toHaveLength(1);
  });

  it('finds the last whole line however long the partial one, and cuts a file with none to empty', async () => {
    const path = join(dir, 'audit.jsonl');
    const entries = await entriesOf(3);
    const longFragment = `{"seq":1,"prevHash":"${'a'.repeat(200_000)}`;
    await writeFile(path, `${JSON.stringify(entries[0])}\n${longFragment}`);
    const errors: Error[] = [];
    const sink = jsonlFileSink({ path, onError: (error) => errors.push(error) });
    await sink.write(entries.slice(1));
    await sink.close?.();
    expect(parseLines(await readFile(path, 'utf8'))).toEqual(entries);
    expect(errors[0]?.message).toContain(`cut off its last ${longFragment.length} bytes`);

    await writeFile(path, '{"seq":0,"prev');
    const again = jsonlFileSink({ path, onError: (error) => errors.push(error) });
    await again.write(entries.slice(0, 1));
    await again.close?.();
    expect(parseLines(await readFile(path, 'utf8'))).toEqual(entries.slice(0, 1));
    expect(errors[1]?.message).toContain('cut off its last 14 bytes');
  });

  it('creates its files readable and writable by their owner only (0600), after a rotation too', async () => {
    const path = join(dir, 'audit.jsonl');
    const entries = await entriesOf(4);
    const lineBytes = Math.max(...entries.map((entry) => Buffer.byteLength(`${JSON.stringify(entry)}\n`)));
    const sink = jsonlFileSink({ path, maxBytes: lineBytes * 2, maxFiles: 2 });
    await sink.write(entries.slice(0, 2));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await sink.write(entries.slice(2));
    await sink.close?.();
    expect((await readdir(dir)).sort()).toEqual(['audit.jsonl', 'audit.jsonl.1']);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(`${path}.1`)).mode & 0o777).toBe(0o600);
  });

  it('works as a sink of an audit log', async () => {
    const path = join(dir, 'audit.jsonl');
    const store = memoryStore();
    const audit = createAuditLog({ store, sinks: [jsonlFileSink({ path })] });
    await Promise.all(Array.from({ length: 20 }, (_, index) => audit.append(sampleEvent(index))));
    await audit.close();
    expect(parseLines(await readFile(path, 'utf8'))).toEqual((await store.listAudit({ limit: 100 })).items);
  });
});

interface Received {
  body: string;
  contentType: string | undefined;
}

describe('webhookSink', () => {
  let server: Server;
  let url: string;
  let received: Received[];
  let answer: (request: IncomingMessage, attempt: number) => number;

  beforeEach(async () => {
    received = [];
    answer = () => 204;
    server = createServer((request: IncomingMessage, response: ServerResponse) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ body: Buffer.concat(chunks).toString('utf8'), contentType: request.headers['content-type'] });
        response.statusCode = answer(request, received.length);
        if (response.statusCode >= 300 && response.statusCode < 400) response.setHeader('location', '/landing');
        response.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/audit`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('posts batches as compact JWS that verify with the public key; a tampered body fails', async () => {
    const key = await generateAuditSigningKey();
    const entries = await entriesOf(25);
    const sink = webhookSink({ url, signingKey: key.privateJwk, batchSize: 10, flushIntervalMs: 60_000 });
    await sink.write(entries);
    await sink.close?.();

    expect(received.map((request) => request.contentType)).toEqual(['application/jose', 'application/jose', 'application/jose']);
    const batches = await Promise.all(received.map((request) => verifyAuditWebhook(request.body, key.publicJwk)));
    expect(batches.map((batch) => batch.length)).toEqual([10, 10, 5]);
    expect(batches.flat()).toEqual(entries);
    expect(await verifyAuditEntries(batches.flat())).toEqual({ ok: true, through: 24 });

    const [header, payload, signature] = (received[0] as Received).body.split('.') as [string, string, string];
    const altered = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { entries: AuditEntry[] };
    (altered.entries[0] as AuditEntry).event.actor = 'admin:mallory';
    const tampered = `${header}.${Buffer.from(JSON.stringify(altered)).toString('base64url')}.${signature}`;
    await expect(verifyAuditWebhook(tampered, key.publicJwk)).rejects.toThrow(/signature/);
    const stranger = await generateAuditSigningKey();
    await expect(verifyAuditWebhook((received[0] as Received).body, stranger.publicJwk)).rejects.toThrow(/signature/);
  });

  it('flushes a partial batch after flushIntervalMs', async () => {
    const key = await generateAuditSigningKey();
    const sink = webhookSink({ url, signingKey: key.privateKey, batchSize: 100, flushIntervalMs: 10 });
    await sink.write(await entriesOf(3));
    await eventually(() => received.length === 1);
    expect(await verifyAuditWebhook((received[0] as Received).body, key.publicJwk)).toHaveLength(3);
    await sink.close?.();
  });

  it('drops and reports entries written after close, sending nothing more', async () => {
    const key = await generateAuditSigningKey();
    const drops: Array<[number, string]> = [];
    const sink = webhookSink({
      url,
      signingKey: key.privateKey,
      flushIntervalMs: 1,
      onDrop: (count, reason) => drops.push([count, reason]),
    });
    await sink.write(await entriesOf(2));
    await sink.close?.();
    expect(received).toHaveLength(1);
    await sink.write(await entriesOf(3));
    await sink.close?.();
    expect(drops).toEqual([[3, 'closed']]);
    expect(received).toHaveLength(1);
  });

  it('retries a failed POST with back-off and delivers once it succeeds', async () => {
    const key = await generateAuditSigningKey();
    answer = (_request, attempt) => (attempt < 3 ? 503 : 200);
    const errors: unknown[] = [];
    const sink = webhookSink({ url, signingKey: key.privateJwk, retries: 5, retryBaseMs: 1, onError: (error) => errors.push(error) });
    await sink.write(await entriesOf(2));
    await sink.close?.();
    expect(received).toHaveLength(3);
    expect(new Set(received.map((request) => request.body)).size).toBe(1);
    expect(errors).toEqual([]);
  });

  it('reports drops: a full queue, and a batch that failed after all retries', async () => {
    const key = await generateAuditSigningKey();
    const drops: Array<[number, WebhookDropReason]> = [];
    const errors: unknown[] = [];
    answer = () => 500;
    const sink = webhookSink({
      url,
      signingKey: key.privateJwk,
      batchSize: 100,
      flushIntervalMs: 60_000,
      maxQueue: 4,
      retries: 2,
      retryBaseMs: 1,
      onDrop: (count, reason) => drops.push([count, reason]),
      onError: (error) => errors.push(error),
    });
    const entries = await entriesOf(5);
    await sink.write(entries.slice(0, 3));
    await sink.write(entries.slice(3, 5));
    expect(drops).toEqual([[2, 'queue_full']]);
    await sink.close?.();
    expect(received).toHaveLength(3);
    expect(drops).toEqual([
      [2, 'queue_full'],
      [3, 'delivery_failed'],
    ]);
    expect(errors).toHaveLength(1);
  });

  it('takes a batch larger than maxQueue when nothing waits: the limit bounds the backlog', async () => {
    const key = await generateAuditSigningKey();
    const drops: Array<[number, WebhookDropReason]> = [];
    const sink = webhookSink({
      url,
      signingKey: key.privateJwk,
      batchSize: 100,
      maxQueue: 4,
      onDrop: (count, reason) => drops.push([count, reason]),
    });
    const entries = await entriesOf(8);
    await sink.write(entries.slice(0, 6));
    await sink.write(entries.slice(6, 8));
    await sink.close?.();
    expect(drops).toEqual([[2, 'queue_full']]);
    const batches = await Promise.all(received.map((request) => verifyAuditWebhook(request.body, key.publicJwk)));
    expect(batches.flat().map((entry) => entry.seq)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('does not follow a redirect: the batch is reported as failed, not sent on', async () => {
    const key = await generateAuditSigningKey();
    answer = (request) => (request.url === '/audit' ? 307 : 204);
    const drops: Array<[number, WebhookDropReason]> = [];
    const errors: unknown[] = [];
    const sink = webhookSink({
      url,
      signingKey: key.privateJwk,
      retries: 3,
      retryBaseMs: 1,
      onDrop: (count, reason) => drops.push([count, reason]),
      onError: (error) => errors.push(error),
    });
    await sink.write(await entriesOf(2));
    await sink.close?.();
    expect(received).toHaveLength(1);
    expect(drops).toEqual([[2, 'delivery_failed']]);
    expect(String(errors[0])).toContain('Audit webhook answered 307 (redirects are not followed)');
  });

  it('does not retry a client error', async () => {
    const key = await generateAuditSigningKey();
    answer = () => 400;
    const drops: Array<[number, WebhookDropReason]> = [];
    const sink = webhookSink({
      url,
      signingKey: key.privateJwk,
      retries: 5,
      retryBaseMs: 1,
      onDrop: (count, reason) => drops.push([count, reason]),
    });
    await sink.write(await entriesOf(1));
    await sink.close?.();
    expect(received).toHaveLength(1);
    expect(drops).toEqual([[1, 'delivery_failed']]);
  });
});
