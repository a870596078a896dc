import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, createGateway, defineTool, memoryStore } from '../../src/index.js';
import { newAgentKey } from '../../src/auth/agent-keys.js';
import { adminTokens, echo, testGateway } from '../fixtures.js';
import { createNodeHandler } from '../../adapters/node.js';
import { jsonRequest, listen } from '../helpers.js';

let gateway: Gateway;
afterEach(async () => {
  await gateway?.close();
});

async function setup(overrides = {}) {
  gateway = testGateway(overrides);
  const { apiKey, agent } = await gateway.admin.createAgent({ name: 'support-bot', tags: ['support'] });
  return { apiKey, agent };
}

async function invoke(key: string | undefined, tool: string, body: unknown, headers?: Record<string, string>) {
  const response = await gateway.fetch(
    jsonRequest(`/tools/${encodeURIComponent(tool)}/invoke`, { key, body, ...(headers ? { headers } : {}) }),
  );
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

describe('REST invoke', () => {
  it('runs an allowed call and answers 200 with the output', async () => {
    const { apiKey } = await setup();
    const result = await invoke(apiKey, 'echo', { input: { text: 'hi' } });
    expect(result.status).toBe(200);
    expect(result.body).toEqual({ invocationId: expect.any(String), status: 'succeeded', output: { text: 'hi' } });
  });

  it('answers output: null for a tool that returns nothing, also on a replay and in the invocation', async () => {
    const clear = defineTool({ name: 'cache.clear', description: 'x', inputSchema: { type: 'object' } as const, handler: () => undefined });
    const { apiKey } = await setup({ tools: [clear], policy: [{ id: 'all', effect: 'allow' }] });
    const first = await invoke(apiKey, 'cache.clear', { input: {}, idempotencyKey: 'clear-1' });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ invocationId: expect.any(String), status: 'succeeded', output: null });
    const replay = await invoke(apiKey, 'cache.clear', { input: {}, idempotencyKey: 'clear-1' });
    expect(replay.body).toEqual(first.body);
    const read = await gateway.fetch(jsonRequest(`/invocations/${first.body.invocationId}`, { key: apiKey }));
    expect(await read.json()).toMatchObject({ status: 'succeeded', output: null });
  });

  it('lists only the tools this agent may call', async () => {
    const { apiKey } = await setup({
      tools: [echo, defineTool({ name: 'hidden', description: 'x', inputSchema: { type: 'object' } as const, handler: () => 1 })],
    });
    const response = await gateway.fetch(jsonRequest('/tools', { key: apiKey }));
    expect(response.status).toBe(200);
    const body = (await response.json()) as { items: Array<{ name: string; inputSchema: unknown }> };
    expect(body.items.map((tool) => tool.name)).toEqual(['echo']);
    expect(body.items[0]?.inputSchema).toEqual(echo.inputSchema);
  });

  it('answers HEAD on GET routes as GET without the body, over fetch and over node:http', async () => {
    const { apiKey } = await setup();
    const head = (path: string, key: string) =>
      gateway.fetch(new Request(`http://gateway.test${path}`, { method: 'HEAD', headers: { authorization: `Bearer ${key}` } }));
    const tools = await head('/tools', apiKey);
    expect(tools.status).toBe(200);
    expect(tools.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await tools.text()).toBe('');
    expect((await head('/tools', 'atg_nobody')).status).toBe(401);
    expect((await head('/admin/agents', adminTokens.admin)).status).toBe(200);
    // Routes without GET refuse HEAD too; routes with GET say HEAD is allowed.
    const invokeHead = await head('/tools/echo/invoke', apiKey);
    expect(invokeHead.status).toBe(405);
    expect(invokeHead.headers.get('allow')).toBe('POST');
    const postTools = await gateway.fetch(jsonRequest('/tools', { key: apiKey, body: {} }));
    expect(postTools.headers.get('allow')).toBe('GET, HEAD');

    const server = await listen(createNodeHandler(gateway));
    try {
      const overHttp = await fetch(`${server.url}/tools`, { method: 'HEAD', headers: { authorization: `Bearer ${apiKey}` } });
      expect(overHttp.status).toBe(200);
      expect(await overHttp.text()).toBe('');
    } finally {
      await server.close();
    }
  });

  it('answers every authentication failure with the same 401', async () => {
    const { apiKey, agent } = await setup();
    const expired = await gateway.admin.createAgent({ name: 'old', expiresAt: '2000-01-01T00:00:00Z' });
    const disabled = await gateway.admin.createAgent({ name: 'off' });
    await gateway.admin.disableAgent(disabled.agent.id);
    const revoked = await gateway.admin.createAgent({ name: 'gone' });
    await gateway.admin.revokeAgent(revoked.agent.id);
    const tampered = `${apiKey.slice(0, -1)}${apiKey.endsWith('A') ? 'B' : 'A'}`;
    const wrongSecret = `atg_${agent.id}_${'x'.repeat(38)}`;
    // Well formed, valid checksum, the agent's id: only the stored hash can refuse it.
    const forged = newAgentKey(agent.id);
    const attempts = [undefined, 'nonsense', tampered, wrongSecret, forged, expired.apiKey, disabled.apiKey, revoked.apiKey];
    const bodies = new Set<string>();
    for (const key of attempts) {
      const result = await invoke(key, 'echo', { input: { text: 'hi' } });
      expect(result.status).toBe(401);
      expect(result.headers.get('www-authenticate')).toMatch(/^Bearer/);
      bodies.add(JSON.stringify(result.body));
    }
    expect(bodies.size).toBe(1);
    const audit = await gateway.admin.listAudit({ type: 'auth.failed', limit: 100 });
    expect(audit.items.length).toBe(attempts.length);
  });

  it('never accepts a key in the query string', async () => {
    const { apiKey } = await setup();
    const response = await gateway.fetch(new Request(`http://gateway.test/tools?access_token=${apiKey}&key=${apiKey}`, { method: 'GET' }));
    expect(response.status).toBe(401);
  });

  it('refuses malformed JSON, wrong shapes, wrong media types and oversized bodies', async () => {
    const { apiKey } = await setup({ maxBodyBytes: 2048 });
    expect((await invoke(apiKey, 'echo', '{"input": ')).body.error.code).toBe('BAD_REQUEST');
    expect((await invoke(apiKey, 'echo', { input: [1] })).status).toBe(400);
    expect((await invoke(apiKey, 'echo', { input: { text: 'x' }, extra: 1 })).status).toBe(400);
    expect((await invoke(apiKey, 'echo', [1, 2])).status).toBe(400);
    expect((await invoke(apiKey, 'echo', { input: { text: 'x' }, idempotencyKey: 5 })).status).toBe(400);
    const media = await invoke(apiKey, 'echo', '{"input":{"text":"x"}}', { 'content-type': 'text/plain' });
    expect(media.status).toBe(415);
    expect(media.body.error).toEqual({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Content-Type must be application/json, in UTF-8' });
    // JSON in another charset would be read as something else: refused, not turned into U+FFFD.
    for (const contentType of ['application/json; charset=iso-8859-1', 'application/json;charset="utf-16"']) {
      expect((await invoke(apiKey, 'echo', '{"input":{"text":"x"}}', { 'content-type': contentType })).status).toBe(415);
    }
    for (const contentType of ['application/json; charset=UTF-8', 'application/json;charset="utf8"', 'application/vnd.api+json']) {
      expect((await invoke(apiKey, 'echo', '{"input":{"text":"x"}}', { 'content-type': contentType })).status).toBe(200);
    }
    const large = await invoke(apiKey, 'echo', { input: { text: 'x'.repeat(5000) } });
    expect(large.status).toBe(413);
    expect(large.body.error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers a compressed body with 415 and Accept-Encoding: identity over node:http, at REST and MCP', async () => {
    const { apiKey } = await setup();
    const server = await listen(createNodeHandler(gateway));
    try {
      const send = (path: string, body: string, encoding: string, headers: Record<string, string> = {}) =>
        fetch(`${server.url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'content-encoding': encoding, ...headers },
          body: encoding === 'identity' ? body : gzipSync(body),
        });
      const invokeBody = '{"input":{"text":"x"}}';
      const gzipped = await send('/tools/echo/invoke', invokeBody, 'gzip');
      expect(gzipped.status).toBe(415);
      expect(gzipped.headers.get('accept-encoding')).toBe('identity');
      expect(((await gzipped.json()) as { error: { code: string } }).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect((await send('/tools/echo/invoke', invokeBody, 'identity')).status).toBe(200);
      const mcp = await send('/mcp', '{"jsonrpc":"2.0","id":1,"method":"ping"}', 'gzip', {
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
      });
      expect(mcp.status).toBe(415);
      expect(mcp.headers.get('accept-encoding')).toBe('identity');
    } finally {
      await server.close();
    }
  });

  it('answers 422 with the failing paths when input breaks the schema', async () => {
    const { apiKey } = await setup();
    const result = await invoke(apiKey, 'refunds.create', { input: { orderId: 7, amount: -1, note: 'x' } });
    expect(result.status).toBe(422);
    expect(result.body.error.code).toBe('INVALID_INPUT');
    const paths = result.body.error.details.map((issue: { path: string }) => issue.path).sort();
    expect(paths).toEqual(['/amount', '/note', '/orderId']);
    expect(result.body.invocationId).toEqual(expect.any(String));
  });

  it('checks properties named like members every object inherits (valueOf, toString) on the input itself', async () => {
    const seen: unknown[] = [];
    const tool = defineTool({
      name: 'js.names',
      description: 'x',
      inputSchema: {
        type: 'object',
        properties: { valueOf: { type: 'string' }, toString: { type: 'string' }, hasOwnProperty: { type: 'integer' } },
        required: ['toString'],
        additionalProperties: false,
      } as const,
      handler: (input) => {
        seen.push(input);
        return { ok: true };
      },
    });
    const { apiKey } = await setup({ tools: [tool], policy: [{ id: 'all', effect: 'allow' }] });
    // Absent, a required one is missing (not the inherited function), an optional one is fine.
    const missing = await invoke(apiKey, 'js.names', { input: {} });
    expect(missing.status).toBe(422);
    expect(missing.body.error.details).toEqual([{ path: '/toString', message: 'is required' }]);
    expect((await invoke(apiKey, 'js.names', { input: { toString: 't' } })).status).toBe(200);
    expect((await invoke(apiKey, 'js.names', { input: { toString: 't', valueOf: 'v', hasOwnProperty: 3 } })).status).toBe(200);
    const wrong = await invoke(apiKey, 'js.names', { input: { toString: 't', valueOf: 1 } });
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.details).toEqual([{ path: '/valueOf', message: 'must be string' }]);
    const expected: unknown[] = [{ toString: 't' }, { toString: 't', valueOf: 'v', hasOwnProperty: 3 }];
    expect(seen).toEqual(expected);
  });

  it('does not coerce types', async () => {
    const { apiKey } = await setup();
    const result = await invoke(apiKey, 'refunds.create', { input: { orderId: 'A1', amount: '5' } });
    expect(result.status).toBe(422);
  });

  it('answers 404 for unknown tools, look-alike names and tools the agent may not see, identically', async () => {
    const { apiKey } = await setup({
      tools: [echo, defineTool({ name: 'secret.tool', description: 'x', inputSchema: { type: 'object' } as const, handler: () => 1 })],
    });
    const unknown = await invoke(apiKey, 'nope', { input: {} });
    const folded = await invoke(apiKey, 'ECHO', { input: { text: 'x' } });
    const lookAlike = await invoke(apiKey, 'ech\u043e', { input: { text: 'x' } });
    const invisible = await invoke(apiKey, 'secret.tool', { input: {} });
    for (const result of [unknown, folded, lookAlike, invisible]) {
      expect(result.status).toBe(404);
      expect(result.body.error.code).toBe('TOOL_NOT_FOUND');
    }
  });

  it('answers 403 with the denying rule ids, and 202 when approval is required', async () => {
    const { apiKey } = await setup();
    const denied = await invoke(apiKey, 'refunds.create', { input: { orderId: 'FRAUD-1', amount: 5 } });
    expect(denied.status).toBe(403);
    expect(denied.body.error).toMatchObject({ code: 'POLICY_DENIED', details: { rule: ['no-fraud'] } });
    const small = await invoke(apiKey, 'refunds.create', { input: { orderId: 'A1', amount: 5 } });
    expect(small.status).toBe(200);
    const big = await invoke(apiKey, 'refunds.create', { input: { orderId: 'A1', amount: 500 } });
    expect(big.status).toBe(202);
    expect(big.body).toMatchObject({ status: 'pending_approval', approval: { id: expect.any(String), expiresAt: expect.any(String) } });
    const repeat = await invoke(apiKey, 'refunds.create', { input: { orderId: 'A1', amount: 500 } });
    expect(repeat.body.approval.id).toBe(big.body.approval.id);
    expect(repeat.body.invocationId).toBe(big.body.invocationId);
    const approvals = await gateway.admin.listApprovals({ status: 'pending' });
    expect(approvals.items).toHaveLength(1);
    expect(approvals.items[0]).toMatchObject({ tool: 'refunds.create', ruleIds: ['refunds-big'], input: { orderId: 'A1', amount: 500 } });
  });

  it('rejects prototype-pollution keys and hostile nesting before any handler', async () => {
    let ran = 0;
    const open = defineTool({
      name: 'open',
      description: 'accepts anything',
      inputSchema: { type: 'object' } as const,
      handler: () => {
        ran++;
        return {};
      },
    });
    const { apiKey } = await setup({ tools: [open], policy: [{ id: 'all', effect: 'allow' }], maxInputDepth: 10 });
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      const result = await invoke(apiKey, 'open', `{"input":{"a":{"${key}":{"polluted":true}}}}`);
      expect(result.status).toBe(400);
    }
    let deep: unknown = {};
    for (let index = 0; index < 20; index++) deep = { a: deep };
    expect((await invoke(apiKey, 'open', { input: deep })).status).toBe(400);
    expect(ran).toBe(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keeps a crash inside a handler client-safe and recorded', async () => {
    const crash = defineTool({
      name: 'crash',
      description: 'throws',
      inputSchema: { type: 'object' } as const,
      handler: () => {
        throw new Error('database password is hunter2 at /srv/app.js:10');
      },
    });
    const { apiKey } = await setup({ tools: [crash], policy: [{ id: 'all', effect: 'allow' }] });
    const result = await invoke(apiKey, 'crash', { input: {} });
    expect(result.status).toBe(502);
    expect(result.body.error.code).toBe('UPSTREAM_ERROR');
    expect(JSON.stringify(result.body)).not.toContain('hunter2');
    expect(JSON.stringify(result.body)).not.toContain('app.js');
    const record = await gateway.admin.getInvocation(result.body.invocationId);
    expect(record.status).toBe('failed');
  });
});

describe('redaction profiles from policy', () => {
  it('masks what a rule says for the agents it applies to, and only for them', async () => {
    const profile = defineTool({
      name: 'crm.profile',
      description: 'A customer profile',
      inputSchema: { type: 'object' } as const,
      handler: () => ({ name: 'Ada', tier: 'gold', notes: 'prefers phone' }),
    });
    gateway = createGateway({
      tools: [profile],
      policy: [
        { id: 'everyone', effect: 'allow' },
        { id: 'contractors-see-less', effect: 'allow', agents: ['tag:contractor'], redact: { paths: ['$.tier', '$.notes'] } },
      ],
    });
    const contractor = await gateway.admin.createAgent({ name: 'c', tags: ['contractor'] });
    const employee = await gateway.admin.createAgent({ name: 'e' });
    const seenBy = async (agentId: string) => {
      const outcome = await gateway.invoke({ agentId, tool: 'crm.profile' });
      return outcome.status === 'succeeded' ? outcome.output : outcome;
    };
    expect(await seenBy(contractor.agent.id)).toEqual({ name: 'Ada', tier: '***', notes: '***' });
    expect(await seenBy(employee.agent.id)).toEqual({ name: 'Ada', tier: 'gold', notes: 'prefers phone' });
  });
});

describe('idempotency', () => {
  it('returns the first outcome for a repeated key and never runs twice', async () => {
    let runs = 0;
    const counter = defineTool({
      name: 'count',
      description: 'counts',
      inputSchema: { type: 'object', properties: { n: { type: 'number' } } } as const,
      handler: async () => ({ run: ++runs }),
    });
    const { apiKey } = await setup({ tools: [counter], policy: [{ id: 'all', effect: 'allow' }] });
    const results = await Promise.all(
      Array.from({ length: 10 }, () => invoke(apiKey, 'count', { input: { n: 1 }, idempotencyKey: 'k-1' })),
    );
    expect(runs).toBe(1);
    expect(new Set(results.map((result) => result.body.invocationId)).size).toBe(1);
    for (const result of results) expect(result.body.output).toEqual({ run: 1 });
    const later = await invoke(apiKey, 'count', { input: { n: 1 }, idempotencyKey: 'k-1' });
    expect(later.body.output).toEqual({ run: 1 });
    const conflict = await invoke(apiKey, 'count', { input: { n: 2 }, idempotencyKey: 'k-1' });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
    const other = await invoke(apiKey, 'count', { input: { n: 1 }, idempotencyKey: 'k-2' });
    expect(other.body.output).toEqual({ run: 2 });
    // Two calls ran; the refused reuse is recorded too, as the invalid call it was.
    expect((await gateway.admin.listInvocations({ status: 'succeeded', limit: 100 })).items).toHaveLength(2);
    expect((await gateway.admin.listInvocations({ limit: 100 })).items.map((record) => record.error?.code ?? record.status)).toContain(
      'IDEMPOTENCY_CONFLICT',
    );
  });
});

describe('invocations', () => {
  it("shows an agent its own invocation and hides other agents'", async () => {
    const { apiKey } = await setup();
    const other = await gateway.admin.createAgent({ name: 'other' });
    const result = await invoke(apiKey, 'echo', { input: { text: 'mine' } });
    const own = await gateway.fetch(jsonRequest(`/invocations/${result.body.invocationId}`, { key: apiKey }));
    expect(own.status).toBe(200);
    expect(await own.json()).toMatchObject({ invocationId: result.body.invocationId, status: 'succeeded', output: { text: 'mine' } });
    const theirs = await gateway.fetch(jsonRequest(`/invocations/${result.body.invocationId}`, { key: other.apiKey }));
    expect(theirs.status).toBe(404);
    const missing = await gateway.fetch(jsonRequest('/invocations/nope', { key: apiKey }));
    expect(missing.status).toBe(404);
  });

  it('records 200 concurrent calls as 200 distinct invocations with a start and an outcome event each', async () => {
    const { apiKey } = await setup();
    const results = await Promise.all(Array.from({ length: 200 }, (_, index) => invoke(apiKey, 'echo', { input: { text: `n${index}` } })));
    expect(results.every((result) => result.status === 200)).toBe(true);
    const ids = new Set(results.map((result) => result.body.invocationId));
    expect(ids.size).toBe(200);
    const records = await gateway.admin.listInvocations({ limit: 1000 });
    expect(records.items).toHaveLength(200);
    expect(new Set(records.items.map((record) => record.id))).toEqual(ids);
    const started = await gateway.admin.listAudit({ type: 'invocation.started', limit: 1000 });
    const completed = await gateway.admin.listAudit({ type: 'invocation.completed', limit: 1000 });
    expect(started.items).toHaveLength(200);
    expect(completed.items).toHaveLength(200);
  });

  it('records denials and invalid input with the decision and rule ids', async () => {
    const { apiKey } = await setup();
    const denied = await invoke(apiKey, 'refunds.create', { input: { orderId: 'FRAUD-9', amount: 1 } });
    const record = await gateway.admin.getInvocation(denied.body.invocationId);
    expect(record).toMatchObject({ status: 'denied', decision: 'deny', ruleIds: ['no-fraud'], tool: 'refunds.create' });
    expect(record.inputDigest).toMatch(/^[0-9a-f]{64}$/);
    const events = await gateway.admin.listAudit({ type: 'invocation.denied' });
    expect(events.items[0]?.event).toMatchObject({ invocationId: denied.body.invocationId, data: { ruleIds: ['no-fraud'] } });
    const started = await gateway.admin.listAudit({ type: 'invocation.started' });
    expect(started.items).toHaveLength(0);
  });
});

describe('secrets in input', () => {
  it('keeps a canary under a password key out of every response and record', async () => {
    const { apiKey } = await setup();
    const canary = 'CANARY-d41d8cd98f00b204e980';
    const result = await invoke(apiKey, 'echo', { input: { text: 'hello', password: canary } });
    expect(result.status).toBe(200);
    const everything = JSON.stringify([
      result.body,
      await (await gateway.fetch(jsonRequest(`/invocations/${result.body.invocationId}`, { key: apiKey }))).json(),
      await gateway.admin.listInvocations({ limit: 100 }),
      await gateway.admin.listAudit({ limit: 1000 }),
      await (await gateway.fetch(jsonRequest('/admin/invocations', { key: adminTokens.auditor }))).json(),
    ]);
    expect(everything).not.toContain(canary);
    const record = await gateway.admin.getInvocation(result.body.invocationId);
    expect((record.input as { password: string }).password).not.toBe(canary);
  });
});

describe('agent key lifecycle', () => {
  it('rotates, disables, enables and revokes', async () => {
    const { apiKey, agent } = await setup();
    expect(apiKey).toMatch(/^atg_[0-9A-Za-z]{16}_[0-9A-Za-z]{38}$/);
    expect((await invoke(apiKey, 'echo', { input: { text: 'a' } })).status).toBe(200);
    const rotated = await gateway.admin.rotateAgentKey(agent.id);
    expect(rotated.apiKey).not.toBe(apiKey);
    expect((await invoke(apiKey, 'echo', { input: { text: 'a' } })).status).toBe(401);
    expect((await invoke(rotated.apiKey, 'echo', { input: { text: 'a' } })).status).toBe(200);
    await gateway.admin.disableAgent(agent.id);
    expect((await invoke(rotated.apiKey, 'echo', { input: { text: 'a' } })).status).toBe(401);
    await gateway.admin.enableAgent(agent.id);
    expect((await invoke(rotated.apiKey, 'echo', { input: { text: 'a' } })).status).toBe(200);
    await gateway.admin.revokeAgent(agent.id);
    expect((await invoke(rotated.apiKey, 'echo', { input: { text: 'a' } })).status).toBe(401);
    await expect(gateway.admin.enableAgent(agent.id)).rejects.toMatchObject({ code: 'CONFLICT' });
    const stored = await gateway.admin.getAgent(agent.id);
    expect(JSON.stringify(stored)).not.toContain('keyHash');
    const events = await gateway.admin.listAudit({ type: 'admin', limit: 100 });
    expect(events.items.map((entry) => entry.event.type)).toEqual([
      'admin.agent.created',
      'admin.agent.rotated',
      'admin.agent.disabled',
      'admin.agent.enabled',
      'admin.agent.revoked',
    ]);
  });

  it("is found in the audit trail by the agent's id, as its calls are, and tool changes by the tool's name", async () => {
    const { agent, apiKey } = await setup();
    const other = await gateway.admin.createAgent({ name: 'other' });
    expect((await invoke(apiKey, 'echo', { input: { text: 'a' } })).status).toBe(200);
    await gateway.admin.rotateAgentKey(agent.id);
    await gateway.admin.disableAgent(agent.id);
    await gateway.admin.enableAgent(agent.id);
    await gateway.admin.revokeAgent(agent.id);
    await gateway.admin.disableAgent(other.agent.id);
    const response = await gateway.fetch(jsonRequest(`/admin/audit?agentId=${agent.id}&limit=100`, { key: adminTokens.auditor }));
    const trail = (await response.json()) as { items: Array<{ event: { type: string } }> };
    expect(trail.items.map((entry) => entry.event.type)).toEqual([
      'admin.agent.created',
      'invocation.started',
      'invocation.completed',
      'admin.agent.rotated',
      'admin.agent.disabled',
      'admin.agent.enabled',
      'admin.agent.revoked',
    ]);

    const definition = {
      name: 'crm.lookup',
      description: 'Find',
      method: 'GET',
      url: 'https://crm.example.com/x',
      inputSchema: { type: 'object' },
    };
    await gateway.admin.createTool(definition);
    await gateway.admin.updateTool('crm.lookup', { description: 'Find a customer' });
    await gateway.admin.deleteTool('crm.lookup');
    const tool = await gateway.admin.listAudit({ tool: 'crm.lookup' });
    expect(tool.items.map((entry) => entry.event.type)).toEqual(['admin.tool.created', 'admin.tool.updated', 'admin.tool.deleted']);
  });

  it('a revoke and an enable sent together leave the agent revoked, and its key refused', async () => {
    const { agent, apiKey } = await setup();
    await gateway.admin.disableAgent(agent.id);
    const [revoked, enabled] = await Promise.allSettled([gateway.admin.revokeAgent(agent.id), gateway.admin.enableAgent(agent.id)]);
    expect(revoked).toMatchObject({ status: 'fulfilled', value: { status: 'revoked' } });
    // The enable either came first (and was undone) or was refused.
    if (enabled.status === 'rejected') expect(enabled.reason).toMatchObject({ code: 'CONFLICT' });
    expect((await gateway.admin.getAgent(agent.id)).status).toBe('revoked');
    expect((await invoke(apiKey, 'echo', { input: { text: 'a' } })).status).toBe(401);
  });
});

describe('a local tool that returns a bigint', () => {
  it('answers and records it as JSON, and every route that lists records keeps working', async () => {
    const counts = defineTool({
      name: 'counts',
      description: 'returns bigints',
      inputSchema: { type: 'object' } as const,
      handler: () => ({ small: 10n, huge: 123_456_789_012_345_678_901_234_567_890n }),
    });
    gateway = testGateway({ tools: [counts], policy: [{ id: 'all', effect: 'allow' }] });
    const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
    const answer = await invoke(apiKey, 'counts', { input: {} });
    expect(answer.status).toBe(200);
    expect(answer.body.output).toEqual({ small: 10, huge: '123456789012345678901234567890' });
    const own = await gateway.fetch(jsonRequest(`/invocations/${answer.body.invocationId}`, { key: apiKey }));
    expect(own.status).toBe(200);
    const listed = await gateway.fetch(jsonRequest('/admin/invocations', { key: adminTokens.admin }));
    expect(listed.status).toBe(200);
  });
});

describe('agent key rotation racing a revocation', () => {
  it('hands out and stores no key when the agent was revoked between the read and the write', async () => {
    const store = memoryStore();
    const { agent } = await setup({ store });
    const read = store.getAgent.bind(store);
    const keyHash = (await read(agent.id))?.keyHash;
    // Another instance revokes the agent right after this one read it.
    store.getAgent = async (id) => {
      const before = await read(id);
      await store.updateAgent(id, { status: 'revoked' });
      return before;
    };
    await expect(gateway.admin.rotateAgentKey(agent.id)).rejects.toMatchObject({
      code: 'CONFLICT',
      message: 'A revoked agent cannot get a new key',
    });
    store.getAgent = read;
    expect((await gateway.admin.getAgent(agent.id)).status).toBe('revoked');
    // Nor is the new key's hash left on the revoked agent.
    expect((await read(agent.id))?.keyHash).toBe(keyHash);
    await expect(gateway.admin.enableAgent(agent.id)).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(gateway.admin.disableAgent('no-such-agent')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('programmatic invoke', () => {
  it('takes the same pipeline by key or by agent id', async () => {
    const { apiKey, agent } = await setup();
    const byKey = await gateway.invoke({ agentKey: apiKey, tool: 'echo', input: { text: 'k' } });
    expect(byKey).toMatchObject({ status: 'succeeded', output: { text: 'k' } });
    const byId = await gateway.invoke({ agentId: agent.id, tool: 'refunds.create', input: { orderId: 'FRAUD-2', amount: 1 } });
    expect(byId.status).toBe('error');
    if (byId.status === 'error') expect(byId.error.code).toBe('POLICY_DENIED');
    const bad = await gateway.invoke({ agentKey: 'atg_nope', tool: 'echo', input: { text: 'k' } });
    expect(bad.status === 'error' && bad.error.code).toBe('UNAUTHENTICATED');
    const invalid = await gateway.invoke({ agentId: agent.id, tool: 'echo', input: { text: 5 } });
    expect(invalid.status === 'error' && invalid.error.code).toBe('INVALID_INPUT');
  });

  it('refuses arguments of the wrong shape with BAD_REQUEST, before the pipeline, telling onError nothing', async () => {
    const errors: unknown[] = [];
    gateway = testGateway({ onError: (error) => errors.push(error) });
    const { agent, apiKey } = await gateway.admin.createAgent({ name: 'a' });
    const wrong: Array<[unknown, RegExp]> = [
      [undefined, /invoke\(\) takes/],
      [{ agentId: agent.id }, /"tool"/],
      [{ agentId: agent.id, tool: 5 }, /"tool"/],
      [{ agentId: agent.id, tool: 'echo', input: [1] }, /"input"/],
      [{ agentKey: 5, tool: 'echo' }, /"agentKey"/],
      [{ agentId: {}, tool: 'echo' }, /"agentId"/],
      [{ agentKey: apiKey, tool: 'echo', idempotencyKey: 5 }, /"idempotencyKey"/],
      [{ agentKey: apiKey, tool: 'echo', idempotencyKey: 'k'.repeat(256) }, /"idempotencyKey"/],
      [{ agentKey: apiKey, tool: 'echo', signal: {} }, /"signal"/],
    ];
    for (const [call, message] of wrong) {
      const outcome = await gateway.invoke(call as never);
      expect(outcome.status).toBe('error');
      if (outcome.status === 'error') {
        expect(outcome.error.code).toBe('BAD_REQUEST');
        expect(outcome.error.message).toMatch(message);
      }
    }
    expect(errors).toEqual([]);
    expect((await gateway.admin.listInvocations()).items).toEqual([]);
    expect(await gateway.invoke({ agentKey: apiKey, tool: 'echo', input: { text: 'fine' } })).toMatchObject({ status: 'succeeded' });
    // A signal from a polyfill or another realm is a signal all the same.
    const polyfilled = { aborted: false, reason: undefined, addEventListener() {}, removeEventListener() {} };
    expect(await gateway.invoke({ agentKey: apiKey, tool: 'echo', input: { text: 'x' }, signal: polyfilled as never })).toMatchObject({
      status: 'succeeded',
    });
  });

  it('enforces the tool deadline even when a handler ignores its signal', async () => {
    const slow = defineTool({
      name: 'slow',
      description: 'never ends',
      timeoutMs: 50,
      inputSchema: { type: 'object' } as const,
      handler: () => new Promise(() => undefined),
    });
    gateway = createGateway({ tools: [slow], policy: [{ id: 'all', effect: 'allow' }] });
    const { agent } = await gateway.admin.createAgent({ name: 'a' });
    const outcome = await gateway.invoke({ agentId: agent.id, tool: 'slow' });
    expect(outcome.status === 'error' && outcome.error.code).toBe('UPSTREAM_TIMEOUT');
    const record = await gateway.admin.listInvocations({ status: 'timeout' });
    expect(record.items).toHaveLength(1);
  });

  it("aborts a handler's signal with a TimeoutError when the deadline passes", async () => {
    let reason: unknown;
    const slow = defineTool({
      name: 'slow',
      description: 'waits for its signal',
      timeoutMs: 50,
      inputSchema: { type: 'object' } as const,
      handler: (_input, { signal }) =>
        new Promise((resolve) => {
          signal.addEventListener('abort', () => {
            reason = signal.reason;
            resolve({});
          });
        }),
    });
    gateway = createGateway({ tools: [slow], policy: [{ id: 'all', effect: 'allow' }] });
    const { agent } = await gateway.admin.createAgent({ name: 'a' });
    const outcome = await gateway.invoke({ agentId: agent.id, tool: 'slow' });
    expect(outcome.status === 'error' && outcome.error.code).toBe('UPSTREAM_TIMEOUT');
    expect(reason).toBeInstanceOf(DOMException);
    expect((reason as DOMException).name).toBe('TimeoutError');
  });

  it("answers CANCELLED when the caller aborts, and the handler's signal carries the caller's reason", async () => {
    let seenReason: unknown;
    const waits = defineTool({
      name: 'waits',
      description: 'waits for abort',
      inputSchema: { type: 'object' } as const,
      handler: (_input, { signal }) =>
        new Promise((resolve) => {
          signal.addEventListener('abort', () => {
            seenReason = signal.reason;
            resolve({});
          });
        }),
    });
    gateway = createGateway({ tools: [waits], policy: [{ id: 'all', effect: 'allow' }] });
    const { agent } = await gateway.admin.createAgent({ name: 'a' });
    const controller = new AbortController();
    const pending = gateway.invoke({ agentId: agent.id, tool: 'waits', signal: controller.signal });
    const reason = new Error('the user closed the chat');
    setTimeout(() => controller.abort(reason), 10);
    const outcome = await pending;
    expect(outcome.status === 'error' && outcome.error.code).toBe('CANCELLED');
    expect(seenReason).toBe(reason);
  });

  it("gives the handler its call's context: invocation id, agent, and one signal however it is read", async () => {
    let seen: { invocationId: string; agent: unknown; sameSignal: boolean; aborted: boolean } | undefined;
    const tool = defineTool({
      name: 'context',
      description: 'looks at its context',
      inputSchema: { type: 'object' } as const,
      handler: (_input, context) => {
        const { signal } = context;
        seen = { invocationId: context.invocationId, agent: context.agent, sameSignal: signal === context.signal, aborted: signal.aborted };
        return {};
      },
    });
    gateway = createGateway({ tools: [tool], policy: [{ id: 'all', effect: 'allow' }] });
    const { agent } = await gateway.admin.createAgent({ name: 'reader', tags: ['crm'] });
    const outcome = await gateway.invoke({ agentId: agent.id, tool: 'context' });
    expect(outcome.status).toBe('succeeded');
    expect(seen).toEqual({
      invocationId: outcome.invocationId,
      agent: { id: agent.id, name: 'reader', tags: ['crm'] },
      sameSignal: true,
      aborted: false,
    });
  });

  it('does not run the handler when the caller has gone already', async () => {
    let ran = false;
    const tool = defineTool({
      name: 'never',
      description: 'records that it ran',
      inputSchema: { type: 'object' } as const,
      handler: () => {
        ran = true;
        return {};
      },
    });
    gateway = createGateway({ tools: [tool], policy: [{ id: 'all', effect: 'allow' }] });
    const { agent } = await gateway.admin.createAgent({ name: 'a' });
    const outcome = await gateway.invoke({ agentId: agent.id, tool: 'never', signal: AbortSignal.abort() });
    expect(outcome.status === 'error' && outcome.error.code).toBe('CANCELLED');
    expect(ran).toBe(false);
    const records = await gateway.admin.listInvocations({ status: 'cancelled' });
    expect(records.items).toHaveLength(1);
  });
});

describe('admin routes', () => {
  it('refuses agent keys with 401 and wrong roles with 403', async () => {
    const { apiKey } = await setup();
    expect((await gateway.fetch(jsonRequest('/admin/agents', { key: apiKey }))).status).toBe(401);
    expect((await gateway.fetch(jsonRequest('/admin/agents'))).status).toBe(401);
    expect((await gateway.fetch(jsonRequest('/admin/agents', { key: adminTokens.auditor }))).status).toBe(403);
    expect((await gateway.fetch(jsonRequest('/admin/invocations', { key: adminTokens.auditor }))).status).toBe(200);
    expect((await gateway.fetch(jsonRequest('/admin/approvals', { key: adminTokens.approver }))).status).toBe(200);
    expect((await gateway.fetch(jsonRequest('/admin/audit', { key: adminTokens.approver }))).status).toBe(403);
  });

  it('creates an agent over HTTP and shows its key once', async () => {
    await setup();
    const created = await gateway.fetch(jsonRequest('/admin/agents', { key: adminTokens.admin, body: { name: 'via-http', tags: ['x'] } }));
    expect(created.status).toBe(201);
    const body = (await created.json()) as { agent: { id: string }; apiKey: string };
    expect(body.apiKey).toMatch(/^atg_/);
    const fetched = await gateway.fetch(jsonRequest(`/admin/agents/${body.agent.id}`, { key: adminTokens.admin }));
    expect(JSON.stringify(await fetched.json())).not.toContain(body.apiKey);
    const bad = await gateway.fetch(jsonRequest('/admin/agents', { key: adminTokens.admin, body: { name: 'x', role: 'root' } }));
    expect(bad.status).toBe(400);
    const audit = await gateway.admin.listAudit({ type: 'admin.agent.created' });
    expect(audit.items.at(-1)?.event.actor).toBe('admin:alice');
  });

  it('pages through lists with a cursor', async () => {
    await setup();
    for (let index = 0; index < 5; index++) await gateway.admin.createAgent({ name: `a${index}` });
    const first = (await (await gateway.fetch(jsonRequest('/admin/agents?limit=4', { key: adminTokens.admin }))).json()) as any;
    expect(first.items).toHaveLength(4);
    const second = (await (
      await gateway.fetch(jsonRequest(`/admin/agents?limit=4&cursor=${first.nextCursor}`, { key: adminTokens.admin }))
    ).json()) as any;
    expect(second.items).toHaveLength(2);
    expect(second.nextCursor).toBeUndefined();
    const bad = await gateway.fetch(jsonRequest('/admin/agents?cursor=zzz', { key: adminTokens.admin }));
    expect(bad.status).toBe(400);
  });
});

describe('createGateway options', () => {
  it('fails at construction with a message naming the wrong option', () => {
    expect(() => createGateway({ basePath: 'atg/' })).toThrow(/basePath/);
    expect(() => createGateway({ maxBodyBytes: -1 })).toThrow(/maxBodyBytes/);
    expect(() => createGateway({ bogus: true } as never)).toThrow(/bogus|Unrecognized/);
    expect(() => createGateway({ policy: [{ id: 'x', effect: 'maybe' }] as never })).toThrow(/policy/);
    expect(() => createGateway({ policy: [{ id: 'x', effect: 'allow', when: [{ path: 'a', op: 'matches', value: '(a)\\1' }] }] })).toThrow(
      /back-references/,
    );
    expect(() => createGateway({ tools: [echo, echo] })).toThrow(/twice/);
    expect(() => createGateway({ admin: { tokens: [{ token: 'short', id: 'x', roles: ['admin'] }] } })).toThrow(/admin/);
  });

  it('serves under a base path and 404s outside it', async () => {
    gateway = createGateway({ basePath: '/atg', tools: [echo], policy: [{ id: 'all', effect: 'allow' }], store: memoryStore() });
    const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
    expect((await gateway.fetch(jsonRequest('/atg/tools', { key: apiKey }))).status).toBe(200);
    expect((await gateway.fetch(jsonRequest('/tools', { key: apiKey }))).status).toBe(404);
  });
});
