import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { GatewayError } from '../errors.js';

/** What was read of a response body. */
export interface ReadBody {
  /** Decoded bytes. */
  data: Buffer;
  /** True when reading stopped at the limit (only in `truncate` mode). */
  truncated: boolean;
}

/** Options of {@link readResponseBody}. */
export interface ReadBodyOptions {
  /** Most decoded bytes to accept. */
  limit: number;
  /** `fail`: a larger body is an `UPSTREAM_ERROR`; `truncate`: keep the first `limit` bytes (for error excerpts). */
  overflow: 'fail' | 'truncate';
  upstreamStatus: number;
  contentEncoding: string | string[] | undefined;
  contentLength: string | string[] | undefined;
}

/** The parts of undici's response body stream this module uses. */
export interface ResponseBodyStream extends AsyncIterable<Buffer> {
  destroy(): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** Stops reading: closes the connection. The abort error the stream then emits is expected, not a failure. */
function cut(body: ResponseBodyStream): void {
  body.on('error', () => {});
  body.destroy();
}

type Decoder = (data: Buffer, options: zlib.ZlibOptions & zlib.BrotliOptions) => Promise<Buffer>;

const DECODERS: Readonly<Record<string, Decoder>> = {
  gzip: promisify(zlib.gunzip) as Decoder,
  'x-gzip': promisify(zlib.gunzip) as Decoder,
  deflate: promisify(zlib.inflate) as Decoder,
  br: promisify(zlib.brotliDecompress) as Decoder,
};

function tooLarge(limit: number, upstreamStatus: number): GatewayError {
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

/**
 * Reads a response body up to a limit on its decoded size, cutting the stream as soon as the
 * limit is passed. Compressed bodies (gzip, deflate, br) are read compressed with a slightly
 * larger allowance, then decoded off the main thread with the limit as the output cap, so a
 * decompression bomb stops at the limit too.
 */
export async function readResponseBody(body: ResponseBodyStream, options: ReadBodyOptions): Promise<ReadBody> {
  const { limit, overflow, upstreamStatus } = options;
  const codings = codingsOf(options.contentEncoding);
  if (codings.some((coding) => DECODERS[coding] === undefined)) {
    cut(body);
    throw undecodable(upstreamStatus);
  }
  const rawLimit = codings.length === 0 ? limit : limit + 1024 + Math.ceil(limit / 64);
  const declared = Number(Array.isArray(options.contentLength) ? options.contentLength[0] : options.contentLength);
  if (overflow === 'fail' && codings.length === 0 && Number.isFinite(declared) && declared > limit) {
    cut(body);
    throw tooLarge(limit, upstreamStatus);
  }

  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  for await (const chunk of body) {
    if (size + chunk.length > rawLimit) {
      cut(body);
      if (overflow === 'fail') throw tooLarge(limit, upstreamStatus);
      chunks.push(chunk.subarray(0, rawLimit - size));
      size = rawLimit;
      truncated = true;
      break;
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  let data = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
  for (const coding of data.length === 0 ? [] : [...codings].reverse()) {
    const decode = DECODERS[coding] as Decoder;
    try {
      data = await decode(data, {
        maxOutputLength: limit,
        // A cut body is decoded as far as it goes instead of failing on its missing end.
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
