import type { ServerResponse } from 'node:http';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretScrubber } from '../../src/secrets/secret-scrubber.js';
import { createUpstreamClient } from '../../src/upstream/client.js';
import { createHttpExecutor } from '../../src/upstream/executor.js';
import { errorBodyText, excerptSource } from '../../src/upstream/response-output.js';
import { callContext, loopbackTool, rejection } from './harness.js';
import { type LoopbackServer, sendJson, startLoopbackServer } from './loopback-server.js';

const SECRET = 'Bearer sk_live_7Hq2Zr9Xw4Lm1Np8';
const CREDENTIAL = 'sk_live_7Hq2Zr9Xw4Lm1Np8';

let server: LoopbackServer;
const client = createUpstreamClient();

/** UTF-32 big-endian: a charset TextDecoder does not know. */
function utf32(text: string): Buffer {
  const code = [...text].map((character) => character.codePointAt(0) as number);
  const bytes = Buffer.alloc(code.length * 4);
  for (const [index, point] of code.entries()) bytes.writeUInt32BE(point, index * 4);
  return bytes;
}
const timers = new Set<NodeJS.Timeout>();
let callerRequestArrived: () => void = () => {};
/** Responses of `/hold`, answered when a test says so. */
const held: ServerResponse[] = [];
let callerConnectionClosed: () => void = () => {};

beforeAll(async () => {
  server = await startLoopbackServer((request, response) => {
    const path = request.rawPath.split('?')[0];
    const auth = String(request.headers.authorization ?? '');
    switch (path) {
      case '/json':
        return sendJson(response, 200, { items: [1, 2], ok: true });
      case '/text':
        response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        return void response.end('héllo');
      case '/latin1':
        response.writeHead(200, { 'content-type': 'text/plain; charset=iso-8859-1' });
        return void response.end(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
      case '/binary':
        response.writeHead(200, { 'content-type': 'image/png' });
        return void response.end(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
      case '/empty':
        response.writeHead(204);
        return void response.end();
      case '/bad-json':
        response.writeHead(200, { 'content-type': 'application/json' });
        return void response.end('{"truncated":');
      case '/not-found':
        return sendJson(response, 404, { error: 'customer c-1 not found', email: 'ann@example.com' });
      case '/long-error':
        response.writeHead(500, { 'content-type': 'text/plain' });
        return void response.end('x'.repeat(5000));
      case '/echo-pin-as-number': {
        // An upstream that answers a numeric credential back as a JSON number.
        const pin = Number(request.headers['x-account-pin']);
        return sendJson(response, 200, { pin, pins: [pin, 7], account: { pin, balance: 12.5 } });
      }
      case '/echo-account-number': {
        // A long account number sent back as a JSON number: written digit for digit (as Python,
        // Go or Java write an integer), and as a JavaScript upstream writes it once parsed.
        const account = String(request.headers['x-account-number']);
        response.writeHead(200, { 'content-type': 'application/json' });
        return void response.end(`{"account":${account},"parsed":${Number(account)},"list":[${account}, 7]}`);
      }
      case '/echo-json':
        return sendJson(response, 200, {
          youSent: auth,
          token: auth.slice(7),
          [auth]: 'as a key',
          nested: [{ again: `pre ${auth} post` }],
        });
      case '/echo-text':
        response.writeHead(200, { 'content-type': 'text/plain' });
        return void response.end(`you sent ${auth}; token ${auth.slice(7)}`);
      case '/echo-binary':
        response.writeHead(200, { 'content-type': 'application/octet-stream' });
        return void response.end(Buffer.from(`\u0000\u0001${auth}\u0002`));
      case '/echo-error':
        return sendJson(response, 500, { error: 'upstream broke', authorization: auth, token: auth.slice(7) });
      case '/echo-error-boundary':
        // The secret straddles the 512-character excerpt boundary.
        response.writeHead(500, { 'content-type': 'text/plain' });
        return void response.end(`${'y'.repeat(500)}${auth}${'z'.repeat(100)}`);
      case '/echo-header':
        response.writeHead(200, {
          'content-type': 'application/json',
          'x-echo': auth,
          'x-request-id': 'r-1',
          'set-cookie': ['a=1', 'b=2'],
        });
        return void response.end('{"ok":true}');
      case '/proto-header':
        // A header named like Object.prototype's members, twice.
        response.writeHead(200, ['content-type', 'application/json', '__proto__', 'ada@example.com', '__proto__', 'b']);
        return void response.end('{"ok":true}');
      case '/big':
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.write('a'.repeat(1500));
        return void response.end('a'.repeat(1500));
      case '/big-declared':
        response.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3000' });
        return void response.end('a'.repeat(3000));
      case '/gzip': {
        const body = gzipSync(JSON.stringify({ compressed: true }));
        response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': body.length });
        return void response.end(body);
      }
      case '/br': {
        const body = brotliCompressSync(JSON.stringify({ brotli: true }));
        response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'br' });
        return void response.end(body);
      }
      case '/head-gzip':
        response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'x-total': '5' });
        return void response.end();
      case '/gzip-bomb': {
        const body = gzipSync(Buffer.alloc(8 * 1024 * 1024));
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' });
        return void response.end(body);
      }
      case '/deflate': {
        const body = deflateSync(JSON.stringify({ deflate: 'zlib' }));
        response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'deflate' });
        return void response.end(body);
      }
      case '/deflate-raw': {
        // Raw deflate (RFC 1951, no zlib header) under the name deflate, as some servers send it.
        const body = deflateRawSync(JSON.stringify({ deflate: 'raw' }));
        response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'deflate' });
        return void response.end(body);
      }
      case '/head-large':
        // Announces a body larger than the cap (and in a coding the gateway does not know) but, to HEAD, sends none.
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': '5000000', 'content-encoding': 'zz-custom' });
        return void response.end();
      case '/no-content-encoded':
        response.writeHead(204, { 'content-type': 'application/json', 'content-encoding': 'zz-custom' });
        return void response.end();
      case '/gzip-error':
        // About 100 KB of HTML, more than the excerpt reads once decoded.
        response.writeHead(500, { 'content-type': 'text/html', 'content-encoding': 'gzip' });
        return void response.end(gzipSync(`<html><body>${'<p>upstream trouble</p>'.repeat(5000)}</body></html>`));
      case '/gzip-bomb-error':
        response.writeHead(500, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
        return void response.end(gzipSync(Buffer.alloc(8 * 1024 * 1024, 'e')));
      case '/echo-bad-json':
        // Invalid JSON right at the echoed secret.
        response.writeHead(200, { 'content-type': 'application/json' });
        return void response.end(`{"echo": ${auth}}`);
      case '/echo-error-utf16':
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-16le' });
        return void response.end(Buffer.from(`denied ${auth} for ann@example.com`, 'utf16le'));
      case '/echo-utf32':
        response.writeHead(200, { 'content-type': 'text/plain; charset=utf-32' });
        return void response.end(utf32(`echo ${auth}`));
      case '/echo-json-utf32':
        response.writeHead(200, { 'content-type': 'application/json; charset=utf-32' });
        return void response.end(utf32(JSON.stringify({ echo: auth })));
      case '/echo-error-utf32':
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-32' });
        return void response.end(utf32(`denied ${auth}`));
      case '/gzip-layers': {
        // The body gzipped as many times as ?n= says, each layer named in Content-Encoding.
        const layers = Number(new URLSearchParams(request.rawPath.split('?')[1]).get('n'));
        const status = request.rawPath.includes('error=1') ? 500 : 200;
        let body = Buffer.from(status === 500 ? 'layered trouble' : '{"layered":true}');
        for (let layer = 0; layer < layers; layer++) body = gzipSync(body);
        response.writeHead(status, {
          'content-type': status === 500 ? 'text/plain' : 'application/json',
          'content-encoding': Array(layers).fill('gzip').join(', '),
        });
        return void response.end(body);
      }
      case '/echo-mislabelled': {
        // The secret echoed as plain ASCII bytes under a charset that reads them otherwise:
        // UTF-16 pairs them into other characters, and a Shift_JIS lead byte takes the first.
        const query = new URLSearchParams(request.rawPath.split('?')[1]);
        const echoed =
          query.get('lead') === '1'
            ? Buffer.concat([Buffer.from('key '), Buffer.from([0x81]), Buffer.from(auth.slice(7))])
            : Buffer.from(`echo ${auth}`);
        response.writeHead(Number(query.get('status') ?? 200), {
          'content-type': `${query.get('type') ?? 'text/plain'}; charset=${query.get('charset')}`,
        });
        return void response.end(echoed);
      }
      case '/unknown-encoding':
        response.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'zz-custom' });
        return void response.end('abc');
      case '/unknown-encoding-error':
        response.writeHead(503, { 'content-type': 'text/plain', 'content-encoding': 'zstd' });
        return void response.end('Service down for maintenance until 14:00');
      case '/drip': {
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.write('.');
        const timer = setInterval(() => response.write('.'), 1000);
        timers.add(timer);
        response.on('close', () => {
          clearInterval(timer);
          timers.delete(timer);
        });
        return;
      }
      case '/silent':
        return; // never answers
      case '/hold':
        held.push(response);
        return;
      case '/huge-error':
        // Far more than the excerpt reads: the rest is never read, the connection is closed.
        response.writeHead(500, { 'content-type': 'text/plain' });
        return void response.end('e'.repeat(512 * 1024));
      case '/broken-error':
        // An error body that breaks off: announced as 1000 bytes, 10 sent, then the connection drops.
        response.writeHead(500, { 'content-type': 'text/plain', 'content-length': '1000' });
        response.write('partial ..');
        return void setImmediate(() => response.socket?.destroy());
      case '/broken-body':
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        response.write('{"items":[');
        return void setImmediate(() => response.socket?.destroy());
      case '/hang-for-caller':
        response.on('close', () => callerConnectionClosed());
        callerRequestArrived();
        return;
      case '/redirect-away':
        response.writeHead(302, { location: 'http://evil.example.com/steal' });
        return void response.end();
      case '/redirect-other-origin':
        // Same machine, other origin: must not be followed either.
        response.writeHead(307, { location: `http://localhost:${server.port}/json` });
        return void response.end();
      case '/redirect-here':
        response.writeHead(302, { location: '/json?from=redirect' });
        return void response.end();
      case '/see-other':
        response.writeHead(303, { location: `${server.origin}/json` });
        return void response.end();
      case '/loop':
        response.writeHead(302, { location: '/loop' });
        return void response.end();
      default:
        return sendJson(response, 404, { error: 'no route' });
    }
  });
});

afterAll(async () => {
  for (const timer of timers) clearInterval(timer);
  await client.close();
  await server.close();
});

function tool(path: string, overrides: Parameters<typeof loopbackTool>[1] = {}) {
  return loopbackTool(server.origin, { url: `${server.origin}${path}`, ...overrides });
}

async function call(path: string, overrides: Parameters<typeof loopbackTool>[1] = {}, scrub?: (text: string) => string) {
  return createHttpExecutor(tool(path, overrides), { client, ...(scrub === undefined ? {} : { scrub }) })({}, callContext());
}

describe('response bodies', () => {
  it('parses JSON', async () => {
    expect(await call('/json')).toEqual({ output: { items: [1, 2], ok: true }, upstreamStatus: 200 });
  });

  it('passes text through as a string, honouring the charset', async () => {
    expect((await call('/text')).output).toBe('héllo');
    expect((await call('/latin1')).output).toBe('café');
  });

  it('returns other content types as base64', async () => {
    expect((await call('/binary')).output).toEqual({ contentType: 'image/png', base64: 'iVBORw==' });
  });

  it('returns null for an empty body', async () => {
    expect(await call('/empty')).toEqual({ output: null, upstreamStatus: 204 });
  });

  it('reports bad JSON as UPSTREAM_ERROR', async () => {
    const error = await rejection(call('/bad-json'), 'UPSTREAM_ERROR');
    expect(error.message).toBe('upstream answered invalid JSON');
  });

  it('decodes gzip', async () => {
    expect((await call('/gzip')).output).toEqual({ compressed: true });
  });

  it('decodes br, and does not decode the empty body of a HEAD', async () => {
    expect((await call('/br')).output).toEqual({ brotli: true });
    const head = await call('/head-gzip', { method: 'HEAD', responseHeaders: ['x-total'] });
    expect(head.output).toEqual({ status: 200, headers: { 'x-total': '5' }, body: null });
  });

  it('decodes deflate, zlib-wrapped or raw', async () => {
    expect((await call('/deflate')).output).toEqual({ deflate: 'zlib' });
    expect((await call('/deflate-raw')).output).toEqual({ deflate: 'raw' });
  });

  it('reads no body, and checks no declared length or coding, for HEAD and 204', async () => {
    const head = await call('/head-large', { method: 'HEAD', responseHeaders: ['content-length'] });
    expect(head.output).toEqual({ status: 200, headers: { 'content-length': '5000000' }, body: null });
    expect(await call('/no-content-encoded')).toEqual({ output: null, upstreamStatus: 204 });
  });

  it('refuses an unknown content encoding', async () => {
    const error = await rejection(call('/unknown-encoding'), 'UPSTREAM_ERROR');
    expect(error.message).toBe('upstream response body could not be decoded');
    expect(error.details).toEqual({ upstreamStatus: 200 });
  });

  it('undoes at most five content codings, and refuses a longer chain before decoding any of it', async () => {
    expect((await call('/gzip-layers?n=5')).output).toEqual({ layered: true });
    const error = await rejection(call('/gzip-layers?n=6'), 'UPSTREAM_ERROR');
    expect(error.message).toBe('upstream response body could not be decoded');
    expect(error.details).toEqual({ upstreamStatus: 200 });
    // An error body behind such a chain keeps its status, with nothing of it kept.
    const failed = await rejection(call('/gzip-layers?n=6&error=1'), 'UPSTREAM_ERROR');
    expect(failed.details).toEqual({ upstreamStatus: 500, excerpt: '' });
    const fewer = await rejection(call('/gzip-layers?n=5&error=1'), 'UPSTREAM_ERROR');
    expect(fewer.details).toEqual({ upstreamStatus: 500, excerpt: 'layered trouble' });
  });

  it('returns only listed response headers, as { status, headers, body }', async () => {
    const result = await call('/echo-header', { responseHeaders: ['X-Request-Id', 'set-cookie', 'x-missing'] });
    expect(result.output).toEqual({ status: 200, headers: { 'x-request-id': 'r-1', 'set-cookie': ['a=1', 'b=2'] }, body: { ok: true } });
  });

  it('keeps a header named "__proto__" as a member and never reads Object.prototype', async () => {
    for (const withSecret of [{}, { secretHeaders: { authorization: SECRET } }]) {
      const result = await call('/proto-header', { ...withSecret, responseHeaders: ['__proto__', 'constructor', 'toString'] });
      const headers = (result.output as { headers: Record<string, unknown> }).headers;
      expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
      expect(Object.keys(headers)).toEqual(['__proto__']);
      expect(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value).toEqual(['ada@example.com', 'b']);
    }
  });
});

describe('upstream errors', () => {
  it('4xx/5xx become UPSTREAM_ERROR 502 with status and a scrubbed excerpt', async () => {
    const scrub = (text: string) => text.replace(/[\w.]+@[\w.]+/g, '[email]');
    const error = await rejection(call('/not-found', {}, scrub), 'UPSTREAM_ERROR');
    expect(error.status).toBe(502);
    expect(error.details).toEqual({ upstreamStatus: 404, excerpt: '{"error":"customer c-1 not found","email":"[email]"}' });
  });

  it('cuts the excerpt to 512 characters', async () => {
    const error = await rejection(call('/long-error'), 'UPSTREAM_ERROR');
    expect((error.details as { excerpt: string }).excerpt).toBe('x'.repeat(512));
  });

  it('excerpts an error body whatever maxResponseBytes is: the cap is for success bodies', async () => {
    for (const maxResponseBytes of [16, 600]) {
      const error = await rejection(call('/long-error', { maxResponseBytes }), 'UPSTREAM_ERROR');
      expect(error.details).toEqual({ upstreamStatus: 500, excerpt: 'x'.repeat(512) });
    }
  });

  it('reads only the start of a huge error body, and the next call still gets through', async () => {
    const error = await rejection(call('/huge-error'), 'UPSTREAM_ERROR');
    expect(error.details).toEqual({ upstreamStatus: 500, excerpt: 'e'.repeat(512) });
    await expect(call('/json')).resolves.toEqual({ output: { items: [1, 2], ok: true }, upstreamStatus: 200 });
  });

  it('an error body that breaks off still answers with the upstream status, without an excerpt', async () => {
    const error = await rejection(call('/broken-error'), 'UPSTREAM_ERROR');
    expect(error.message).toBe('upstream answered 500');
    expect(error.details).toEqual({ upstreamStatus: 500, excerpt: '' });
  });

  it('a success body that breaks off is UPSTREAM_ERROR with the status the upstream answered, and no partial output', async () => {
    const error = await rejection(call('/broken-body'), 'UPSTREAM_ERROR');
    expect(error.message).toBe('upstream answered 200, but its response body broke off');
    expect(error.details).toEqual({ upstreamStatus: 200 });
  });

  it('excerpts the start of a compressed error body too large to decode whole', async () => {
    const error = await rejection(call('/gzip-error'), 'UPSTREAM_ERROR');
    const excerpt = (error.details as { excerpt: string }).excerpt;
    expect(excerpt).toBe(`<html><body>${'<p>upstream trouble</p>'.repeat(5000)}`.slice(0, 512));
    const bomb = await rejection(call('/gzip-bomb-error'), 'UPSTREAM_ERROR');
    expect(bomb.details).toEqual({ upstreamStatus: 500, excerpt: 'e'.repeat(512) });
  });

  it('an error body in an unknown content coding keeps the status, with an empty excerpt', async () => {
    const error = await rejection(call('/unknown-encoding-error'), 'UPSTREAM_ERROR');
    expect(error.message).toBe('upstream answered 503');
    expect(error.details).toEqual({ upstreamStatus: 503, excerpt: '' });
    await expect(call('/json')).resolves.toEqual({ output: { items: [1, 2], ok: true }, upstreamStatus: 200 });
  });

  it('leaves the excerpt empty when the scrub function fails', async () => {
    const error = await rejection(
      call('/not-found', {}, () => {
        throw new Error('redactor broke');
      }),
      'UPSTREAM_ERROR',
    );
    expect(error.details).toEqual({ upstreamStatus: 404, excerpt: '' });
  });
});

describe('the text behind an error excerpt', () => {
  const scrubber = createSecretScrubber([CREDENTIAL]);
  const email = (text: string) => text.replace(/[\w.]+@[\w.]+\.\w+/g, '[email]');

  it('is kept whole with the error, out of its JSON, for the redaction that follows', async () => {
    const error = await rejection(call('/long-error'), 'UPSTREAM_ERROR');
    expect((error.details as { excerpt: string }).excerpt).toHaveLength(512);
    expect(excerptSource(error)?.length).toBeGreaterThan(512);
    expect(JSON.stringify(error.toJSON())).not.toContain('x'.repeat(513));
  });

  it('of a body read in part drops its end after scrubbing, so no cut-off value survives as a prefix', () => {
    const body = Buffer.from(`head alice@example.com ${CREDENTIAL} ${'p'.repeat(300)} bob@examp`);
    const scrubbed = `head [email] *** ${'p'.repeat(300)} bob@examp`;
    expect(errorBodyText(body, false, 'text/plain', scrubber, email)).toBe(scrubbed);
    const partial = errorBodyText(body, true, undefined, scrubber, email);
    expect(partial).toBe(scrubbed.slice(0, scrubbed.length - 256));
    expect(partial).not.toContain('bob');
    // The first characters of a secret at the end of the part read go with the end.
    const cut = Buffer.from(`${'q'.repeat(400)}${CREDENTIAL.slice(0, 9)}`);
    expect(errorBodyText(cut, true, 'text/plain; charset=utf-8', scrubber, undefined)).toBe('q'.repeat(400 + 9 - 256));
  });
});

describe('secret header values never come back', () => {
  const withSecret = { secretHeaders: { authorization: SECRET } };

  function expectClean(value: unknown): void {
    const text = JSON.stringify(value);
    expect(text).not.toContain(CREDENTIAL);
    expect(text).not.toContain('sk_live');
  }

  it('is sent to the upstream', async () => {
    await call('/json', withSecret);
    expect(server.requests.at(-1)?.headers.authorization).toBe(SECRET);
  });

  it('is removed from an echoing 200 JSON body (values and keys)', async () => {
    const { output } = await call('/echo-json', withSecret);
    expectClean(output);
    expect(output).toMatchObject({ youSent: '***', token: '***', nested: [{ again: 'pre *** post' }] });
  });

  it('is removed from an echoing JSON body that carries a numeric secret as a number', async () => {
    const { output } = await call('/echo-pin-as-number', { secretHeaders: { 'x-account-pin': '40017321' } });
    expect(server.requests.at(-1)?.headers['x-account-pin']).toBe('40017321');
    expect(output).toEqual({ pin: '***', pins: ['***', 7], account: { pin: '***', balance: 12.5 } });
  });

  it('is removed from an echoing JSON body that carries a numeric secret too long for a double to hold exactly', async () => {
    for (const account of ['98765432109876543210', '9876543210987655', '12345678901234567890123']) {
      const { output } = await call('/echo-account-number', { secretHeaders: { 'x-account-number': account } });
      expect(output, account).toEqual({ account: '***', parsed: '***', list: ['***', 7] });
    }
  });

  it('is removed from echoing text and binary bodies', async () => {
    expectClean((await call('/echo-text', withSecret)).output);
    const binary = (await call('/echo-binary', withSecret)).output as { base64: string };
    expect(Buffer.from(binary.base64, 'base64').toString()).not.toContain(CREDENTIAL);
  });

  it('is removed from an echoing 500 excerpt, whatever the scrub function does', async () => {
    const error = await rejection(
      call('/echo-error', withSecret, (text) => text),
      'UPSTREAM_ERROR',
    );
    expectClean(error.toJSON());
    expect(error.message).not.toContain(CREDENTIAL);
    const straddling = await rejection(call('/echo-error-boundary', withSecret), 'UPSTREAM_ERROR');
    expectClean(straddling.toJSON());
  });

  it('is removed from an error body in the charset its Content-Type names, before the scrub function runs', async () => {
    const seen: string[] = [];
    const email = (text: string) => {
      seen.push(text);
      return text.replace(/[\w.]+@[\w.]+/g, '[email]');
    };
    const error = await rejection(call('/echo-error-utf16', withSecret, email), 'UPSTREAM_ERROR');
    expect(error.details).toEqual({ upstreamStatus: 500, excerpt: 'denied *** for [email]' });
    expect(seen).toEqual(['denied *** for ann@example.com']);
  });

  it('is removed from the bytes of a body whose charset would read them as other characters', async () => {
    /** Every way the text could be turned back into the bytes it was read from. */
    const readings = (text: string) => [
      text,
      Buffer.from(text, 'utf16le').toString('latin1'),
      Buffer.from(text, 'utf16le').swap16().toString('latin1'),
    ];
    for (const charset of ['utf-16le', 'utf-16be', 'shift_jis', 'gbk', 'big5', 'euc-kr']) {
      for (const lead of ['0', '1']) {
        const path = `/echo-mislabelled?charset=${charset}&lead=${lead}`;
        const { output } = await call(path, withSecret);
        for (const reading of readings(output as string)) expect(reading, path).not.toContain(CREDENTIAL.slice(1));
        const error = await rejection(call(`${path}&status=500`, withSecret), 'UPSTREAM_ERROR');
        const excerpt = (error.details as { excerpt: string }).excerpt;
        for (const reading of readings(excerpt)) expect(reading, `${path} (500)`).not.toContain(CREDENTIAL.slice(1));
      }
    }
    // A JSON body too: here the mislabelled bytes make no JSON, and the error quotes none of them.
    const json = await rejection(call('/echo-mislabelled?charset=utf-16le&type=application/json', withSecret), 'UPSTREAM_ERROR');
    expect(json.message).toBe('upstream answered invalid JSON');
  });

  it('never passes a body in a charset the gateway cannot read as if it were UTF-8', async () => {
    for (const path of ['/echo-utf32', '/echo-json-utf32']) {
      const error = await rejection(call(path, withSecret), 'UPSTREAM_ERROR');
      expect(error.message, path).toBe('upstream answered text in a charset the gateway cannot read');
      expect(error.details).toEqual({ upstreamStatus: 200 });
    }
    const error = await rejection(call('/echo-error-utf32', withSecret), 'UPSTREAM_ERROR');
    expect(error.details).toEqual({ upstreamStatus: 500, excerpt: '' });
  });

  it('is not quoted by the cause of an invalid JSON error', async () => {
    const error = await rejection(call('/echo-bad-json', withSecret), 'UPSTREAM_ERROR');
    expect(error.message).toBe('upstream answered invalid JSON');
    expect(error.cause).toBeInstanceOf(SyntaxError);
    const cause = error.cause as SyntaxError;
    for (const text of [cause.message, String(cause.stack)]) {
      expect(text).not.toContain('sk_live');
      expect(text).not.toContain('Bearer');
      expect(text).not.toContain('echo');
    }
  });

  it('is removed from listed response headers', async () => {
    const { output } = await call('/echo-header', { ...withSecret, responseHeaders: ['x-echo'] });
    expectClean(output);
  });

  it('is never in the definition JSON, and secretValues() hands it to the redactor', () => {
    const definition = tool('/json', withSecret);
    expectClean(definition);
    const executor = createHttpExecutor(definition, { client });
    expect(executor.secretValues()).toEqual(expect.arrayContaining([SECRET, CREDENTIAL]));
  });
});

describe('size cap', () => {
  it('cuts a streamed body over maxResponseBytes and says so', async () => {
    const error = await rejection(call('/big', { maxResponseBytes: 1024 }), 'UPSTREAM_ERROR');
    expect(error.message).toContain('response exceeded 1024 bytes');
    expect(error.details).toEqual({ upstreamStatus: 200 });
  });

  it('refuses a declared Content-Length over the cap', async () => {
    const error = await rejection(call('/big-declared', { maxResponseBytes: 2048 }), 'UPSTREAM_ERROR');
    expect(error.message).toContain('response exceeded 2048 bytes');
  });

  it('applies the cap to the decoded body (decompression bomb)', async () => {
    const error = await rejection(call('/gzip-bomb'), 'UPSTREAM_ERROR');
    expect(error.message).toContain(`response exceeded ${1024 * 1024} bytes`);
  });

  it('the largest cap and the longest deadlines the definition accepts still decode a compressed body', async () => {
    const longest = 2 ** 31 - 1;
    const options = { maxResponseBytes: 2 ** 28, timeoutMs: longest, connectTimeoutMs: longest, firstByteTimeoutMs: longest };
    expect((await call('/gzip', options)).output).toEqual({ compressed: true });
    expect((await call('/br', options)).output).toEqual({ brotli: true });
  });

  it('a body under the cap passes', async () => {
    expect((await call('/big', { maxResponseBytes: 4096 })).output).toHaveLength(3000);
  });
});

describe('deadlines', () => {
  it('a slow-drip body cannot outlive the total deadline', async () => {
    const error = await rejection(call('/drip', { timeoutMs: 300 }), 'UPSTREAM_TIMEOUT');
    expect(error.status).toBe(504);
  });

  it('no response headers within the first-byte deadline is UPSTREAM_TIMEOUT', async () => {
    await rejection(call('/silent', { firstByteTimeoutMs: 200, timeoutMs: 20_000 }), 'UPSTREAM_TIMEOUT');
  });

  it('the total deadline also covers a silent upstream', async () => {
    await rejection(call('/silent', { timeoutMs: 300 }), 'UPSTREAM_TIMEOUT');
  });

  it("the caller's signal aborts the upstream call", async () => {
    const arrived = new Promise<void>((resolve) => {
      callerRequestArrived = resolve;
    });
    const closed = new Promise<void>((resolve) => {
      callerConnectionClosed = resolve;
    });
    const controller = new AbortController();
    const pending = createHttpExecutor(tool('/hang-for-caller', { timeoutMs: 20_000 }), { client })({}, { signal: controller.signal });
    await arrived;
    controller.abort();
    const error = await rejection(pending, 'UPSTREAM_ERROR');
    expect(error.message).toBe('upstream call aborted by the caller');
    await closed; // the upstream connection was torn down
  });

  it('a call aborted while it waits for a pooled connection fails at once and is never sent', async () => {
    const onePerOrigin = createUpstreamClient({ connectionsPerOrigin: 1 });
    try {
      const holding = createHttpExecutor(tool('/hold', { timeoutMs: 20_000 }), { client: onePerOrigin })({}, callContext());
      while (held.length === 0) await new Promise((resolve) => setImmediate(resolve));
      const before = server.requests.length;
      const controller = new AbortController();
      const queued = createHttpExecutor(tool('/json', { timeoutMs: 20_000 }), { client: onePerOrigin })({}, { signal: controller.signal });
      controller.abort();
      const error = await rejection(queued, 'UPSTREAM_ERROR');
      expect(error.message).toBe('upstream call aborted by the caller');
      // The held call completes, and the aborted one never reached the upstream.
      sendJson(held.shift() as ServerResponse, 200, { released: true });
      await expect(holding).resolves.toEqual({ output: { released: true }, upstreamStatus: 200 });
      await expect(createHttpExecutor(tool('/text'), { client: onePerOrigin })({}, callContext())).resolves.toMatchObject({
        upstreamStatus: 200,
      });
      expect(server.requests.slice(before).map((request) => request.rawPath)).toEqual(['/text']);
    } finally {
      for (const response of held.splice(0)) response.destroy();
      await onePerOrigin.close();
    }
  });

  it('a caller deadline (TimeoutError) is UPSTREAM_TIMEOUT; an already aborted signal sends nothing', async () => {
    const controller = new AbortController();
    controller.abort(new DOMException('deadline', 'TimeoutError'));
    const before = server.requests.length;
    await rejection(createHttpExecutor(tool('/json'), { client })({}, { signal: controller.signal }), 'UPSTREAM_TIMEOUT');
    expect(server.requests.length).toBe(before);
  });
});

describe('redirects', () => {
  function requestsTo(path: string): number {
    return server.requests.filter((request) => request.rawPath.startsWith(path)).length;
  }

  it('are not followed by default: a 3xx is UPSTREAM_ERROR with the status', async () => {
    const error = await rejection(call('/redirect-here'), 'UPSTREAM_ERROR');
    expect(error.details).toEqual({ upstreamStatus: 302 });
    expect(requestsTo('/json?from=redirect')).toBe(0);
  });

  it('a redirect to another host is not followed, even with same-origin', async () => {
    const away = await rejection(call('/redirect-away', { followRedirects: 'same-origin' }), 'UPSTREAM_ERROR');
    expect(away.details).toEqual({ upstreamStatus: 302 });
    expect(away.message).not.toContain('evil');
    const jsonBefore = requestsTo('/json');
    const other = await rejection(call('/redirect-other-origin', { followRedirects: 'same-origin' }), 'UPSTREAM_ERROR');
    expect(other.details).toEqual({ upstreamStatus: 307 });
    expect(requestsTo('/json')).toBe(jsonBefore);
  });

  it('same-origin redirects are followed when the tool says so', async () => {
    expect((await call('/redirect-here', { followRedirects: 'same-origin' })).output).toEqual({ items: [1, 2], ok: true });
    expect(server.requests.at(-1)?.rawPath).toBe('/json?from=redirect');
  });

  it('303 after POST continues with GET and no body', async () => {
    const result = await call('/see-other', {
      method: 'POST',
      followRedirects: 'same-origin',
      inputSchema: { type: 'object', properties: { a: { type: 'string' } } },
    });
    expect(result.upstreamStatus).toBe(200);
    expect(server.requests.at(-1)).toMatchObject({ method: 'GET', rawPath: '/json', body: '' });
  });

  it('stops after 5 hops', async () => {
    const before = requestsTo('/loop');
    const error = await rejection(call('/loop', { followRedirects: 'same-origin' }), 'UPSTREAM_ERROR');
    expect(error.message).toContain('more than 5 times');
    expect(requestsTo('/loop') - before).toBe(6);
  });
});
