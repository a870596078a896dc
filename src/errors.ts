/**
 * Every error code the gateway can answer with. Client-safe: the message that goes with a
 * code never carries a stack trace, a secret or an upstream credential.
 */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'POLICY_DENIED'
  | 'TOOL_NOT_FOUND'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'NOT_ACCEPTABLE'
  | 'CONFLICT'
  | 'IDEMPOTENCY_CONFLICT'
  | 'APPROVAL_EXPIRED'
  | 'APPROVAL_DENIED'
  | 'APPROVAL_ALREADY_DECIDED'
  | 'APPROVAL_ALREADY_USED'
  | 'APPROVAL_TOOL_CHANGED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'INVALID_INPUT'
  | 'RATE_LIMITED'
  | 'UPSTREAM_ERROR'
  | 'UPSTREAM_TIMEOUT'
  | 'SECRET_UNAVAILABLE'
  | 'CANCELLED'
  | 'AUDIT_UNAVAILABLE'
  | 'AUTH_UNAVAILABLE'
  | 'STORE_UNAVAILABLE'
  | 'GATEWAY_CLOSED'
  | 'INTERNAL';

/** The one code → HTTP status map. */
export const errorStatus: Readonly<Record<ErrorCode, number>> = {
  BAD_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  POLICY_DENIED: 403,
  TOOL_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  NOT_ACCEPTABLE: 406,
  CONFLICT: 409,
  IDEMPOTENCY_CONFLICT: 409,
  APPROVAL_EXPIRED: 409,
  APPROVAL_DENIED: 409,
  APPROVAL_ALREADY_DECIDED: 409,
  APPROVAL_ALREADY_USED: 409,
  APPROVAL_TOOL_CHANGED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INVALID_INPUT: 422,
  RATE_LIMITED: 429,
  CANCELLED: 499,
  INTERNAL: 500,
  UPSTREAM_ERROR: 502,
  SECRET_UNAVAILABLE: 502,
  AUDIT_UNAVAILABLE: 503,
  AUTH_UNAVAILABLE: 503,
  STORE_UNAVAILABLE: 503,
  GATEWAY_CLOSED: 503,
  UPSTREAM_TIMEOUT: 504,
};

/** True for a code of {@link ErrorCode} (what a tool's own `GatewayError` must carry to be answered as it is). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorStatus, value);
}

/** One entry of `details` on an `INVALID_INPUT` error. */
export interface InputIssue {
  /** JSON Pointer into the input (`/customer/email`); `''` for the input itself. */
  path: string;
  message: string;
}

/** Options of {@link GatewayError}. */
export interface GatewayErrorOptions {
  code: ErrorCode;
  /** Client-safe message: it is sent to the caller as is. */
  message: string;
  /** Client-safe structured details (input issues, rule ids, upstream status). */
  details?: unknown;
  /** Extra response headers (`Retry-After`, `WWW-Authenticate`). */
  headers?: Record<string, string>;
  /** The underlying error, kept for logs and `onError` hooks only; never serialised. */
  cause?: unknown;
}

/**
 * The one error type of the gateway. Its `code` decides the HTTP status (see
 * {@link errorStatus}) and the MCP mapping; its `message` and `details` are client-safe.
 * A tool's handler throws one as its own refusal: the caller and the call's record get its
 * message and details redacted as the tool's output would be. Its code must be one of
 * {@link ErrorCode} (another fails the call as a tool that threw: 502 `UPSTREAM_ERROR`), and a
 * header no HTTP response can carry (a line break in a value, say) is left out.
 *
 * @example
 * ```ts
 * import { GatewayError } from 'agent-tool-gateway';
 *
 * throw new GatewayError({ code: 'UPSTREAM_ERROR', message: 'CRM answered 503', details: { upstreamStatus: 503 } });
 * ```
 */
export class GatewayError extends Error {
  /**
   * `instanceof GatewayError` holds for a GatewayError of any copy of this package: a tool
   * module loaded through `require` (the CommonJS build) throws the other build's class than
   * a gateway imported as ESM, and its refusal must still be taken as one. Subclasses keep
   * the ordinary check.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class instanceof asks about, a subclass included
    return isInstance(this, value);
  }

  override readonly name = 'GatewayError';
  readonly code: ErrorCode;
  readonly details: unknown;
  readonly headers: Record<string, string> | undefined;

  constructor(options: GatewayErrorOptions) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.details = options.details;
    this.headers = options.headers;
  }

  /**
   * The HTTP status for this error's code; 500 for a code this version does not know (an
   * outcome recorded by a newer version on a shared store, and answered again from it here).
   */
  get status(): number {
    return isErrorCode(this.code) ? errorStatus[this.code] : 500;
  }

  /** The client-safe JSON body: `{ error: { code, message, details? } }`. */
  toJSON(): { code: ErrorCode; message: string; details?: unknown } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** True when `value` is a {@link GatewayError}. */
export function isGatewayError(value: unknown): value is GatewayError {
  return value instanceof GatewayError;
}

/** Marks every GatewayError, whichever copy of the package made it (see GatewayError's `instanceof`). */
const GATEWAY_ERROR_BRAND = Symbol.for('agent-tool-gateway.GatewayError');
Object.defineProperty(GatewayError.prototype, GATEWAY_ERROR_BRAND, { value: true });

/**
 * `value instanceof type` for GatewayError and its subclasses. Outside the class body, so
 * that the built class keeps its name (a class that names itself inside is renamed by the
 * bundler, and would print as `_GatewayError`).
 */
function isInstance(type: abstract new (...args: never[]) => unknown, value: unknown): boolean {
  if (type !== GatewayError) return Function.prototype[Symbol.hasInstance].call(type, value);
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[GATEWAY_ERROR_BRAND] === true;
}

/**
 * Turns anything thrown into a {@link GatewayError}. Unknown throws become `INTERNAL` with a
 * generic message; the original is kept as `cause` for logs only.
 */
export function toGatewayError(value: unknown): GatewayError {
  if (value instanceof GatewayError) return value;
  return new GatewayError({ code: 'INTERNAL', message: 'Internal error', cause: value });
}

/** Seconds a caller is told to wait out an outage (`AUTH_UNAVAILABLE`, `STORE_UNAVAILABLE`). */
export const OUTAGE_RETRY_AFTER_SECONDS = 5;

/** A 503 for something the gateway depends on that cannot be reached: come back in a few seconds. */
export function outage(code: 'AUTH_UNAVAILABLE' | 'STORE_UNAVAILABLE', message: string, cause: unknown): GatewayError {
  return new GatewayError({ code, message, cause, headers: { 'retry-after': String(OUTAGE_RETRY_AFTER_SECONDS) } });
}

/** 409 `CONFLICT` with `Retry-After: 1`: another call holds what this one needs, for a moment. */
export function retryLater(message: string): GatewayError {
  return new GatewayError({ code: 'CONFLICT', message, headers: { 'retry-after': '1' } });
}

/** Shorthand for the identical 401 every authentication failure gets. */
export function unauthenticated(challenge = 'Bearer realm="agent-tool-gateway"'): GatewayError {
  return new GatewayError({
    code: 'UNAUTHENTICATED',
    message: 'Missing or invalid credentials',
    headers: { 'www-authenticate': challenge },
  });
}
