/**
 * With JWT auth, a 401 names the RFC 9728 metadata's URL (MCP clients discover the
 * authorization server from it). Under any mount, it must be a URL the mount serves.
 */
import { type JWK, exportJWK, generateKeyPair } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { toNextHandlers } from '../../adapters/next.js';
import { type Gateway, createGateway } from '../../src/index.js';
import { echo } from '../fixtures.js';
import { mcpHeaders } from '../helpers.js';
import { everyHost } from './hosts.js';
import { send } from './send.js';

const audience = 'https://gateway.example.test/atg/mcp';
let publicJwk: JWK;
beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'ES256', use: 'sig' };
});

function jwtGateway(basePath: string): Gateway {
  return createGateway({
    basePath,
    tools: [echo],
    policy: [{ id: 'all', effect: 'allow' }],
    jwt: { issuer: 'https://auth.example.test/', audience, jwks: { keys: [publicJwk] } },
  });
}

const metadataUrlIn = (challenge: string | null) => /resource_metadata="([^"]+)"/.exec(challenge ?? '')?.[1];

describe.each(everyHost)('%s, mounted at /atg', (_name, start) => {
  it.each(['', '/gateway'])("points 401s to the metadata the mount serves (gateway basePath '%s')", async (basePath) => {
    const gateway = jwtGateway(basePath);
    const host = await start(gateway);
    try {
      const expected = `${host.url}/.well-known/oauth-protected-resource`;
      const rest = await send(`${host.url}/tools`, { method: 'GET' });
      expect(rest.status).toBe(401);
      expect(metadataUrlIn(rest.headers['www-authenticate'] as string)).toBe(expected);
      const { authorization: _none, ...withoutKey } = mcpHeaders('');
      const mcp = await send(`${host.url}/mcp`, { headers: withoutKey, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) });
      expect(mcp.status).toBe(401);
      expect(metadataUrlIn(mcp.headers['www-authenticate'] as string)).toBe(expected);

      const metadata = await send(expected, { method: 'GET' });
      expect(metadata.status).toBe(200);
      expect(metadata.json()).toMatchObject({ resource: audience, authorization_servers: ['https://auth.example.test/'] });
    } finally {
      await host.close();
      await gateway.close();
    }
  });
});

describe('toNextHandlers', () => {
  it.each(['', '/gateway'])("points 401s to the metadata under the route's basePath (gateway basePath '%s')", async (basePath) => {
    const gateway = jwtGateway(basePath);
    try {
      const { GET } = toNextHandlers(gateway, { basePath: '/api/atg' });
      const refused = await GET(new Request('https://app.example.test/api/atg/tools'));
      expect(refused.status).toBe(401);
      const url = metadataUrlIn(refused.headers.get('www-authenticate'));
      expect(url).toBe('https://app.example.test/api/atg/.well-known/oauth-protected-resource');
      const metadata = await GET(new Request(url as string));
      expect(metadata.status).toBe(200);
      expect(await metadata.json()).toMatchObject({ resource: audience });
    } finally {
      await gateway.close();
    }
  });
});

describe('gateway.fetch', () => {
  it("points 401s to the metadata under the gateway's own basePath", async () => {
    const gateway = jwtGateway('/gateway');
    try {
      const refused = await gateway.fetch(new Request('https://gw.example.test/gateway/tools'));
      expect(metadataUrlIn(refused.headers.get('www-authenticate'))).toBe(
        'https://gw.example.test/gateway/.well-known/oauth-protected-resource',
      );
    } finally {
      await gateway.close();
    }
  });
});
