import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Gateway, createGateway } from '../../src/index.js';
import { sqlStore } from '../../src/store/sql/index.js';
import { randomSchema } from '../e2e/fixtures/sql-engines.js';
import { adminTokens, testGateway } from '../fixtures.js';
import { createNodeHandler } from '../../adapters/node.js';
import { jsonRequest, listen, mcpHeaders, mcpRequest } from '../helpers.js';

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

const database = new PGlite();
afterAll(() => database.close());

/** `{"input":{"text":"x<bytes>"}}` with raw bytes in the string. */
function bodyWithBytes(bytes: number[]): Buffer<ArrayBuffer> {
  return Buffer.concat([Buffer.from('{"input":{"text":"x'), Buffer.from(bytes), Buffer.from('"}}')]);
}

describe('bodies that are not UTF-8', () => {
  it('are refused with 400 at REST and with a parse error at MCP, not run on altered input', async () => {
    gateway = testGateway();
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const rest = await gateway.fetch(
      new Request('http://gateway.test/tools/echo/invoke', {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: bodyWithBytes([0xff, 0xfe]),
      }),
    );
    expect(rest.status).toBe(400);
    expect(((await rest.json()) as { error: { code: string; message: string } }).error).toEqual({
      code: 'BAD_REQUEST',
      message: 'Request body is not valid UTF-8',
    });

    const call = Buffer.concat([
      Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x'),
      Buffer.from([0xc3]),
      Buffer.from('"}}}'),
    ]);
    const mcp = await gateway.fetch(new Request('http://gateway.test/mcp', { method: 'POST', headers: mcpHeaders(apiKey), body: call }));
    expect(mcp.status).toBe(400);
    expect(((await mcp.json()) as { error: { code: number } }).error.code).toBe(-32700);
    expect((await gateway.admin.listInvocations({ limit: 10 })).items).toEqual([]);

    // Valid UTF-8 beyond ASCII is taken as sent.
    const fine = await gateway.fetch(jsonRequest('/tools/echo/invoke', { key: apiKey, body: { input: { text: 'Grüße 👋' } } }));
    expect(fine.status).toBe(200);
  });
});

describe('a Web Request whose body breaks off while it is read', () => {
  /** A body that sends half a JSON text, then fails; `abort` says whether the caller's signal aborts first. */
  function brokenRequest(path: string, headers: Record<string, string>, abort: boolean): Request {
    const caller = new AbortController();
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulls++ === 0) {
          controller.enqueue(new TextEncoder().encode('{"input":'));
          return;
        }
        if (abort) caller.abort();
        controller.error(new Error('connection reset'));
      },
    });
    return new Request(`http://gateway.test${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      duplex: 'half',
      signal: caller.signal,
    } as RequestInit);
  }

  it('answers 499 CANCELLED when the caller went away, and 400 when the upload was cut; neither is told to onError', async () => {
    const reported: unknown[] = [];
    gateway = testGateway({ onError: (error) => reported.push(error) });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const rest = { authorization: `Bearer ${apiKey}` };
    for (const [abort, status, code] of [
      [true, 499, 'CANCELLED'],
      [false, 400, 'BAD_REQUEST'],
    ] as const) {
      const answer = await gateway.fetch(brokenRequest('/tools/echo/invoke', rest, abort));
      expect(answer.status).toBe(status);
      expect(((await answer.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    const mcp = await gateway.fetch(brokenRequest('/mcp', mcpHeaders(apiKey), true));
    expect(mcp.status).toBe(499);
    expect(reported).toEqual([]);
  });

  it("answers a body the host read before the gateway got it as the host's failure: 500, told to onError", async () => {
    const reported: unknown[] = [];
    gateway = testGateway({ onError: (error) => reported.push(error) });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const request = jsonRequest('/tools/echo/invoke', { key: apiKey, body: { input: { text: 'hi' } } });
    await request.text();
    const answer = await gateway.fetch(request);
    expect(answer.status).toBe(500);
    expect(reported.map(String)).toEqual(['Error: The request body was already read before the gateway got the request']);
  });

  it('answers such a body at /mcp the same way: 500 and -32603, told to onError, not a parse error', async () => {
    const reported: unknown[] = [];
    gateway = testGateway({ onError: (error) => reported.push(error) });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const request = mcpRequest(apiKey, { jsonrpc: '2.0', id: 1, method: 'ping' });
    await request.text();
    const answer = await gateway.fetch(request);
    expect(answer.status).toBe(500);
    expect(await answer.json()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32603, message: 'Internal error' } });
    expect(reported.map(String)).toEqual(['Error: The request body was already read before the gateway got the request']);
  });
});

describe('admin routes', () => {
  it('take an approval decision with a JSON Content-Type and no body', async () => {
    gateway = testGateway();
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const held = await gateway.fetch(
      jsonRequest('/tools/refunds.create/invoke', { key: apiKey, body: { input: { orderId: 'O-1', amount: 500 } } }),
    );
    const { approval } = (await held.json()) as { approval: { id: string } };
    const decided = await gateway.fetch(
      new Request(`http://gateway.test/admin/approvals/${approval.id}/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminTokens.approver}`, 'content-type': 'application/json' },
      }),
    );
    expect(decided.status).toBe(200);
  });

  it('take an approval decision with an empty body whatever its Content-Type says, and refuse a body that is not JSON', async () => {
    gateway = testGateway();
    const running = gateway;
    const { apiKey } = await running.admin.createAgent({ name: 'bot' });
    const decide = async (amount: number, action: string, init: RequestInit) => {
      const held = await running.fetch(
        jsonRequest('/tools/refunds.create/invoke', { key: apiKey, body: { input: { orderId: `O-${amount}`, amount } } }),
      );
      const { approval } = (await held.json()) as { approval: { id: string } };
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${adminTokens.approver}`);
      return running.fetch(
        new Request(`http://gateway.test/admin/approvals/${approval.id}/${action}`, { method: 'POST', ...init, headers }),
      );
    };
    // What fetch sends for body '' (text/plain), and curl -d '' (a form).
    expect((await decide(201, 'approve', { body: '' })).status).toBe(200);
    expect((await decide(202, 'deny', { body: '', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status).toBe(200);
    const text = await decide(203, 'approve', { body: 'reason=ok', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(text.status).toBe(415);
    expect(((await text.json()) as { error: { code: string } }).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const none = await decide(204, 'approve', { body: new TextEncoder().encode('{"reason":"ok"}') });
    expect(none.status).toBe(415);
  });

  it('read times past year 9999 (or before year 0) as the nearest time records can have', async () => {
    gateway = testGateway();
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    await gateway.fetch(jsonRequest('/tools/echo/invoke', { key: apiKey, body: { input: { text: 'hi' } } }));
    const running = gateway;
    const list = async (query: string) => {
      const response = await running.fetch(jsonRequest(`/admin/invocations?${query}`, { key: adminTokens.admin }));
      expect(response.status).toBe(200);
      return ((await response.json()) as { items: unknown[] }).items.length;
    };
    expect(await list('from=2000-01-01T00:00:00Z')).toBe(1);
    expect(await list(`from=${encodeURIComponent('+275760-09-13T00:00:00.000Z')}`)).toBe(0);
    expect(await list(`to=${encodeURIComponent('-000001-01-01T00:00:00.000Z')}`)).toBe(0);
    expect(await list(`to=${encodeURIComponent('+010000-01-01T00:00:00.000Z')}`)).toBe(1);
  });
});

describe('a call of an unknown tool with a very long name', () => {
  it('is recorded on the SQL store as on the memory store, with the name cut', async () => {
    const store = sqlStore({ client: database, schema: randomSchema('atg_longname') });
    gateway = createGateway({ store, policy: [{ id: 'all', effect: 'allow' }] });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const name = randomBytes(3000).toString('base64url');
    const response = await gateway.fetch(jsonRequest(`/tools/${name}/invoke`, { key: apiKey, body: { input: {} } }));
    expect(response.status).toBe(404);
    const { invocationId } = (await response.json()) as { invocationId: string };
    const record = await gateway.admin.getInvocation(invocationId);
    expect(record.status).toBe('invalid');
    expect(record.tool).toBe(`${name.slice(0, 256)}…`);
    const events = (await gateway.admin.listAudit({ limit: 10 })).items.filter((entry) => entry.event.invocationId === invocationId);
    expect(events.map((entry) => [entry.event.type, entry.event.tool])).toEqual([['invocation.invalid', `${name.slice(0, 256)}…`]]);
  });
});

describe('a call whose input nests far deeper than maxInputDepth', () => {
  /** `{"input":{"text":"x","deep":[[[…]]]}}` nested `depth` arrays deep. */
  const deepBody = (depth: number) => `{"input":{"text":"x","deep":${'['.repeat(depth)}${']'.repeat(depth)}}}`;

  for (const storeKind of ['memory', 'sql'] as const) {
    it(`is refused and still recorded, without its input, on the ${storeKind} store (over node:http)`, async () => {
      const errors: unknown[] = [];
      gateway = testGateway({
        onError: (error) => errors.push(error),
        ...(storeKind === 'sql' ? { store: sqlStore({ client: database, schema: randomSchema('atg_deep') }) } : {}),
      });
      const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
      const server = await listen(createNodeHandler(gateway));
      try {
        for (const [tool, status, code] of [
          ['echo', 400, 'BAD_REQUEST'],
          ['no.such.tool', 404, 'TOOL_NOT_FOUND'],
        ] as const) {
          const response = await fetch(`${server.url}/tools/${tool}/invoke`, {
            method: 'POST',
            headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
            body: deepBody(100_000),
          });
          expect(response.status).toBe(status);
          const { error, invocationId } = (await response.json()) as { error: { code: string }; invocationId: string };
          expect(error.code).toBe(code);
          // The id the caller got names a record, and the trail has the call's event.
          const own = await fetch(`${server.url}/invocations/${invocationId}`, { headers: { authorization: `Bearer ${apiKey}` } });
          expect(own.status).toBe(200);
          const record = await gateway.admin.getInvocation(invocationId);
          expect(record.status).toBe('invalid');
          expect(record.input).toBeNull();
          const events = (await gateway.admin.listAudit({ limit: 100 })).items.filter((entry) => entry.event.invocationId === invocationId);
          expect(events.map((entry) => entry.event.type)).toEqual(['invocation.invalid']);
        }
        expect(errors).toEqual([]);
      } finally {
        await server.close();
      }
    });
  }

  it('keeps the input of a call refused for a forbidden key, and of an unknown tool, when it nests within the limit', async () => {
    const served = testGateway({ maxInputDepth: 4 });
    gateway = served;
    const { apiKey } = await served.admin.createAgent({ name: 'bot' });
    const recordedInput = async (tool: string, body: string, status: number) => {
      const response = await served.fetch(jsonRequest(`/tools/${tool}/invoke`, { key: apiKey, body }));
      expect(response.status).toBe(status);
      const { invocationId } = (await response.json()) as { invocationId: string };
      return (await served.admin.getInvocation(invocationId)).input;
    };
    expect(await recordedInput('echo', '{"input":{"text":"x","constructor":1}}', 400)).toEqual({ text: 'x', constructor: 1 });
    expect(await recordedInput('nope', '{"input":{"deep":[[[]]]}}', 404)).toEqual({ deep: [[[]]] });
    expect(await recordedInput('nope', '{"input":{"deep":[[[[]]]]}}', 404)).toBeNull();
    expect(await recordedInput('echo', '{"input":{"text":"x","deep":[[[[]]]]}}', 400)).toBeNull();
  });
});
