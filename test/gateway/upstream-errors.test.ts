import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, createGateway, generateEncryptionKey, httpTool } from '../../src/index.js';
import { jsonRequest, listen, mcpRequest } from '../helpers.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

/**
 * An upstream on loopback: `/ok` answers 200, `/broken` 200 with a body that breaks off, `/down` 503, `/denied` 403 naming an address,
 * `/echo-utf16` 500 in UTF-16 echoing `?text` and the authorization header, `/echo` 403 echoing `?text`.
 */
async function upstream() {
  const server = await listen((req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream.test');
    if (url.pathname === '/ok') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    } else if (url.pathname === '/broken') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"items":[');
      setImmediate(() => res.socket?.destroy());
    } else if (url.pathname === '/down') {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('service unavailable');
    } else if (url.pathname === '/echo-utf16') {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-16le' });
      res.end(Buffer.from(`denied: ${url.searchParams.get('text') ?? ''} with ${req.headers.authorization ?? ''}`, 'utf16le'));
    } else if (url.pathname === '/denied') {
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end('denied for 10.1.2.3');
    } else {
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end(`denied: ${url.searchParams.get('text') ?? ''}`);
    }
  });
  closers.push(server.close);
  return server;
}

function tool(name: string, url: string, extra: Partial<Parameters<typeof httpTool>[0]> = {}) {
  return httpTool({
    name,
    description: name,
    method: 'GET',
    url,
    inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
    allowPrivateNetwork: true,
    ...extra,
  });
}

async function gatewayWith(options: Parameters<typeof createGateway>[0]): Promise<{ gateway: Gateway; apiKey: string }> {
  const gateway = createGateway({ policy: [{ id: 'all', effect: 'allow' }], ...options });
  closers.push(() => gateway.close());
  const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
  return { gateway, apiKey };
}

async function outcomeEvent(gateway: Gateway, invocationId: string) {
  const { items } = await gateway.admin.listAudit({ type: 'invocation', limit: 1000 });
  return items.map((entry) => entry.event).find((event) => event.invocationId === invocationId && event.type !== 'invocation.started');
}

describe('the upstream status of a call', () => {
  it('is recorded when the upstream fails, and its invocation.failed event carries it as a success event does', async () => {
    const server = await upstream();
    const { gateway, apiKey } = await gatewayWith({
      tools: [tool('crm.ok', `${server.url}/ok`), tool('crm.down', `${server.url}/down`)],
    });

    const ok = await gateway.invoke({ agentKey: apiKey, tool: 'crm.ok' });
    expect(ok.status).toBe('succeeded');
    const okId = ok.invocationId as string;
    expect((await gateway.admin.getInvocation(okId)).upstreamStatus).toBe(200);
    expect((await outcomeEvent(gateway, okId))?.data).toMatchObject({ status: 'succeeded', upstreamStatus: 200 });

    const failed = await gateway.fetch(jsonRequest('/tools/crm.down/invoke', { key: apiKey, body: { input: {} } }));
    expect(failed.status).toBe(502);
    const body = (await failed.json()) as { invocationId: string; error: { code: string; details: { upstreamStatus: number } } };
    expect(body.error).toMatchObject({ code: 'UPSTREAM_ERROR', details: { upstreamStatus: 503 } });
    const record = await gateway.admin.getInvocation(body.invocationId);
    expect(record).toMatchObject({ status: 'failed', upstreamStatus: 503, error: { code: 'UPSTREAM_ERROR' } });
    const event = await outcomeEvent(gateway, body.invocationId);
    expect(event?.type).toBe('invocation.failed');
    expect(event?.data).toMatchObject({ status: 'failed', upstreamStatus: 503, error: { code: 'UPSTREAM_ERROR' } });
  });

  it('is kept when the upstream answered with output the tool refuses', async () => {
    const server = await upstream();
    const { gateway, apiKey } = await gatewayWith({
      tools: [
        tool('crm.strict', `${server.url}/ok`, {
          outputSchema: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] },
        }),
      ],
    });
    const failed = await gateway.fetch(jsonRequest('/tools/crm.strict/invoke', { key: apiKey, body: { input: {} } }));
    expect(failed.status).toBe(502);
    const body = (await failed.json()) as { invocationId: string; error: { code: string; details: Record<string, unknown> } };
    expect(body.error.code).toBe('UPSTREAM_ERROR');
    expect(body.error.details).toMatchObject({ upstreamStatus: 200, issues: [{ path: '/n', message: 'is required' }] });
    expect(await gateway.admin.getInvocation(body.invocationId)).toMatchObject({ status: 'failed', upstreamStatus: 200 });
    expect((await outcomeEvent(gateway, body.invocationId))?.data).toMatchObject({ upstreamStatus: 200 });
  });

  it('is kept when the upstream answered and its body broke off', async () => {
    const server = await upstream();
    const { gateway, apiKey } = await gatewayWith({ tools: [tool('crm.broken', `${server.url}/broken`)] });
    const outcome = await gateway.invoke({ agentKey: apiKey, tool: 'crm.broken' });
    expect(outcome.status === 'error' && outcome.error).toMatchObject({ code: 'UPSTREAM_ERROR', details: { upstreamStatus: 200 } });
    const record = await gateway.admin.getInvocation(outcome.invocationId as string);
    expect(record).toMatchObject({ status: 'failed', upstreamStatus: 200 });
    expect((await outcomeEvent(gateway, record.id))?.data).toMatchObject({ upstreamStatus: 200 });
  });

  it('stays empty when the upstream never answered', async () => {
    const server = await upstream();
    await server.close();
    const { gateway, apiKey } = await gatewayWith({ tools: [tool('crm.gone', `${server.url}/ok`)] });
    const outcome = await gateway.invoke({ agentKey: apiKey, tool: 'crm.gone' });
    expect(outcome.status === 'error' && outcome.error.code).toBe('UPSTREAM_ERROR');
    const record = await gateway.admin.getInvocation(outcome.invocationId as string);
    expect(record.upstreamStatus).toBeNull();
    expect((await outcomeEvent(gateway, record.id))?.data).not.toHaveProperty('upstreamStatus');
  });
});

describe('the excerpt of an upstream error', () => {
  it("gets the tool's own redaction everywhere: response, MCP result, record and GET /invocations/{id}", async () => {
    const server = await upstream();
    const { gateway, apiKey } = await gatewayWith({
      tools: [tool('crm.denied', `${server.url}/denied`, { redact: { detectors: { ipv4: true } } })],
    });

    const rest = await gateway.fetch(jsonRequest('/tools/crm.denied/invoke', { key: apiKey, body: { input: {} } }));
    expect(rest.status).toBe(502);
    const restBody = (await rest.json()) as { invocationId: string; error: { details: { upstreamStatus: number; excerpt: string } } };
    expect(restBody.error.details).toEqual({ upstreamStatus: 403, excerpt: 'denied for ***' });

    const mcp = await gateway.fetch(
      mcpRequest(apiKey, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'crm.denied', arguments: {} } }),
    );
    const mcpText = await mcp.text();
    expect(mcpText).toContain('denied for ***');
    expect(mcpText).not.toContain('10.1.2.3');

    const record = await gateway.admin.getInvocation(restBody.invocationId);
    expect(record.error).toMatchObject({ code: 'UPSTREAM_ERROR', details: { excerpt: 'denied for ***' } });
    const polled = await gateway.fetch(jsonRequest(`/invocations/${restBody.invocationId}`, { key: apiKey }));
    expect(((await polled.json()) as { error: unknown }).error).toMatchObject({ details: { excerpt: 'denied for ***' } });

    const everything = JSON.stringify([
      await gateway.admin.listInvocations({ limit: 1000 }),
      await gateway.admin.listAudit({ limit: 1000 }),
    ]);
    expect(everything).not.toContain('10.1.2.3');
  });

  it('also gets the redaction that the matching policy rules add, and in-process callers see only that', async () => {
    const server = await upstream();
    const { gateway, apiKey } = await gatewayWith({
      tools: [tool('crm.echo', `${server.url}/echo`)],
      policy: [{ id: 'echo-masked', effect: 'allow', tools: ['crm.echo'], redact: { detectors: { ipv4: 'hash' } } }],
    });
    const outcome = await gateway.invoke({ agentKey: apiKey, tool: 'crm.echo', input: { text: 'from 192.168.7.9' } });
    expect(outcome.status).toBe('error');
    if (outcome.status !== 'error') return;
    const details = outcome.error.details as { upstreamStatus: number; excerpt: string };
    expect(details.upstreamStatus).toBe(403);
    expect(details.excerpt).toMatch(/^denied: from hmac:[0-9a-f]{16}$/);
    expect(JSON.stringify(outcome.error.toJSON())).not.toContain('192.168.7.9');
    const record = await gateway.admin.getInvocation(outcome.invocationId as string);
    expect(record.error).toMatchObject({ details: { excerpt: details.excerpt } });
  });

  it('is decoded in the charset the upstream names before the secret scrubber and the redaction run', async () => {
    const server = await upstream();
    const { gateway, apiKey } = await gatewayWith({
      tools: [
        tool('crm.utf16', `${server.url}/echo-utf16`, {
          secretHeaders: { authorization: 'Bearer sk_live_Q8wz3Rt5Yp7Lk2Mn' },
          redact: { detectors: { ipv4: true } },
        }),
      ],
      encryptionKey: generateEncryptionKey(),
    });
    const outcome = await gateway.invoke({ agentKey: apiKey, tool: 'crm.utf16', input: { text: 'from 10.9.8.7' } });
    expect(outcome.status).toBe('error');
    if (outcome.status !== 'error') return;
    expect(outcome.error.details).toEqual({ upstreamStatus: 500, excerpt: 'denied: from *** with ***' });
    const everything = JSON.stringify([
      outcome.error.toJSON(),
      await gateway.admin.listInvocations({ limit: 1000 }),
      await gateway.admin.listAudit({ limit: 1000 }),
    ]);
    expect(everything).not.toContain('sk_live');
    expect(everything).not.toContain('10.9.8.7');
  });

  it('keeps its bound of 512 characters when the redaction makes it longer', async () => {
    const server = await upstream();
    const { gateway, apiKey } = await gatewayWith({
      tools: [tool('crm.echo', `${server.url}/echo`, { redact: { detectors: { ipv4: 'hash' } } })],
    });
    const addresses = Array.from({ length: 30 }, (_, index) => `10.0.0.${index}`).join(' ');
    const outcome = await gateway.invoke({ agentKey: apiKey, tool: 'crm.echo', input: { text: addresses } });
    expect(outcome.status).toBe('error');
    if (outcome.status !== 'error') return;
    const excerpt = (outcome.error.details as { excerpt: string }).excerpt;
    expect(excerpt.startsWith('denied: hmac:')).toBe(true);
    expect(excerpt).toHaveLength(512);
    expect(excerpt).not.toMatch(/10\.0\.0\./);
  });
  it('finds a value that straddles the cut at 512 characters, on the direct and the approval path', async () => {
    const server = await upstream();
    const { gateway, apiKey } = await gatewayWith({
      tools: [tool('crm.echo', `${server.url}/echo`, { redact: { detectors: { ipv4: true } } })],
      policy: [
        { id: 'held', effect: 'require_approval', tools: ['crm.echo'], when: [{ path: 'text', op: 'matches', value: '^held' }] },
        { id: 'all', effect: 'allow' },
      ],
    });
    // "denied: " and the padding put the address at 506..516: a cut excerpt would end in "10.20.".
    const direct = await gateway.invoke({ agentKey: apiKey, tool: 'crm.echo', input: { text: `${'a'.repeat(497)} 10.20.30.40 tail` } });
    expect(direct.status).toBe('error');
    if (direct.status !== 'error') return;
    const excerpt = (direct.error.details as { excerpt: string }).excerpt;
    expect(excerpt).toBe(`denied: ${'a'.repeat(497)} *** ta`);

    const held = await gateway.invoke({ agentKey: apiKey, tool: 'crm.echo', input: { text: `held${'a'.repeat(493)} 10.20.30.40 tail` } });
    expect(held.status).toBe('pending_approval');
    const approvalId = held.status === 'pending_approval' ? held.approval.id : '';
    const decided = await gateway.admin.decide(approvalId, { decision: 'approve' }, { id: 'bob', roles: ['approver'] });
    expect(decided.outcome.status).toBe('error');

    const everything = JSON.stringify([
      decided,
      await gateway.admin.listInvocations({ limit: 1000 }),
      await gateway.admin.listAudit({ limit: 1000 }),
    ]);
    expect(everything).toContain(`held${'a'.repeat(493)} ***`);
    expect(everything).not.toContain('10.20.');
  });
});

describe('an approved call whose upstream fails', () => {
  it('records the upstream status and the redacted excerpt as a direct call does', async () => {
    const server = await upstream();
    const { gateway, apiKey } = await gatewayWith({
      tools: [tool('crm.denied', `${server.url}/denied`, { redact: { detectors: { ipv4: true } } })],
      policy: [{ id: 'held', effect: 'require_approval' }],
    });
    const held = await gateway.invoke({ agentKey: apiKey, tool: 'crm.denied' });
    expect(held.status).toBe('pending_approval');
    const approvalId = held.status === 'pending_approval' ? held.approval.id : '';

    const decided = await gateway.admin.decide(approvalId, { decision: 'approve' }, { id: 'bob', roles: ['approver'] });
    expect(decided.outcome.status).toBe('error');
    const record = await gateway.admin.getInvocation(held.invocationId as string);
    expect(record).toMatchObject({
      status: 'failed',
      upstreamStatus: 403,
      error: { code: 'UPSTREAM_ERROR', details: { upstreamStatus: 403, excerpt: 'denied for ***' } },
    });
    const event = await outcomeEvent(gateway, held.invocationId as string);
    expect(event?.type).toBe('invocation.failed');
    expect(event?.data).toMatchObject({ approvalId, status: 'failed', upstreamStatus: 403, error: { code: 'UPSTREAM_ERROR' } });

    const everything = JSON.stringify([
      decided,
      await gateway.admin.listInvocations({ limit: 1000 }),
      await gateway.admin.listAudit({ limit: 1000 }),
    ]);
    expect(everything).not.toContain('10.1.2.3');
  });
});
