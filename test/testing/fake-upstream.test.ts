import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, createGateway, httpTool, secret } from '../../src/index.js';
import { type FakeUpstream, createFakeUpstream } from '../../src/testing/index.js';

let upstream: FakeUpstream | undefined;
let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  await upstream?.close();
  gateway = undefined;
  upstream = undefined;
});

const customerSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, expand: { type: 'string' } },
  required: ['id'],
  additionalProperties: false,
} as const;

function crmGateway(url: string, overrides: Partial<Parameters<typeof httpTool>[0]> = {}) {
  return createGateway({
    tools: [
      httpTool({
        name: 'crm.customer',
        description: 'A customer',
        method: 'GET',
        url: `${url}/customers/{id}`,
        inputSchema: customerSchema,
        secretHeaders: { authorization: secret('Bearer crm-test-token-123') },
        ...overrides,
      }),
      httpTool({
        name: 'crm.note',
        description: 'Add a note',
        method: 'POST',
        url: `${url}/customers/{id}/notes`,
        inputSchema: {
          type: 'object',
          properties: { id: { type: 'string' }, text: { type: 'string' } },
          required: ['id', 'text'],
          additionalProperties: false,
        },
      }),
    ],
    policy: [{ id: 'all', effect: 'allow' }],
    allowPrivateNetwork: ['127.0.0.1/32'],
    dev: true,
  });
}

describe('createFakeUpstream', () => {
  it('answers a real gateway by route and records what the tool sent, the credential included', async () => {
    upstream = await createFakeUpstream({
      routes: {
        'GET /customers/:id': (request) => ({ json: { id: request.params.id, email: 'ann@example.com' } }),
        'POST /customers/:id/notes': { status: 201, json: { saved: true } },
      },
    });
    gateway = crmGateway(upstream.url);
    const { apiKey } = await gateway.admin.createAgent({ name: 'test-agent' });

    const read = await gateway.invoke({ agentKey: apiKey, tool: 'crm.customer', input: { id: 'c 42', expand: 'orders' } });
    expect(read).toMatchObject({ status: 'succeeded', output: { id: 'c 42', email: '***' } });
    const note = await gateway.invoke({ agentKey: apiKey, tool: 'crm.note', input: { id: 'c-42', text: 'called back' } });
    expect(note).toMatchObject({ status: 'succeeded', output: { saved: true } });

    expect(upstream.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      'GET /customers/c%2042',
      'POST /customers/c-42/notes',
    ]);
    const [first, second] = upstream.requests;
    expect(first?.params).toEqual({ id: 'c 42' });
    expect(first?.query.get('expand')).toBe('orders');
    expect(first?.headers.authorization).toBe('Bearer crm-test-token-123');
    expect(second?.json).toEqual({ text: 'called back' });
    expect(second?.headers.authorization).toBeUndefined();

    upstream.reset();
    expect(upstream.requests).toEqual([]);
  });

  it('scripts failures: an error status, a replaced route, an unknown route, a throwing route', async () => {
    upstream = await createFakeUpstream({ routes: { '/customers/:id': { status: 503, text: 'CRM is down for ann@example.com' } } });
    gateway = crmGateway(upstream.url);
    const { apiKey } = await gateway.admin.createAgent({ name: 'test-agent' });
    const call = (id: string) => gateway?.invoke({ agentKey: apiKey, tool: 'crm.customer', input: { id } });

    expect(await call('c-1')).toMatchObject({
      status: 'error',
      error: { code: 'UPSTREAM_ERROR', details: { upstreamStatus: 503, excerpt: 'CRM is down for ***' } },
    });
    upstream.route('/customers/:id', () => {
      throw new Error('scripted failure');
    });
    expect(await call('c-1')).toMatchObject({ error: { details: { upstreamStatus: 500, excerpt: '{"error":"scripted failure"}' } } });
    // The route added last answers where both match.
    upstream.route('GET /customers/:id', { body: new Uint8Array([1, 2, 3]), headers: { 'content-type': 'application/octet-stream' } });
    expect(await call('c-1')).toMatchObject({ status: 'succeeded', output: { contentType: 'application/octet-stream', base64: 'AQID' } });

    const notes = await gateway.invoke({ agentKey: apiKey, tool: 'crm.note', input: { id: 'c-1', text: 'x' } });
    expect(notes).toMatchObject({
      error: { details: { upstreamStatus: 404, excerpt: '{"error":"No fake route for POST /customers/c-1/notes"}' } },
    });
  });

  it('records and routes the path as the tool sent it: a doubled slash is not read as a host', async () => {
    upstream = await createFakeUpstream({ routes: { 'GET /customers/:id': { json: { ok: true } }, '/c-1': { json: { wrong: true } } } });
    // A base URL with a trailing slash, joined to a path: the tool sends //customers/c-1.
    gateway = crmGateway(`${upstream.url}/`);
    const { apiKey } = await gateway.admin.createAgent({ name: 'test-agent' });
    const outcome = await gateway.invoke({ agentKey: apiKey, tool: 'crm.customer', input: { id: 'c-1' } });
    expect(upstream.requests.map((request) => request.path)).toEqual(['//customers/c-1']);
    expect(outcome).toMatchObject({
      error: { details: { upstreamStatus: 404, excerpt: '{"error":"No fake route for GET //customers/c-1"}' } },
    });
  });

  it('keeps dot segments, backslashes and the characters it was sent, and reads the query up to a fragment', async () => {
    upstream = await createFakeUpstream({
      routes: { '/': { json: 'root' }, 'GET /customers/:id': (request) => ({ json: request.params }) },
    });
    const get = (path: string) =>
      new Promise<string>((resolve, reject) => {
        const { port } = new URL(upstream?.url ?? '');
        request({ host: '127.0.0.1', port, path }, (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => resolve(text));
        })
          .on('error', reject)
          .end();
      });
    expect(await get('/customers/%2e%2e')).toBe('{"id":".."}');
    expect(await get('/customers/..')).toBe('{"id":".."}');
    expect(await get('/customers/a\\b')).toBe('{"id":"a\\\\b"}');
    expect(await get('/customers/{x}?expand=a%20b&expand=c#fragment')).toBe('{"id":"{x}"}');
    expect(upstream.requests.map((request) => request.path)).toEqual([
      '/customers/%2e%2e',
      '/customers/..',
      '/customers/a\\b',
      '/customers/{x}',
    ]);
    expect(upstream.requests[3]?.query.getAll('expand')).toEqual(['a b', 'c']);
  });

  it('sends the content-type a route gives, in whatever case, instead of the one json or text implies', async () => {
    upstream = await createFakeUpstream({
      routes: {
        '/problem': { status: 422, json: { title: 'bad' }, headers: { 'Content-Type': 'application/problem+json' } },
        '/html': { text: '<p>hi</p>', headers: { 'CONTENT-TYPE': 'text/html; charset=utf-8', 'X-Trace': 't-1' } },
      },
    });
    const problem = await fetch(`${upstream.url}/problem`);
    expect(problem.status).toBe(422);
    expect(problem.headers.get('content-type')).toBe('application/problem+json');
    expect(await problem.json()).toEqual({ title: 'bad' });
    const html = await fetch(`${upstream.url}/html`);
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(html.headers.get('x-trace')).toBe('t-1');
    expect(await html.text()).toBe('<p>hi</p>');
  });

  it('hangs on request, so a tool deadline is tested without depending on timing', async () => {
    upstream = await createFakeUpstream({ routes: { 'GET /customers/:id': { hang: true } } });
    gateway = crmGateway(upstream.url, { timeoutMs: 200 });
    const { apiKey } = await gateway.admin.createAgent({ name: 'test-agent' });
    const outcome = await gateway.invoke({ agentKey: apiKey, tool: 'crm.customer', input: { id: 'c-1' } });
    expect(outcome).toMatchObject({ status: 'error', error: { code: 'UPSTREAM_TIMEOUT' } });
    expect(upstream.requests).toHaveLength(1);
  });

  it('answers in a route function after whatever the test waits for', async () => {
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    upstream = await createFakeUpstream({
      routes: {
        'GET /customers/:id': async () => {
          await released;
          return { json: { ok: true } };
        },
      },
    });
    gateway = crmGateway(upstream.url);
    const { apiKey } = await gateway.admin.createAgent({ name: 'test-agent' });
    const pending = gateway.invoke({ agentKey: apiKey, tool: 'crm.customer', input: { id: 'c-1' } });
    await expect.poll(() => upstream?.requests.length).toBe(1);
    release();
    expect(await pending).toMatchObject({ status: 'succeeded', output: { ok: true } });
  });

  it('refuses a route pattern it cannot read', async () => {
    await expect(createFakeUpstream({ routes: { 'customers/:id': {} } })).rejects.toThrow(/must be "METHOD \/path" or "\/path"/);
    upstream = await createFakeUpstream();
    expect(() => upstream?.route('GET', {})).toThrow(TypeError);
    // A route matches the path alone: one naming a query would never answer.
    expect(() => upstream?.route('GET /customers?page=2', { status: 503 })).toThrow(/must name a path only/);
    await expect(createFakeUpstream({ routes: { '/customers#top': {} } })).rejects.toThrow(/must name a path only/);
  });
});
