import { GatewayError } from '../errors.js';
import type { SecretScrubber } from '../secrets/secret-scrubber.js';
import { charsetOf, isUtf8Charset, mediaTypeOf } from '../util/media-type.js';

/** A non-text, non-JSON response body. */
export interface BinaryBody {
  contentType: string;
  base64: string;
}

const UTF8 = new TextDecoder('utf-8');

/**
 * A body's text in the charset its `Content-Type` names; undefined for a charset no
 * `TextDecoder` knows (`utf-32`, a made-up label). Such a body is never read as UTF-8
 * instead: a secret echoed in it would pass the scrubber and the redactor unrecognised.
 * In a charset other than UTF-8, the tool's secrets are first removed from the bytes: a
 * secret sent back as plain ASCII bytes would otherwise be read as other characters (UTF-16
 * pairs them; a Shift_JIS, GBK or Big5 lead byte before it takes its first one) and come
 * out of the scrubber whole, to be turned back into those bytes by whoever reads the text.
 */
function textOf(data: Buffer, contentType: string, scrubber: SecretScrubber): string | undefined {
  const label = charsetOf(contentType);
  if (isUtf8Charset(label)) return UTF8.decode(data);
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(label);
  } catch {
    return undefined;
  }
  return decoder.decode(scrubber.active ? scrubber.bytes(data) : data);
}

function unreadableCharset(upstreamStatus: number): GatewayError {
  return new GatewayError({
    code: 'UPSTREAM_ERROR',
    message: 'upstream answered text in a charset the gateway cannot read',
    details: { upstreamStatus },
  });
}

const JSON_POSITION = /\bat position (\d+)/;

/**
 * The cause of an invalid JSON body: V8's SyntaxError quotes the body around the bad token,
 * unscrubbed, and a cause reaches logs and error hooks. Only the position is kept.
 */
function invalidJson(error: unknown): SyntaxError {
  const position = error instanceof Error ? JSON_POSITION.exec(error.message)?.[1] : undefined;
  return new SyntaxError(position === undefined ? 'invalid JSON' : `invalid JSON at position ${position}`);
}

/**
 * Turns a decoded response body into tool output: JSON (`application/json`, `*+json`) parsed,
 * `text/*` as a string, anything else `{ contentType, base64 }`; an empty body is `null`.
 * The tool's own secret values are removed from all three. Bad JSON is an `UPSTREAM_ERROR`.
 */
export function interpretBody(
  data: Buffer,
  contentTypeHeader: string | undefined,
  scrubber: SecretScrubber,
  upstreamStatus: number,
): unknown {
  if (data.length === 0) return null;
  const contentType = contentTypeHeader ?? 'application/octet-stream';
  const mediaType = mediaTypeOf(contentType);
  if (mediaType === 'application/json' || mediaType.endsWith('+json')) {
    const text = textOf(data, contentType, scrubber);
    if (text === undefined) throw unreadableCharset(upstreamStatus);
    try {
      return scrubber.parseJson(text);
    } catch (error) {
      throw new GatewayError({
        code: 'UPSTREAM_ERROR',
        message: 'upstream answered invalid JSON',
        details: { upstreamStatus },
        cause: invalidJson(error),
      });
    }
  }
  if (mediaType.startsWith('text/')) {
    const text = textOf(data, contentType, scrubber);
    if (text === undefined) throw unreadableCharset(upstreamStatus);
    return scrubber.active ? scrubber.text(text) : text;
  }
  const bytes = scrubber.active ? scrubber.bytes(data) : data;
  const binary: BinaryBody = { contentType, base64: bytes.toString('base64') };
  return binary;
}

/** Largest excerpt of an upstream error body, in UTF-16 code units. */
export const EXCERPT_LENGTH = 512;

/**
 * What is dropped from the end of a scrubbed error body that was read only in part: the
 * first characters of a value cut off there (an email address, a card number, a secret)
 * are a value no detector or exact match recognises any more.
 */
const TRUNCATED_TAIL = 256;

/** The scrubbed error text behind each upstream error's excerpt, for the tool's own redaction. */
const excerptSources = new WeakMap<object, string>();

/**
 * The upstream `UPSTREAM_ERROR` for an error status: `details.excerpt` is
 * {@link errorBodyText} cut to {@link EXCERPT_LENGTH} characters. The uncut text stays with
 * the error, out of reach of serialisation, so that the tool's own redaction
 * ({@link excerptSource}) sees a value that straddles the cut whole instead of its first
 * characters.
 */
export function upstreamStatusError(status: number, text: string): GatewayError {
  const error = new GatewayError({
    code: 'UPSTREAM_ERROR',
    message: `upstream answered ${status}`,
    details: { upstreamStatus: status, excerpt: cutExcerpt(text) },
  });
  excerptSources.set(error, text);
  return error;
}

/** The uncut, scrubbed error body behind an error made by {@link upstreamStatusError}. */
export function excerptSource(error: object): string | undefined {
  return excerptSources.get(error);
}

/**
 * An upstream error body as text, decoded with the charset its `Content-Type` names as a
 * success body is (a secret echoed in UTF-16 is found too), then scrubbed: the tool's own
 * secrets removed first, then the caller's scrub function. A body read only in part loses its
 * last characters after both (the larger of the longest secret spelling, escaped JSON
 * spellings included, and {@link TRUNCATED_TAIL}), so no value cut off at its end survives as a prefix. If the scrub
 * function throws, or the charset is one the gateway cannot read, the text is empty: never
 * unscrubbed.
 */
export function errorBodyText(
  data: Buffer,
  truncated: boolean,
  contentType: string | undefined,
  scrubber: SecretScrubber,
  scrub: ((text: string) => string) | undefined,
): string {
  const decoded = textOf(data, contentType ?? '', scrubber);
  // A body in a charset the gateway cannot read has no excerpt it could vouch for.
  if (decoded === undefined) return '';
  let text = scrubber.text(decoded);
  if (scrub !== undefined) {
    try {
      text = String(scrub(text));
    } catch {
      return '';
    }
  }
  return truncated ? text.slice(0, Math.max(0, text.length - Math.max(scrubber.longestForm - 1, TRUNCATED_TAIL))) : text;
}

/** `text` cut to at most {@link EXCERPT_LENGTH} characters, never inside a surrogate pair. */
export function cutExcerpt(text: string): string {
  if (text.length <= EXCERPT_LENGTH) return text;
  const cut = text.slice(0, EXCERPT_LENGTH);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}
