import { isUtf8 } from 'node:buffer';
import { GatewayError, toGatewayError } from '../errors.js';
import { NodeRequest } from './node-request.js';
import { charsetOf, isJsonMediaType, isUtf8Charset, mediaTypeOf } from '../util/media-type.js';
import { JsonReply } from './reply.js';
import { readLimitedBytes } from '../util/limited-body.js';

const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
});

/** A JSON reply. */
export function jsonResponse(status: number, body: unknown, headers?: Record<string, string>): JsonReply {
  return new JsonReply(status, JSON.stringify(body), headers ? { ...JSON_HEADERS, ...headers } : JSON_HEADERS);
}

/** The error body everywhere: `{ error: { code, message, details? }, invocationId? }`. */
export function errorResponse(error: unknown, invocationId?: string, headers?: Record<string, string>): JsonReply {
  const gatewayError = toGatewayError(error);
  const body = invocationId === undefined ? { error: gatewayError.toJSON() } : { error: gatewayError.toJSON(), invocationId };
  const all = headers === undefined ? gatewayError.headers : { ...gatewayError.headers, ...headers };
  return jsonResponse(gatewayError.status, body, all);
}

/** 405 with the `Allow` header. */
export function methodNotAllowed(allow: string): JsonReply {
  // Where GET is allowed, so is HEAD (answered as GET without the body).
  const methods = /\bGET\b/.test(allow) ? `${allow}, HEAD` : allow;
  return jsonResponse(405, { error: { code: 'METHOD_NOT_ALLOWED', message: `Use ${allow}` } }, { allow: methods });
}

/** A percent-decoded path segment; a malformed one is a 400. */
export function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw malformedPath();
  }
}

/** The 400 of a path the gateway does not take: bad percent escapes, or segments URL parsing would resolve. */
export function malformedPath(): GatewayError {
  return new GatewayError({ code: 'BAD_REQUEST', message: 'Malformed path' });
}

/**
 * Where an adapter that serves the gateway under another path than its `basePath` notes
 * that path, as clients send it: the gateway names its public URLs with it (the RFC 9728
 * metadata URL of a 401). A property of the request object, so it also rides on the Web
 * `Request` of Next.js.
 */
const publicBasePathKey: unique symbol = Symbol('agent-tool-gateway.publicBasePath');

type WithPublicBasePath = Request & { [publicBasePathKey]?: string };

/** Notes the path prefix clients use for the gateway's `basePath` on a request an adapter hands over. */
export function setPublicBasePath(request: Request, prefix: string): void {
  (request as WithPublicBasePath)[publicBasePathKey] = prefix;
}

/** The path prefix clients use for the gateway's `basePath`, when an adapter noted one. */
export function publicBasePathOf(request: Request): string | undefined {
  return (request as WithPublicBasePath)[publicBasePathKey];
}

/**
 * True when a Content-Type header names JSON (`application/json` or `application/*+json`)
 * in UTF-8: a body whose `charset` says otherwise would be read as something it is not.
 */
export function isJsonContentType(header: string | null): boolean {
  return header !== null && isJsonMediaType(mediaTypeOf(header)) && isUtf8Charset(charsetOf(header));
}

/** The 415 for a body that is not JSON in UTF-8. */
export function unsupportedMediaType(): GatewayError {
  return new GatewayError({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Content-Type must be application/json, in UTF-8' });
}

/**
 * The 415 for a body sent with a content coding (`Content-Encoding: gzip`): bodies are taken
 * as sent, so it says which coding is (RFC 9110 §12.5.3, RFC 7694).
 */
export function unsupportedContentCoding(): GatewayError {
  return new GatewayError({
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: 'Content-Encoding is not supported: send the body uncompressed',
    headers: { 'accept-encoding': 'identity' },
  });
}

/** True for a `Content-Encoding` that leaves the body as it is (`identity`, or none named). */
function isIdentityCoding(header: string): boolean {
  for (const coding of header.split(',')) {
    const name = coding.trim().toLowerCase();
    if (name !== '' && name !== 'identity') return false;
  }
  return true;
}

/**
 * Reads a request body as text, refusing more than `maxBytes` (413) while it streams in, so
 * an oversized body is never buffered whole, and a body sent with a content coding (415, see
 * {@link unsupportedContentCoding}), which would otherwise be read as garbled text. A leading
 * byte order mark is dropped, as `Request.text()` drops it. A body stream that breaks off is
 * 499 `CANCELLED` when the request's signal has aborted (the caller went away), else 400
 * `BAD_REQUEST`.
 */
export async function readBodyText(request: Request, maxBytes: number): Promise<string> {
  const coding = request.headers.get('content-encoding');
  if (coding !== null && !isIdentityCoding(coding)) throw unsupportedContentCoding();
  // The Node bridge has read (and limited) the body already: no stream to go through.
  if (request instanceof NodeRequest) {
    const buffered = request.bufferedBody();
    if (buffered === undefined) return '';
    if (buffered.byteLength > maxBytes) throw payloadTooLarge(maxBytes);
    return utf8Text(buffered);
  }
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) throw payloadTooLarge(maxBytes);
  if (request.body === null) return '';
  // Read before the gateway got it (host code that called `request.text()`): the host's failure, not the caller's.
  if (request.bodyUsed || request.body.locked) throw new Error('The request body was already read before the gateway got the request');
  let bytes: Buffer;
  try {
    bytes = await readLimitedBytes(request.body, maxBytes, () => payloadTooLarge(maxBytes));
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    // The upload broke off: the caller went away (its signal says so), or sent a body cut short.
    throw request.signal.aborted
      ? new GatewayError({ code: 'CANCELLED', message: 'The caller went away' })
      : new GatewayError({ code: 'BAD_REQUEST', message: 'The request body could not be read' });
  }
  return utf8Text(bytes);
}

/**
 * The UTF-8 text of a body without a leading byte order mark. Bytes that are not UTF-8 are a
 * 400 `BAD_REQUEST`: decoded, they would become U+FFFD and the call would run on input other
 * than what was sent.
 */
function utf8Text(bytes: Buffer): string {
  if (!isUtf8(bytes)) throw new GatewayError({ code: 'BAD_REQUEST', message: 'Request body is not valid UTF-8' });
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** The 404 of a path no route serves (also what the adapters answer outside their mount). */
export function routeNotFound(): GatewayError {
  return new GatewayError({ code: 'NOT_FOUND', message: 'No such route' });
}

/** The 413 of a body over the limit. */
export function payloadTooLarge(maxBytes: number): GatewayError {
  return new GatewayError({ code: 'PAYLOAD_TOO_LARGE', message: `Request body exceeds ${maxBytes} bytes` });
}

/** Reads a JSON body: 415 unless the Content-Type is JSON, 413 when too large, 400 when malformed. */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  if (!isJsonContentType(request.headers.get('content-type'))) throw unsupportedMediaType();
  return parseJsonBody(await readBodyText(request, maxBytes));
}

/** A body's JSON; 400 when malformed. */
export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new GatewayError({ code: 'BAD_REQUEST', message: 'Malformed JSON body' });
  }
}

/**
 * Milliseconds of the `wait` preference of a request's `Prefer` header lines (RFC 7240),
 * capped at `maxSeconds`; undefined when there is none or it is unusable. Only a preference
 * counts, not a `;` parameter of another one (`return=minimal; wait=5` asks for no wait); of
 * several `wait` preferences the first counts; a value that is not a whole number of seconds
 * (`1.5`, `-1`, empty) is ignored, as RFC 7240 has a server do with a preference it cannot use.
 */
export function preferWaitMs(request: Request, maxSeconds: number): number | undefined {
  const header = request.headers.get('prefer');
  if (header === null) return undefined;
  const wait = preferenceValues(header).get('wait');
  if (wait === undefined || !/^\d+$/.test(wait)) return undefined;
  return Math.min(Number(wait), maxSeconds) * 1000;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The preferences of a `Prefer` header (RFC 7240 §2; several header lines arrive joined by
 * commas): each name, lower-cased, with the value of its first occurrence ('' for none, and
 * for a value that is neither a token nor a quoted string). Commas and semicolons inside
 * quoted strings are text; the `;` parameters of a preference are not read.
 */
function preferenceValues(header: string): Map<string, string> {
  const preferences = new Map<string, string>();
  for (let index = 0; index < header.length; ) {
    const element = readUntil(header, index, ',');
    index = element.end + 1;
    const preference = readUntil(element.text, 0, ';').text;
    const equals = preference.indexOf('=');
    const name = (equals === -1 ? preference : preference.slice(0, equals)).trim().toLowerCase();
    if (!TOKEN.test(name) || preferences.has(name)) continue;
    preferences.set(name, equals === -1 ? '' : (wordValue(preference.slice(equals + 1).trim()) ?? ''));
  }
  return preferences;
}

/** The text from `start` to the first `stop` outside a quoted string (or the end), and where it ends. */
function readUntil(text: string, start: number, stop: string): { text: string; end: number } {
  let index = start;
  let quoted = false;
  for (; index < text.length; index++) {
    const char = text[index];
    if (quoted && char === '\\') index++;
    else if (char === '"') quoted = !quoted;
    else if (!quoted && char === stop) break;
  }
  return { text: text.slice(start, index), end: index };
}

/** A `word` (token or quoted-string) as its value; undefined when it is neither. */
function wordValue(word: string): string | undefined {
  if (word === '' || TOKEN.test(word)) return word;
  const quoted = /^"((?:[^"\\]|\\.)*)"$/s.exec(word);
  return quoted === null ? undefined : (quoted[1] as string).replace(/\\(.)/gs, '$1');
}

const BASE_PATH = /^(\/[^/?#]+)*$/;

/**
 * @internal An adapter's `basePath` option, checked as `createGateway` checks its own: a
 * mount that ends with `/` (or lacks the leading one) would match no request it names.
 */
export function checkedMount(mount: unknown, adapter: string): string {
  if (typeof mount !== 'string' || !BASE_PATH.test(mount)) {
    throw new TypeError(`${adapter}: basePath must be "" or start with "/" and not end with "/"`);
  }
  return mount;
}
