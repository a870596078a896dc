import { isMaskedSecret, isSealedSecret, isSecretValue, revealSecret, type SealedSecret, SecretValue } from '../secrets/secret-value.js';
import { parseAllowance, type PrivateNetworkAllowance } from '../upstream/network-policy.js';
import { compileRequestPlan, HEADER_NAME, SAFE_HEADER_VALUE } from '../upstream/request-plan.js';
import { MAX_TIMER_MS } from '../util/timers.js';
import { assertToolBasics, boundedPositiveInteger } from './define-tool.js';
import type { ToolDefinitionBase } from './types.js';

/** HTTP methods an HTTP tool can use. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

/** Names the input field a header or the body is taken from. */
export interface InputField {
  readonly from: string;
}

/** A secret header value: marked with `secret()` in code, or sealed by the vault when stored. */
export type SecretHeaderValue = SecretValue | SealedSecret;

/** How redirects are treated: not followed (default), or followed within the tool's own origin (at most 5 hops). */
export type RedirectMode = 'none' | 'same-origin';

/** Options of {@link httpTool}. */
export interface HttpToolOptions extends ToolDefinitionBase {
  /** Accepted for definitions read back from JSON; always `'http'`. */
  kind?: 'http';
  method: HttpMethod | Lowercase<HttpMethod>;
  /**
   * URL template: `https://crm.example.com/customers/{id}/orders`. Origin, path prefix and
   * the template's own query are fixed; each `{param}` is a whole path segment filled from the
   * input field of that name.
   */
  url: string;
  /**
   * Input fields sent as query parameters (default: all remaining fields for GET, HEAD, DELETE,
   * OPTIONS; none otherwise). Never a parameter the URL's own query fixes: a definition that
   * would send one is refused, and so is input that would (`INVALID_INPUT`).
   */
  query?: readonly string[];
  /**
   * Input fields sent as the JSON body object (default: all remaining fields for POST, PUT,
   * PATCH), or `{ from: 'field' }` to send one field's value as the whole body.
   */
  body?: readonly string[] | InputField;
  /** Static headers, `{ from: 'field' }` to fill a header from input, or `secret(...)` values. */
  headers?: Readonly<Record<string, string | InputField | SecretValue>>;
  /**
   * Credentials: plain strings are treated as secrets. Stored definitions carry `{ sealed }`
   * values, which the admin API never takes from a caller (it seals what it is given).
   */
  secretHeaders?: Readonly<Record<string, string | SecretValue | SealedSecret>>;
  /**
   * Deadline to establish a connection, DNS lookup included, in milliseconds (default 10 000,
   * never above `timeoutMs`; at most 2 147 483 647).
   */
  connectTimeoutMs?: number;
  /** Deadline from sending the request to the response headers, in milliseconds (default: `timeoutMs`; at most 2 147 483 647). */
  firstByteTimeoutMs?: number;
  /** Cap on the decoded response body, in bytes (default 1 MiB, at most 256 MiB). An error body is read for its excerpt up to 64 KiB, whatever the cap. */
  maxResponseBytes?: number;
  /**
   * Let this tool reach private networks: `true` (all but cloud metadata) or a list of CIDRs
   * (a cloud metadata endpoint in one is reached only through an entry of that one address,
   * such as `169.254.169.254/32`).
   */
  allowPrivateNetwork?: PrivateNetworkAllowance;
  followRedirects?: RedirectMode;
  /** Upstream response headers to return; when given, the output is `{ status, headers, body }`. */
  responseHeaders?: readonly string[];
}

/**
 * A tool that calls an HTTP API. A plain, frozen, JSON-friendly object: header names are
 * lower-cased, secrets live only in `secretHeaders` (shown as `***` when serialised).
 */
export interface HttpToolDefinition extends ToolDefinitionBase {
  readonly kind: 'http';
  readonly method: HttpMethod;
  readonly url: string;
  readonly query?: readonly string[];
  readonly body?: readonly string[] | InputField;
  readonly headers?: Readonly<Record<string, string | InputField>>;
  readonly secretHeaders?: Readonly<Record<string, SecretHeaderValue>>;
  readonly connectTimeoutMs?: number;
  readonly firstByteTimeoutMs?: number;
  readonly maxResponseBytes?: number;
  readonly allowPrivateNetwork?: PrivateNetworkAllowance;
  readonly followRedirects?: RedirectMode;
  readonly responseHeaders?: readonly string[];
}

/**
 * The largest `maxResponseBytes` (256 MiB): a body becomes one string, as text or as base64
 * (a third longer), and V8 strings stop short of 512 Mi characters; a larger cap would pass
 * validation and then fail on the bodies it was meant to allow.
 */
const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

function plainRecord(value: unknown, option: string, where: string): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${where}: ${option} must be an object of header name → value`);
  }
  return value as Record<string, unknown>;
}

function normaliseSecret(name: string, value: unknown, where: string): SecretHeaderValue {
  if (isMaskedSecret(value)) {
    throw new TypeError(`${where}: secret header "${name}" is the mask "***": send the real value, or keep the stored one`);
  }
  let secretValue: SecretValue;
  if (typeof value === 'string') secretValue = new SecretValue(value);
  else if (isSecretValue(value)) secretValue = value;
  else if (isSealedSecret(value)) return Object.freeze({ sealed: value.sealed });
  else throw new TypeError(`${where}: secret header "${name}" must be a string, secret(...) or { sealed }`);
  if (!SAFE_HEADER_VALUE.test(revealSecret(secretValue))) {
    throw new TypeError(`${where}: secret header "${name}" must be printable ASCII without line breaks or control characters`);
  }
  return secretValue;
}

/**
 * Defines a tool that calls an HTTP API. The definition is validated now (URL template,
 * header rules, field placement) and throws a TypeError naming any problem; calls go through
 * the gateway's upstream client with deadlines, a response size cap and the SSRF guard.
 *
 * @example
 * ```ts
 * import { httpTool, secret } from 'agent-tool-gateway';
 *
 * const listOrders = httpTool({
 *   name: 'crm.orders.list',
 *   description: 'List the orders of a customer',
 *   method: 'GET',
 *   url: 'https://crm.example.com/customers/{id}/orders',
 *   inputSchema: {
 *     type: 'object',
 *     properties: { id: { type: 'string' }, limit: { type: 'integer' } },
 *     required: ['id'],
 *     additionalProperties: false,
 *   },
 *   secretHeaders: { authorization: secret(`Bearer ${process.env.CRM_TOKEN}`) },
 *   timeoutMs: 5_000,
 * });
 * // GET https://crm.example.com/customers/c%2F42/orders?limit=10 for { id: 'c/42', limit: 10 }
 * ```
 */
export function httpTool(options: HttpToolOptions): HttpToolDefinition {
  assertToolBasics(options);
  const where = `tool "${options.name}"`;
  if (options.kind !== undefined && options.kind !== 'http') throw new TypeError(`${where}: kind must be "http"`);
  const method = typeof options.method === 'string' ? options.method.toUpperCase() : '';
  if (!METHODS.has(method)) throw new TypeError(`${where}: method must be one of ${[...METHODS].join(', ')}`);

  const headers: Record<string, string | InputField> = {};
  const secretHeaders: Record<string, SecretHeaderValue> = {};
  const seen = new Set<string>();
  const claim = (name: string, ofSecret = false): string => {
    if (!HEADER_NAME.test(name)) {
      // A secret header's name is not printed: it may be the credential, given as the name
      // and the header's name as its value.
      throw new TypeError(
        ofSecret
          ? `${where}: the name of a secret header (${name.length} characters) is not a valid header name: give the header's name as the key and the secret as its value`
          : `${where}: header name ${JSON.stringify(name)} is not a valid header name`,
      );
    }
    const lower = name.toLowerCase();
    if (seen.has(lower)) throw new TypeError(`${where}: header "${lower}" is configured twice`);
    seen.add(lower);
    return lower;
  };
  for (const [name, value] of Object.entries(plainRecord(options.secretHeaders, 'secretHeaders', where) ?? {})) {
    const lower = claim(name, true);
    secretHeaders[lower] = normaliseSecret(lower, value, where);
  }
  for (const [name, value] of Object.entries(plainRecord(options.headers, 'headers', where) ?? {})) {
    const lower = claim(name, isSecretValue(value));
    if (isSecretValue(value)) secretHeaders[lower] = normaliseSecret(lower, value, where);
    else if (typeof value === 'string') headers[lower] = value;
    else if (typeof value === 'object' && value !== null && typeof (value as InputField).from === 'string') {
      headers[lower] = Object.freeze({ from: (value as InputField).from });
    } else {
      throw new TypeError(`${where}: header "${lower}" must be a string, { from: "inputField" } or secret(...)`);
    }
  }

  const timeoutMs = options.timeoutMs;
  const connectTimeoutMs = boundedPositiveInteger(options.connectTimeoutMs, 'connectTimeoutMs', where, MAX_TIMER_MS);
  const firstByteTimeoutMs = boundedPositiveInteger(options.firstByteTimeoutMs, 'firstByteTimeoutMs', where, MAX_TIMER_MS);
  const maxResponseBytes = boundedPositiveInteger(options.maxResponseBytes, 'maxResponseBytes', where, MAX_RESPONSE_BYTES);
  const allowPrivateNetwork = parseAllowance(options.allowPrivateNetwork, where);
  if (options.followRedirects !== undefined && options.followRedirects !== 'none' && options.followRedirects !== 'same-origin') {
    throw new TypeError(`${where}: followRedirects must be "none" or "same-origin"`);
  }
  let responseHeaders: readonly string[] | undefined;
  if (options.responseHeaders !== undefined) {
    if (
      !Array.isArray(options.responseHeaders) ||
      options.responseHeaders.some((name) => typeof name !== 'string' || !HEADER_NAME.test(name))
    ) {
      throw new TypeError(`${where}: responseHeaders must be a list of header names`);
    }
    responseHeaders = Object.freeze([...new Set(options.responseHeaders.map((name) => name.toLowerCase()))]);
  }
  if (options.query !== undefined && !Array.isArray(options.query)) {
    throw new TypeError(`${where}: query must be a list of input field names`);
  }
  let body: readonly string[] | InputField | undefined;
  if (Array.isArray(options.body)) body = Object.freeze([...options.body]);
  else if (options.body !== undefined) {
    const from = (options.body as Partial<InputField>).from;
    body = Object.freeze({ from: from as string });
  }

  const definition: Record<string, unknown> = {
    kind: 'http',
    name: options.name,
    description: options.description,
    method,
    url: options.url,
    inputSchema: options.inputSchema,
  };
  const optional: Record<string, unknown> = {
    title: options.title,
    outputSchema: options.outputSchema,
    annotations: options.annotations,
    risk: options.risk,
    timeoutMs,
    redact: options.redact,
    query: options.query === undefined ? undefined : Object.freeze([...options.query]),
    body,
    headers: Object.keys(headers).length > 0 ? Object.freeze(headers) : undefined,
    secretHeaders: Object.keys(secretHeaders).length > 0 ? Object.freeze(secretHeaders) : undefined,
    connectTimeoutMs,
    firstByteTimeoutMs,
    maxResponseBytes,
    allowPrivateNetwork: Array.isArray(allowPrivateNetwork) ? Object.freeze([...allowPrivateNetwork]) : allowPrivateNetwork,
    followRedirects: options.followRedirects,
    responseHeaders,
  };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) definition[key] = value;
  const frozen = Object.freeze(definition) as unknown as HttpToolDefinition;
  compileRequestPlan(frozen);
  return frozen;
}

/** True when `definition` is an HTTP tool definition (`kind: 'http'`). */
export function isHttpToolDefinition(definition: unknown): definition is HttpToolDefinition {
  return typeof definition === 'object' && definition !== null && (definition as { kind?: unknown }).kind === 'http';
}
