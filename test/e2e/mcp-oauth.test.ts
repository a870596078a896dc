/**
 * The gateway as an OAuth 2.1 resource server, judged by the official MCP clients (v2 and v1): each
 * connects without a token, meets the 401, finds the gateway's RFC 9728 metadata from the
 * challenge, the authorization server from the metadata, asks that server for a token for the
 * gateway (client credentials, RFC 8707 `resource`), and calls tools with it. The
 * authorization server is a small one on loopback that signs with `jose`.
 */
import type { IncomingMessage } from 'node:http';
import {
  Client as ClientV2,
  ClientCredentialsProvider as CredentialsV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client';
import { ClientCredentialsProvider as CredentialsV1 } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type CryptoKey, type JWK, SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeHandler } from '../../adapters/node.js';
import { type Gateway, createGateway } from '../../src/index.js';
import { echo } from '../fixtures.js';
import { listen } from '../helpers.js';

const clients = new Map<string, { secret: string; agentId: string }>();
let signingKey: CryptoKey;
let publicJwk: JWK;
let authorizationServer: Awaited<ReturnType<typeof listen>>;
let gatewayServer: Awaited<ReturnType<typeof listen>>;
let gateway: Gateway;
let mcpUrl: URL;
/** What the authorization server was asked for, one entry per token request. */
const tokenRequests: Array<{ clientId: string; resource: string | null; scope: string | null; granted?: boolean }> = [];

async function formOf(request: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  signingKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'as-key-1', alg: 'ES256', use: 'sig' };

  authorizationServer = await listen(async (request, response) => {
    const issuer = authorizationServer.url;
    const path = new URL(request.url ?? '/', issuer).pathname;
    const json = (status: number, body: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
    };
    if (request.method === 'GET' && path === '/.well-known/oauth-authorization-server') {
      return json(200, {
        issuer,
        // RFC 8414 requires it; this server only ever issues tokens to clients with credentials.
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        grant_types_supported: ['client_credentials'],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
        response_types_supported: ['code'],
        scopes_supported: ['tools:call'],
      });
    }
    if (request.method === 'GET' && path === '/jwks') return json(200, { keys: [publicJwk] });
    if (request.method === 'POST' && path === '/token') {
      const form = await formOf(request);
      const basic = /^Basic (.+)$/.exec(request.headers.authorization ?? '');
      const [clientId = '', secret = ''] = basic
        ? Buffer.from(basic[1] as string, 'base64')
            .toString('utf8')
            .split(':')
            .map(decodeURIComponent)
        : [];
      const asked = { clientId, resource: form.get('resource'), scope: form.get('scope') };
      tokenRequests.push(asked);
      const client = clients.get(clientId);
      if (client === undefined || client.secret !== secret) {
        Object.assign(asked, { granted: false });
        return json(401, { error: 'invalid_client' });
      }
      if (form.get('grant_type') !== 'client_credentials') return json(400, { error: 'unsupported_grant_type' });
      const resource = form.get('resource');
      if (resource !== mcpUrl.href) return json(400, { error: 'invalid_target' });
      // Without a scope asked for, the client's default scopes (as authorization servers do).
      const accessToken = await new SignJWT({ client_id: clientId, scope: form.get('scope') ?? 'tools:call' })
        .setProtectedHeader({ alg: 'ES256', kid: 'as-key-1', typ: 'at+jwt' })
        .setIssuer(issuer)
        .setSubject(client.agentId)
        .setAudience(resource)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(signingKey);
      return json(200, { access_token: accessToken, token_type: 'Bearer', expires_in: 300 });
    }
    return json(404, { error: 'not_found' });
  });

  // The gateway needs its own URL (the tokens' audience) before it exists: the server comes first.
  let handler: ReturnType<typeof createNodeHandler> | undefined;
  gatewayServer = await listen((request, response) => handler?.(request, response));
  mcpUrl = new URL(`${gatewayServer.url}/mcp`);
  gateway = createGateway({
    tools: [echo],
    policy: [{ id: 'echo', effect: 'allow', tools: ['echo'] }],
    jwt: {
      issuer: authorizationServer.url,
      audience: mcpUrl.href,
      jwksUri: `${authorizationServer.url}/jwks`,
      requiredScopes: ['tools:call'],
    },
  });
  handler = createNodeHandler(gateway);
  const { agent } = await gateway.admin.createAgent({ name: 'crm-agent' });
  clients.set('crm-agent-client', { secret: 'client-secret-0123456789', agentId: agent.id });
});

afterAll(async () => {
  await gatewayServer.close();
  await authorizationServer.close();
  await gateway.close();
});

interface OAuthClient {
  connect(credentials: { clientId: string; clientSecret: string }): Promise<void>;
  listTools(): Promise<{ tools: Array<{ name: string }> }>;
  callTool(params: { name: string; arguments: Record<string, unknown> }): Promise<any>;
  close(): Promise<void>;
}

/** A client of one official SDK (its Client, Streamable HTTP transport and client-credentials provider) that signs in with credentials. */
function oauthClient(sdk: { Client: any; Transport: any; Credentials: any }): () => OAuthClient {
  return () => {
    const client = new sdk.Client({ name: 'oauth-e2e', version: '1.0.0' });
    return {
      connect: ({ clientId, clientSecret }) =>
        client.connect(
          new sdk.Transport(mcpUrl, {
            authProvider: new sdk.Credentials({ clientId, clientSecret, expectedIssuer: authorizationServer.url }),
          }),
        ),
      listTools: () => client.listTools(),
      callTool: (params) => client.callTool(params),
      close: () => client.close(),
    };
  };
}

/** Each client, and the scope it asks the authorization server for (v2 takes the challenge's; v1 asks for none). */
const officialClients: Array<[string, () => OAuthClient, string | null]> = [
  [
    'v2 (@modelcontextprotocol/client)',
    oauthClient({ Client: ClientV2, Transport: TransportV2, Credentials: CredentialsV2 }),
    'tools:call',
  ],
  ['v1 (@modelcontextprotocol/sdk)', oauthClient({ Client: ClientV1, Transport: TransportV1, Credentials: CredentialsV1 }), null],
];

describe.each(officialClients)('MCP authorization with the official client %s', (_name, makeClient, scopeAsked) => {
  it('discovers the authorization server from the 401, gets a token for the gateway and calls a tool', async () => {
    tokenRequests.length = 0;
    const before = (await gateway.admin.listInvocations({ tool: 'echo' })).items.length;
    const client = makeClient();
    await client.connect({ clientId: 'crm-agent-client', clientSecret: 'client-secret-0123456789' });
    const listed = await client.listTools();
    expect(listed.tools.map((tool) => tool.name)).toEqual(['echo']);
    const result = await client.callTool({ name: 'echo', arguments: { text: 'with a token' } });
    expect(result.isError).toBeFalsy();
    expect(JSON.parse((result.content as Array<{ text: string }>)[0]?.text as string)).toEqual({ text: 'with a token' });
    await client.close();

    // One token, asked for this gateway (RFC 8707) from what the 401 and the metadata said.
    expect(tokenRequests).toEqual([{ clientId: 'crm-agent-client', resource: mcpUrl.href, scope: scopeAsked }]);
    const records = await gateway.admin.listInvocations({ tool: 'echo' });
    expect(records.items).toHaveLength(before + 1);
    expect(records.items.every((record) => record.agentId === clients.get('crm-agent-client')?.agentId)).toBe(true);
  });

  it('does not connect with credentials the authorization server refuses', async () => {
    const client = makeClient();
    const before = (await gateway.admin.listAudit({ type: 'auth.failed' })).items.length;
    tokenRequests.length = 0;
    await expect(client.connect({ clientId: 'crm-agent-client', clientSecret: 'wrong-secret' })).rejects.toThrow();
    await client.close().catch(() => undefined);
    // It was refused at the gateway before it had a token, and never got one.
    expect((await gateway.admin.listAudit({ type: 'auth.failed' })).items.length).toBeGreaterThan(before);
    expect(tokenRequests.length).toBeGreaterThan(0);
    expect(tokenRequests.every((asked) => asked.granted === false)).toBe(true);
  });
});
