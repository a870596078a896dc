/**
 * What the gateway's routes answer before it becomes a Web `Response`. Building a
 * `Response` and reading its body stream back costs tens of microseconds per request on
 * Node 20; the Node bridge writes a `JsonReply` straight to the socket instead, and
 * `gateway.fetch` turns it into a real `Response` for everyone else.
 */
export class JsonReply {
  readonly headers: Headers;

  constructor(
    readonly status: number,
    /** The body text, or null for no body. */
    readonly bodyText: string | null,
    headers?: Record<string, string>,
  ) {
    this.headers = new Headers(headers);
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
