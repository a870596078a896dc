import { decodeProtectedHeader } from 'jose';
import type { AuditEntry } from '../store/types.js';
import { canonicalJson } from '../util/canonical-json.js';
import {
  type AuditSigningKey,
  type AuditVerificationKey,
  type PreparedSigningKey,
  prepareSigningKey,
  prepareVerificationKeys,
  signCompact,
  verifyCompact,
} from './keys.js';
import type { AuditSink } from './types.js';
import { failedAnswer, retryableStatus } from '../util/webhook-answer.js';
import { MAX_TIMER_MS, requestSignal, sleep } from '../util/timers.js';
import { numberOption } from '../util/number-option.js';
import { webhookHeaders, webhookUrl } from '../util/webhook-target.js';
import { retryAfterInstant } from '../util/retry-after.js';

/** The JWS `typ` of a webhook batch. */
export const auditWebhookType = 'atg-audit-batch+jws';

/** Why entries were dropped by a {@link webhookSink}. */
export type WebhookDropReason = 'queue_full' | 'delivery_failed' | 'closed';

/** Options of {@link webhookSink}. */
export interface WebhookSinkOptions {
  /** Where batches are POSTed: an absolute http(s) URL without user info (credentials go in `headers`). */
  url: string | URL;
  /** Ed25519 private key that signs every batch. */
  signingKey: AuditSigningKey;
  /** `kid` of the signatures. Default: the JWK's `kid`, else the RFC 7638 thumbprint. */
  keyId?: string;
  /** Most entries per POST. Default 100. */
  batchSize?: number;
  /** How long entries may wait for a fuller batch (ms). Default 1000. */
  flushIntervalMs?: number;
  /** Most entries waiting to be sent; more are dropped and reported (an empty queue takes a batch of any size). Default 10000. */
  maxQueue?: number;
  /**
   * Retries of a failed POST (network error, 408, 429, 5xx). Default 5. A 429 or 503 with a
   * `Retry-After` waits as long as it asks, up to 30 s, if that is longer than the back-off.
   */
  retries?: number;
  /** First retry delay (ms); doubles each retry, with jitter, up to 30 s. Default 250. */
  retryBaseMs?: number;
  /** Deadline of one POST (ms). Default 10000. */
  timeoutMs?: number;
  /** Extra request headers (an API key of the receiver, for example). */
  headers?: Record<string, string>;
  /** The fetch to use. Default: the global one. */
  fetch?: typeof globalThis.fetch;
  /**
   * Told when entries are dropped: queue full, a batch failed after all retries, written after
   * `close()`, or still held when `close()`'s signal aborted (`closed`).
   */
  onDrop?: (droppedEntries: number, reason: WebhookDropReason) => void;
  /** Told about each failed delivery attempt that will not be retried. */
  onError?: (error: unknown) => void;
}

const maxRetryDelayMs = 30_000;
/** Most bytes of an answer's body read and thrown away; a longer body is cancelled. */
const maxDiscardedBodyBytes = 64 * 1024;

class WebhookDeliveryError extends Error {
  override readonly name = 'WebhookDeliveryError';
  constructor(
    message: string,
    readonly retryable: boolean,
    /** How long the receiver asked to wait (`Retry-After`), in ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** `Retry-After` of a 429 or 503 (RFC 9110: seconds or an HTTP date), in ms; undefined when absent or unreadable. */
function retryAfter(response: Response): number | undefined {
  if (response.status !== 429 && response.status !== 503) return undefined;
  const now = Date.now();
  const instant = retryAfterInstant(response.headers.get('retry-after'), now);
  return instant === undefined ? undefined : Math.max(0, instant - now);
}

/**
 * Throws away the answer's body, of which only the status counts, without buffering it. A
 * short body is read to its end, so that the keep-alive connection serves the next POST; a
 * longer one (declared or found so) is cancelled, which closes the connection rather than read
 * on. A Web stream (the global fetch, undici) is read chunk by chunk; a body of another kind
 * (node-fetch answers with a Node stream) is let go as such a stream is. Never throws: a body
 * that breaks off, or is of no known kind, changes nothing.
 */
async function discardBody(response: Response): Promise<void> {
  try {
    const body = response.body as unknown;
    if (body === null || body === undefined) return;
    const tooLong = Number(response.headers?.get?.('content-length')) > maxDiscardedBodyBytes;
    if (typeof (body as Partial<ReadableStream>).getReader !== 'function') {
      releaseNodeBody(body as NodeBody, tooLong);
      return;
    }
    const reader = (body as ReadableStream<Uint8Array>).getReader();
    if (!tooLong) {
      for (let bytes = 0; bytes <= maxDiscardedBodyBytes; ) {
        const chunk = await reader.read();
        if (chunk.done) return;
        bytes += chunk.value.byteLength;
      }
    }
    await reader.cancel();
  } catch {
    // Only the status counts.
  }
}

/** What a body that is not a Web stream may offer: a Node `Readable`'s methods. */
interface NodeBody {
  on?(event: string, listener: (...args: never[]) => void): unknown;
  resume?(): unknown;
  destroy?(): unknown;
}

/**
 * Lets a Node stream body go without waiting for it: read on and thrown away while short
 * (the connection then serves the next POST), destroyed once it passes the limit.
 */
function releaseNodeBody(body: NodeBody, tooLong: boolean): void {
  if (tooLong || typeof body.resume !== 'function' || typeof body.on !== 'function') {
    body.destroy?.();
    return;
  }
  // A body that breaks off later must not become an unhandled 'error'.
  body.on('error', () => undefined);
  let bytes = 0;
  body.on('data', (chunk: { length?: number }) => {
    bytes += chunk.length ?? 0;
    if (bytes > maxDiscardedBodyBytes) body.destroy?.();
  });
  body.resume();
}

/**
 * An audit sink that POSTs committed entries to a URL in batches. Each body is a compact
 * JWS (`Content-Type: application/jose`, `alg: EdDSA`, `typ: atg-audit-batch+jws`, `kid`)
 * whose payload is the canonical JSON of `{ "entries": [...] }`, so the receiver can prove
 * the batch came from the gateway unaltered ({@link verifyAuditWebhook}). Batches are sent
 * one at a time in chain order, retried with exponential back-off; the queue is bounded
 * and every drop is reported through `onDrop`. `close()` sends what the sink holds first;
 * when its `signal` aborts (the audit log's `sinkCloseTimeoutMs`, or its `close()`'s
 * `timeoutMs`, passed) it stops retrying, aborts the POST in flight and reports what it still
 * held as dropped (`closed`).
 *
 * @example
 * ```ts
 * import { createGateway, webhookSink } from 'agent-tool-gateway';
 *
 * const gateway = createGateway({
 *   auditSinks: [webhookSink({ url: 'https://siem.example.com/atg', signingKey: privateJwk, onDrop: (n) => metrics.add(n) })],
 * });
 * ```
 */
export function webhookSink(options: WebhookSinkOptions): AuditSink {
  const batchSize = numberOption('webhookSink', 'batchSize', options.batchSize, 100, { min: 1, integer: true });
  const flushIntervalMs = numberOption('webhookSink', 'flushIntervalMs', options.flushIntervalMs, 1000, {
    min: 0,
    max: MAX_TIMER_MS,
    integer: false,
  });
  const maxQueue = numberOption('webhookSink', 'maxQueue', options.maxQueue, 10_000, { min: 1, integer: true });
  const retries = numberOption('webhookSink', 'retries', options.retries, 5, { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true });
  const retryBaseMs = Math.max(
    1,
    numberOption('webhookSink', 'retryBaseMs', options.retryBaseMs, 250, { min: 0, max: MAX_TIMER_MS, integer: false }),
  );
  // AbortSignal.timeout takes whole milliseconds.
  const timeoutMs = Math.ceil(
    numberOption('webhookSink', 'timeoutMs', options.timeoutMs, 10_000, { min: 1, max: MAX_TIMER_MS, integer: false }),
  );
  // Refused here, not on every POST: every batch would be retried, then dropped.
  const url = webhookUrl('webhookSink', options.url).href;
  const fetchImplementation = options.fetch ?? globalThis.fetch;
  if (typeof fetchImplementation !== 'function') throw new TypeError('webhookSink: fetch must be a function');
  const headers = { ...webhookHeaders('webhookSink', options.headers), 'content-type': 'application/jose' };
  let signingKey: Promise<PreparedSigningKey> | undefined;

  const queue: AuditEntry[] = [];
  let flushTimer: NodeJS.Timeout | undefined;
  let sending: Promise<void> | undefined;
  let closed = false;
  /** The batch being signed, sent or retried, until the receiver accepts it. */
  let inFlight: AuditEntry[] | undefined;
  /** Aborted when close()'s deadline passes: no more POSTs, back-off sleeps or retries. */
  const halt = new AbortController();
  const halted = new Promise<void>((resolve) => halt.signal.addEventListener('abort', () => resolve(), { once: true }));

  function report(callback: () => void): void {
    try {
      callback();
    } catch {
      // A throwing callback must not stop delivery.
    }
  }

  /**
   * close()'s deadline passed: the entries still held (the batch in flight and the queue) will
   * not be sent, and nobody else can report them, since `write` accepted them.
   */
  function stop(): void {
    if (halt.signal.aborted) return;
    clearTimeout(flushTimer);
    flushTimer = undefined;
    const held = (inFlight?.length ?? 0) + queue.length;
    inFlight = undefined;
    queue.length = 0;
    halt.abort(new DOMException('webhookSink stopped: close() ran out of time', 'AbortError'));
    if (held > 0) report(() => options.onDrop?.(held, 'closed'));
  }

  async function post(body: string): Promise<void> {
    // Ends at the POST's deadline, or when close() runs out of time.
    const request = requestSignal(halt.signal, timeoutMs, 'The audit webhook POST');
    try {
      let response: Response;
      try {
        response = await fetchImplementation(url, { method: 'POST', headers, body, redirect: 'manual', signal: request.signal });
      } catch (error) {
        throw new WebhookDeliveryError(`Audit webhook request failed: ${(error as Error).name ?? 'error'}`, true);
      }
      // The status decides, before the body is touched: nothing the body does changes it.
      const failure = response.ok
        ? undefined
        : new WebhookDeliveryError(failedAnswer('Audit webhook', response), retryableStatus(response.status), retryAfter(response));
      // Accepted: delivered, whatever happens to the rest of the answer.
      if (failure === undefined) inFlight = undefined;
      // Release the connection whatever the answer.
      await discardBody(response);
      if (failure !== undefined) throw failure;
    } finally {
      request.done();
    }
  }

  async function deliver(batch: AuditEntry[]): Promise<void> {
    signingKey ??= prepareSigningKey(options.signingKey, options.keyId);
    const body = await signCompact(canonicalJson({ entries: batch }), await signingKey, auditWebhookType);
    for (let attempt = 0; ; attempt++) {
      if (halt.signal.aborted) throw halt.signal.reason;
      try {
        await post(body);
        return;
      } catch (error) {
        if (halt.signal.aborted || !(error instanceof WebhookDeliveryError && error.retryable) || attempt >= retries) throw error;
        const ceiling = Math.min(maxRetryDelayMs, retryBaseMs * 2 ** attempt);
        const backOff = ceiling / 2 + (Math.random() * ceiling) / 2;
        await sleep(Math.min(maxRetryDelayMs, Math.max(backOff, error.retryAfterMs ?? 0)), halt.signal);
      }
    }
  }

  async function sendAll(): Promise<void> {
    try {
      while (queue.length > 0) {
        const batch = queue.splice(0, batchSize);
        inFlight = batch;
        try {
          await deliver(batch);
        } catch (error) {
          // Stopped by close()'s deadline: stop() reported the batch.
          if (halt.signal.aborted) continue;
          report(() => options.onError?.(error));
          report(() => options.onDrop?.(batch.length, 'delivery_failed'));
        } finally {
          inFlight = undefined;
        }
      }
    } finally {
      sending = undefined;
    }
  }

  function flush(): Promise<void> {
    if (flushTimer !== undefined) {
      clearTimeout(flushTimer);
      flushTimer = undefined;
    }
    sending ??= sendAll();
    return sending;
  }

  return {
    write(entries) {
      // Nothing would send them: close() has drained, or is draining, what it was given.
      if (closed) {
        report(() => options.onDrop?.(entries.length, 'closed'));
        return;
      }
      // The limit bounds the backlog: an empty queue takes a batch of any size.
      if (queue.length > 0 && queue.length + entries.length > maxQueue) {
        report(() => options.onDrop?.(entries.length, 'queue_full'));
        return;
      }
      queue.push(...entries);
      if (sending !== undefined) return;
      if (queue.length >= batchSize) {
        void flush();
      } else if (flushTimer === undefined) {
        flushTimer = setTimeout(() => void flush(), flushIntervalMs);
        flushTimer.unref?.();
      }
    },
    async close(closeOptions) {
      closed = true;
      const signal = closeOptions?.signal;
      if (signal?.aborted) stop();
      else signal?.addEventListener('abort', stop, { once: true });
      try {
        // Once stopped, a POST that ignores its abort (a custom fetch) is not waited for.
        while (!halt.signal.aborted && (queue.length > 0 || sending !== undefined)) await Promise.race([flush(), halted]);
      } finally {
        signal?.removeEventListener('abort', stop);
      }
    },
  };
}

/**
 * Checks a webhook body sent by {@link webhookSink} and returns its entries. Throws when the
 * signature does not verify with `publicKey` or the body is not an audit batch. Pass the
 * entries to `verifyAuditEntries` to check the chain itself.
 *
 * @example
 * ```ts
 * import { verifyAuditWebhook } from 'agent-tool-gateway';
 *
 * const entries = await verifyAuditWebhook(await request.text(), publicJwk);
 * ```
 */
export async function verifyAuditWebhook(body: string, publicKey: AuditVerificationKey | AuditVerificationKey[]): Promise<AuditEntry[]> {
  const jws = body.trim();
  let keyId: string | undefined;
  let type: string | undefined;
  try {
    const header = decodeProtectedHeader(jws);
    keyId = header.kid;
    type = header.typ;
  } catch {
    throw new TypeError('Audit webhook body is not a compact JWS');
  }
  if (type !== auditWebhookType) throw new TypeError('Audit webhook body is not an audit batch');
  const payload = await verifyCompact(jws, await prepareVerificationKeys(publicKey), keyId);
  if (payload === undefined) throw new TypeError('Audit webhook signature does not verify');
  const parsed = JSON.parse(payload) as { entries?: unknown };
  if (!Array.isArray(parsed.entries)) throw new TypeError('Audit webhook payload has no entries');
  return parsed.entries as AuditEntry[];
}
