import { type Dispatcher, errors } from 'undici';
import type { CallAbort } from '../util/call-abort.js';
import { type BodyPlan, brokenOff, type ReadBody, type ReadBodyOptions, planResponseBody, tooLarge } from './response-body.js';

/** Response headers as undici hands them over: lower-case names, repeated ones as arrays. */
export type IncomingHttpHeaders = Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseStart']>>[2];

/** How to read the body of a response, decided from its status and headers. */
export type BodyReading =
  | { mode: 'read'; options: ReadBodyOptions }
  /** Not wanted (a redirect): drained up to `limit` bytes so the connection can be reused, then cut. */
  | { mode: 'discard'; limit: number };

/** One upstream response, its body read as {@link BodyReading} asked (not decoded yet). */
export interface UpstreamAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The raw body and its plan; absent for a discarded body. */
  body?: { read: ReadBody; plan: BodyPlan; options: ReadBodyOptions };
}

/**
 * Collects one response straight from undici's dispatch callbacks: no Readable stream, no
 * async iterator and no AbortSignal per request, as `pool.request()` would make. The body is
 * kept as the chunks that arrive and cut (the connection closed) as soon as it passes its
 * limit. The call's {@link CallAbort} aborts the request at any stage. A first-byte deadline,
 * when there is one, is a Node timer from the moment the request goes out on its connection
 * until the response headers arrive (undici's `headersTimeout` fires on a coarse tick, up to
 * a second or so late).
 */
class ResponseCollector implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private stopListening: () => void;
  private settled = false;
  /** undici is done with the request (its end or its error came): nothing to cut. */
  private done = false;
  private cancelError: Error | undefined;
  private status = 0;
  private headers: IncomingHttpHeaders = {};
  private reading: BodyReading | undefined;
  private plan: BodyPlan | undefined;
  private chunks: Buffer[] = [];
  private size = 0;
  private truncated = false;
  private firstByteTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly method: string,
    /** Milliseconds from sending to the response headers; 0 for no deadline of its own. */
    private readonly firstByteTimeoutMs: number,
    private readonly abort: CallAbort,
    private readonly choose: (status: number, headers: IncomingHttpHeaders) => BodyReading,
    private readonly resolve: (answer: UpstreamAnswer) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.stopListening = abort.onAbort(() => this.cancel(abort.reason));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.cancelError !== undefined) controller.abort(this.cancelError);
    else if (this.abort.aborted) this.cancel(this.abort.reason);
    else if (this.firstByteTimeoutMs > 0) {
      this.firstByteTimer = setTimeout(() => this.fail(new errors.HeadersTimeoutError()), this.firstByteTimeoutMs);
    }
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (status < 200) return; // 1xx: informational, the real response follows.
    clearTimeout(this.firstByteTimer);
    this.status = status;
    this.headers = headers;
    const reading = this.choose(status, headers);
    this.reading = reading;
    if (reading.mode === 'read') {
      try {
        this.plan = planResponseBody(reading.options, this.method);
      } catch (error) {
        this.fail(error);
      }
    }
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    const reading = this.reading;
    if (reading === undefined) return;
    if (reading.mode === 'read' && !(this.plan as BodyPlan).hasBody) return;
    const limit = reading.mode === 'read' ? (this.plan as BodyPlan).rawLimit : reading.limit;
    if (this.size + chunk.length > limit) {
      if (reading.mode === 'discard') {
        this.finish();
        return;
      }
      if (reading.options.overflow === 'fail') {
        this.fail(tooLarge(reading.options.limit, this.status));
        return;
      }
      this.chunks.push(chunk.subarray(0, limit - this.size));
      this.size = limit;
      this.truncated = true;
      this.finish();
      return;
    }
    this.size += chunk.length;
    if (reading.mode === 'read') this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.done = true;
    this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.done = true;
    const reading = this.reading;
    // A body that breaks off is a failure only when it was wanted: an error excerpt is left
    // empty and a redirect followed, as long as the call itself was not aborted.
    if (
      this.cancelError === undefined &&
      reading !== undefined &&
      (reading.mode === 'discard' || reading.options.overflow === 'truncate')
    ) {
      this.chunks = [];
      this.size = 0;
      this.truncated = false;
      this.finish();
      return;
    }
    // A body wanted whole that breaks off: the upstream answered, and its status is kept
    // (unless the client was destroyed under it: that is not the upstream's doing).
    const brokeOff = this.cancelError === undefined && reading !== undefined && (error as { code?: unknown }).code !== 'UND_ERR_DESTROYED';
    this.fail(brokeOff ? brokenOff(this.status, error) : error);
  }

  /** Settles with what was read; if the body has not ended, the connection is closed. */
  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.firstByteTimer);
    this.stopListening();
    const reading = this.reading;
    const answer: UpstreamAnswer = { status: this.status, headers: this.headers };
    if (reading?.mode === 'read') {
      const chunks = this.chunks;
      const data = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, this.size);
      answer.body = { read: { data, truncated: this.truncated }, plan: this.plan as BodyPlan, options: reading.options };
    }
    this.chunks = [];
    this.resolve(answer);
    this.stopConnection();
  }

  private fail(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.firstByteTimer);
    this.stopListening();
    this.chunks = [];
    this.reject(error);
    this.stopConnection();
  }

  /** The call was aborted: fails now; a request still queued for a connection is aborted when it gets one. */
  private cancel(reason: unknown): void {
    if (this.settled) return;
    this.cancelError = reason instanceof Error ? reason : new Error('upstream call aborted');
    this.fail(this.cancelError);
  }

  /** Closes the connection of a response settled before undici was done with it. */
  private stopConnection(): void {
    if (this.done) return;
    const controller = this.controller;
    if (controller !== undefined && !controller.aborted) {
      controller.abort(this.cancelError ?? new Error('upstream response not read to its end'));
    }
  }
}

/**
 * Sends one request through `dispatcher` and collects its response as `choose` decides. With a
 * `firstByteTimeoutMs` above 0, a response whose headers have not arrived that long after the
 * request went out fails with undici's `HeadersTimeoutError` (`UND_ERR_HEADERS_TIMEOUT`).
 */
export function dispatchRequest(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  firstByteTimeoutMs: number,
  abort: CallAbort,
  choose: (status: number, headers: IncomingHttpHeaders) => BodyReading,
): Promise<UpstreamAnswer> {
  return new Promise<UpstreamAnswer>((resolve, reject) => {
    const collector = new ResponseCollector(options.method, firstByteTimeoutMs, abort, choose, resolve, reject);
    dispatcher.dispatch(options, collector);
  });
}
