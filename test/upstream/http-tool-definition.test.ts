import { describe, expect, it } from 'vitest';
import { createGateway, generateEncryptionKey } from '../../src/index.js';
import { secret } from '../../src/secrets/secret-value.js';
import { type HttpToolOptions, httpTool } from '../../src/tools/http-tool.js';

const schema = {
  type: 'object',
  properties: { id: { type: 'string' }, q: { type: 'string' }, tenant: { type: 'string' }, note: { type: 'string' } },
} as const;

const orders = {
  name: 'crm.orders',
  description: 'Orders',
  method: 'GET',
  url: 'https://crm.example.com/customers/{id}/orders',
  inputSchema: schema,
} as const;

function define(overrides: Partial<HttpToolOptions>): ReturnType<typeof httpTool> {
  return httpTool({ ...orders, ...overrides });
}

describe('httpTool: the definition', () => {
  it('is a frozen, JSON-friendly object of kind http with normalised names', () => {
    const definition = define({
      method: 'get' as HttpToolOptions['method'],
      headers: { 'X-Tenant': { from: 'tenant' }, Accept: 'application/json' },
    });
    expect(definition.kind).toBe('http');
    expect(definition.method).toBe('GET');
    expect(Object.isFrozen(definition)).toBe(true);
    expect(Object.isFrozen(definition.headers)).toBe(true);
    expect(definition.headers).toEqual({ 'x-tenant': { from: 'tenant' }, accept: 'application/json' });
    expect(JSON.parse(JSON.stringify(definition))).toMatchObject({ kind: 'http', url: 'https://crm.example.com/customers/{id}/orders' });
    expect(httpTool(JSON.parse(JSON.stringify(definition)) as HttpToolOptions)).toEqual(definition);
  });

  it.each<[string, Partial<HttpToolOptions>, RegExp]>([
    ['a relative URL', { url: '/customers/{id}' }, /absolute http/],
    ['another scheme', { url: 'ftp://crm.example.com/{id}' }, /absolute http/],
    ['user info', { url: 'https://user:pw@crm.example.com/{id}' }, /user info/],
    ['a param in the host', { url: 'https://{id}.example.com/x' }, /whole path segments/],
    ['a param in the port', { url: 'https://crm.example.com:{id}/x' }, /whole path segments/],
    ['a param in the query', { url: 'https://crm.example.com/x?id={id}' }, /whole path segments/],
    ['a param inside a segment', { url: 'https://crm.example.com/customers/c-{id}' }, /whole path segments/],
    ['two params in a segment', { url: 'https://crm.example.com/{id}{q}' }, /whole path segments/],
    ['an unknown param', { url: 'https://crm.example.com/customers/{customerId}' }, /\{customerId\} is not a property/],
    ['a fragment', { url: 'https://crm.example.com/customers/{id}#top' }, /fragment/],
    ['a dot segment', { url: 'https://crm.example.com/a/../{id}' }, /"\." or "\.\."/],
    ['an encoded dot segment', { url: 'https://crm.example.com/a/%2e%2e/{id}' }, /"\." or "\.\."/],
    ['a backslash', { url: 'https://crm.example.com\\{id}' }, /backslash/],
    ['a repeated param', { url: 'https://crm.example.com/{id}/{id}' }, /twice/],
  ])('refuses a URL template with %s', (_label, overrides, message) => {
    expect(() => define(overrides)).toThrow(TypeError);
    expect(() => define(overrides)).toThrow(message);
  });

  it.each<[string, Record<string, unknown>]>([
    ['Authorization', { Authorization: { from: 'q' } }],
    ['Cookie', { cookie: { from: 'q' } }],
    ['Proxy-Authorization', { 'Proxy-Authorization': { from: 'q' } }],
    ['Host', { Host: { from: 'q' } }],
  ])('refuses a header %s filled from input', (_label, headers) => {
    expect(() => define({ headers: headers as HttpToolOptions['headers'] })).toThrow(/cannot be (filled from input|configured)/);
  });

  it('refuses input overriding a configured or secret header', () => {
    expect(() => define({ headers: { 'x-api-key': { from: 'q' } }, secretHeaders: { 'X-Api-Key': 'k_123456' } })).toThrow(
      /configured twice|cannot be filled/,
    );
    expect(() => define({ headers: { 'X-Team': 'core', 'x-team': { from: 'q' } } })).toThrow(/configured twice/);
  });

  it('refuses static headers that would break framing or the host', () => {
    expect(() => define({ headers: { Host: 'evil.example.com' } })).toThrow(/cannot be configured/);
    expect(() => define({ headers: { 'Transfer-Encoding': 'chunked' } })).toThrow(/cannot be configured/);
    expect(() => define({ headers: { 'X-Bad': 'a\r\nb' } })).toThrow(/printable ASCII/);
    expect(() => define({ headers: { 'Bad Name': 'x' } })).toThrow(/not a valid header name/);
  });

  it('never prints a secret header name it refuses: it may be the credential, given in place of the name', async () => {
    const token = 'Bearer live_7f3a9c2e5b1d4a8f';
    expect(() => define({ secretHeaders: { [token]: 'authorization' } })).toThrow(
      /the name of a secret header \(28 characters\) is not a valid header name: give the header's name as the key/,
    );
    expect(() => define({ headers: { [token]: secret('authorization') } })).toThrow(/the name of a secret header \(28 characters\)/);
    const message = (() => {
      try {
        define({ secretHeaders: { [token]: 'authorization' } });
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(message).not.toContain('live_7f3a9c2e5b1d4a8f');
    const gateway = createGateway({
      encryptionKey: generateEncryptionKey(),
      admin: { tokens: [{ token: 'admin-token-0123456789abcdef', id: 'a', roles: ['admin'] }] },
    });
    try {
      const response = await gateway.fetch(
        new Request('http://gateway.test/admin/tools', {
          method: 'POST',
          headers: { authorization: 'Bearer admin-token-0123456789abcdef', 'content-type': 'application/json' },
          body: JSON.stringify({ ...orders, secretHeaders: { [token]: 'authorization' } }),
        }),
      );
      expect(response.status).toBe(400);
      const body = await response.text();
      expect(body).toContain('is not a valid header name');
      expect(body).not.toContain('live_7f3a9c2e5b1d4a8f');
    } finally {
      await gateway.close();
    }
  });

  it('checks field placement', () => {
    expect(() => define({ query: ['nope'] })).toThrow(/"nope" is not a property/);
    expect(() => define({ query: ['id'] })).toThrow(/path parameter/);
    expect(() => define({ body: ['q'] })).toThrow(/GET request cannot have a body/);
    expect(() => define({ method: 'POST', query: ['q'], body: ['q'] })).toThrow(/both in the query and in the body/);
    expect(() => define({ headers: { 'x-tenant': { from: 'nope' } } })).toThrow(/not a property/);
    expect(() => define({ method: 'POST', body: { from: 'nope' } })).toThrow(/not a property/);
  });

  it('checks numeric options, redirects, allowances and response headers', () => {
    expect(() => define({ timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => define({ maxResponseBytes: 1.5 })).toThrow(/maxResponseBytes/);
    expect(() => define({ connectTimeoutMs: -1 })).toThrow(/connectTimeoutMs/);
    expect(() => define({ followRedirects: 'always' as 'none' })).toThrow(/followRedirects/);
    expect(() => define({ allowPrivateNetwork: ['10.0.0.0/40'] })).toThrow(/CIDR/);
    expect(() => define({ responseHeaders: ['bad name'] })).toThrow(/responseHeaders/);
    expect(() => define({ method: 'TRACE' as 'GET' })).toThrow(/method/);
  });

  it('refuses deadlines longer than a Node timer holds, and a response cap above 256 MiB', () => {
    for (const option of ['timeoutMs', 'connectTimeoutMs', 'firstByteTimeoutMs'] as const) {
      expect(() => define({ [option]: 2 ** 31 })).toThrow(TypeError);
      expect(() => define({ [option]: 2 ** 31 })).toThrow(`${option} must be a positive integer of at most 2147483647`);
      expect(define({ [option]: 2 ** 31 - 1 })[option]).toBe(2 ** 31 - 1);
    }
    for (const tooLarge of [2 ** 28 + 1, 2 ** 33, Number.MAX_SAFE_INTEGER]) {
      expect(() => define({ maxResponseBytes: tooLarge })).toThrow(`maxResponseBytes must be a positive integer of at most ${2 ** 28}`);
    }
    expect(define({ maxResponseBytes: 2 ** 28 }).maxResponseBytes).toBe(2 ** 28);
  });
});

describe('httpTool: the same checks for tools made through the admin API', () => {
  it('refuses an over-long deadline or an over-large response cap with 400, naming the option', async () => {
    const gateway = createGateway({ encryptionKey: generateEncryptionKey() });
    try {
      for (const [option, value] of [
        ['timeoutMs', 2 ** 31],
        ['connectTimeoutMs', 2 ** 31],
        ['firstByteTimeoutMs', 2 ** 31],
        ['maxResponseBytes', 2 ** 33],
      ] as const) {
        const refused = await gateway.admin.createTool({ ...orders, [option]: value }).catch((error: unknown) => error);
        expect(refused).toMatchObject({
          code: 'BAD_REQUEST',
          message: expect.stringContaining(`${option} must be a positive integer of at most`),
        });
      }
      await gateway.admin.createTool({ ...orders, timeoutMs: 2 ** 31 - 1, maxResponseBytes: 2 ** 28 });
      const created = await gateway.admin.createTool({ ...orders, name: 'crm.orders.2' });
      await expect(gateway.admin.updateTool(created.name, { timeoutMs: 2 ** 31 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    } finally {
      await gateway.close();
    }
  });
});
