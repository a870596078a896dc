import { type CryptoKey, type JWK, SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createNodeHandler } from '../../adapters/node.js';
import type { Gateway, GatewayOptions } from '../../src/index.js';
import type { JwtAuthOptions } from '../../src/auth/jwt.js';
import { adminTokens, testGateway } from '../fixtures.js';
import { jsonRequest, listen, mcpHeaders } from '../helpers.js';

const issuer = 'https://auth.example.test/';
const audience = 'https://gateway.example.test/mcp';

let signingKey: CryptoKey;
let publicJwk: JWK;
let otherKey: CryptoKey;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  signingKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'ES256', use: 'sig' };
  otherKey = (await generateKeyPair('ES256')).privateKey;
});

interface TokenOptions {
  sub?: string;
  iss?: string;
  aud?: string | string[];
  /** Seconds from now; null leaves `exp` out. */
  expiresIn?: number | null;
  key?: CryptoKey;
  kid?: string;
  claims?: Record<string, unknown>;
  at?: number;
}

async function token(options: TokenOptions = {}): Promise<string> {
  const at = Math.floor((options.at ?? Date.now()) / 1000);
  const jwt = new SignJWT({ ...options.claims })
    .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? 'key-1', typ: 'at+jwt' })
    .setIssuer(options.iss ?? issuer)
    .setAudience(options.aud ?? audience)
    .setIssuedAt(at);
  if (options.sub !== undefined) jwt.setSubject(options.sub);
  if (options.expiresIn !== null) jwt.setExpirationTime(at + (options.expiresIn ?? 300));
  return jwt.sign(options.key ?? signingKey);
}

let gateway: Gateway;
afterEach(async () => {
  await gateway?.close();
});

async function setup(jwt: Partial<JwtAuthOptions> = {}, overrides: GatewayOptions = {}) {
  gateway = testGateway({ jwt: { issuer, audience, jwks: { keys: [publicJwk] }, ...jwt }, ...overrides });
  const { apiKey, agent } = await gateway.admin.createAgent({ name: 'support-bot', tags: ['support'] });
  return { apiKey, agent };
}

async function invoke(credential: string | undefined, input: unknown = { text: 'hi' }) {
  const response = await gateway.fetch(jsonRequest('/tools/echo/invoke', { key: credential, body: { input } }));
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

describe('JWT agent auth', () => {
  it('lets an access token act as the agent its sub names, on every door, beside the agent keys', async () => {
    const { apiKey, agent } = await setup();
    const jwt = await token({ sub: agent.id });

    const rest = await invoke(jwt);
    expect(rest.status).toBe(200);
    expect(rest.body.output).toEqual({ text: 'hi' });
    expect((await gateway.admin.getInvocation(rest.body.invocationId)).agentId).toBe(agent.id);

    const tools = await gateway.fetch(jsonRequest('/tools', { key: jwt }));
    expect(tools.status).toBe(200);
    const invocation = await gateway.fetch(jsonRequest(`/invocations/${rest.body.invocationId}`, { key: jwt }));
    expect(invocation.status).toBe(200);

    const programmatic = await gateway.invoke({ agentKey: jwt, tool: 'echo', input: { text: 'code' } });
    expect(programmatic).toMatchObject({ status: 'succeeded', output: { text: 'code' } });

    // The agent's key works as before.
    expect((await invoke(apiKey)).status).toBe(200);
  });

  it('serves MCP to the official client that presents a token', async () => {
    const { agent } = await setup();
    const jwt = await token({ sub: agent.id });
    const server = await listen(createNodeHandler(gateway));
    const client = new Client({ name: 'jwt-test', version: '1.0.0' });
    try {
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${jwt}` } } }),
      );
      const result = await client.callTool({ name: 'echo', arguments: { text: 'over mcp' } });
      expect(result.isError).toBeFalsy();
      expect(JSON.parse((result.content as Array<{ text: string }>)[0]?.text as string)).toEqual({ text: 'over mcp' });
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('answers every refused token with the one 401, pointing to the resource metadata', async () => {
    const { agent } = await setup({}, { basePath: '/atg' });
    const other = await gateway.admin.createAgent({ name: 'disabled-bot' });
    await gateway.admin.disableAgent(other.agent.id);
    const revoked = await gateway.admin.createAgent({ name: 'revoked-bot' });
    await gateway.admin.revokeAgent(revoked.agent.id);
    const none = await new SignJWT({ sub: agent.id })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('a shared secret that anyone could have'));
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ sub: agent.id, iss: issuer, aud: audience, exp: 4102444800 })).toString('base64url');

    const refused = {
      missing: undefined,
      expired: await token({ sub: agent.id, at: Date.now() - 3_600_000, expiresIn: 60 }),
      'without exp': await token({ sub: agent.id, expiresIn: null }),
      'another audience': await token({ sub: agent.id, aud: 'https://elsewhere.example.test/mcp' }),
      'another issuer': await token({ sub: agent.id, iss: 'https://evil.example.test/' }),
      'signed by another key': await token({ sub: agent.id, key: otherKey }),
      'an unknown key id': await token({ sub: agent.id, kid: 'key-2' }),
      'signed with HS256': none,
      'alg none': `${header}.${body}.`,
      'no agent': await token({ sub: 'no-such-agent' }),
      'no sub': await token({}),
      'a disabled agent': await token({ sub: other.agent.id }),
      'a revoked agent': await token({ sub: revoked.agent.id }),
      'not a token': 'eyJhbGciOiJFUzI1NiJ9.garbage.garbage',
    };
    const answers = new Set<string>();
    for (const [why, credential] of Object.entries(refused)) {
      const response = await gateway.fetch(
        new Request('https://gateway.example.test/atg/tools/echo/invoke', {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(credential === undefined ? {} : { authorization: `Bearer ${credential}` }) },
          body: JSON.stringify({ input: { text: 'hi' } }),
        }),
      );
      expect(response.status, why).toBe(401);
      answers.add(`${response.headers.get('www-authenticate')} ${await response.text()}`);
    }
    expect([...answers]).toEqual([
      `Bearer realm="agent-tool-gateway", resource_metadata="https://gateway.example.test/atg/.well-known/oauth-protected-resource" ${JSON.stringify(
        { error: { code: 'UNAUTHENTICATED', message: 'Missing or invalid credentials' } },
      )}`,
    ]);
    // Each refusal is audited, without the token.
    const failed = (await gateway.admin.listAudit({ type: 'auth.failed', limit: 100 })).items;
    expect(failed).toHaveLength(Object.keys(refused).length);
    expect(JSON.stringify(failed)).not.toContain('eyJ');
  });

  it('answers MCP without a token with 401 and the metadata URL', async () => {
    await setup();
    const response = await gateway.fetch(
      new Request('http://gateway.test/mcp', {
        method: 'POST',
        headers: { ...mcpHeaders('x'), authorization: '' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      }),
    );
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer realm="agent-tool-gateway", resource_metadata="http://gateway.test/.well-known/oauth-protected-resource"',
    );
  });

  it('serves RFC 9728 metadata at its route and where clients insert the resource path', async () => {
    await setup({
      requiredScopes: ['tools:call'],
      metadata: { resourceName: 'Support tools', resourceDocumentation: 'https://docs.example.test/atg' },
    });
    const expected = {
      resource: audience,
      authorization_servers: [issuer],
      bearer_methods_supported: ['header'],
      scopes_supported: ['tools:call'],
      resource_name: 'Support tools',
      resource_documentation: 'https://docs.example.test/atg',
    };
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const response = await gateway.fetch(new Request(`http://gateway.test${path}`));
      expect(response.status, path).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
      expect(await response.json()).toEqual(expected);
    }
    const head = await gateway.fetch(new Request('http://gateway.test/.well-known/oauth-protected-resource', { method: 'HEAD' }));
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await gateway.fetch(new Request('http://gateway.test/.well-known/oauth-protected-resource', { method: 'POST' }));
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const other = await gateway.fetch(new Request('http://gateway.test/.well-known/oauth-protected-resource/elsewhere'));
    expect(other.status).toBe(404);
  });

  it('serves the metadata under basePath and at the path-inserted URLs of the base path', async () => {
    await setup(
      { metadata: { resource: 'https://gateway.example.test/atg/mcp', authorizationServers: ['https://as.example.test'] } },
      {
        basePath: '/atg',
      },
    );
    for (const path of [
      '/atg/.well-known/oauth-protected-resource',
      '/.well-known/oauth-protected-resource/atg',
      '/.well-known/oauth-protected-resource/atg/mcp',
    ]) {
      const response = await gateway.fetch(new Request(`http://gateway.test${path}`));
      expect(response.status, path).toBe(200);
      expect(await response.json()).toEqual({
        resource: 'https://gateway.example.test/atg/mcp',
        authorization_servers: ['https://as.example.test'],
        bearer_methods_supported: ['header'],
      });
    }
    expect((await gateway.fetch(new Request('http://gateway.test/.well-known/oauth-protected-resource'))).status).toBe(404);
  });

  it('points 401s to the metadata URL configured for a proxy in front', async () => {
    await setup({ metadata: { url: 'https://public.example.test/agents/.well-known/oauth-protected-resource' } });
    const response = await gateway.fetch(jsonRequest('/tools'));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer realm="agent-tool-gateway", resource_metadata="https://public.example.test/agents/.well-known/oauth-protected-resource"',
    );
  });

  it('has no metadata route without JWT auth, and keeps its 401 as it was', async () => {
    gateway = testGateway();
    expect((await gateway.fetch(new Request('http://gateway.test/.well-known/oauth-protected-resource'))).status).toBe(404);
    const response = await gateway.fetch(jsonRequest('/tools'));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="agent-tool-gateway"');
  });

  it('refuses a token without a required scope with 403 insufficient_scope, and accepts scope or scp', async () => {
    const { agent } = await setup({ requiredScopes: ['tools:call', 'tools:read'] });
    const missing = await invoke(await token({ sub: agent.id, claims: { scope: 'tools:read' } }));
    expect(missing.status).toBe(403);
    expect(missing.body).toEqual({
      error: { code: 'FORBIDDEN', message: 'The access token lacks a required scope (tools:call tools:read)' },
    });
    expect(missing.headers.get('www-authenticate')).toBe(
      'Bearer realm="agent-tool-gateway", error="insufficient_scope", scope="tools:call tools:read", resource_metadata="http://gateway.test/.well-known/oauth-protected-resource"',
    );
    const mcp = await gateway.fetch(
      new Request('http://gateway.test/mcp', {
        method: 'POST',
        headers: mcpHeaders(await token({ sub: agent.id, claims: { scp: ['tools:read'] } })),
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      }),
    );
    expect(mcp.status).toBe(403);
    expect(mcp.headers.get('www-authenticate')).toContain('error="insufficient_scope"');

    expect((await invoke(await token({ sub: agent.id, claims: { scope: 'openid tools:read tools:call' } }))).status).toBe(200);
    expect((await invoke(await token({ sub: agent.id, claims: { scp: ['tools:call', 'tools:read'] } }))).status).toBe(200);
    expect((await invoke(await token({ sub: agent.id, claims: { scp: 'tools:call tools:read' } }))).status).toBe(200);

    // A 401 names the scopes too, so a client can ask for them at once.
    const unauthenticated = await invoke(undefined);
    expect(unauthenticated.headers.get('www-authenticate')).toContain('scope="tools:call tools:read"');
    const audited = (await gateway.admin.listAudit({ type: 'auth.failed', limit: 100 })).items;
    expect(audited.map((entry) => entry.event.data?.reason ?? null)).toEqual(['insufficient_scope', 'insufficient_scope', null]);
  });

  it('maps tokens to agents by another claim, or by your resolver', async () => {
    const byClaim = await setup({ agentClaim: 'agent_id' });
    expect((await invoke(await token({ sub: 'user-1', claims: { agent_id: byClaim.agent.id } }))).status).toBe(200);
    expect((await invoke(await token({ sub: byClaim.agent.id }))).status).toBe(401);
    expect((await invoke(await token({ sub: 'user-1', claims: { agent_id: 42 } }))).status).toBe(401);
    await gateway.close();

    const clients = new Map<string, string>();
    const resolved = await setup({ resolveAgent: (claims) => clients.get(claims.client_id as string) });
    clients.set('crm-agent', resolved.agent.id);
    expect((await invoke(await token({ sub: 'whoever', claims: { client_id: 'crm-agent' } }))).status).toBe(200);
    expect((await invoke(await token({ sub: 'whoever', claims: { client_id: 'unknown-client' } }))).status).toBe(401);
  });

  it('answers 500 without detail when the resolver throws, and tells onError', async () => {
    const errors: unknown[] = [];
    await setup(
      {
        resolveAgent: () => {
          throw new Error('directory lookup failed: password=hunter2');
        },
      },
      { onError: (error) => errors.push(error) },
    );
    const result = await invoke(await token({ sub: 'x' }));
    expect(result.status).toBe(500);
    expect(result.body).toEqual({ error: { code: 'INTERNAL', message: 'Internal error' } });
    expect(errors).toHaveLength(1);
    const mcp = await gateway.fetch(
      new Request('http://gateway.test/mcp', {
        method: 'POST',
        headers: mcpHeaders(await token({ sub: 'y' })),
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      }),
    );
    expect(mcp.status).toBe(500);
    expect(await mcp.text()).not.toContain('hunter2');
    expect(errors).toHaveLength(2);
  });

  it('checks the agent on every call: a remembered token stops working when its agent is revoked or it expires', async () => {
    let clock = Date.parse('2026-06-01T12:00:00Z');
    const { agent } = await setup({ clockToleranceSeconds: 0 }, { now: () => clock });
    const jwt = await token({ sub: agent.id, at: clock, expiresIn: 120 });
    expect((await invoke(jwt)).status).toBe(200);
    clock += 119_000;
    expect((await invoke(jwt)).status).toBe(200);
    clock += 2000;
    expect((await invoke(jwt)).status).toBe(401);

    const fresh = await token({ sub: agent.id, at: clock, expiresIn: 600 });
    expect((await invoke(fresh)).status).toBe(200);
    await gateway.admin.revokeAgent(agent.id);
    expect((await invoke(fresh)).status).toBe(401);
  });

  it('never opens admin routes with an agent token', async () => {
    const { agent } = await setup();
    const response = await gateway.fetch(jsonRequest('/admin/agents', { key: await token({ sub: agent.id }) }));
    expect(response.status).toBe(401);
    expect((await gateway.fetch(jsonRequest('/admin/agents', { key: adminTokens.admin }))).status).toBe(200);
  });

  it('refuses options that cannot work', () => {
    const base = { issuer, audience, jwks: { keys: [{ kty: 'EC' }] } };
    expect(() => testGateway({ jwt: { issuer, audience } as JwtAuthOptions })).toThrow(/jwt: give exactly one of jwksUri and jwks/);
    expect(() => testGateway({ jwt: { ...base, jwksUri: 'https://auth.example.test/jwks' } })).toThrow(/exactly one/);
    expect(() => testGateway({ jwt: { ...base, algorithms: ['HS256' as never] } })).toThrow(/jwt\.algorithms/);
    expect(() => testGateway({ jwt: { ...base, algorithms: ['none' as never] } })).toThrow(/jwt\.algorithms/);
    expect(() => testGateway({ jwt: { ...base, audience: [] } })).toThrow(/jwt\.audience/);
    expect(() => testGateway({ jwt: { issuer, audience, jwksUri: 'file:///etc/keys.json' } })).toThrow(/jwt\.jwksUri/);
    expect(() => testGateway({ jwt: { ...base, requiredScopes: ['two words'] } })).toThrow(/jwt\.requiredScopes/);
  });
});

describe('JWT agent auth with a JWKS URL', () => {
  let jwks: { keys: JWK[] } = { keys: [] };
  let fetches = 0;
  let failing = false;
  let server: Awaited<ReturnType<typeof listen>>;

  beforeAll(async () => {
    server = await listen((_req, res) => {
      fetches++;
      if (failing) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('issuer down: secret=abc');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
    });
  });
  afterAll(async () => {
    await server.close();
  });

  it('fetches the keys once, follows a key rotation, and answers 503 without detail when the keys cannot be had', async () => {
    jwks = { keys: [publicJwk] };
    fetches = 0;
    failing = false;
    const errors: unknown[] = [];
    const { agent } = await setup({ jwks: undefined, jwksUri: `${server.url}/jwks` }, { onError: (error) => errors.push(error) });
    for (let index = 0; index < 3; index++) expect((await invoke(await token({ sub: agent.id }))).status).toBe(200);
    expect(fetches).toBe(1);

    // The issuer rotates to a new key: a token with its kid makes the gateway fetch again.
    const next = await generateKeyPair('ES256');
    jwks = { keys: [publicJwk, { ...(await exportJWK(next.publicKey)), kid: 'key-2', alg: 'ES256' }] };
    // jose waits out a 30 s cooldown after a fetch before fetching for an unknown kid; a new
    // gateway (a fresh key cache) stands in for the time passing.
    await gateway.close();
    fetches = 0;
    const second = await setup({ jwks: undefined, jwksUri: `${server.url}/jwks` });
    expect((await invoke(await token({ sub: second.agent.id, kid: 'key-2', key: next.privateKey }))).status).toBe(200);
    expect(fetches).toBe(1);
    await gateway.close();

    failing = true;
    const third = await setup({ jwks: undefined, jwksUri: `${server.url}/jwks` }, { onError: (error) => errors.push(error) });
    const down = await invoke(await token({ sub: third.agent.id }));
    expect(down.status).toBe(503);
    expect(down.body).toEqual({
      error: { code: 'AUTH_UNAVAILABLE', message: "The access token could not be checked: the issuer's keys are unavailable" },
    });
    expect(JSON.stringify(down.body)).not.toContain('secret');
    // Keys fail: the gateway keeps serving agent keys.
    expect((await invoke(third.apiKey)).status).toBe(200);
  });
});
