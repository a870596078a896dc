import { KeyObject, createSign, generateKeyPairSync } from 'node:crypto';
import { type CryptoKey, type JWK, SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createNodeHandler } from '../../adapters/node.js';
import type { Gateway, GatewayOptions } from '../../src/index.js';
import type { JwtAuthOptions } from '../../src/auth/jwt.js';
import { adminTokens, testGateway } from '../fixtures.js';
import { jsonRequest, listen, mcpHeaders, mcpRequest } from '../helpers.js';

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
      'issued a day from now': await token({ sub: agent.id, at: Date.now() + 86_400_000 }),
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
    expect(post.headers.get('allow')).toBe('GET, OPTIONS, HEAD');
    const preflight = await gateway.fetch(
      new Request('http://gateway.test/.well-known/oauth-protected-resource/mcp', {
        method: 'OPTIONS',
        headers: { origin: 'https://inspector.example.test', 'access-control-request-headers': 'mcp-protocol-version' },
      }),
    );
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('*');
    const other = await gateway.fetch(new Request('http://gateway.test/.well-known/oauth-protected-resource/elsewhere'));
    expect(other.status).toBe(404);
  });

  it('serves the metadata under basePath and at the path-inserted URL of its resource', async () => {
    await setup(
      { metadata: { resource: 'https://gateway.example.test/atg/mcp', authorizationServers: ['https://as.example.test'] } },
      {
        basePath: '/atg',
      },
    );
    for (const path of ['/atg/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/atg/mcp']) {
      const response = await gateway.fetch(new Request(`http://gateway.test${path}`));
      expect(response.status, path).toBe(200);
      expect(await response.json()).toEqual({
        resource: 'https://gateway.example.test/atg/mcp',
        authorization_servers: ['https://as.example.test'],
        bearer_methods_supported: ['header'],
      });
    }
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/atg']) {
      expect((await gateway.fetch(new Request(`http://gateway.test${path}`))).status, path).toBe(404);
    }
  });

  it('points 401s to the metadata URL configured for a proxy in front', async () => {
    await setup({ metadata: { url: 'https://public.example.test/agents/.well-known/oauth-protected-resource' } });
    const response = await gateway.fetch(jsonRequest('/tools'));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer realm="agent-tool-gateway", resource_metadata="https://public.example.test/agents/.well-known/oauth-protected-resource"',
    );
    await gateway.close();
    // A quote in it cannot end the parameter.
    await setup({ metadata: { url: 'https://public.example.test/x",error="invalid_token' } });
    const quoted = await gateway.fetch(jsonRequest('/tools'));
    expect(quoted.headers.get('www-authenticate')).toBe(
      'Bearer realm="agent-tool-gateway", resource_metadata="https://public.example.test/x%22,error=%22invalid_token"',
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
    // invoke() refuses it alike, and its audit event says why.
    const programmatic = await gateway.invoke({ agentKey: await token({ sub: agent.id }), tool: 'echo', input: { text: 'x' } });
    expect(programmatic).toMatchObject({ status: 'error', error: { code: 'FORBIDDEN' } });
    const audited = (await gateway.admin.listAudit({ type: 'auth.failed', limit: 100 })).items;
    expect(audited.map((entry) => entry.event.data?.reason ?? null)).toEqual([
      'insufficient_scope',
      'insufficient_scope',
      null,
      'insufficient_scope',
    ]);
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

  it("writes who each token names into its calls' audit events: subject, client and token id", async () => {
    // Every token acts as the one agent, whoever it names.
    const { apiKey, agent } = await setup({ resolveAgent: () => agent.id });
    const asAlice = await token({ sub: 'alice@example.test', claims: { client_id: 'crm-console', jti: 'token-a' } });
    const asBob = await token({ sub: 'bob@example.test', claims: { azp: 'support-app', jti: `${'x'.repeat(255)}\u{1F600}tail` } });
    const rest = (await invoke(asAlice)).body.invocationId as string;
    const mcp = await gateway.fetch(
      mcpRequest(asBob, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'mcp' } } }),
    );
    expect(mcp.status).toBe(200);
    const refused = await gateway.invoke({ agentKey: asAlice, tool: 'refunds.create', input: { orderId: 'FRAUD-1', amount: 5 } });
    expect(refused).toMatchObject({ status: 'error', error: { code: 'POLICY_DENIED' } });
    const held = await gateway.invoke({ agentKey: asAlice, tool: 'refunds.create', input: { orderId: 'A-1', amount: 500 } });
    expect(held.status).toBe('pending_approval');
    const byKey = (await invoke(apiKey)).body.invocationId as string;

    const { items } = await gateway.admin.listAudit({ type: 'invocation', limit: 100 });
    const tokenOf = (invocationId: string) =>
      items.filter((entry) => entry.event.invocationId === invocationId).map((entry) => [entry.event.type, entry.event.data?.token]);
    const alice = { clientId: 'crm-console', issuer, subject: 'alice@example.test', tokenId: 'token-a' };
    expect(tokenOf(rest)).toEqual([
      ['invocation.started', alice],
      ['invocation.completed', alice],
    ]);
    expect(tokenOf(refused.invocationId as string)).toEqual([['invocation.denied', alice]]);
    const approvals = await gateway.admin.listAudit({ type: 'approval', limit: 100 });
    expect(approvals.items.map((entry) => [entry.event.type, entry.event.data?.token])).toEqual([['approval.requested', alice]]);
    const bob = { clientId: 'support-app', issuer, subject: 'bob@example.test', tokenId: 'x'.repeat(255) }; // cut, not through the emoji
    const mcpInvocations = items.filter((entry) => entry.event.data?.door === 'mcp');
    expect(mcpInvocations.map((entry) => entry.event.data?.token)).toEqual([bob, bob]);
    // Calls with the agent's key name no token; the chain with both verifies.
    expect(tokenOf(byKey)).toEqual([
      ['invocation.started', undefined],
      ['invocation.completed', undefined],
    ]);
    expect((await gateway.admin.verifyAudit()).ok).toBe(true);
  });

  it('answers 503 without detail when the resolver throws, audits it and tells onError once', async () => {
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
    expect(result.status).toBe(503);
    expect(result.headers.get('retry-after')).toBe('5');
    expect(result.body).toEqual({
      error: { code: 'AUTH_UNAVAILABLE', message: 'The access token could not be checked: its agent could not be resolved' },
    });
    expect(errors).toHaveLength(1);
    const mcp = await gateway.fetch(
      new Request('http://gateway.test/mcp', {
        method: 'POST',
        headers: mcpHeaders(await token({ sub: 'y' })),
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      }),
    );
    expect(mcp.status).toBe(503);
    expect(await mcp.text()).not.toContain('hunter2');
    expect(errors).toHaveLength(2);
    // invoke() checks its token in the pipeline: the same answer, report and event.
    const programmatic = await gateway.invoke({ agentKey: await token({ sub: 'z' }), tool: 'echo', input: { text: 'x' } });
    expect(programmatic).toMatchObject({ status: 'error', error: { code: 'AUTH_UNAVAILABLE' } });
    expect(errors).toHaveLength(3);
    const audited = (await gateway.admin.listAudit({ type: 'auth.failed' })).items;
    expect(audited.map((entry) => entry.event.data?.reason)).toEqual(['auth_unavailable', 'auth_unavailable', 'auth_unavailable']);
    expect(JSON.stringify(audited)).not.toContain('hunter2');
  });

  it('checks a token once while calls with it are under way, and remembers the answer, refusals included', async () => {
    let resolving = 0;
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { agent } = await setup({
      resolveAgent: async (claims) => {
        resolving++;
        await held;
        return claims.client_id === 'known' ? (claims.agent as string) : undefined;
      },
    });
    const good = await token({ sub: 'x', claims: { client_id: 'known', agent: agent.id } });
    const calls = Array.from({ length: 20 }, () => invoke(good));
    await expect.poll(() => resolving).toBe(1);
    release();
    expect((await Promise.all(calls)).map((result) => result.status)).toEqual(Array(20).fill(200));
    expect((await invoke(good)).status).toBe(200);
    expect(resolving).toBe(1);

    const refused = await token({ sub: 'x', claims: { client_id: 'unknown' } });
    for (let index = 0; index < 10; index++) expect((await invoke(refused)).status).toBe(401);
    expect(resolving).toBe(2);
  });

  it('answers a token of an agent that may not call with the one 401, whatever its scopes', async () => {
    const { agent } = await setup({ requiredScopes: ['tools:call'] });
    await gateway.admin.revokeAgent(agent.id);
    const unscoped = await invoke(await token({ sub: agent.id }));
    const scoped = await invoke(await token({ sub: agent.id, claims: { scope: 'tools:call' } }));
    expect([unscoped.status, scoped.status]).toEqual([401, 401]);
    expect(unscoped.body).toEqual(scoped.body);
  });

  it('refuses a token that never expires, and one of another type when tokenType is set', async () => {
    const { agent } = await setup({ tokenType: 'at+jwt' });
    // Signed by hand: jose would not write an `exp` of 1e400, which JSON.parse reads as Infinity.
    const signed = (exp: string) => {
      const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'key-1', typ: 'at+jwt' })).toString('base64url');
      const payload = Buffer.from(`{"sub":"${agent.id}","iss":"${issuer}","aud":"${audience}","exp":${exp}}`).toString('base64url');
      const signer = createSign('SHA256').update(`${header}.${payload}`);
      return `${header}.${payload}.${signer.sign({ key: KeyObject.from(signingKey as never), dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    };
    expect((await invoke(signed(String(Math.floor(Date.now() / 1000) + 300)))).status).toBe(200);
    expect((await invoke(signed('1e400'))).status).toBe(401);

    expect((await invoke(await token({ sub: agent.id }))).status).toBe(200);
    const idToken = await new SignJWT({ sub: agent.id })
      .setProtectedHeader({ alg: 'ES256', kid: 'key-1', typ: 'JWT' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setExpirationTime('5m')
      .sign(signingKey);
    expect((await invoke(idToken)).status).toBe(401);
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

  it('never opens admin routes with an agent token, even to an admin hook that would take it', async () => {
    const { agent } = await setup();
    const response = await gateway.fetch(jsonRequest('/admin/agents', { key: await token({ sub: agent.id }) }));
    expect(response.status).toBe(401);
    expect((await gateway.fetch(jsonRequest('/admin/agents', { key: adminTokens.admin }))).status).toBe(200);
    await gateway.close();

    // A hook that takes any token of the issuer: tokens for the gateway's audience stay out,
    // the admins' own (another audience) come in.
    await setup(
      {},
      {
        admin: {
          authenticate: async (request) =>
            (request.headers.get('authorization') ?? '').startsWith('Bearer eyJ') ? { id: 'sso-admin', roles: ['admin'] } : null,
        },
      },
    );
    const agentToken = await gateway.fetch(jsonRequest('/admin/agents', { key: await token({ sub: agent.id }) }));
    expect(agentToken.status).toBe(401);
    const listed = await gateway.fetch(
      jsonRequest('/admin/agents', { key: await token({ sub: 'alice', aud: 'https://gateway.example.test/admin' }) }),
    );
    expect(listed.status).toBe(200);
  });

  it('verifies a token without a kid against each key that could have signed it', async () => {
    const next = await generateKeyPair('ES256');
    const { kid: _kid, ...withoutKid } = publicJwk;
    const keys = [withoutKid, { ...(await exportJWK(next.publicKey)), alg: 'ES256', use: 'sig' }];
    const { agent } = await setup({ jwks: { keys } });
    const unnamed = (key: CryptoKey, claims: Record<string, unknown> = {}) =>
      new SignJWT({ sub: agent.id, ...claims })
        .setProtectedHeader({ alg: 'ES256' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setExpirationTime('5m')
        .sign(key);
    expect((await invoke(await unnamed(signingKey))).status).toBe(200);
    expect((await invoke(await unnamed(next.privateKey))).status).toBe(200);
    expect((await invoke(await unnamed(otherKey))).status).toBe(401);
    // A key that verifies the signature decides: its claims are checked as ever.
    const expired = await new SignJWT({ sub: agent.id })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(next.privateKey);
    expect((await invoke(expired)).status).toBe(401);
  });

  it('accepts a token issued within the clock skew, and refuses one issued beyond it', async () => {
    const { agent } = await setup({ clockToleranceSeconds: 60 });
    expect((await invoke(await token({ sub: agent.id, at: Date.now() + 50_000 }))).status).toBe(200);
    expect((await invoke(await token({ sub: agent.id, at: Date.now() + 120_000 }))).status).toBe(401);
  });

  it('refuses a token whose key cannot be used with the one 401, and tells onError once', async () => {
    // An RSA key under 2,048 bits, which no RS256 check accepts, beside the issuer's good key.
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const weakJwk = { ...weak.publicKey.export({ format: 'jwk' }), kid: 'old', alg: 'RS256' } as JWK;
    const errors: unknown[] = [];
    const { agent } = await setup({ jwks: { keys: [publicJwk, weakJwk] } }, { onError: (error) => errors.push(error) });
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'old' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ sub: agent.id, iss: issuer, aud: audience, exp: 4102444800 })).toString('base64url');
    for (let attempt = 0; attempt < 3; attempt++) {
      const answer = await invoke(`${header}.${payload}.AAAA`);
      expect(answer.status).toBe(401);
      expect(answer.body.error.code).toBe('UNAUTHENTICATED');
    }
    expect(errors.map(String)).toEqual([
      "Error: A token was refused: the issuer's key it names cannot be used (RS256 requires key modulusLength to be 2048 bits or larger)",
    ]);
    // The good key works as ever.
    expect((await invoke(await token({ sub: agent.id }))).status).toBe(200);
  });

  it('passes over an unusable key met while trying the keys a token without kid could name, telling onError once', async () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const strong = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const withoutKid = (pair: typeof weak) => ({ ...pair.publicKey.export({ format: 'jwk' }), alg: 'RS256' }) as JWK;
    const errors: unknown[] = [];
    const { agent } = await setup({ jwks: { keys: [withoutKid(weak), withoutKid(strong)] } }, { onError: (error) => errors.push(error) });
    const header = Buffer.from(JSON.stringify({ alg: 'RS256' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ sub: agent.id, iss: issuer, aud: audience, exp: 4102444800 })).toString('base64url');
    expect((await invoke(`${header}.${payload}.AAAA`)).status).toBe(401);
    expect(errors.map(String)).toEqual([
      "Error: A token was refused: the issuer's key it names cannot be used (RS256 requires key modulusLength to be 2048 bits or larger)",
    ]);
    // A token the good key signed is not refused because the weak key came first in the set.
    const signed = (claims: Record<string, unknown>) =>
      new SignJWT({ sub: agent.id, ...claims })
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setExpirationTime('5m')
        .sign(strong.privateKey);
    expect((await invoke(await signed({}))).status).toBe(200);
    // Nor is one whose key id both keys carry.
    await gateway.close();
    const shared = (pair: typeof weak) => ({ ...withoutKid(pair), kid: 'rotating' }) as JWK;
    const second = await setup({ jwks: { keys: [shared(weak), shared(strong)] } });
    const named = await new SignJWT({ sub: second.agent.id })
      .setProtectedHeader({ alg: 'RS256', kid: 'rotating' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setExpirationTime('5m')
      .sign(strong.privateKey);
    expect((await invoke(named)).status).toBe(200);
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
    expect(() => testGateway({ jwt: { issuer, audience, jwksUri: 'http://10.0.0.1/jwks' } })).toThrow(/jwt\.jwksUri: must be an https URL/);
    expect(() => testGateway({ jwt: { issuer, audience, jwksUri: 'https://svc:hunter2@auth.example.test/jwks' } })).toThrow(
      /jwt\.jwksUri: must not carry a user name or password/,
    );
    expect(() => testGateway({ jwt: { ...base, audience: 'api://gateway' } })).toThrow(/jwt\.metadata\.resource: required/);
    void testGateway({ jwt: { ...base, audience: 'api://gateway', metadata: { resource: audience } } }).close();
    expect(() => testGateway({ jwt: { ...base, issuer: 'tenant-7' } })).toThrow(/jwt\.metadata\.authorizationServers: required/);
  });
});

describe('JWT agent auth with a JWKS URL', () => {
  let jwks: { keys: JWK[] } = { keys: [] };
  let fetches = 0;
  let failing = false;
  let server: Awaited<ReturnType<typeof listen>>;
  let clock = Date.parse('2026-06-01T12:00:00Z');

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

  async function remote(overrides: GatewayOptions = {}) {
    fetches = 0;
    failing = false;
    jwks = { keys: [publicJwk] };
    clock = Date.parse('2026-06-01T12:00:00Z');
    return setup({ jwks: undefined, jwksUri: `${server.url}/jwks` }, { now: () => clock, ...overrides });
  }
  const fresh = (sub: string, options: TokenOptions = {}) => token({ sub, at: clock, ...options });

  it('fetches the keys once for many tokens, and again for a new key id, at most every 30 s', async () => {
    const { agent } = await remote();
    for (let index = 0; index < 3; index++) expect((await invoke(await fresh(agent.id))).status).toBe(200);
    expect(fetches).toBe(1);

    // The issuer rotates to a new key.
    const next = await generateKeyPair('ES256');
    jwks = { keys: [publicJwk, { ...(await exportJWK(next.publicKey)), kid: 'key-2', alg: 'ES256' }] };
    const rotated = () => fresh(agent.id, { kid: 'key-2', key: next.privateKey });
    // Within 30 s of the last fetch, an unknown key id does not fetch again: made-up ids cannot storm the issuer.
    expect((await invoke(await rotated())).status).toBe(401);
    expect((await invoke(await fresh(agent.id, { kid: 'made-up' }))).status).toBe(401);
    expect(fetches).toBe(1);
    clock += 30_000;
    expect((await invoke(await rotated())).status).toBe(200);
    expect(fetches).toBe(2);
  });

  it('answers 503, not 401, for a key id its keys lack while the issuer cannot be reached', async () => {
    const errors: unknown[] = [];
    const { agent } = await remote({ onError: (error) => errors.push(error) });
    expect((await invoke(await fresh(agent.id))).status).toBe(200);
    // The issuer rotates to a new key, and its key set cannot be fetched for a while.
    const next = await generateKeyPair('ES256');
    jwks = { keys: [publicJwk, { ...(await exportJWK(next.publicKey)), kid: 'key-2', alg: 'ES256' }] };
    failing = true;
    clock += 30_000;
    const rotated = await fresh(agent.id, { kid: 'key-2', key: next.privateKey });
    const down = await invoke(rotated);
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('5');
    expect(down.body).toEqual({
      error: { code: 'AUTH_UNAVAILABLE', message: "The access token could not be checked: the issuer's keys are unavailable" },
    });
    expect(fetches).toBe(2);
    // Within 5 s of the failed fetch none is tried again: the same answer, onError told once.
    expect((await invoke(await fresh(agent.id, { kid: 'made-up' }))).status).toBe(503);
    expect(fetches).toBe(2);
    expect(errors).toHaveLength(1);
    // Tokens of the keys at hand keep working meanwhile.
    expect((await invoke(await fresh(agent.id))).status).toBe(200);
    // The issuer is back: the new key is fetched, and a key id it lacks is refused again.
    failing = false;
    clock += 5000;
    expect((await invoke(rotated)).status).toBe(200);
    expect(fetches).toBe(3);
    expect((await invoke(await fresh(agent.id, { kid: 'made-up' }))).status).toBe(401);
    expect(fetches).toBe(3);
  });

  it('keeps the keys it has while the issuer fails, and answers 503 without detail while it has none', async () => {
    const errors: unknown[] = [];
    const { agent, apiKey } = await remote({ onError: (error) => errors.push(error) });
    expect((await invoke(await fresh(agent.id))).status).toBe(200);
    failing = true;
    // Ten minutes on, the keys are due again; they still verify while the fetch, in the background, fails.
    clock += 11 * 60_000;
    expect((await invoke(await fresh(agent.id, { claims: { n: 1 } }))).status).toBe(200);
    await vi.waitFor(() => expect(fetches).toBe(2), { timeout: 10_000 });
    // onError hears that the keys in use could not be fetched again, once for the run of failures.
    await vi.waitFor(() => expect(errors).toHaveLength(1), { timeout: 10_000 });
    expect((errors[0] as Error).message).toMatch(
      /^The issuer's keys could not be fetched again; the keys fetched before stay in use until /,
    );
    // Failed fetches are not retried for 5 s, whatever comes in.
    for (let index = 0; index < 5; index++) expect((await invoke(await fresh(agent.id, { claims: { n: index + 2 } }))).status).toBe(200);
    expect(fetches).toBe(2);
    // An hour past their age, they are not used any more.
    clock += 61 * 60_000;
    const down = await invoke(await fresh(agent.id, { claims: { n: 99 } }));
    expect(down.status).toBe(503);
    expect(down.body).toEqual({
      error: { code: 'AUTH_UNAVAILABLE', message: "The access token could not be checked: the issuer's keys are unavailable" },
    });
    expect(JSON.stringify(down.body)).not.toContain('secret');
    expect(errors).toHaveLength(2);
    // Junk tokens during the outage cost no fetch each.
    const before = fetches;
    for (let index = 0; index < 20; index++) {
      expect((await invoke(await fresh(agent.id, { claims: { junk: index } }))).status).toBe(503);
    }
    expect(fetches).toBe(before);
    // onError hears of each failed fetch once, not of every call it refused, invoke()'s included.
    for (let index = 0; index < 3; index++) {
      const programmatic = await gateway.invoke({ agentKey: await fresh(agent.id, { claims: { code: index } }), tool: 'echo' });
      expect(programmatic).toMatchObject({ status: 'error', error: { code: 'AUTH_UNAVAILABLE' } });
    }
    expect(errors).toHaveLength(2);
    clock += 5000;
    expect((await invoke(await fresh(agent.id, { claims: { n: 98 } }))).status).toBe(503);
    expect(fetches).toBe(before + 1);
    expect(errors).toHaveLength(3);
    // Keys keep working; the issuer comes back, and so do tokens.
    expect((await invoke(apiKey)).status).toBe(200);
    failing = false;
    clock += 5000;
    expect((await invoke(await fresh(agent.id, { claims: { n: 100 } }))).status).toBe(200);
  });
});
