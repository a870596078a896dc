import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, createGateway, generateEncryptionKey, httpTool, memoryStore, secret } from '../../src/index.js';
import { createNodeHandler } from '../../adapters/node.js';
import { adminTokens } from '../fixtures.js';
import { jsonRequest, listen, silentUpstream } from '../helpers.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

const TOKEN = 'Bearer crm-live-token-7f3a9c2e5b1d4a8f';
const admin = { tokens: [{ token: adminTokens.admin, id: 'alice', roles: ['admin' as const] }] };

/** A CRM on loopback that echoes the credential it got back in every response. */
async function crm() {
  const seen: Array<{ path: string; authorization: string | undefined }> = [];
  const server = await listen((req, res) => {
    seen.push({ path: req.url ?? '', authorization: req.headers.authorization });
    const [, , id] = (req.url ?? '').split('/');
    if (id === 'broken') {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`internal error, token=${req.headers.authorization}`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id, name: 'Ada', email: 'ada@example.com', echoedAuth: req.headers.authorization }));
  });
  closers.push(server.close);
  return { ...server, seen };
}

function customerTool(url: string) {
  return httpTool({
    name: 'crm.get_customer',
    description: 'Get a customer',
    method: 'GET',
    url: `${url}/customers/{id}`,
    inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'], additionalProperties: false },
    secretHeaders: { authorization: secret(TOKEN) },
    allowPrivateNetwork: true,
  });
}

async function gatewayWith(options: Parameters<typeof createGateway>[0]) {
  const gateway = createGateway({ policy: [{ id: 'all', effect: 'allow' }], admin, ...options });
  closers.push(() => gateway.close());
  const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
  return { gateway, apiKey };
}

async function everythingRecorded(gateway: Gateway): Promise<string> {
  return JSON.stringify([
    await gateway.admin.listInvocations({ limit: 1000 }),
    await gateway.admin.listAudit({ limit: 1000 }),
    await gateway.admin.listTools(),
  ]);
}

describe('HTTP tools through the gateway', () => {
  it('calls the upstream with the real credential and never lets it out', async () => {
    const upstream = await crm();
    const { gateway, apiKey } = await gatewayWith({ tools: [customerTool(upstream.url)], encryptionKey: generateEncryptionKey() });
    const ok = await gateway.fetch(jsonRequest('/tools/crm.get_customer/invoke', { key: apiKey, body: { input: { id: 'c/42' } } }));
    const okBody = await ok.text();
    expect(ok.status).toBe(200);
    expect(upstream.seen[0]).toEqual({ path: '/customers/c%2F42', authorization: TOKEN });
    expect(okBody).not.toContain('crm-live-token');
    expect(okBody).not.toContain('ada@example.com');

    const failed = await gateway.fetch(jsonRequest('/tools/crm.get_customer/invoke', { key: apiKey, body: { input: { id: 'broken' } } }));
    const failedBody = (await failed.json()) as { error: { code: string; details: { upstreamStatus: number; excerpt: string } } };
    expect(failed.status).toBe(502);
    expect(failedBody.error.code).toBe('UPSTREAM_ERROR');
    expect(failedBody.error.details.upstreamStatus).toBe(500);
    expect(JSON.stringify(failedBody)).not.toContain('crm-live-token');

    const recorded = await everythingRecorded(gateway);
    expect(recorded).not.toContain('crm-live-token');
    expect(recorded).not.toContain(Buffer.from(TOKEN).toString('base64'));
  });

  it('redacts JSON, text and header outputs, and the caller cannot change what was recorded', async () => {
    const upstream = await listen((req, res) => {
      if (req.url === '/text') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('call ada@example.com');
        return;
      }
      res.writeHead(200, ['content-type', 'application/json', '__proto__', 'ada@example.com', '__proto__', 'b', 'x-request-id', 'r-1']);
      res.end(JSON.stringify({ email: 'ada@example.com', orders: [{ sku: 'A-1' }], address: { city: 'Paris', phone: '+1 415 555 0142' } }));
    });
    closers.push(upstream.close);
    const tool = (name: string, path: string, extra: Partial<Parameters<typeof httpTool>[0]> = {}) =>
      httpTool({
        name,
        description: name,
        method: 'GET',
        url: `${upstream.url}${path}`,
        inputSchema: { type: 'object', properties: {} },
        allowPrivateNetwork: true,
        ...extra,
      });
    const { gateway, apiKey } = await gatewayWith({
      tools: [
        tool('crm.record', '/json'),
        tool('crm.text', '/text'),
        tool('crm.headers', '/json', { responseHeaders: ['__proto__', 'constructor', 'x-request-id'] }),
      ],
    });

    const record = await gateway.invoke({ agentKey: apiKey, tool: 'crm.record' });
    expect(record.status).toBe('succeeded');
    const output = (record as { output: { email: string; orders: Array<{ sku: string }>; address: { phone: string } } }).output;
    expect(output).toEqual({ email: '***', orders: [{ sku: 'A-1' }], address: { city: 'Paris', phone: '***' } });
    // The caller owns what it got: changing it changes nothing that was recorded.
    output.orders[0] = { sku: 'changed' };
    const stored = await gateway.admin.getInvocation(record.invocationId as string);
    expect(stored?.output).toEqual({ email: '***', orders: [{ sku: 'A-1' }], address: { city: 'Paris', phone: '***' } });

    const text = await gateway.invoke({ agentKey: apiKey, tool: 'crm.text' });
    expect(text).toMatchObject({ status: 'succeeded', output: 'call ***' });

    const withHeaders = await gateway.invoke({ agentKey: apiKey, tool: 'crm.headers' });
    const headers = (withHeaders as { output: { headers: Record<string, unknown> } }).output.headers;
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
    expect(Object.keys(headers)).toEqual(['__proto__', 'x-request-id']);
    expect(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value).toEqual(['***', 'b']);
    expect(JSON.stringify(await everythingRecorded(gateway))).not.toContain('ada@example.com');
  });

  it('refuses a code-defined secret without an encryption key, and explains how to make one', () => {
    expect(() => createGateway({ tools: [customerTool('https://crm.example.com')] })).toThrow(/randomBytes\(32\)/);
  });

  it('refuses loopback unless the network is allowed, before any byte is sent', async () => {
    const upstream = await crm();
    const blocked = httpTool({
      name: 'blocked',
      description: 'x',
      method: 'GET',
      url: `${upstream.url}/customers/{id}`,
      inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
    });
    const { gateway, apiKey } = await gatewayWith({ tools: [blocked] });
    const response = await gateway.fetch(jsonRequest('/tools/blocked/invoke', { key: apiKey, body: { input: { id: '1' } } }));
    expect(response.status).toBe(502);
    expect(upstream.seen).toHaveLength(0);

    const { gateway: allowed, apiKey: key2 } = await gatewayWith({ tools: [blocked], allowPrivateNetwork: ['127.0.0.0/8'] });
    const through = await allowed.fetch(jsonRequest('/tools/blocked/invoke', { key: key2, body: { input: { id: '1' } } }));
    expect(through.status).toBe(200);
  });
});

describe('admin: tools', () => {
  it('creates, reads (masked), updates keeping *** secrets, and deletes HTTP tools; code tools are read-only', async () => {
    const upstream = await crm();
    const { gateway, apiKey } = await gatewayWith({ tools: [customerTool(upstream.url)], encryptionKey: generateEncryptionKey() });
    const auth = { key: adminTokens.admin };
    const created = await gateway.fetch(
      jsonRequest('/admin/tools', {
        ...auth,
        body: {
          name: 'crm.orders',
          description: 'Orders of a customer',
          method: 'GET',
          url: `${upstream.url}/orders/{id}`,
          inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
          secretHeaders: { authorization: TOKEN },
          allowPrivateNetwork: true,
        },
      }),
    );
    expect(created.status).toBe(201);
    const view = (await created.json()) as Record<string, any>;
    expect(view).toMatchObject({ name: 'crm.orders', source: 'store', secretHeaders: { authorization: '***' } });

    const call = await gateway.fetch(jsonRequest('/tools/crm.orders/invoke', { key: apiKey, body: { input: { id: '7' } } }));
    expect(call.status).toBe(200);
    expect(upstream.seen.at(-1)?.authorization).toBe(TOKEN);

    const patched = await gateway.fetch(
      jsonRequest('/admin/tools/crm.orders', {
        ...auth,
        method: 'PATCH',
        body: { description: 'Orders, v2', secretHeaders: { authorization: '***' } },
      }),
    );
    expect(patched.status).toBe(200);
    const patchedView = (await patched.json()) as Record<string, any>;
    expect(patchedView.description).toBe('Orders, v2');
    expect(patchedView.version).not.toBe(view.version);
    await gateway.fetch(jsonRequest('/tools/crm.orders/invoke', { key: apiKey, body: { input: { id: '8' } } }));
    expect(upstream.seen.at(-1)?.authorization).toBe(TOKEN);

    const list = (await (await gateway.fetch(jsonRequest('/admin/tools', auth))).json()) as { items: Array<Record<string, unknown>> };
    expect(list.items.map((tool) => [tool.name, tool.source])).toEqual([
      ['crm.get_customer', 'code'],
      ['crm.orders', 'store'],
    ]);
    expect((await gateway.fetch(jsonRequest('/admin/tools/crm.get_customer', { ...auth, method: 'DELETE' }))).status).toBe(409);
    const bad = await gateway.fetch(
      jsonRequest('/admin/tools', {
        ...auth,
        body: { name: 'x', description: 'x', method: 'GET', url: 'ftp://x/{a}', inputSchema: { type: 'object' } },
      }),
    );
    expect(bad.status).toBe(400);
    const unknownField = await gateway.fetch(
      jsonRequest('/admin/tools', {
        ...auth,
        body: { name: 'y', description: 'y', method: 'GET', url: 'https://a.example', inputSchema: { type: 'object' }, shell: 'rm' },
      }),
    );
    expect(unknownField.status).toBe(400);
    const polluted = await gateway.fetch(
      jsonRequest('/admin/tools', {
        ...auth,
        body: '{"name":"z","description":"z","method":"GET","url":"https://a.example","inputSchema":{"type":"object","__proto__":{"x":1}}}',
      }),
    );
    expect(polluted.status).toBe(400);

    expect((await gateway.fetch(jsonRequest('/admin/tools/crm.orders', { ...auth, method: 'DELETE' }))).status).toBe(204);
    expect((await gateway.fetch(jsonRequest('/tools/crm.orders/invoke', { key: apiKey, body: { input: { id: '9' } } }))).status).toBe(404);

    const recorded = await everythingRecorded(gateway);
    expect(recorded).not.toContain('crm-live-token');
    const events = (await gateway.admin.listAudit({ type: 'admin.tool', limit: 100 })).items.map((entry) => entry.event);
    expect(events.map((event) => event.type)).toEqual(['admin.tool.created', 'admin.tool.updated', 'admin.tool.deleted']);
    expect(events[0]?.actor).toBe('admin:alice');
  });

  it('refuses the names "." and "..", which no request path can name, and serves "crm/.." by its encoded name', async () => {
    const { gateway, apiKey } = await gatewayWith({});
    const server = await listen(createNodeHandler(gateway));
    closers.push(server.close);
    const send = (method: string, path: string, key: string, body?: unknown) =>
      fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const definition = { description: 'd', method: 'GET', url: 'http://127.0.0.1:9/x', inputSchema: { type: 'object' } };
    for (const name of ['.', '..']) {
      const refused = await send('POST', '/admin/tools', adminTokens.admin, { ...definition, name });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/tool name/);
    }
    expect((await gateway.admin.listTools()).map((tool) => tool.name)).toEqual([]);

    expect((await send('POST', '/admin/tools', adminTokens.admin, { ...definition, name: 'crm/..' })).status).toBe(201);
    expect((await send('GET', '/admin/tools/crm%2F..', adminTokens.admin)).status).toBe(200);
    expect((await send('POST', '/tools/crm%2F../invoke', apiKey, { input: {} })).status).not.toBe(404);
    expect((await send('DELETE', '/admin/tools/crm%2F..', adminTokens.admin)).status).toBe(204);
  });

  it('fixes a stored tool this version refuses with a PATCH that keeps its stored secrets', async () => {
    const upstream = await crm();
    const store = memoryStore();
    const { gateway, apiKey } = await gatewayWith({ store, encryptionKey: generateEncryptionKey() });
    await gateway.admin.createTool({
      name: 'crm.orders',
      description: 'Orders',
      method: 'GET',
      url: `${upstream.url}/orders/{id}`,
      inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      secretHeaders: { authorization: TOKEN },
      allowPrivateNetwork: true,
    });
    // Stored as an earlier version took it, before the 256 MiB response cap.
    const old = (await store.getTool('crm.orders')) as NonNullable<Awaited<ReturnType<typeof store.getTool>>>;
    await store.replaceTool({ ...old, definition: { ...old.definition, maxResponseBytes: 2 ** 30 } }, old);
    const patch = (body: unknown) =>
      gateway.fetch(jsonRequest('/admin/tools/crm.orders', { key: adminTokens.admin, method: 'PATCH', body }));

    const unfixed = await patch({ description: 'Orders of a customer' });
    expect(unfixed.status).toBe(400);
    expect(((await unfixed.json()) as { error: { message: string } }).error.message).toMatch(/maxResponseBytes must be/);
    const fixed = await patch({ maxResponseBytes: 1_000_000, secretHeaders: { authorization: '***' } });
    expect(fixed.status).toBe(200);
    expect(await fixed.json()).toMatchObject({ maxResponseBytes: 1_000_000, secretHeaders: { authorization: '***' } });
    expect(await gateway.invoke({ agentKey: apiKey, tool: 'crm.orders', input: { id: '1' } })).toMatchObject({ status: 'succeeded' });
    expect(upstream.seen.at(-1)?.authorization).toBe(TOKEN);
  });

  it('refuses a sealed secret that does not open for the tool and header it is given to', async () => {
    const store = memoryStore();
    const { gateway } = await gatewayWith({ store, encryptionKey: generateEncryptionKey() });
    const auth = { key: adminTokens.admin };
    const tool = (name: string, secretHeaders: Record<string, unknown>) => ({
      name,
      description: name,
      method: 'GET',
      url: 'https://api.example.com/x',
      inputSchema: { type: 'object' },
      secretHeaders,
    });
    const forged = await gateway.fetch(
      jsonRequest('/admin/tools', { ...auth, body: tool('crm.forged', { 'x-api-key': { sealed: 'garbage' } }) }),
    );
    expect(forged.status).toBe(400);
    expect(((await forged.json()) as { error: { code: string } }).error.code).toBe('BAD_REQUEST');
    // A value sealed for another tool is bound to it: it does not open here either.
    await gateway.admin.createTool(tool('crm.real', { 'x-api-key': 'key-of-crm-real-0001' }) as never);
    const real = (await store.getTool('crm.real')) as unknown as { definition: { secretHeaders: Record<string, unknown> } };
    const sealed = real.definition.secretHeaders['x-api-key'];
    expect(sealed).toMatchObject({ sealed: expect.any(String) });
    const copied = await gateway.fetch(jsonRequest('/admin/tools', { ...auth, body: tool('crm.copy', { 'x-api-key': sealed }) }));
    expect(copied.status).toBe(400);
    expect(await store.getTool('crm.copy')).toBeUndefined();
    // Rotation still goes through every stored tool.
    expect(await gateway.admin.rotateSecrets()).toMatchObject({ tools: 1 });
  });

  it('compiles schemas that carry a $id, once per tool and again on every reload', async () => {
    const { gateway, apiKey } = await gatewayWith({});
    const tool = (name: string) =>
      ({
        name,
        description: name,
        method: 'GET',
        url: 'https://api.example.com/x',
        inputSchema: { $id: 'https://schemas.example.com/order', type: 'object' },
      }) as const;
    await gateway.admin.createTool(tool('orders.a'));
    await gateway.admin.createTool(tool('orders.b'));
    await gateway.admin.updateTool('orders.a', { description: 'changed' });
    const listed = await gateway.fetch(jsonRequest('/tools', { key: apiKey }));
    expect(((await listed.json()) as { items: Array<{ name: string }> }).items.map((item) => item.name)).toEqual(['orders.a', 'orders.b']);
  });

  it('keeps a credential put in plain headers out of the admin events, as policy rules are redacted', async () => {
    const { gateway } = await gatewayWith({});
    const definition = {
      name: 'crm.plain',
      description: 'credentials in the wrong place',
      method: 'GET',
      url: 'https://api.example.com/x',
      inputSchema: { type: 'object', properties: { password: { type: 'string', minLength: 8 }, token: { type: 'string' } } },
      headers: { authorization: 'Bearer PLAIN-AUTH-1234567890', 'x-api-key': 'PLAIN-KEY-1234567890abcdef', accept: 'application/json' },
    } as const;
    await gateway.admin.createTool(definition);
    await gateway.admin.updateTool('crm.plain', { description: 'still wrong' });
    const events = (await gateway.admin.listAudit({ type: 'admin.tool', limit: 10 })).items.map((entry) => entry.event);
    expect(events.map((event) => event.type)).toEqual(['admin.tool.created', 'admin.tool.updated']);
    const text = JSON.stringify(events);
    expect(text).not.toContain('PLAIN-AUTH');
    expect(text).not.toContain('PLAIN-KEY');
    // Only the credentials: the schema stays as defined, its password and token properties included.
    expect(events[0]?.data?.definition).toMatchObject({
      headers: { accept: 'application/json' },
      inputSchema: definition.inputSchema,
      url: 'https://api.example.com/x',
    });
  });

  it('a replaced credential is used from the next call on; a moved URL must send its credentials again', async () => {
    const upstream = await crm();
    const elsewhere = await crm();
    const { gateway, apiKey } = await gatewayWith({ encryptionKey: generateEncryptionKey() });
    const auth = { key: adminTokens.admin };
    const created = await gateway.admin.createTool({
      name: 'crm.orders',
      description: 'Orders',
      method: 'GET',
      url: `${upstream.url}/orders/{id}`,
      inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      secretHeaders: { authorization: 'Bearer leaked-token-0001' },
      allowPrivateNetwork: true,
    });
    const invoke = () => gateway.fetch(jsonRequest('/tools/crm.orders/invoke', { key: apiKey, body: { input: { id: '1' } } }));
    expect((await invoke()).status).toBe(200);
    expect(upstream.seen.at(-1)?.authorization).toBe('Bearer leaked-token-0001');

    // Only the value changes: the version stays (approvals hold), the credential does not.
    const replaced = await gateway.fetch(
      jsonRequest('/admin/tools/crm.orders', {
        ...auth,
        method: 'PATCH',
        body: { secretHeaders: { authorization: 'Bearer fresh-token-0002' } },
      }),
    );
    expect(replaced.status).toBe(200);
    expect(((await replaced.json()) as { version: string }).version).toBe(created.version);
    expect((await invoke()).status).toBe(200);
    expect(upstream.seen.at(-1)?.authorization).toBe('Bearer fresh-token-0002');

    // Moving the URL to another origin keeps no stored credential: neither by "***" nor by omission.
    for (const body of [
      { url: `${elsewhere.url}/steal/{id}` },
      { url: `${elsewhere.url}/steal/{id}`, secretHeaders: { authorization: '***' } },
    ]) {
      const moved = await gateway.fetch(jsonRequest('/admin/tools/crm.orders', { ...auth, method: 'PATCH', body }));
      expect(moved.status).toBe(400);
      expect(((await moved.json()) as { error: { message: string } }).error.message).toMatch(
        /^The tool's URL moves to another origin: send the values of its secret headers \(authorization\) again/,
      );
    }
    expect((await invoke()).status).toBe(200);
    expect(elsewhere.seen).toEqual([]);
    // The same origin keeps them; another origin with the values sent again, or without secrets, is fine.
    const samePlace = { url: `${upstream.url}/v2/orders/{id}`, secretHeaders: { authorization: '***' } };
    expect((await gateway.fetch(jsonRequest('/admin/tools/crm.orders', { ...auth, method: 'PATCH', body: samePlace }))).status).toBe(200);
    const resent = { url: `${elsewhere.url}/orders/{id}`, secretHeaders: { authorization: 'Bearer for-elsewhere-0003' } };
    expect((await gateway.fetch(jsonRequest('/admin/tools/crm.orders', { ...auth, method: 'PATCH', body: resent }))).status).toBe(200);
    expect((await invoke()).status).toBe(200);
    expect(elsewhere.seen.map((request) => request.authorization)).toEqual(['Bearer for-elsewhere-0003']);
  });

  it('takes no sealed value, so a credential read from the store cannot follow the tool to another origin', async () => {
    const upstream = await crm();
    const elsewhere = await crm();
    const store = memoryStore();
    const { gateway, apiKey } = await gatewayWith({ store, encryptionKey: generateEncryptionKey() });
    const auth = { key: adminTokens.admin };
    const definition = {
      name: 'crm.orders',
      description: 'Orders',
      method: 'GET',
      url: `${upstream.url}/orders/{id}`,
      inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      secretHeaders: { authorization: 'Bearer stored-token-0001' },
      allowPrivateNetwork: true,
    };
    await gateway.admin.createTool(definition);
    // Someone who can read the database (or a backup) holds the sealed value.
    const stored = (await store.getTool('crm.orders')) as unknown as { definition: { secretHeaders: { authorization: unknown } } };
    const sealed = stored.definition.secretHeaders.authorization;
    const carried = { secretHeaders: { authorization: sealed } };
    const moved = await gateway.fetch(
      jsonRequest('/admin/tools/crm.orders', { ...auth, method: 'PATCH', body: { url: `${elsewhere.url}/orders/{id}`, ...carried } }),
    );
    expect(moved.status).toBe(400);
    expect(((await moved.json()) as { error: { message: string } }).error.message).toBe(
      'secretHeaders.authorization: send the secret\'s value (it is sealed here), or "***" on a change to keep the stored one; sealed values are not taken',
    );
    expect((await gateway.fetch(jsonRequest('/admin/tools/crm.orders', { ...auth, method: 'DELETE' }))).status).toBe(204);
    const recreated = await gateway.fetch(
      jsonRequest('/admin/tools', { ...auth, body: { ...definition, url: `${elsewhere.url}/orders/{id}`, ...carried } }),
    );
    expect(recreated.status).toBe(400);
    expect(await gateway.fetch(jsonRequest('/tools/crm.orders/invoke', { key: apiKey, body: { input: { id: '1' } } }))).toHaveProperty(
      'status',
      404,
    );
    expect(elsewhere.seen).toEqual([]);
  });

  it('takes secret(...) values from code, in secretHeaders and in headers, and seals them', async () => {
    const upstream = await listen((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ authorization: req.headers.authorization, key: req.headers['x-api-key'] }));
    });
    closers.push(upstream.close);
    const store = memoryStore();
    const { gateway, apiKey } = await gatewayWith({ store, encryptionKey: generateEncryptionKey() });
    await gateway.admin.createTool(
      httpTool({
        name: 'crm.orders',
        description: 'Orders',
        method: 'GET',
        url: `${upstream.url}/orders`,
        inputSchema: { type: 'object' },
        secretHeaders: { authorization: secret('Bearer from-code-0001') },
        headers: { 'x-api-key': secret('key-from-code-0002') },
        allowPrivateNetwork: true,
      }),
    );
    const outcome = await gateway.invoke({ agentKey: apiKey, tool: 'crm.orders' });
    // The upstream got the credentials; what it echoes back is redacted.
    expect(outcome).toMatchObject({ status: 'succeeded', output: { authorization: '***', key: '***' } });
    expect(JSON.stringify(await store.getTool('crm.orders'))).not.toMatch(/from-code|key-from-code/);
    await gateway.admin.updateTool('crm.orders', { secretHeaders: { authorization: secret('Bearer from-code-0003') } as never });
    expect((await gateway.invoke({ agentKey: apiKey, tool: 'crm.orders' })).status).toBe('succeeded');
  });

  it('re-seals stored secrets under a new active key while calls keep working', async () => {
    const upstream = await crm();
    const oldKey = generateEncryptionKey();
    const { gateway, apiKey } = await gatewayWith({ encryptionKey: { active: 'k1', keys: { k1: oldKey } } });
    await gateway.admin.createTool({
      name: 'crm.orders',
      description: 'Orders',
      method: 'GET',
      url: `${upstream.url}/orders/{id}`,
      inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      secretHeaders: { authorization: TOKEN },
      allowPrivateNetwork: true,
    });
    const inFlight = Array.from({ length: 20 }, (_, index) =>
      gateway.invoke({ agentKey: apiKey, tool: 'crm.orders', input: { id: String(index) } }),
    );
    const counts = await gateway.admin.rotateSecrets({
      encryptionKey: { active: 'k2', keys: { k1: oldKey, k2: generateEncryptionKey() } },
    });
    expect(counts).toEqual({ tools: 1, resealed: 1, unchanged: 0, unreadable: [], approvals: 0, unreadableApprovals: [] });
    const outcomes = await Promise.all(inFlight);
    expect(outcomes.every((outcome) => outcome.status === 'succeeded')).toBe(true);
    const after = await gateway.invoke({ agentKey: apiKey, tool: 'crm.orders', input: { id: 'after' } });
    expect(after.status).toBe('succeeded');
    expect(upstream.seen.every((request) => request.authorization === TOKEN)).toBe(true);
    expect(await gateway.admin.rotateSecrets()).toEqual({
      tools: 1,
      resealed: 0,
      unchanged: 1,
      unreadable: [],
      approvals: 0,
      unreadableApprovals: [],
    });
  });

  it("keeps code-defined tools' credentials through a key change, whether or not they were called before", async () => {
    const upstream = await crm();
    const { gateway, apiKey } = await gatewayWith({
      encryptionKey: generateEncryptionKey(),
      tools: [customerTool(upstream.url), httpTool({ ...customerTool(upstream.url), name: 'crm.get_customer_too' })],
    });
    expect((await gateway.invoke({ agentKey: apiKey, tool: 'crm.get_customer', input: { id: '1' } })).status).toBe('succeeded');
    // The old key is left out: it sealed nothing in the store, and code-defined tools are never stored.
    await gateway.admin.rotateSecrets({ encryptionKey: { active: 'k2', keys: { k2: generateEncryptionKey() } } });
    for (const tool of ['crm.get_customer', 'crm.get_customer_too']) {
      expect((await gateway.invoke({ agentKey: apiKey, tool, input: { id: '2' } })).status).toBe('succeeded');
    }
    expect(upstream.seen.map((request) => request.authorization)).toEqual([TOKEN, TOKEN, TOKEN]);
  });

  it('a rotation goes past a tool whose secrets no key opens, and names it', async () => {
    const upstream = await crm();
    const oldKey = generateEncryptionKey();
    const store = memoryStore();
    const { gateway, apiKey } = await gatewayWith({ store, encryptionKey: { active: 'k1', keys: { k1: oldKey } } });
    for (const name of ['crm.broken', 'crm.orders']) {
      await gateway.admin.createTool({
        name,
        description: 'Orders',
        method: 'GET',
        url: `${upstream.url}/orders/{id}`,
        inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
        secretHeaders: { authorization: TOKEN },
        allowPrivateNetwork: true,
      });
    }
    // Its sealed value is damaged at rest.
    const broken = (await store.getTool('crm.broken')) as NonNullable<Awaited<ReturnType<typeof store.getTool>>>;
    const headers = (broken.definition as { secretHeaders: Record<string, { sealed: string }> }).secretHeaders;
    headers.authorization = { sealed: `${headers.authorization?.sealed.slice(0, -4)}AAAA` };
    await store.putTool(broken);

    const counts = await gateway.admin.rotateSecrets({
      encryptionKey: { active: 'k2', keys: { k1: oldKey, k2: generateEncryptionKey() } },
    });
    expect(counts).toEqual({ tools: 2, resealed: 1, unchanged: 0, unreadable: ['crm.broken'], approvals: 0, unreadableApprovals: [] });
    expect((await gateway.invoke({ agentKey: apiKey, tool: 'crm.orders', input: { id: '1' } })).status).toBe('succeeded');
    const rotated = (await gateway.admin.listAudit({ type: 'admin.secrets.rotated' })).items[0]?.event.data;
    expect(rotated).toMatchObject({ unreadable: ['crm.broken'], activeKeyId: 'k2' });
  });

  it('a rotation re-seals a stored tool this version refuses, and goes on with the tools after it', async () => {
    const upstream = await crm();
    const oldKey = generateEncryptionKey();
    const newKey = generateEncryptionKey();
    const store = memoryStore();
    const { gateway } = await gatewayWith({ store, encryptionKey: { active: 'k1', keys: { k1: oldKey } } });
    for (const name of ['crm.a', 'crm.b', 'crm.c']) {
      await gateway.admin.createTool({
        name,
        description: 'Orders',
        method: 'GET',
        url: `${upstream.url}/orders/{id}`,
        inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
        secretHeaders: { authorization: TOKEN },
        allowPrivateNetwork: true,
      });
    }
    // Stored as an earlier version took it, before the 256 MiB response cap.
    const old = (await store.getTool('crm.b')) as NonNullable<Awaited<ReturnType<typeof store.getTool>>>;
    await store.replaceTool({ ...old, definition: { ...old.definition, maxResponseBytes: 2 ** 30 } }, old);

    const counts = await gateway.admin.rotateSecrets({ encryptionKey: { active: 'k2', keys: { k1: oldKey, k2: newKey } } });
    expect(counts).toEqual({ tools: 3, resealed: 3, unchanged: 0, unreadable: [], approvals: 0, unreadableApprovals: [] });
    const stored = await store.listTools();
    for (const tool of stored) {
      const sealed = (tool.definition as { secretHeaders: Record<string, { sealed: string }> }).secretHeaders.authorization?.sealed;
      expect(sealed?.startsWith('atg.v1.k2.')).toBe(true);
    }
    expect(stored.find((tool) => tool.name === 'crm.b')?.definition).toMatchObject({ maxResponseBytes: 2 ** 30 });

    // The old key can go: the tools after the refused one were re-sealed too.
    const { gateway: retired, apiKey } = await gatewayWith({ store, encryptionKey: { active: 'k2', keys: { k2: newKey } } });
    expect(await retired.invoke({ agentKey: apiKey, tool: 'crm.c', input: { id: '1' } })).toMatchObject({ status: 'succeeded' });
    expect(upstream.seen.at(-1)?.authorization).toBe(TOKEN);
  });

  it('a rotation on an instance without a key is refused, rather than calling every sealed secret unreadable', async () => {
    const store = memoryStore();
    const { gateway: keyed } = await gatewayWith({ store, encryptionKey: generateEncryptionKey() });
    await keyed.admin.createTool({
      name: 'crm.orders',
      description: 'Orders',
      method: 'GET',
      url: 'https://crm.example.com/orders/{id}',
      inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      secretHeaders: { authorization: TOKEN },
    });
    const before = await store.getTool('crm.orders');
    const { gateway: keyless } = await gatewayWith({ store });
    const response = await keyless.fetch(jsonRequest('/admin/secrets/rotate', { key: adminTokens.admin, body: {} }));
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('no encryption key to re-seal with') });
    await expect(keyless.admin.rotateSecrets()).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(await store.getTool('crm.orders')).toEqual(before);
    expect((await keyless.admin.listAudit({ type: 'admin.secrets.rotated' })).items).toEqual([]);
  });

  it('POST /admin/secrets/rotate refuses a body, so a keyring sent there is not silently ignored', async () => {
    const oldKey = generateEncryptionKey();
    const newKey = generateEncryptionKey();
    const store = memoryStore();
    const { gateway } = await gatewayWith({ store, encryptionKey: { active: 'k1', keys: { k1: oldKey } } });
    await gateway.admin.createTool({
      name: 'crm.orders',
      description: 'Orders',
      method: 'GET',
      url: 'https://crm.example.com/orders/{id}',
      inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      secretHeaders: { authorization: TOKEN },
    });
    const server = await listen(createNodeHandler(gateway));
    closers.push(server.close);
    const rotate = (body?: string) =>
      fetch(`${server.url}/admin/secrets/rotate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminTokens.admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body }),
      });
    for (const body of [
      JSON.stringify({ encryptionKey: { active: 'k2', keys: { k1: oldKey, k2: newKey } } }),
      JSON.stringify({ encryptionKey: newKey }),
      '[]',
    ]) {
      const refused = await rotate(body);
      expect(refused.status).toBe(400);
      const text = await refused.text();
      expect(text).toContain('takes no body');
      expect(text).not.toContain(newKey);
      expect(text).not.toContain(oldKey);
    }
    expect((await gateway.admin.listAudit({ type: 'admin.secrets.rotated' })).items).toEqual([]);
    for (const body of [undefined, '{}']) {
      const rotated = await rotate(body);
      expect(rotated.status).toBe(200);
      expect(await rotated.json()).toMatchObject({ tools: 1, unchanged: 1 });
    }
  });

  it('a rotation racing a credential replacement never brings the old credential back; racing updates do not overwrite each other', async () => {
    const upstream = await crm();
    const oldKey = generateEncryptionKey();
    const { gateway, apiKey } = await gatewayWith({ encryptionKey: { active: 'k1', keys: { k1: oldKey } } });
    const tool = (name: string) => ({
      name,
      description: 'Orders',
      method: 'GET' as const,
      url: `${upstream.url}/orders/{id}`,
      inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      secretHeaders: { authorization: 'Bearer old-token-0001' },
      allowPrivateNetwork: true,
    });
    for (const name of ['crm.a', 'crm.b', 'crm.c', 'crm.orders']) await gateway.admin.createTool(tool(name));
    const [rotated, replaced] = await Promise.allSettled([
      gateway.admin.rotateSecrets({ encryptionKey: { active: 'k2', keys: { k1: oldKey, k2: generateEncryptionKey() } } }),
      gateway.admin.updateTool('crm.orders', { secretHeaders: { authorization: 'Bearer new-token-0002' } }),
    ]);
    expect(rotated.status).toBe('fulfilled');
    expect(replaced.status).toBe('fulfilled');
    expect((await gateway.invoke({ agentKey: apiKey, tool: 'crm.orders', input: { id: '1' } })).status).toBe('succeeded');
    expect(upstream.seen.at(-1)?.authorization).toBe('Bearer new-token-0002');
    // Every secret is under the new key now.
    expect(await gateway.admin.rotateSecrets()).toEqual({
      tools: 4,
      resealed: 0,
      unchanged: 4,
      unreadable: [],
      approvals: 0,
      unreadableApprovals: [],
    });

    // Two updates from the same read: the second is refused, not silently lost.
    const updates = await Promise.allSettled([
      gateway.admin.updateTool('crm.a', { description: 'first' }),
      gateway.admin.updateTool('crm.a', { description: 'second' }),
    ]);
    const kept = (await gateway.admin.getTool('crm.a')).description;
    for (const [index, update] of updates.entries()) {
      if (update.status === 'rejected') expect(update.reason).toMatchObject({ code: 'CONFLICT' });
      else if (updates.every((other) => other.status === 'fulfilled')) expect(kept).toBe('second');
      else expect(kept).toBe(['first', 'second'][index]);
    }

    // Two creates of one name at once: one is created, the other refused, never overwritten.
    const creates = await Promise.allSettled([
      gateway.admin.createTool({ ...tool('crm.twin'), url: `${upstream.url}/first/{id}` }),
      gateway.admin.createTool({ ...tool('crm.twin'), url: `${upstream.url}/second/{id}` }),
    ]);
    expect(creates.filter((create) => create.status === 'fulfilled')).toHaveLength(1);
    const refusedCreate = creates.find((create) => create.status === 'rejected') as PromiseRejectedResult;
    expect(refusedCreate.reason).toMatchObject({ code: 'CONFLICT', message: 'A tool named "crm.twin" exists' });
    const winner = creates.findIndex((create) => create.status === 'fulfilled');
    expect((await gateway.admin.getTool('crm.twin')).url).toBe(`${upstream.url}/${['first', 'second'][winner]}/{id}`);
  });
});

describe('a credential that cannot be opened', () => {
  it('fails the call and tells onError, without the value, once every 5 s per tool and header', async () => {
    const upstream = await crm();
    const store = memoryStore();
    const { gateway: writer } = await gatewayWith({ store, encryptionKey: generateEncryptionKey() });
    for (const name of ['crm.orders', 'crm.invoices']) {
      await writer.admin.createTool({
        name,
        description: name,
        method: 'GET',
        url: `${upstream.url}/${name}`,
        inputSchema: { type: 'object' },
        secretHeaders: { authorization: TOKEN },
        allowPrivateNetwork: true,
      });
    }
    // Another instance on the same store, deployed with the wrong key.
    let clock = 1_000_000;
    const reported: unknown[] = [];
    const { gateway, apiKey } = await gatewayWith({
      store,
      encryptionKey: generateEncryptionKey(),
      now: () => clock,
      onError: (error) => reported.push(error),
    });

    const rest = await gateway.fetch(jsonRequest('/tools/crm.orders/invoke', { key: apiKey, body: { input: {} } }));
    expect(rest.status).toBe(502);
    expect(((await rest.json()) as { error: { code: string } }).error.code).toBe('SECRET_UNAVAILABLE');
    const again = await gateway.invoke({ agentKey: apiKey, tool: 'crm.orders', input: {} });
    expect(again.status === 'error' && again.error.code).toBe('SECRET_UNAVAILABLE');
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatchObject({
      code: 'SECRET_UNAVAILABLE',
      message: expect.stringContaining('"authorization" of tool "crm.orders"'),
    });

    // Another tool is told of on its own; the first again once 5 s have passed.
    await gateway.invoke({ agentKey: apiKey, tool: 'crm.invoices', input: {} });
    expect(reported).toHaveLength(2);
    expect(reported[1]).toMatchObject({ message: expect.stringContaining('of tool "crm.invoices"') });
    clock += 4_999;
    await gateway.invoke({ agentKey: apiKey, tool: 'crm.orders', input: {} });
    expect(reported).toHaveLength(2);
    clock += 1;
    await gateway.invoke({ agentKey: apiKey, tool: 'crm.orders', input: {} });
    expect(reported).toHaveLength(3);

    for (const error of reported) {
      const told = `${String(error)} ${(error as Error).stack} ${String((error as Error).cause)} ${JSON.stringify(error)}`;
      expect(told).not.toContain('crm-live-token');
    }
    expect(upstream.seen).toEqual([]);
  });

  it('is masked in records from the first call after the key is fixed at runtime', async () => {
    const upstream = await crm();
    const store = memoryStore();
    const key = generateEncryptionKey();
    const { gateway: writer } = await gatewayWith({ store, encryptionKey: key });
    await writer.admin.createTool({
      name: 'crm.notes',
      description: 'Notes',
      method: 'POST',
      url: `${upstream.url}/notes`,
      inputSchema: { type: 'object', properties: { note: { type: 'string' } } },
      secretHeaders: { authorization: TOKEN },
      allowPrivateNetwork: true,
    });
    const { gateway, apiKey } = await gatewayWith({ store, encryptionKey: generateEncryptionKey() });
    const input = { note: 'the token is crm-live-token-7f3a9c2e5b1d4a8f' };
    const failed = await gateway.invoke({ agentKey: apiKey, tool: 'crm.notes', input });
    expect(failed.status === 'error' && failed.error.code).toBe('SECRET_UNAVAILABLE');
    // The right key, under the same key id: the stored value is already sealed under it.
    expect(await gateway.admin.rotateSecrets({ encryptionKey: key })).toMatchObject({ unchanged: 1, unreadable: [] });
    const ok = await gateway.invoke({ agentKey: apiKey, tool: 'crm.notes', input });
    expect(ok.status).toBe('succeeded');
    expect((await gateway.admin.getInvocation(ok.invocationId as string)).input).toEqual({ note: 'the token is ***' });
    expect(upstream.seen.map((request) => request.authorization)).toEqual([TOKEN]);
  });

  it('is told to onError when an approved call meets it too', async () => {
    const upstream = await crm();
    const store = memoryStore();
    const { gateway: writer } = await gatewayWith({ store, encryptionKey: generateEncryptionKey() });
    await writer.admin.createTool({
      name: 'crm.refund',
      description: 'Refund',
      method: 'POST',
      url: `${upstream.url}/refunds`,
      inputSchema: { type: 'object' },
      secretHeaders: { authorization: TOKEN },
      allowPrivateNetwork: true,
    });
    const reported: unknown[] = [];
    const { gateway, apiKey } = await gatewayWith({
      store,
      encryptionKey: generateEncryptionKey(),
      policy: [{ id: 'hold', effect: 'require_approval' }],
      onError: (error) => reported.push(error),
    });
    const pending = await gateway.invoke({ agentKey: apiKey, tool: 'crm.refund', input: {} });
    expect(pending.status).toBe('pending_approval');
    const approval = (pending as { approval: { id: string } }).approval;
    await gateway.admin.decide(approval.id, { decision: 'approve' }, { id: 'alice', roles: ['admin'] });
    const record = await gateway.admin.getInvocation(pending.invocationId as string);
    expect(record).toMatchObject({ status: 'failed', error: { code: 'SECRET_UNAVAILABLE' } });
    expect(reported).toEqual([expect.objectContaining({ code: 'SECRET_UNAVAILABLE' })]);
    expect(upstream.seen).toEqual([]);
  });
});

describe('admin: policies', () => {
  it('adds, changes and removes stored rules that take effect on the next call; code rules are read-only', async () => {
    const upstream = await crm();
    const gateway = createGateway({
      tools: [customerTool(upstream.url)],
      encryptionKey: generateEncryptionKey(),
      admin,
      policy: [{ id: 'code-allow', effect: 'allow', tools: ['crm.*'] }],
    });
    closers.push(() => gateway.close());
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot', tags: ['eu'] });
    const call = async () =>
      (await gateway.fetch(jsonRequest('/tools/crm.get_customer/invoke', { key: apiKey, body: { input: { id: 'vip' } } }))).status;
    const auth = { key: adminTokens.admin };
    expect(await call()).toBe(200);
    const created = await gateway.fetch(
      jsonRequest('/admin/policies', {
        ...auth,
        body: { id: 'no-vip', effect: 'deny', agents: ['tag:eu'], when: [{ path: 'id', op: 'eq', value: 'vip' }] },
      }),
    );
    expect(created.status).toBe(201);
    expect(await call()).toBe(403);
    const patched = await gateway.fetch(
      jsonRequest('/admin/policies/no-vip', { ...auth, method: 'PATCH', body: { effect: 'require_approval' } }),
    );
    expect(patched.status).toBe(200);
    expect(await call()).toBe(202);
    expect((await gateway.fetch(jsonRequest('/admin/policies/no-vip', { ...auth, method: 'DELETE' }))).status).toBe(204);
    expect(await call()).toBe(200);
    expect((await gateway.fetch(jsonRequest('/admin/policies/code-allow', { ...auth, method: 'DELETE' }))).status).toBe(409);
    const badPattern = await gateway.fetch(
      jsonRequest('/admin/policies', {
        ...auth,
        body: { id: 'bad', effect: 'deny', when: [{ path: 'id', op: 'matches', value: '(a)\\1' }] },
      }),
    );
    expect(badPattern.status).toBe(400);
    const list = (await (await gateway.fetch(jsonRequest('/admin/policies', auth))).json()) as {
      items: Array<{ id: string; readOnly: boolean }>;
    };
    expect(list.items).toEqual([expect.objectContaining({ id: 'code-allow', readOnly: true })]);
  });
});

describe('admin: PATCH with null', () => {
  it('removes an optional field of a rule or a tool (JSON merge patch); a required one is refused', async () => {
    const { gateway } = await gatewayWith({ encryptionKey: generateEncryptionKey() });
    const server = await listen(createNodeHandler(gateway));
    closers.push(server.close);
    const send = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminTokens.admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as any };
    };
    await send('POST', '/admin/policies', {
      id: 'refunds',
      effect: 'allow',
      tools: ['refunds.*'],
      when: [{ path: '$.amount', op: 'lte', value: 100 }],
      rateLimit: { limit: 5, windowMs: 60_000 },
    });
    // A deny rule takes no rateLimit: the change is possible only by removing it.
    const denied = await send('PATCH', '/admin/policies/refunds', { effect: 'deny', rateLimit: null, when: null });
    expect(denied.status).toBe(200);
    expect(denied.body).toMatchObject({ id: 'refunds', effect: 'deny', tools: ['refunds.*'] });
    expect(denied.body.rateLimit).toBeUndefined();
    expect(denied.body.when).toBeUndefined();
    for (const required of ['id', 'effect']) {
      const refused = await send('PATCH', '/admin/policies/refunds', { [required]: null });
      expect(refused.status).toBe(400);
    }

    await send('POST', '/admin/tools', {
      name: 'crm.search',
      title: 'Search',
      description: 'd',
      method: 'GET',
      url: 'https://crm.example.com/search',
      inputSchema: { type: 'object' },
      timeoutMs: 1000,
      secretHeaders: { authorization: TOKEN },
    });
    // Without its stored credential, the tool may move to another origin.
    const moved = await send('PATCH', '/admin/tools/crm.search', {
      title: null,
      timeoutMs: null,
      secretHeaders: null,
      url: 'https://other.example.com/search',
    });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ name: 'crm.search', url: 'https://other.example.com/search' });
    for (const field of ['title', 'timeoutMs', 'secretHeaders']) expect(moved.body[field]).toBeUndefined();
    for (const required of ['url', 'inputSchema', 'description']) {
      expect((await send('PATCH', '/admin/tools/crm.search', { [required]: null })).status).toBe(400);
    }
  });
});

describe('the deadline of an HTTP tool', () => {
  it('answers UPSTREAM_TIMEOUT and tears the upstream request down', async () => {
    // Never answers: only the gateway's deadline ends the call.
    const upstream = await silentUpstream();
    closers.push(upstream.close);
    const slow = httpTool({
      name: 'crm.slow',
      description: 'Never answers',
      method: 'GET',
      url: `${upstream.url}/slow`,
      inputSchema: { type: 'object' },
      allowPrivateNetwork: true,
      timeoutMs: 100,
    });
    const { gateway, apiKey } = await gatewayWith({ tools: [slow] });
    const outcome = await gateway.invoke({ agentKey: apiKey, tool: 'crm.slow', input: {} });
    expect(outcome.status === 'error' && outcome.error.code).toBe('UPSTREAM_TIMEOUT');
    await upstream.arrived;
    await upstream.closed;
    const timedOut = await gateway.admin.listInvocations({ status: 'timeout' });
    expect(timedOut.items).toHaveLength(1);
  });
});
