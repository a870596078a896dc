import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway } from '../../src/index.js';
import { jsonRequest } from '../helpers.js';
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

describe("the URL's own query", () => {
  const fixedTool = (overrides: Parameters<typeof loopbackTool>[1] = {}) =>
    loopbackTool(server.origin, {
      url: `${server.origin}/api/items?tenant=acme&scope=read`,
      inputSchema: { type: 'object', properties: { q: { type: 'string' } } },
      ...overrides,
    });

  it('keeps its parameters and adds the other fields after them', async () => {
    await createHttpExecutor(fixedTool(), { client })({ q: 'x', other: 1 }, callContext());
    expect(lastRequest().rawPath).toBe('/api/items?tenant=acme&scope=read&q=x&other=1');
  });

  it.each(['tenant', 'scope', 'TENANT', 'Scope', 'tenant[]', 'tenant[0]'])(
    'refuses an undeclared input field %j that would override it, with INVALID_INPUT, and sends nothing',
    async (field) => {
      const before = server.requests.length;
      const error = await rejection(
        createHttpExecutor(fixedTool(), { client })({ q: 'x', [field]: 'globex' }, callContext()),
        'INVALID_INPUT',
      );
      expect(error.status).toBe(422);
      expect(error.message).toBe(`Invalid input: ${field} cannot be sent: the tool's URL fixes the query parameter of that name`);
      expect(error.details).toEqual([{ path: `/${field}`, message: expect.stringContaining("the tool's URL fixes") }]);
      expect(server.requests.length).toBe(before);
    },
  );

  it('is compared as the server decodes it: percent-escapes and "+" for a space', async () => {
    for (const url of [`${server.origin}/api/x?a+b=1`, `${server.origin}/api/x?a%20b=1`, `${server.origin}/api/x?%74enant=acme`]) {
      const execute = createHttpExecutor(fixedTool({ url }), { client });
      const field = url.includes('enant') ? 'tenant' : 'a b';
      await rejection(execute({ [field]: 'override' }, callContext()), 'INVALID_INPUT');
    }
  });

  it('refuses a definition that would send one of its parameters from input', () => {
    const withTenant = { type: 'object', properties: { q: { type: 'string' }, tenant: { type: 'string' } } } as const;
    expect(() => fixedTool({ inputSchema: withTenant })).toThrow(TypeError);
    expect(() => fixedTool({ inputSchema: withTenant })).toThrow(
      `tool "test.tool": inputSchema property "tenant" would be sent in the query, where the url's own query fixes a parameter of that name`,
    );
    expect(() => fixedTool({ inputSchema: withTenant, method: 'POST', query: ['q', 'tenant'] })).toThrow(
      `tool "test.tool": query field "tenant" names a parameter the url's own query fixes`,
    );
    const withScope = { type: 'object', properties: { 'Scope[]': { type: 'array' } } } as const;
    expect(() => fixedTool({ inputSchema: withScope, query: ['Scope[]'] })).toThrow(/query field "Scope\[\]" names a parameter/);
    expect(() => fixedTool({ inputSchema: withScope })).toThrow(/inputSchema property "Scope\[\]" would be sent in the query/);
  });

  it('lets a field of the same name go where it cannot override it: a header, the body, or unlisted', async () => {
    const withTenant = { type: 'object', properties: { q: { type: 'string' }, tenant: { type: 'string' } } } as const;
    await createHttpExecutor(fixedTool({ inputSchema: withTenant, headers: { 'x-tenant': { from: 'tenant' } } }), { client })(
      { q: 'x', tenant: 'globex' },
      callContext(),
    );
    expect(lastRequest()).toMatchObject({ rawPath: '/api/items?tenant=acme&scope=read&q=x', headers: { 'x-tenant': 'globex' } });
    await createHttpExecutor(fixedTool({ inputSchema: withTenant, method: 'POST' }), { client })(
      { q: 'x', tenant: 'globex' },
      callContext(),
    );
    expect(lastRequest().rawPath).toBe('/api/items?tenant=acme&scope=read');
    expect(JSON.parse(lastRequest().body)).toEqual({ q: 'x', tenant: 'globex' });
    await createHttpExecutor(fixedTool({ inputSchema: withTenant, query: ['q'] }), { client })({ q: 'x', tenant: 'globex' }, callContext());
    expect(lastRequest().rawPath).toBe('/api/items?tenant=acme&scope=read&q=x');
  });

  it('through the gateway, an overriding field is a 422 and the upstream is not called', async () => {
    const gateway = createGateway({ tools: [fixedTool()], policy: [{ id: 'all', effect: 'allow' }] });
    try {
      const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
      const before = server.requests.length;
      const response = await gateway.fetch(
        jsonRequest('/tools/test.tool/invoke', { key: apiKey, body: { input: { q: 'x', tenant: 'globex' } } }),
      );
      expect(response.status).toBe(422);
      expect(await response.json()).toMatchObject({ error: { code: 'INVALID_INPUT', details: [{ path: '/tenant' }] } });
      expect(server.requests.length).toBe(before);
    } finally {
      await gateway.close();
    }
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
