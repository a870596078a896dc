import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, generateEncryptionKey, secret } from '../../src/index.js';
import { createUpstreamClient } from '../../src/upstream/client.js';
import { createHttpExecutor } from '../../src/upstream/executor.js';
import { jsonRequest } from '../helpers.js';
import { callContext, loopbackTool, rejection } from './harness.js';
import { type LoopbackServer, startLoopbackServer } from './loopback-server.js';

// Characters JSON encoders other than JSON.stringify write as \uXXXX escapes.
const CREDENTIAL = "k3y<&>+Secr3t'Value";
const SECRET = `Bearer ${CREDENTIAL}`;
const withSecret = { secretHeaders: { authorization: SECRET } };

function unitEscape(character: string): string {
  return `\\u${(character.charCodeAt(0) as number).toString(16).padStart(4, '0')}`;
}

/** How Go's encoding/json writes a value: `<`, `>` and `&` as lower-case `\u003c`, `\u003e`, `\u0026`. */
function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&]/g, unitEscape);
}

/** How .NET's System.Text.Json writes a value by default: HTML-sensitive characters as upper-case `\uXXXX`. */
function dotnetJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&'+`]/g, (character) => unitEscape(character).toUpperCase().replace('\\U', '\\u'));
}

/** Every character of `text` as a `\uXXXX` escape. */
function fullyEscaped(text: string): string {
  return Array.from(text, unitEscape).join('');
}

let server: LoopbackServer;
const client = createUpstreamClient();

beforeAll(async () => {
  server = await startLoopbackServer((request, response) => {
    const auth = String(request.headers.authorization ?? '');
    const answer = (status: number, contentType: string, body: string) => {
      response.writeHead(status, { 'content-type': contentType });
      response.end(body);
    };
    switch (request.rawPath) {
      case '/go-error':
        return answer(401, 'application/json', goJson({ error: `invalid credentials ${auth}`, token: auth.slice(7) }));
      case '/dotnet-error':
        return answer(500, 'application/problem+json', dotnetJson({ title: 'Unauthorized', detail: `key ${auth.slice(7)} refused` }));
      case '/escaped-text-error':
        return answer(502, 'text/plain', `upstream said: "${fullyEscaped(auth.slice(7))}"`);
      case '/escaped-text':
        return answer(200, 'text/plain', `log line: token=${goJson(auth).slice(1, -1)}`);
      case '/json-in-json':
        // A JSON string that carries another service's Go-encoded answer as text.
        return answer(200, 'application/json', JSON.stringify({ upstreamBody: goJson({ echoed: auth }) }));
      case '/echo-header':
        response.writeHead(200, { 'content-type': 'application/json', 'x-echo': goJson(auth) });
        return void response.end('{}');
      default:
        return answer(404, 'text/plain', 'no route');
    }
  });
});

afterAll(async () => {
  await client.close();
  await server.close();
});

function call(path: string, overrides: Parameters<typeof loopbackTool>[1] = {}) {
  const definition = loopbackTool(server.origin, { url: `${server.origin}${path}`, ...withSecret, ...overrides });
  return createHttpExecutor(definition, { client })({}, callContext());
}

function expectClean(value: unknown): void {
  const text = JSON.stringify(value);
  expect(text).not.toContain('Secr3t');
  expect(text).not.toContain('k3y');
}

describe('a secret an upstream echoes in another JSON spelling', () => {
  it('is removed from an error excerpt escaped as Go writes it', async () => {
    const error = await rejection(call('/go-error'), 'UPSTREAM_ERROR');
    expect(error.details).toEqual({ upstreamStatus: 401, excerpt: '{"error":"invalid credentials ***","token":"***"}' });
  });

  it('is removed from an error excerpt escaped as .NET writes it, upper-case hex included', async () => {
    const error = await rejection(call('/dotnet-error'), 'UPSTREAM_ERROR');
    expect(error.details).toEqual({ upstreamStatus: 500, excerpt: '{"title":"Unauthorized","detail":"key *** refused"}' });
  });

  it('is removed when every character is escaped', async () => {
    const error = await rejection(call('/escaped-text-error'), 'UPSTREAM_ERROR');
    expect(error.details).toEqual({ upstreamStatus: 502, excerpt: 'upstream said: "***"' });
  });

  it('is removed from success text, from JSON carried in a JSON string, and from a listed header', async () => {
    expect((await call('/escaped-text')).output).toBe('log line: token=***');
    expect((await call('/json-in-json')).output).toEqual({ upstreamBody: '{"echoed":"***"}' });
    expect((await call('/echo-header', { responseHeaders: ['x-echo'] })).output).toEqual({
      status: 200,
      headers: { 'x-echo': '"***"' },
      body: {},
    });
  });

  it('through the gateway, never reaches the caller, the invocation records or the audit trail', async () => {
    const tool = loopbackTool(server.origin, {
      name: 'crm.go',
      url: `${server.origin}/go-error`,
      secretHeaders: { authorization: secret(SECRET) },
    });
    const gateway = createGateway({ tools: [tool], encryptionKey: generateEncryptionKey(), policy: [{ id: 'all', effect: 'allow' }] });
    try {
      const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
      const response = await gateway.fetch(jsonRequest('/tools/crm.go/invoke', { key: apiKey, body: { input: {} } }));
      expect(response.status).toBe(502);
      const body = (await response.json()) as { error: { details: { excerpt: string } } };
      expect(body.error.details.excerpt).toBe('{"error":"invalid credentials ***","token":"***"}');
      expect(server.requests.at(-1)?.headers.authorization).toBe(SECRET);
      expectClean([await gateway.admin.listInvocations({ limit: 100 }), await gateway.admin.listAudit({ limit: 100 })]);
    } finally {
      await gateway.close();
    }
  });
});
