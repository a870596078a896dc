/**
 * What the gateway's routes answer before it becomes a Web `Response`. Building a
 * `Response` and reading its body stream back costs tens of microseconds per request on
 * Node 20; the Node bridge writes a `JsonReply` straight to the socket instead, and
 * `gateway.fetch` turns it into a real `Response` for everyone else.
 */
export class JsonReply {
  private builtHeaders: Headers | undefined;

  constructor(
    readonly status: number,
    /** The body text, or null for no body. */
    readonly bodyText: string | null,
    /** The response headers as given (the Node bridge writes them as they are). */
    readonly headerRecord: Readonly<Record<string, string>> = NO_HEADERS,
  ) {}

  /** The headers as a Web `Headers`, built on first read. */
  get headers(): Headers {
    this.builtHeaders ??= new Headers(this.headerRecord);
    return this.builtHeaders;
  }

  async text(): Promise<string> {
    return this.bodyText ?? '';
  }

  async json(): Promise<unknown> {
    return JSON.parse(this.bodyText ?? '');
  }

  toResponse(): Response {
    return new Response(this.bodyText, { status: this.status, headers: this.headers });
  }
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** A route's answer: a reply made here, or a Web Response. */
export type Reply = JsonReply | Response;

/** The Web Response for a reply. */
export function toWebResponse(reply: Reply): Response {
  return reply instanceof JsonReply ? reply.toResponse() : reply;
}

/**
 * The gateway's internal entry point for the Node bridge: like `fetch`, but it may answer
 * with a {@link JsonReply}. Not part of the public API.
 */
export const handleReply: unique symbol = Symbol('agent-tool-gateway.handleReply');

/**
 * The internal entry point, with the `fetch` it stands for: the bridge takes it only while
 * the object it was given still has that `fetch`, so a gateway whose `fetch` was wrapped
 * (`{ ...gateway, fetch }`, a Proxy) is asked through the wrapper.
 */
export type ReplyHandler = ((request: Request) => Promise<Reply>) & { readonly fetch: (request: Request) => Promise<Response> };

/** The same reply with `headers` added (they win over its own of the same name). */
export function withHeaders(reply: Reply, headers: Readonly<Record<string, string>>): Reply {
  if (reply instanceof JsonReply) return new JsonReply(reply.status, reply.bodyText, { ...reply.headerRecord, ...headers });
  // A fetched Response's headers are immutable: answer with a copy.
  const merged = new Headers(reply.headers);
  for (const [name, value] of Object.entries(headers)) merged.set(name, value);
  return new Response(reply.body, { status: reply.status, statusText: reply.statusText, headers: merged });
}

/** The answer to a HEAD request: the same status and headers, no body. */
export function withoutBody(reply: Reply): Reply {
  if (reply instanceof JsonReply) return new JsonReply(reply.status, null, reply.headerRecord);
  void reply.body?.cancel().catch(() => undefined);
  return new Response(null, { status: reply.status, statusText: reply.statusText, headers: reply.headers });
}
