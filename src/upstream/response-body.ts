import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { GatewayError } from '../errors.js';

/** What was read of a response body. */
export interface ReadBody {
  /** The body's bytes: as they arrived, then decoded by {@link decodeResponseBody}. */
  data: Buffer;
  /** True when reading stopped at the limit (only in `truncate` mode). */
  truncated: boolean;
}

/** The limits a response body is read under, and the headers that bear on them. */
export interface ReadBodyOptions {
  /** Most decoded bytes to accept. */
  limit: number;
  /** `fail`: a larger body is an `UPSTREAM_ERROR`; `truncate`: keep the first `limit` bytes (for error excerpts). */
  overflow: 'fail' | 'truncate';
  upstreamStatus: number;
  contentEncoding: string | string[] | undefined;
  contentLength: string | string[] | undefined;
}

type Decoder = (data: Buffer, options: zlib.ZlibOptions & zlib.BrotliOptions) => Promise<Buffer>;
type StreamingDecoder = (
  options: zlib.ZlibOptions & zlib.BrotliOptions,
) => zlib.Gunzip | zlib.Inflate | zlib.InflateRaw | zlib.BrotliDecompress;

/** How one content coding is undone: all at once, or as a stream that can be stopped part way. */
interface Decoding {
  whole: Decoder;
  stream: StreamingDecoder;
}

const GUNZIP: Decoding = { whole: promisify(zlib.gunzip) as Decoder, stream: zlib.createGunzip };
const INFLATE: Decoding = { whole: promisify(zlib.inflate) as Decoder, stream: zlib.createInflate };
const INFLATE_RAW: Decoding = { whole: promisify(zlib.inflateRaw) as Decoder, stream: zlib.createInflateRaw };
const BROTLI: Decoding = { whole: promisify(zlib.brotliDecompress) as Decoder, stream: zlib.createBrotliDecompress };

/**
 * True when `data` opens with a header zlib's inflate accepts (RFC 1950: method 8, a window of
 * at most 32 KiB, no preset dictionary, check bits). `Content-Encoding: deflate` means such a
 * stream, but some servers send raw deflate (RFC 1951) under that name, which inflate refuses
 * on this header.
 */
function hasZlibHeader(data: Buffer): boolean {
  if (data.length < 2) return true;
  const method = data[0] as number;
  const flags = data[1] as number;
  return (method & 0x0f) === 8 && method >> 4 <= 7 && (flags & 0x20) === 0 && ((method << 8) | flags) % 31 === 0;
}

const DECODINGS: Readonly<Record<string, (data: Buffer) => Decoding>> = {
  gzip: () => GUNZIP,
  'x-gzip': () => GUNZIP,
  deflate: (data) => (hasZlibHeader(data) ? INFLATE : INFLATE_RAW),
  br: () => BROTLI,
};

/** The `UPSTREAM_ERROR` of a body over its limit (declared, streamed or decoded). */
export function tooLarge(limit: number, upstreamStatus: number): GatewayError {
  return new GatewayError({
    code: 'UPSTREAM_ERROR',
    message: `upstream response exceeded ${limit} bytes`,
    details: { upstreamStatus },
  });
}

/** The `UPSTREAM_ERROR` of a body wanted whole whose connection broke before its end: the upstream was reached, and answered. */
export function brokenOff(upstreamStatus: number, cause: unknown): GatewayError {
  return new GatewayError({
    code: 'UPSTREAM_ERROR',
    message: `upstream answered ${upstreamStatus}, but its response body broke off`,
    details: { upstreamStatus },
    cause,
  });
}

function undecodable(upstreamStatus: number, cause?: unknown): GatewayError {
  return new GatewayError({
    code: 'UPSTREAM_ERROR',
    message: 'upstream response body could not be decoded',
    details: { upstreamStatus },
    cause,
  });
}

/**
 * The most content codings a body may be wrapped in. Each one is undone in full on libuv's
 * thread pool, whose four threads also serve DNS lookups: a body gzipped a few hundred times
 * (a header of 2 KB) would keep a thread busy for a second or more. undici's fetch has the
 * same limit.
 */
export const MAX_CONTENT_CODINGS = 5;

function codingsOf(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join(',') : header;
  return text
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
}

/** What the headers settle about reading a body: whether there is one, how many raw bytes to accept, and which codings to undo. */
export interface BodyPlan {
  /** False for a response that has no body whatever its headers say (to `HEAD`, a 204 or a 304): nothing is read. */
  hasBody: boolean;
  /** Most bytes to read as they arrive (compressed bodies get a little more room than `limit`). */
  rawLimit: number;
  /** Content codings in the order they were applied (decoded last to first). */
  codings: readonly string[];
}

const NO_BODY: BodyPlan = Object.freeze({ hasBody: false, rawLimit: 0, codings: Object.freeze([]) });
/**
 * An error body in a coding the gateway cannot undo: none of it is kept (the first byte that
 * arrives ends the read), so the error keeps its status and has an empty excerpt.
 */
const UNDECODABLE_EXCERPT: BodyPlan = Object.freeze({ hasBody: true, rawLimit: 0, codings: Object.freeze([]) });

/**
 * Checks what the response headers tell before any body byte arrives. An unknown content
 * coding, or more than {@link MAX_CONTENT_CODINGS} of them, is refused for a body that is
 * wanted whole (`overflow: 'fail'`); for an error excerpt (`overflow: 'truncate'`) it only
 * means that nothing of the body is kept. For
 * `overflow: 'fail'`, a declared length above the limit is refused too. A response without a
 * body (to `HEAD`, a 204 or a 304) is not checked: its `Content-Length` and
 * `Content-Encoding` describe a body that is not sent. Throws the `UPSTREAM_ERROR` to answer with.
 */
export function planResponseBody(options: ReadBodyOptions, requestMethod: string): BodyPlan {
  const { limit, overflow, upstreamStatus } = options;
  if (requestMethod === 'HEAD' || upstreamStatus === 204 || upstreamStatus === 304) return NO_BODY;
  const codings = codingsOf(options.contentEncoding);
  if (codings.length > MAX_CONTENT_CODINGS || codings.some((coding) => DECODINGS[coding] === undefined)) {
    if (overflow === 'truncate') return UNDECODABLE_EXCERPT;
    throw undecodable(upstreamStatus);
  }
  const rawLimit = codings.length === 0 ? limit : limit + 1024 + Math.ceil(limit / 64);
  const declared = Number(Array.isArray(options.contentLength) ? options.contentLength[0] : options.contentLength);
  if (overflow === 'fail' && codings.length === 0 && Number.isFinite(declared) && declared > limit) throw tooLarge(limit, upstreamStatus);
  return { hasBody: true, rawLimit, codings };
}

/**
 * Decodes the first `limit` bytes of `data` and stops the decoder there, so a body too large
 * to keep whole (or a decompression bomb) still yields its start and costs no more than that.
 */
function decodeStart(decoding: Decoding, data: Buffer, limit: number, options: zlib.ZlibOptions & zlib.BrotliOptions): Promise<ReadBody> {
  return new Promise<ReadBody>((resolve, reject) => {
    const decoder = decoding.stream(options);
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    decoder.on('data', (chunk: Buffer) => {
      if (settled) return;
      if (size + chunk.length > limit) {
        chunks.push(chunk.subarray(0, limit - size));
        settled = true;
        decoder.destroy();
        resolve({ data: Buffer.concat(chunks, limit), truncated: true });
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
    });
    decoder.on('end', () => {
      if (settled) return;
      settled = true;
      resolve({ data: Buffer.concat(chunks, size), truncated: false });
    });
    decoder.on('error', (error) => {
      if (settled) return;
      settled = true;
      reject(error);
    });
    decoder.end(data);
  });
}

/**
 * Decodes a body read under {@link planResponseBody}'s `rawLimit` (gzip, deflate, br), off the
 * main thread, with `limit` as the output cap, so a decompression bomb stops at the limit too:
 * in `fail` mode a larger body is an error, in `truncate` mode its first `limit` bytes are kept.
 * A body cut at the raw limit (`truncated`) is decoded as far as it goes.
 */
export async function decodeResponseBody(raw: ReadBody, plan: BodyPlan, options: ReadBodyOptions): Promise<ReadBody> {
  const { limit, overflow, upstreamStatus } = options;
  let data = raw.data;
  let truncated = raw.truncated;
  for (const coding of data.length === 0 ? [] : [...plan.codings].reverse()) {
    const decoding = (DECODINGS[coding] as (data: Buffer) => Decoding)(data);
    const flush = truncated ? { finishFlush: coding === 'br' ? zlib.constants.BROTLI_OPERATION_FLUSH : zlib.constants.Z_SYNC_FLUSH } : {};
    try {
      if (overflow === 'truncate') {
        const decoded = await decodeStart(decoding, data, limit, flush);
        data = decoded.data;
        truncated ||= decoded.truncated;
      } else {
        data = await decoding.whole(data, { maxOutputLength: limit, ...flush });
      }
    } catch (error) {
      if (overflow === 'fail' && (error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(limit, upstreamStatus);
      throw undecodable(upstreamStatus, error);
    }
  }
  if (data.length > limit) {
    if (overflow === 'fail') throw tooLarge(limit, upstreamStatus);
    return { data: data.subarray(0, limit), truncated: true };
  }
  return { data, truncated };
}
