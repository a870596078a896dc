import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, createGateway } from '../../src/index.js';
import { adminTokens, testGateway } from '../fixtures.js';

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

describe('an option that may take one of several shapes, given none of them', () => {
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['policy', { policy: { rules: [] } }, /^createGateway: policy: must be an array of rules or a PolicyEngine/],
    [
      'allowPrivateNetwork',
      { allowPrivateNetwork: 'yes' },
      /^createGateway: allowPrivateNetwork: must be a boolean or an array of CIDR ranges$/,
    ],
    ['admin', { admin: { authenticate: 'alice' } }, /^createGateway: admin: must be \{ tokens: .* or \{ authenticate\(request\) \}$/],
    [
      'jwt.audience',
      { jwt: { issuer: 'https://idp.example', audience: 7, jwksUri: 'https://idp.example/jwks' } },
      /^createGateway: jwt\.audience: must be a non-empty string or a non-empty list of them$/,
    ],
  ])('%s: createGateway says which shapes it takes', (_name, options, message) => {
    expect(() => createGateway(options as never)).toThrow(message);
  });

  it('keeps the message of the shape it nearly matched', () => {
    expect(() => createGateway({ admin: { tokens: [{ token: 'short', id: 'a', roles: ['admin'] }] } })).toThrow(
      /admin\.tokens\.0\.token: admin tokens must be at least 24 characters/,
    );
  });

  it('refuses an admin token no Bearer header could carry, which would never let anyone in', () => {
    for (const token of ['correct horse battery staple 42', `${'x'.repeat(24)}\n`, `${'é'.repeat(24)}`]) {
      expect(() => createGateway({ admin: { tokens: [{ token, id: 'root', roles: ['admin'] }] } })).toThrow(
        /admin\.tokens\.0\.token: admin tokens must be printable ASCII without spaces/,
      );
    }
  });

  it('refuses one admin token given twice, which would open only the last principal it names', () => {
    const token = 'shared-admin-token-0123456789';
    expect(() =>
      createGateway({
        admin: {
          tokens: [
            { token, id: 'alice', roles: ['admin'] },
            { token: 'another-admin-token-0123456789', id: 'bob', roles: ['approver'] },
            { token, id: 'carol', roles: ['auditor'] },
          ],
        },
      }),
    ).toThrow(/^createGateway: admin\.tokens\.2\.token: admin tokens must differ from each other$/);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['body', { body: 5 }, 'body: must be a list of input field names (at most 200) or { from: "<input field>" }'],
    [
      'a header',
      { headers: { 'x-tenant': 5 } },
      'headers.x-tenant: must be a string (at most 8,192 characters) or { from: "<input field>" }',
    ],
    [
      'a secret header',
      { secretHeaders: { authorization: 5 } },
      'secretHeaders.authorization: must be a string (at most 8,192 characters)',
    ],
    [
      'allowPrivateNetwork',
      { allowPrivateNetwork: 'yes' },
      'allowPrivateNetwork: must be a boolean or a list of CIDR ranges (at most 100)',
    ],
    ['a redaction path', { redact: { paths: [5] } }, 'redact.paths.0: must be a path or { path, mode? }'],
    [
      'redaction detectors',
      { redact: { detectors: 5 } },
      'redact.detectors: must be a list of detector names or { <name>: true | false | "<mode>" }',
    ],
  ])('%s of a stored tool: POST /admin/tools answers 400 saying which shapes it takes', async (_name, extra, issue) => {
    gateway = testGateway();
    const response = await gateway.fetch(
      new Request('http://gw.test/admin/tools', {
        method: 'POST',
        headers: { authorization: `Bearer ${adminTokens.admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          name: 'crm.orders',
          description: 'Orders',
          method: 'POST',
          url: 'https://crm.example/orders',
          inputSchema: { type: 'object' },
          ...extra,
        }),
      }),
    );
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string; details: Array<{ path: string; message: string }> } };
    expect(body.error.code).toBe('BAD_REQUEST');
    expect(body.error.message).toBe(`Invalid body: ${issue}`);
  });

  it('expiresAt of an agent: the admin API says what it takes', async () => {
    gateway = testGateway();
    await expect(gateway.admin.createAgent({ name: 'bot', expiresAt: 5 } as never)).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: 'Invalid body: expiresAt: must be an ISO 8601 date-time with an offset, or null',
    });
  });
});

describe('refreshIntervalMs', () => {
  it('refuses an interval no timer can keep, which would reload the store every millisecond', () => {
    expect(() => createGateway({ refreshIntervalMs: 2 ** 31 })).toThrow(/^createGateway: refreshIntervalMs: /);
    gateway = createGateway({ refreshIntervalMs: 2 ** 31 - 1 });
  });
});
