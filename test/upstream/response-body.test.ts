import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeResponseBody, planResponseBody, type ReadBodyOptions } from '../../src/upstream/response-body.js';

function options(overrides: Partial<ReadBodyOptions> = {}): ReadBodyOptions {
  return { limit: 1024, overflow: 'fail', upstreamStatus: 200, contentEncoding: undefined, contentLength: undefined, ...overrides };
}

async function decode(data: Buffer, readOptions: ReadBodyOptions, truncated = false) {
  return decodeResponseBody({ data, truncated }, planResponseBody(readOptions, 'GET'), readOptions);
}

describe('planResponseBody', () => {
  it('refuses a declared length over the limit, for a response that has a body', () => {
    expect(() => planResponseBody(options({ contentLength: '5000000' }), 'GET')).toThrow('upstream response exceeded 1024 bytes');
  });

  it('plans no body for HEAD, 204 and 304, whatever Content-Length and Content-Encoding say', () => {
    const headers = { contentLength: '5000000', contentEncoding: 'zz-custom' };
    for (const [method, upstreamStatus] of [
      ['HEAD', 200],
      ['HEAD', 404],
      ['GET', 204],
      ['GET', 304],
    ] as const) {
      expect(planResponseBody(options({ ...headers, upstreamStatus }), method)).toEqual({ hasBody: false, rawLimit: 0, codings: [] });
    }
  });

  it('refuses an unknown content coding of a body wanted whole, and keeps nothing of an error body in one', () => {
    expect(() => planResponseBody(options({ contentEncoding: 'zstd' }), 'GET')).toThrow('upstream response body could not be decoded');
    const excerpt = options({ overflow: 'truncate', upstreamStatus: 503, contentEncoding: 'gzip, zstd' });
    expect(planResponseBody(excerpt, 'GET')).toEqual({ hasBody: true, rawLimit: 0, codings: [] });
  });
});

describe('planResponseBody: chains of content codings', () => {
  it('takes up to five codings, and refuses a sixth however the header spells them', () => {
    expect(planResponseBody(options({ contentEncoding: 'gzip, br, deflate, gzip, identity, gzip' }), 'GET').codings).toHaveLength(5);
    for (const contentEncoding of ['gzip, gzip, gzip, gzip, gzip, gzip', ['gzip, gzip, gzip', 'gzip, gzip, gzip']]) {
      expect(() => planResponseBody(options({ contentEncoding }), 'GET')).toThrow('upstream response body could not be decoded');
      expect(planResponseBody(options({ overflow: 'truncate', upstreamStatus: 502, contentEncoding }), 'GET')).toEqual({
        hasBody: true,
        rawLimit: 0,
        codings: [],
      });
    }
  });
});

describe('decodeResponseBody', () => {
  it('keeps the first limit bytes of a compressed body in truncate mode, and fails in fail mode', async () => {
    const text = 'abcdefghij'.repeat(1000);
    const body = gzipSync(text);
    const kept = await decode(body, options({ overflow: 'truncate', contentEncoding: 'gzip' }));
    expect(kept).toEqual({ data: Buffer.from(text.slice(0, 1024)), truncated: true });
    await expect(decode(body, options({ contentEncoding: 'gzip' }))).rejects.toThrow('upstream response exceeded 1024 bytes');
  });

  it('a body within the limit is decoded whole in truncate mode', async () => {
    const kept = await decode(gzipSync('small'), options({ overflow: 'truncate', contentEncoding: 'gzip' }));
    expect(kept).toEqual({ data: Buffer.from('small'), truncated: false });
  });

  it('keeps the start through two codings, the first cut at the limit', async () => {
    // Incompressible text: the deflate stage alone is larger than the limit.
    const text = Array.from({ length: 600 }, (_, index) => ((index * 2654435761) >>> 0).toString(36)).join('');
    const body = gzipSync(deflateSync(text));
    const kept = await decode(body, options({ overflow: 'truncate', contentEncoding: 'deflate, gzip' }));
    expect(kept.truncated).toBe(true);
    expect(kept.data.length).toBeGreaterThan(0);
    expect(text.startsWith(kept.data.toString())).toBe(true);
  });

  it('decodes deflate with or without its zlib header', async () => {
    for (const encode of [deflateSync, deflateRawSync]) {
      for (const overflow of ['fail', 'truncate'] as const) {
        const decoded = await decode(encode('{"deflate":true}'), options({ overflow, contentEncoding: 'deflate' }));
        expect(decoded).toEqual({ data: Buffer.from('{"deflate":true}'), truncated: false });
      }
    }
  });

  it('a body that is no deflate stream at all is undecodable', async () => {
    await expect(decode(Buffer.from('not compressed'), options({ contentEncoding: 'deflate' }))).rejects.toThrow(
      'upstream response body could not be decoded',
    );
  });
});
