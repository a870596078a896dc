import { describe, expect, it } from 'vitest';
import { NodeRequest, requestForHost } from '../../src/protocol/node-request.js';

function nodeRequest(rawHeaders: string[], body?: string): Request {
  return new NodeRequest(
    'POST',
    'http://127.0.0.1:3000/mcp',
    rawHeaders,
    body === undefined ? undefined : Buffer.from(body),
  ) as unknown as Request;
}

const raw = ['Host', '127.0.0.1:3000', 'Content-Type', 'application/json', 'X-Trace', 'a', 'x-trace', 'b', 'Authorization', 'Bearer k'];

describe('NodeRequest headers', () => {
  it('answers get() as Headers does: any case, repeated headers joined, absent is null', () => {
    const headers = nodeRequest(raw).headers;
    expect(headers).toBeInstanceOf(Headers);
    expect(headers.get('content-type')).toBe('application/json');
    expect(headers.get('CONTENT-TYPE')).toBe('application/json');
    expect(headers.get('x-trace')).toBe('a, b');
    expect(headers.get('origin')).toBeNull();
    const real = new Headers();
    for (let index = 0; index < raw.length; index += 2) real.append(raw[index] as string, raw[index + 1] as string);
    for (const name of ['host', 'content-type', 'x-trace', 'authorization', 'origin']) expect(headers.get(name)).toBe(real.get(name));
  });

  it('iterates, and reflects changes, like a real Headers', () => {
    const headers = nodeRequest(raw).headers;
    expect([...headers]).toEqual([
      ['authorization', 'Bearer k'],
      ['content-type', 'application/json'],
      ['host', '127.0.0.1:3000'],
      ['x-trace', 'a, b'],
    ]);
    expect(headers.has('Host')).toBe(true);
    headers.set('content-length', '12');
    headers.delete('x-trace');
    expect(headers.get('content-length')).toBe('12');
    expect(headers.get('x-trace')).toBeNull();
  });

  it('a change made before any read is seen by get()', () => {
    const headers = nodeRequest(raw).headers;
    headers.delete('authorization');
    expect(headers.get('authorization')).toBeNull();
    expect(headers.get('host')).toBe('127.0.0.1:3000');
  });

  it('leaves HTTP/2 pseudo-headers out of the Headers', () => {
    const headers = nodeRequest([':authority', 'example.com', 'accept', 'application/json']).headers;
    expect([...headers.keys()]).toEqual(['accept']);
  });

  it('builds a complete Request with the same headers and body on demand', async () => {
    const request = nodeRequest(raw, '{"a":1}');
    const copy = request.clone();
    expect(copy.headers.get('x-trace')).toBe('a, b');
    expect(await copy.text()).toBe('{"a":1}');
  });
});

describe('NodeRequest signal', () => {
  it('is made on first read and fires when the client goes away, before or after that read', () => {
    const early = new NodeRequest('GET', 'http://127.0.0.1/', [], undefined);
    early.abort();
    expect(early.signal.aborted).toBe(true);
    expect((early.signal.reason as DOMException).name).toBe('AbortError');

    const late = new NodeRequest('GET', 'http://127.0.0.1/', [], undefined);
    const signal = late.signal;
    expect(signal.aborted).toBe(false);
    late.abort();
    expect(signal.aborted).toBe(true);
    expect(late.clientGone.aborted).toBe(true);
  });
});

describe('NodeRequest authority', () => {
  it('is the Host header, else HTTP/2 :authority, else undefined (the URL host is then made up)', () => {
    const authority = (raw: string[]) => new NodeRequest('GET', 'http://localhost/', raw, undefined).authority();
    expect(authority(['HOST', 'example.com:8080'])).toBe('example.com:8080');
    expect(authority([':authority', 'h2.example', 'accept', '*/*'])).toBe('h2.example');
    expect(authority([':authority', 'h2.example', 'host', 'named.example'])).toBe('named.example');
    expect(authority(['accept', '*/*'])).toBeUndefined();
  });

  it('reads the raw list even after the headers were filled', () => {
    const request = new NodeRequest('GET', 'http://h2.example/', [':authority', 'h2.example', 'accept', '*/*'], undefined);
    expect([...request.headers.keys()]).toEqual(['accept']);
    expect(request.authority()).toBe('h2.example');
  });
});

describe('requestForHost', () => {
  it('gives host code a real Request, leaving the body to the gateway', async () => {
    const request = nodeRequest(raw, '{"a":1}');
    const forHost = requestForHost(request);
    expect(forHost).toBeInstanceOf(Request);
    expect(await new Request(forHost).text()).toBe('{"a":1}');
    expect(await request.text()).toBe('{"a":1}');
  });

  it('gives a Web Request with a body as a copy, one without as it is', async () => {
    const withBody = new Request('http://gateway.test/admin/agents', { method: 'POST', body: '{"name":"x"}' });
    const copy = requestForHost(withBody);
    expect(copy).not.toBe(withBody);
    expect(await copy.text()).toBe('{"name":"x"}');
    expect(await withBody.text()).toBe('{"name":"x"}');
    const bodiless = new Request('http://gateway.test/admin/agents');
    expect(requestForHost(bodiless)).toBe(bodiless);
  });
});
