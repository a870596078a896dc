import { describe, expect, it } from 'vitest';
import { createMcpHandler } from '../../../src/protocol/mcp/index.js';
import { NEVER_ABORTED } from '../../../src/util/call-abort.js';
import { createFakeBackend, createTestHandler, mcpPost, send, testOptions } from './fake-backend.js';

const ping = { jsonrpc: '2.0', id: 1, method: 'ping' };

describe('MCP endpoint: HTTP layer', () => {
  it.each(['GET', 'DELETE', 'PUT', 'PATCH'])('answers %s with 405 and Allow: POST', async (method) => {
    const { handler } = createTestHandler();
    const { status, headers, body } = await send(handler, new Request('http://127.0.0.1:3000/mcp', { method }));
    expect(status).toBe(405);
    expect(headers.get('allow')).toBe('POST');
    expect(body.error.code).toBe('METHOD_NOT_ALLOWED');
  });

  it('answers a missing key with 401 and WWW-Authenticate before reading the body', async () => {
    const { handler } = createTestHandler();
    const request = new Request('http://127.0.0.1:3000/mcp', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'not even json',
    });
    const { status, headers, body } = await send(handler, request);
    expect(status).toBe(401);
    expect(headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(body).toEqual({ error: { code: 'UNAUTHENTICATED', message: 'Missing or invalid credentials' } });
  });

  it('answers a wrong key with the same 401', async () => {
    const { handler } = createTestHandler();
    const { status, body } = await send(handler, mcpPost(ping, { authorization: 'Bearer atg_wrong' }));
    expect(status).toBe(401);
    expect(body.error.code).toBe('UNAUTHENTICATED');
  });

  it('turns an unexpected authentication crash into a generic 500 without its message', async () => {
    const backend = createFakeBackend();
    backend.authenticate = async () => {
      throw new Error('database password is hunter2');
    };
    const handler = createMcpHandler(backend, testOptions);
    const { status, text } = await send(handler, mcpPost(ping));
    expect(status).toBe(500);
    expect(text).not.toContain('hunter2');
  });

  it('refuses a disallowed Origin with 403 and lets requests without Origin through', async () => {
    const { handler } = createTestHandler(undefined, { allowedOrigins: ['https://console.example.com'] });
    expect((await send(handler, mcpPost(ping, { origin: 'https://evil.example.com' }))).status).toBe(403);
    expect((await send(handler, mcpPost(ping, { origin: 'https://console.example.com' }))).status).toBe(200);
    expect((await send(handler, mcpPost(ping))).status).toBe(200);
  });

  it('allows only the same origin when no allow-list is configured', async () => {
    const { handler } = createTestHandler();
    expect((await send(handler, mcpPost(ping, { origin: 'http://127.0.0.1:3000' }))).status).toBe(200);
    const refused = await send(handler, mcpPost(ping, { origin: 'http://evil.example.com' }));
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('FORBIDDEN');
    expect((await send(handler, mcpPost(ping, { origin: 'null' }))).status).toBe(403);
  });

  it("accepts any origin with '*'", async () => {
    const { handler } = createTestHandler(undefined, { allowedOrigins: ['*'] });
    expect((await send(handler, mcpPost(ping, { origin: 'https://anything.example' }))).status).toBe(200);
  });

  it('answers CORS to the origins allowedOrigins lists: preflight, answers and refusals a browser can read', async () => {
    const { handler } = createTestHandler(undefined, { allowedOrigins: ['https://console.example.com'] });
    const origin = 'https://console.example.com';
    const preflight = (from: string, requestedHeaders?: string) =>
      new Request('http://127.0.0.1:3000/mcp', {
        method: 'OPTIONS',
        headers: {
          origin: from,
          'access-control-request-method': 'POST',
          ...(requestedHeaders === undefined ? {} : { 'access-control-request-headers': requestedHeaders }),
        },
      });

    const allowed = await send(handler, preflight(origin, 'authorization,content-type,mcp-protocol-version'));
    expect(allowed.status).toBe(204);
    expect(Object.fromEntries(allowed.headers)).toEqual({
      'access-control-allow-origin': origin,
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'authorization,content-type,mcp-protocol-version',
      'access-control-max-age': '600',
      vary: 'origin, access-control-request-headers',
    });
    // An ask that is not a list of header names gets the headers MCP clients send.
    const odd = await send(handler, preflight(origin, 'x-a, bad header\u00e9'));
    expect(odd.headers.get('access-control-allow-headers')).toBe(
      'authorization, content-type, accept, mcp-protocol-version, mcp-method, mcp-name, last-event-id',
    );
    const elsewhere = await send(handler, preflight('https://evil.example.com'));
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.headers.get('access-control-allow-origin')).toBeNull();

    const answered = await send(handler, mcpPost(ping, { origin }));
    expect(answered.status).toBe(200);
    expect(answered.headers.get('access-control-allow-origin')).toBe(origin);
    expect(answered.headers.get('access-control-expose-headers')).toBe('www-authenticate, retry-after');
    expect(answered.headers.get('vary')).toBe('origin');
    // The 401 a browser client starts its OAuth flow from is readable, challenge included.
    const refused = await send(handler, mcpPost(ping, { origin, authorization: 'Bearer atg_wrong' }));
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(origin);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer /);
    // Clients that send no Origin (every non-browser one) get no CORS headers.
    const plain = await send(handler, mcpPost(ping));
    expect([...plain.headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([]);
    // A preflight is an OPTIONS with Access-Control-Request-Method; any other OPTIONS is a 405.
    const options = await send(handler, new Request('http://127.0.0.1:3000/mcp', { method: 'OPTIONS', headers: { origin } }));
    expect(options.status).toBe(405);
    expect(options.headers.get('access-control-allow-origin')).toBe(origin);
  });

  it("answers CORS with '*' to any origin when allowedOrigins holds '*', and none without an allow-list", async () => {
    const open = createTestHandler(undefined, { allowedOrigins: ['*'] }).handler;
    const answered = await send(open, mcpPost(ping, { origin: 'https://anything.example' }));
    expect(answered.headers.get('access-control-allow-origin')).toBe('*');
    expect(answered.headers.get('vary')).toBeNull();

    const sameOriginOnly = createTestHandler().handler;
    const sameOrigin = await send(sameOriginOnly, mcpPost(ping, { origin: 'http://127.0.0.1:3000' }));
    expect(sameOrigin.status).toBe(200);
    expect(sameOrigin.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = new Request('http://127.0.0.1:3000/mcp', {
      method: 'OPTIONS',
      headers: { origin: 'https://other.example', 'access-control-request-method': 'POST' },
    });
    expect((await send(sameOriginOnly, preflight)).status).toBe(403);
  });

  it('checks Host only when allowedHosts is configured', async () => {
    const open = createTestHandler().handler;
    expect((await send(open, mcpPost(ping, { host: 'evil.example.com' }))).status).toBe(200);

    const { handler } = createTestHandler(undefined, { allowedHosts: ['localhost', '127.0.0.1:3000', '[::1]'] });
    expect((await send(handler, mcpPost(ping, { host: '127.0.0.1:3000' }))).status).toBe(200);
    expect((await send(handler, mcpPost(ping, { host: 'localhost:8080' }))).status).toBe(200);
    expect((await send(handler, mcpPost(ping, { host: '[::1]:9999' }))).status).toBe(200);
    expect((await send(handler, mcpPost(ping, { host: '127.0.0.1:4000' }))).status).toBe(403);
    const rebinding = await send(handler, mcpPost(ping, { host: 'evil.example.com', origin: 'http://evil.example.com' }));
    expect(rebinding.status).toBe(403);
  });

  it('answers 406 when Accept excludes JSON, and is lenient about a missing Accept', async () => {
    const { handler } = createTestHandler();
    expect((await send(handler, mcpPost(ping, { accept: 'text/event-stream' }))).status).toBe(406);
    expect((await send(handler, mcpPost(ping, { accept: 'application/json;q=0, text/html' }))).status).toBe(406);
    expect((await send(handler, mcpPost(ping, { accept: '*/*' }))).status).toBe(200);
    expect((await send(handler, mcpPost(ping, { accept: 'application/*' }))).status).toBe(200);
    const noAccept = new Request('http://127.0.0.1:3000/mcp', {
      method: 'POST',
      headers: { authorization: 'Bearer atg_test_good', 'content-type': 'application/json' },
      body: JSON.stringify(ping),
    });
    expect((await send(handler, noAccept)).status).toBe(200);
  });

  it('answers 415 unless Content-Type is application/json', async () => {
    const { handler } = createTestHandler();
    expect((await send(handler, mcpPost(ping, { 'content-type': 'text/plain' }))).status).toBe(415);
    expect((await send(handler, mcpPost(ping, { 'content-type': 'application/json; charset=utf-8' }))).status).toBe(200);
  });

  it('always answers requests as application/json, never as an event stream', async () => {
    const { handler } = createTestHandler();
    const response = await handler.handle(mcpPost(ping), NEVER_ABORTED);
    expect(response.headers.get('content-type')).toBe('application/json');
  });

  it('answers a body that is not JSON with -32700 and id null', async () => {
    const { handler } = createTestHandler();
    const { status, body } = await send(handler, mcpPost('{"jsonrpc": "2.0", "id": 1,'));
    expect(status).toBe(400);
    expect(body).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32700, message: expect.any(String) } });
  });

  it('refuses a body over maxBodyBytes with 413 in the gateway error body, and reads one at the limit', async () => {
    const text = JSON.stringify(ping);
    const { handler } = createTestHandler(undefined, { maxBodyBytes: text.length + 8 });
    const atLimit = await send(handler, mcpPost(`${text}${' '.repeat(8)}`));
    expect(atLimit.status).toBe(200);
    const over = await send(handler, mcpPost(`${text}${' '.repeat(9)}`));
    expect(over.status).toBe(413);
    expect(over.body).toEqual({ error: { code: 'PAYLOAD_TOO_LARGE', message: `Request body exceeds ${text.length + 8} bytes` } });
  });

  it('never mints or echoes a session id', async () => {
    const { handler } = createTestHandler();
    const initialize = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } },
    };
    const { headers } = await send(handler, mcpPost(initialize, { 'mcp-session-id': 'abc' }));
    expect(headers.get('mcp-session-id')).toBeNull();
  });

  it('validates its options', () => {
    const backend = createFakeBackend();
    expect(() => createMcpHandler(backend, { ...testOptions, cursorSecret: new Uint8Array(8) })).toThrow(/cursorSecret/);
    expect(() => createMcpHandler(backend, { ...testOptions, pageSize: 0 })).toThrow(/pageSize/);
    expect(() => createMcpHandler(backend, { ...testOptions, maxBodyBytes: 0 })).toThrow(/maxBodyBytes/);
    expect(() => createMcpHandler(backend, { ...testOptions, serverInfo: { name: '', version: '1' } })).toThrow(/serverInfo/);
    expect(() => createMcpHandler(backend, { ...testOptions, allowedOrigins: ['not a url'] })).toThrow();
  });
});
