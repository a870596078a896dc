import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUpstreamClient } from '../../src/upstream/client.js';
import { createHttpExecutor } from '../../src/upstream/executor.js';
import { callContext, loopbackTool, rejection } from './harness.js';
import { type LoopbackServer, sendJson, startLoopbackServer } from './loopback-server.js';

let server: LoopbackServer;
const client = createUpstreamClient();

beforeAll(async () => {
  server = await startLoopbackServer((_request, response) => sendJson(response, 200, { ok: true }));
});
afterAll(async () => {
  await client.close();
  await server.close();
});

function lastRequest() {
  const request = server.requests.at(-1);
  if (request === undefined) throw new Error('no request arrived');
  return request;
}

describe('path parameters', () => {
  const pathTool = () =>
    loopbackTool(server.origin, {
      url: `${server.origin}/api/customers/{id}/orders`,
      inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
    });

  it.each([
    '../x',
    '../../admin',
    '%2e%2e%2f',
    '%2e%2e',
    '.%2e',
    'a%2Fb',
    'a/b',
    '@evil.example.com',
    '\\\\evil.example.com',
    '\\..\\x',
    '#frag',
    '?admin=1',
    'x y',
    'ünïcødé',
    'a;b=c',
    "it's(*)!",
    '...',
  ])('%j stays one path segment and cannot change host, prefix or query', async (id) => {
    const execute = createHttpExecutor(pathTool(), { client });
    const before = server.requests.length;
    await execute({ id }, callContext());
    expect(server.requests.length).toBe(before + 1);
    const { rawPath, headers } = lastRequest();
    expect(headers.host).toBe(`127.0.0.1:${server.port}`);
    const match = /^\/api\/customers\/([^/?#]+)\/orders$/.exec(rawPath);
    expect(match, rawPath).not.toBeNull();
    const segment = match?.[1] as string;
    expect(segment).toMatch(/^[A-Za-z0-9\-._~%]+$/);
    expect(decodeURIComponent(segment)).toBe(id);
  });

  it.each(['.', '..', ''])('refuses %j as a whole value with INVALID_INPUT and sends nothing', async (id) => {
    const execute = createHttpExecutor(pathTool(), { client });
    const before = server.requests.length;
    const error = await rejection(execute({ id }, callContext()), 'INVALID_INPUT');
    expect(error.status).toBe(422);
    expect(error.details).toEqual([{ path: '/id', message: expect.any(String) }]);
    expect(server.requests.length).toBe(before);
  });

  it('refuses objects and missing values as path parameters', async () => {
    const execute = createHttpExecutor(pathTool(), { client });
    await rejection(execute({ id: { a: 1 } }, callContext()), 'INVALID_INPUT');
    await rejection(execute({}, callContext()), 'INVALID_INPUT');
    await rejection(execute('not an object', callContext()), 'INVALID_INPUT');
  });

  it('numbers fill a segment as text', async () => {
    await createHttpExecutor(pathTool(), { client })({ id: 42 }, callContext());
    expect(lastRequest().rawPath).toBe('/api/customers/42/orders');
  });
});

describe('query and body placement', () => {
  const schema = {
    type: 'object',
    properties: {
      id: { type: 'string' },
      limit: { type: 'integer' },
      tags: { type: 'array' },
      filter: { type: 'object' },
      name: { type: 'string' },
      payload: {},
    },
  } as const;

  it('GET sends the remaining fields as the query, with the template query kept', async () => {
    const tool = loopbackTool(server.origin, { url: `${server.origin}/api/customers/{id}?v=2`, inputSchema: schema });
    await createHttpExecutor(tool, { client })(
      { id: 'c1', limit: 10, tags: ['a b', 'c&d'], filter: { x: 1 }, name: 'x=y&z', payload: null },
      callContext(),
    );
    const { rawPath, method, body } = lastRequest();
    expect(method).toBe('GET');
    expect(body).toBe('');
    expect(rawPath).toBe('/api/customers/c1?v=2&limit=10&tags=a%20b&tags=c%26d&filter=%7B%22x%22%3A1%7D&name=x%3Dy%26z');
  });

  it('POST sends the remaining fields as a JSON body', async () => {
    const tool = loopbackTool(server.origin, { method: 'POST', url: `${server.origin}/api/customers/{id}`, inputSchema: schema });
    await createHttpExecutor(tool, { client })({ id: 'c1', limit: 3, name: 'Ann' }, callContext());
    const request = lastRequest();
    expect(request.rawPath).toBe('/api/customers/c1');
    expect(request.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request.body)).toEqual({ limit: 3, name: 'Ann' });
  });

  it('explicit query and body lists, and a whole-body field', async () => {
    const listed = loopbackTool(server.origin, {
      method: 'PUT',
      url: `${server.origin}/api/x`,
      inputSchema: schema,
      query: ['limit'],
      body: ['name'],
    });
    await createHttpExecutor(listed, { client })({ limit: 5, name: 'n', tags: ['ignored'] }, callContext());
    expect(lastRequest().rawPath).toBe('/api/x?limit=5');
    expect(JSON.parse(lastRequest().body)).toEqual({ name: 'n' });

    const whole = loopbackTool(server.origin, {
      method: 'POST',
      url: `${server.origin}/api/x`,
      inputSchema: schema,
      body: { from: 'payload' },
    });
    await createHttpExecutor(whole, { client })({ payload: [1, 2, 3], name: 'not sent' }, callContext());
    expect(lastRequest().body).toBe('[1,2,3]');
  });

  it('DELETE defaults to the query; a __proto__ field stays data', async () => {
    const tool = loopbackTool(server.origin, { method: 'DELETE', url: `${server.origin}/api/x`, inputSchema: schema });
    await createHttpExecutor(tool, { client })({ limit: 1 }, callContext());
    expect(lastRequest()).toMatchObject({ method: 'DELETE', rawPath: '/api/x?limit=1' });

    const post = loopbackTool(server.origin, {
      method: 'POST',
      url: `${server.origin}/api/x`,
      inputSchema: { type: 'object', properties: {} },
    });
    await createHttpExecutor(post, { client })(JSON.parse('{"__proto__":{"polluted":true},"a":1}'), callContext());
    expect(JSON.parse(lastRequest().body)).toEqual(JSON.parse('{"__proto__":{"polluted":true},"a":1}'));
  });
});

describe('headers from input', () => {
  const tool = () =>
    loopbackTool(server.origin, {
      inputSchema: { type: 'object', properties: { tenant: { type: 'string' } } },
      headers: { 'X-Tenant': { from: 'tenant' }, 'X-Static': 'fixed' },
      secretHeaders: { Authorization: 'Bearer header-secret-123' },
    });

  it('places the value in its header', async () => {
    await createHttpExecutor(tool(), { client })({ tenant: 'acme' }, callContext());
    expect(lastRequest().headers).toMatchObject({
      'x-tenant': 'acme',
      'x-static': 'fixed',
      authorization: 'Bearer header-secret-123',
    });
  });

  it.each(['acme\r\nX-Injected: 1', 'acme\nX-Injected: 1', 'acme\rX', 'a\u0000b', 'a\tb', 'a\u007fb', 'ünï', 'a\u2028b'])(
    'refuses %j with INVALID_INPUT and sends nothing',
    async (tenant) => {
      const before = server.connections();
      const requestsBefore = server.requests.length;
      const error = await rejection(createHttpExecutor(tool(), { client })({ tenant }, callContext()), 'INVALID_INPUT');
      expect(error.status).toBe(422);
      expect(error.details).toEqual([{ path: '/tenant', message: expect.stringContaining('header') }]);
      expect(server.requests.length).toBe(requestsBefore);
      expect(server.connections()).toBe(before);
    },
  );

  it('omits an absent optional header', async () => {
    await createHttpExecutor(tool(), { client })({}, callContext());
    expect(lastRequest().headers['x-tenant']).toBeUndefined();
  });
});
