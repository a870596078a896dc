import { AbortSource, type CallAbort, abortOfSignal } from '../util/call-abort.js';

/**
 * A Web `Request` for a Node request whose body has been read already. Constructing a real
 * `Request` with a body and reading it back costs ~70 µs on Node 20, more than the rest of
 * a governed call; this one answers what the gateway reads (method, url, headers, signal,
 * the body as text) straight from the Node request, and builds the real `Request` only if
 * something asks for more (`clone()`, `formData()`, …) — so host hooks that receive it
 * still get a complete Request.
 */
export class NodeRequest {
  private realRequest: Request | undefined;
  private builtHeaders: Headers | undefined;
  private controller: AbortController | undefined;
  /** Fires when the client goes away: what the gateway itself listens to (no AbortSignal needed). */
  readonly clientGone = new AbortSource();
  private used = false;

  constructor(
    readonly method: string,
    readonly url: string,
    private readonly rawHeaders: readonly string[],
    private readonly bodyBytes: Buffer | undefined,
  ) {}

  /** Called by the bridge when the client goes away before the response is finished. */
  abort(): void {
    this.clientGone.abort(new DOMException('The client went away', 'AbortError'));
  }

  get headers(): Headers {
    this.builtHeaders ??= new RawHeaders(this.rawHeaders);
    return this.builtHeaders;
  }

  /** The Web signal, for host code that reads it; made on first read. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = new AbortController();
      this.controller = controller;
      const gone = this.clientGone;
      if (gone.aborted) controller.abort(gone.reason);
      else gone.onAbort(() => controller.abort(gone.reason));
    }
    return this.controller.signal;
  }

  /**
   * The host the client named: its `Host` header, else HTTP/2's `:authority`. Undefined when
   * it named none: the host of `url` is then one the bridge made up, never to be trusted.
   */
  authority(): string | undefined {
    const raw = this.rawHeaders;
    let authority: string | undefined;
    for (let index = 0; index < raw.length; index += 2) {
      const name = raw[index] as string;
      if (name.length === 4 && name.toLowerCase() === 'host') return raw[index + 1] as string;
      if (name === ':authority') authority = raw[index + 1] as string;
    }
    return authority;
  }

  /** The body bytes, for the gateway's own reader (which applies its limit to them). */
  bufferedBody(): Buffer | undefined {
    this.used = true;
    return this.bodyBytes;
  }

  get bodyUsed(): boolean {
    return this.used || (this.realRequest?.bodyUsed ?? false);
  }

  async text(): Promise<string> {
    this.used = true;
    return this.bodyBytes === undefined ? '' : this.bodyBytes.toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    this.used = true;
    if (this.bodyBytes === undefined) return new ArrayBuffer(0);
    return this.bodyBytes.buffer.slice(this.bodyBytes.byteOffset, this.bodyBytes.byteOffset + this.bodyBytes.byteLength) as ArrayBuffer;
  }

  /**
   * The complete Web Request, built on first need. Node serves methods a Web Request refuses
   * (`TRACE`): such a request is built as a GET without a body whose `method` still reads as
   * sent, so host code can look at it (and refuse it) rather than the gateway failing.
   */
  toRequest(): Request {
    if (this.realRequest === undefined) {
      const forbidden = FORBIDDEN_METHODS.has(this.method.toUpperCase());
      const hasBody = !forbidden && this.bodyBytes !== undefined && this.method !== 'GET' && this.method !== 'HEAD';
      const request = new Request(this.url, {
        method: forbidden ? 'GET' : this.method,
        headers: this.headers,
        signal: this.signal,
        ...(hasBody ? { body: this.bodyBytes as unknown as BodyInit } : {}),
      });
      if (forbidden) Object.defineProperty(request, 'method', { value: this.method, enumerable: true });
      this.realRequest = request;
    }
    return this.realRequest;
  }
}

/** Methods `new Request` throws on (the Fetch standard's forbidden methods); Node's HTTP parser accepts TRACE. */
const FORBIDDEN_METHODS: ReadonlySet<string> = new Set(['CONNECT', 'TRACE', 'TRACK']);

/**
 * The request's headers as a real `Headers`, filled from Node's raw header list only when
 * something other than `get` needs it. The gateway reads a handful of headers per request
 * with `get`, which is answered from the raw list directly; building an undici `Headers`
 * (name and value validation per header) costs about 2 µs per request on Node 20.
 */
class RawHeaders extends Headers {
  private filled = false;

  constructor(private readonly raw: readonly string[]) {
    super();
  }

  override get(name: string): string | null {
    if (this.filled) return super.get(name);
    const wanted = name.toLowerCase();
    const raw = this.raw;
    let value: string | null = null;
    for (let index = 0; index < raw.length; index += 2) {
      const candidate = raw[index] as string;
      if (candidate.length === wanted.length && candidate.toLowerCase() === wanted) {
        // Repeated headers read as one, comma-joined, as Headers.get answers them.
        value = value === null ? (raw[index + 1] as string) : `${value}, ${raw[index + 1] as string}`;
      }
    }
    return value;
  }

  /** Copies the raw list into the Headers itself, once, before anything else reads or changes it. */
  fill(): void {
    if (this.filled) return;
    this.filled = true;
    const raw = this.raw;
    for (let index = 0; index < raw.length; index += 2) {
      const name = raw[index] as string;
      // HTTP/2 pseudo-headers are not valid Fetch header names.
      if (name.charCodeAt(0) !== 58) super.append(name, raw[index + 1] as string);
    }
  }
}

// Every member of Headers but `get` fills the raw list in first.
for (const method of ['append', 'delete', 'has', 'set', 'forEach', 'entries', 'keys', 'values', 'getSetCookie', Symbol.iterator] as const) {
  const inherited = Headers.prototype[method] as (...args: unknown[]) => unknown;
  Object.defineProperty(RawHeaders.prototype, method, {
    value(this: RawHeaders, ...args: unknown[]) {
      this.fill();
      return inherited.apply(this, args);
    },
    writable: true,
    configurable: true,
  });
}

// Every other member of Request is served by the real Request, built on first use.
for (const member of [
  'cache',
  'credentials',
  'destination',
  'integrity',
  'keepalive',
  'mode',
  'redirect',
  'referrer',
  'referrerPolicy',
  'duplex',
] as const) {
  Object.defineProperty(NodeRequest.prototype, member, {
    get(this: NodeRequest) {
      return (this.toRequest() as unknown as Record<string, unknown>)[member];
    },
  });
}
for (const method of ['clone', 'formData', 'blob', 'bytes'] as const) {
  Object.defineProperty(NodeRequest.prototype, method, {
    value(this: NodeRequest, ...args: unknown[]) {
      const real = this.toRequest() as unknown as Record<string, (...inner: unknown[]) => unknown>;
      return (real[method] as (...inner: unknown[]) => unknown).apply(real, args);
    },
  });
}
Object.defineProperty(NodeRequest.prototype, 'body', {
  get(this: NodeRequest) {
    return this.toRequest().body;
  },
});

/**
 * The request as host code receives it (the admin `authenticate` hook): a real Web
 * `Request` whatever adapter it came through, whose body the hook may read without taking
 * it from the gateway (the Node bridge's bytes stay with the gateway; a Web `Request` with a
 * body is handed over as a clone).
 */
export function requestForHost(request: Request): Request {
  if (request instanceof NodeRequest) return request.toRequest();
  return request.body === null || request.bodyUsed ? request : request.clone();
}

/** How the gateway learns that a request's client went away: without an AbortSignal for the Node bridge's requests. */
export function requestAbort(request: Request): CallAbort {
  return request instanceof NodeRequest ? request.clientGone : abortOfSignal(request.signal);
}
