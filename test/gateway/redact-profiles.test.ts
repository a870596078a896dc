import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, type PolicyEngine, createGateway, defineTool, httpTool, memoryStore } from '../../src/index.js';
import { adminTokens } from '../fixtures.js';
import { jsonRequest } from '../helpers.js';

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

const badProfiles: unknown[] = [
  { paths: ['$$$'] },
  { paths: [{ path: '$.x', mode: 'bogus' }] },
  { mode: 'bogus' },
  { detectors: ['nonexistent'] },
  { detectors: { emial: true } },
  { detectors: { email: 'bogus' } },
];

function counting() {
  let runs = 0;
  const tool = defineTool({
    name: 'echo',
    description: 'Echo',
    inputSchema: { type: 'object' } as const,
    handler: (input) => {
      runs++;
      return { x: { y: 'kept-or-not' }, email: 'ada@example.com', input };
    },
  });
  return { tool, runs: () => runs };
}

async function adminPost(path: string, body: unknown, method = 'POST') {
  const response = await (gateway as Gateway).fetch(jsonRequest(path, { key: adminTokens.admin, method, body }));
  return { status: response.status, body: (await response.json()) as { error?: { code: string; message: string } } };
}

describe('redaction profiles are checked when they are defined', () => {
  it('refuses a bad policy redact profile through the admin API with 400, and the calls it would cover still work', async () => {
    const { tool, runs } = counting();
    gateway = createGateway({
      store: memoryStore(),
      tools: [tool],
      policy: [{ id: 'all', effect: 'allow' }],
      admin: { tokens: [{ token: adminTokens.admin, id: 'alice', roles: ['admin'] }] },
    });
    for (const redact of badProfiles) {
      const created = await adminPost('/admin/policies', { id: 'p', effect: 'allow', redact });
      expect(created.status, JSON.stringify(redact)).toBe(400);
      expect(created.body.error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('policy rule "p" at redact') });
    }
    expect((await adminPost('/admin/policies', { id: 'p', effect: 'allow', redact: { paths: ['$..y'] } })).status).toBe(201);
    const patched = await adminPost('/admin/policies/p', { redact: { mode: 'bogus' } }, 'PATCH');
    expect(patched.status).toBe(400);
    expect(patched.body.error?.message).toMatch(/redact.*bogus/);

    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const outcome = await gateway.invoke({ agentKey: apiKey, tool: 'echo', input: {} });
    expect(outcome).toMatchObject({ status: 'succeeded', output: { x: { y: '***' } } });
    expect(runs()).toBe(1);
  });

  it('refuses a bad tool redact profile through the admin API with 400', async () => {
    gateway = createGateway({
      store: memoryStore(),
      policy: [{ id: 'all', effect: 'allow' }],
      admin: { tokens: [{ token: adminTokens.admin, id: 'alice', roles: ['admin'] }] },
    });
    const definition = {
      name: 'h',
      description: 'd',
      method: 'GET',
      url: 'http://127.0.0.1:9/',
      inputSchema: { type: 'object' },
      allowPrivateNetwork: true,
    };
    for (const redact of badProfiles) {
      const created = await adminPost('/admin/tools', { ...definition, redact });
      expect(created.status, JSON.stringify(redact)).toBe(400);
      expect(created.body.error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('tool "h" redact') });
    }
    expect((await adminPost('/admin/tools', { ...definition, redact: { paths: ['$..y'], mode: 'hash' } })).status).toBe(201);
    expect((await adminPost('/admin/tools/h', { redact: { detectors: ['nonexistent'] } }, 'PATCH')).status).toBe(400);
    expect((await gateway.admin.listTools()).map((tool) => tool.name)).toEqual(['h']);
  });

  it('throws a TypeError naming the option from createGateway for a bad profile in code', () => {
    const { tool } = counting();
    for (const redact of badProfiles) {
      expect(
        () => createGateway({ tools: [tool], policy: [{ id: 'p', effect: 'allow', redact: redact as never }] }),
        JSON.stringify(redact),
      ).toThrow(/createGateway: policy: policy rule "p" at redact/);
      const local = defineTool({
        name: 'e2',
        description: 'e',
        inputSchema: { type: 'object' } as const,
        redact: redact as never,
        handler: () => ({}),
      });
      expect(() => createGateway({ tools: [local] })).toThrow(TypeError);
      expect(() => createGateway({ tools: [local] })).toThrow(/tool "e2" redact/);
      const remote = httpTool({
        name: 'h2',
        description: 'e',
        method: 'GET',
        url: 'http://127.0.0.1:9/',
        inputSchema: { type: 'object' },
        redact: redact as never,
      });
      expect(() => createGateway({ tools: [remote], allowPrivateNetwork: true })).toThrow(/tool "h2" redact/);
    }
  });

  it('fails the call before the tool runs when a custom engine decides with a bad profile, and records it', async () => {
    const { tool, runs } = counting();
    // A custom engine's decisions are not checked when defined: its profile fails when policy has decided.
    const engine: PolicyEngine = { evaluate: () => ({ effect: 'allow', ruleIds: ['custom'], redact: { mode: 'bogus' } }) };
    gateway = createGateway({ store: memoryStore(), tools: [tool], policy: engine, onError: () => undefined });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const response = await gateway.fetch(jsonRequest('/tools/echo/invoke', { key: apiKey, body: { input: { ssn: '078-05-1120' } } }));
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: { code: string }; invocationId: string };
    expect(body.error.code).toBe('INTERNAL');
    expect(JSON.stringify(body)).not.toContain('ada@example.com');
    expect(runs()).toBe(0);

    const record = await gateway.admin.getInvocation(body.invocationId);
    expect(record).toMatchObject({
      status: 'failed',
      decision: 'allow',
      ruleIds: ['custom'],
      input: null,
      output: null,
      error: { code: 'INTERNAL' },
    });
    const events = (await gateway.admin.listAudit({ limit: 100 })).items
      .filter((entry) => entry.event.invocationId === body.invocationId)
      .map((entry) => entry.event.type);
    expect(events).toEqual(['invocation.failed']);
  });

  it("does not hold a call for approval under a custom engine's bad profile", async () => {
    const { tool, runs } = counting();
    const engine: PolicyEngine = {
      evaluate: () => ({ effect: 'require_approval', ruleIds: ['custom'], redact: { paths: 'not-a-list' } as never }),
    };
    gateway = createGateway({ store: memoryStore(), tools: [tool], policy: engine, onError: () => undefined });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const response = await gateway.fetch(jsonRequest('/tools/echo/invoke', { key: apiKey, body: { input: { a: 1 } } }));
    expect(response.status).toBe(500);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('INTERNAL');
    expect(runs()).toBe(0);
    expect((await gateway.admin.listApprovals({ limit: 10 })).items).toEqual([]);
  });

  it('refuses an approved call before it runs when the engine now decides with a bad profile', async () => {
    const { tool, runs } = counting();
    let approved = false;
    const engine: PolicyEngine = {
      evaluate: () =>
        approved
          ? { effect: 'allow', ruleIds: ['custom'], redact: { detectors: ['no-such-detector'] } as never }
          : { effect: 'require_approval', ruleIds: ['custom'] },
    };
    const errors: unknown[] = [];
    gateway = createGateway({ store: memoryStore(), tools: [tool], policy: engine, onError: (error) => errors.push(error) });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const held = await gateway.fetch(jsonRequest('/tools/echo/invoke', { key: apiKey, body: { input: { a: 1 } } }));
    expect(held.status).toBe(202);
    const { approval, invocationId } = (await held.json()) as { approval: { id: string }; invocationId: string };
    approved = true;
    const decided = await gateway.admin.decide(approval.id, { decision: 'approve' }, { id: 'alice', roles: ['admin'] });
    expect(decided.outcome).toMatchObject({ status: 'error', error: { code: 'INTERNAL' } });
    expect(runs()).toBe(0);
    expect((await gateway.admin.getInvocation(invocationId)).status).toBe('failed');
    expect(errors.map(String)).toContainEqual(expect.stringMatching(/no-such-detector/));
  });
});

describe('a policy rule’s redaction profile', () => {
  const record = {
    email: 'ann@example.com',
    phone: '+14155552671',
    key: 'sk-proj-abc123def456ghi789jkl',
    card: '4111 1111 1111 1111',
    password: 'correct-horse-battery',
  };
  const crmTool = defineTool({
    name: 'crm.get',
    description: 'A customer record',
    inputSchema: { type: 'object' } as const,
    handler: () => ({ ...record }),
  });

  async function outputUnder(
    redact: Record<string, unknown> | undefined,
    toolRedact?: Record<string, unknown>,
    redaction?: Record<string, unknown>,
  ) {
    const tool = toolRedact === undefined ? crmTool : defineTool({ ...crmTool, redact: toolRedact as never });
    const gateway = createGateway({
      tools: [tool],
      ...(redaction === undefined ? {} : { redaction: redaction as never }),
      policy: [{ id: 'support', effect: 'allow', tools: ['crm.*'], ...(redact === undefined ? {} : { redact: redact as never }) }],
    });
    try {
      const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
      const outcome = await gateway.invoke({ agentKey: apiKey, tool: 'crm.get' });
      return (outcome as { output: Record<string, string> }).output;
    } finally {
      await gateway.close();
    }
  }

  it.each<[string, Record<string, unknown>]>([
    ['a list of one detector', { detectors: ['card'] }],
    ['a detector turned off', { detectors: { email: false, phone: false } }],
    ['a looser mode', { mode: 'partial' }],
    ['a looser mode for one detector', { detectors: { card: 'partial' } }],
    [
      'a path in a looser mode',
      {
        paths: [
          { path: '$.email', mode: 'partial' },
          { path: '$.card', mode: 'partial' },
        ],
      },
    ],
    ['a path in the rule’s looser mode', { mode: 'partial', paths: ['$.email', '$.key'] }],
    ['a path in hash mode', { paths: [{ path: '$.card', mode: 'hash' }] }],
  ])('only adds to what the gateway redacts: %s turns nothing off and loosens nothing', async (_name, redact) => {
    const without = await outputUnder(undefined);
    expect(without).toEqual({ email: '***', phone: '***', key: '***', card: '***', password: '***' });
    expect(await outputUnder(redact)).toEqual(without);
  });

  it('still adds what it names: a path, a stricter mode', async () => {
    // `remove`: the e-mail's path and the sensitive key go, what detectors find becomes empty.
    expect(await outputUnder({ paths: ['$.email'], mode: 'remove' })).toEqual({ phone: '', key: '', card: '' });
  });

  it('never lets a rule’s path redact a value more loosely than a detector the tool keeps stricter', async () => {
    const toolOwn = { mode: 'partial', detectors: { card: 'mask', email: 'mask' } };
    const alone = await outputUnder(undefined, toolOwn);
    expect(alone).toMatchObject({ email: '***', card: '***' });
    expect(await outputUnder({ paths: ['$.card', '$.email'] }, toolOwn)).toMatchObject({ email: '***', card: '***' });
    const removesCards = { detectors: { card: 'remove' } };
    expect((await outputUnder(undefined, undefined, removesCards)).card).toBe('');
    // The path now redacts in `remove` mode: the field goes.
    expect(await outputUnder({ paths: [{ path: '$.card', mode: 'hash' }] }, undefined, removesCards)).not.toHaveProperty('card');
  });

  it('keeps the gateway’s mode for a detector the tool names without one', async () => {
    const gatewayWide = { detectors: { email: 'remove' } };
    const toolOwn = { mode: 'partial', detectors: { email: true } };
    const alone = await outputUnder(undefined, toolOwn, gatewayWide);
    expect(alone.email).toBe('');
    expect(await outputUnder({ paths: ['$.unrelated'] }, toolOwn, gatewayWide)).toEqual(alone);
  });

  it('leaves a detector the tool turned off as the tool has it', async () => {
    expect(await outputUnder({ detectors: ['card'] }, { detectors: { email: false } })).toMatchObject({
      email: 'ann@example.com',
      card: '***',
    });
  });
});
