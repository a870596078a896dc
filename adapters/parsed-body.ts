import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isJsonMediaType, mediaTypeOf } from '../src/util/media-type.js';

/** What body parsers leave behind: the parsed `body`, and the raw text or bytes some keep as `rawBody`. */
export interface ParsedBody {
  body?: unknown;
  rawBody?: unknown;
}

/**
 * The request body as bytes when a body parser in front of the gateway already consumed the
 * stream (Express, Koa, any Connect-style stack); undefined when the stream is untouched and
 * the bridge reads it itself. In order: the raw bytes or text the parser kept (`rawBody`),
 * a `Buffer` or string body as is, a parsed JSON body written back as JSON text. A body
 * consumed for any other media type is handed over empty: the gateway answers 415 or 400.
 */
export function bodyAlreadyRead(req: IncomingMessage, parsed: ParsedBody): Buffer | undefined {
  if (!req.readableEnded) return undefined;
  // Nothing was read from the stream: the body was empty, whatever a parser made of it
  // (a JSON parser makes `{}`). It stays empty, and the gateway answers it as such.
  if (!req.readableDidRead) return Buffer.alloc(0);
  const { rawBody, body } = parsed;
  if (Buffer.isBuffer(rawBody)) return rawBody;
  if (typeof rawBody === 'string') return Buffer.from(rawBody, 'utf8');
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body !== undefined && isJsonMediaType(mediaTypeOf(req.headers['content-type'] ?? ''))) return Buffer.from(jsonText(body), 'utf8');
  return Buffer.alloc(0);
}

// Stand-ins for ±Infinity while serialising; random, so no string a client sends equals one.
const POSITIVE = `atg-non-finite+${randomUUID()}`;
const NEGATIVE = `atg-non-finite-${randomUUID()}`;
const POSITIVE_TEXT = JSON.stringify(POSITIVE);
const NEGATIVE_TEXT = JSON.stringify(NEGATIVE);

/**
 * JSON text for a parsed JSON body. `JSON.parse` reads a number too large for a double
 * (`1e400`) as Infinity, which `JSON.stringify` would write as `null`, turning a body the
 * gateway refuses into one it runs. Such a number is written back as `1e400` (`-1e400`), so
 * the gateway sees what the client sent and answers as it would without the parser. NaN,
 * which no JSON parser makes, is written the same way: refused, never `null`.
 */
function jsonText(body: unknown): string {
  const text = JSON.stringify(body);
  // A non-finite number is written as `null`: without one in the text, there is none.
  if (!text.includes('null')) return text;
  return JSON.stringify(body, keepNonFinite).replaceAll(POSITIVE_TEXT, '1e400').replaceAll(NEGATIVE_TEXT, '-1e400');
}

function keepNonFinite(_key: string, value: unknown): unknown {
  if (typeof value !== 'number' || Number.isFinite(value)) return value;
  return value === Number.NEGATIVE_INFINITY ? NEGATIVE : POSITIVE;
}
