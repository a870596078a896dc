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

const DECODERS: Readonly<Record<string, Decoder>> = {
  gzip: promisify(zlib.gunzip) as Decoder,
  'x-gzip': promisify(zlib.gunzip) as Decoder,
  deflate: promisify(zlib.inflate) as Decoder,
  br: promisify(zlib.brotliDecompress) as Decoder,
};

/** The `UPSTREAM_ERROR` of a body over its limit (declared, streamed or decoded). */
export function tooLarge(limit: number, upstreamStatus: number): GatewayError {
  return new GatewayError({
    code: 'UPSTREAM_ERROR',
    message: `upstream response exceeded ${limit} bytes`,
    details: { upstreamStatus },
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

function codingsOf(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join(',') : header;
  return text
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
}

/** What the headers settle about reading a body: how many raw bytes to accept, and which codings to undo. */
export interface BodyPlan {
  /** Most bytes to read as they arrive (compressed bodies get a little more room than `limit`). */
  rawLimit: number;
  /** Content codings in the order they were applied (decoded last to first). */
  codings: string[];
}

/**
 * Checks what the response headers tell before any body byte arrives: an unknown content
 * coding is refused, and (for `overflow: 'fail'`) so is a declared length above the limit.
 * Throws the `UPSTREAM_ERROR` to answer with.
 */
export function planResponseBody(options: ReadBodyOptions): BodyPlan {
  const { limit, overflow, upstreamStatus } = options;
  const codings = codingsOf(options.contentEncoding);
  if (codings.some((coding) => DECODERS[coding] === undefined)) throw undecodable(upstreamStatus);
  const rawLimit = codings.length === 0 ? limit : limit + 1024 + Math.ceil(limit / 64);
  const declared = Number(Array.isArray(options.contentLength) ? options.contentLength[0] : options.contentLength);
  if (overflow === 'fail' && codings.length === 0 && Number.isFinite(declared) && declared > limit) throw tooLarge(limit, upstreamStatus);
  return { rawLimit, codings };
}

/**
 * Decodes a body read under {@link planResponseBody}'s `rawLimit` (gzip, deflate, br), off the
 * main thread, with `limit` as the output cap, so a decompression bomb stops at the limit too.
 * A body cut at the raw limit (`truncated`) is decoded as far as it goes.
 */
export async function decodeResponseBody(raw: ReadBody, plan: BodyPlan, options: ReadBodyOptions): Promise<ReadBody> {
  const { limit, overflow, upstreamStatus } = options;
  let data = raw.data;
  const truncated = raw.truncated;
  for (const coding of data.length === 0 ? [] : [...plan.codings].reverse()) {
    const decode = DECODERS[coding] as Decoder;
    try {
      data = await decode(data, {
        maxOutputLength: limit,
        ...(truncated ? { finishFlush: coding === 'br' ? zlib.constants.BROTLI_OPERATION_FLUSH : zlib.constants.Z_SYNC_FLUSH } : {}),
      });
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
        if (overflow === 'fail') throw tooLarge(limit, upstreamStatus);
        return { data: Buffer.alloc(0), truncated: true };
      }
      throw undecodable(upstreamStatus, error);
    }
  }
  if (data.length > limit) {
    if (overflow === 'fail') throw tooLarge(limit, upstreamStatus);
    return { data: data.subarray(0, limit), truncated: true };
  }
  return { data, truncated };
}
