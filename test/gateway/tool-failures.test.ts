import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Gateway, GatewayError, createGateway, defineTool, memoryStore } from '../../src/index.js';
import { adminTokens } from '../fixtures.js';
import { createNodeHandler } from '../../adapters/node.js';
import { jsonRequest, listen } from '../helpers.js';

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

const buggy = defineTool({
  name: 'buggy',
  description: 'reads what is not there',
  inputSchema: { type: 'object', properties: { amount: { type: 'number' }, card: { type: 'string' } } } as const,
  handler: (input) => {
    if (input.card !== undefined) throw new Error(`charge failed for card ${input.card}, password=hunter2`);
    return { total: (input as unknown as { missing: { field: number } }).missing.field };
  },
});

const refusing = defineTool({
  name: 'refusing',
  description: 'refuses in its own words',
  inputSchema: { type: 'object' } as const,
  handler: () => {
    throw new GatewayError({ code: 'UPSTREAM_ERROR', message: 'CRM said no' });
  },
});

describe('a tool whose own code throws', () => {
  it('answers 502 without what was thrown, and tells onError what was, on the direct and the approved path', async () => {
    const errors: unknown[] = [];
    gateway = createGateway({
      store: memoryStore(),
      tools: [buggy, refusing],
      policy: [
        { id: 'small', effect: 'allow', when: [{ path: '$.amount', op: 'lte', value: 10 }] },
        { id: 'big', effect: 'require_approval', tools: ['buggy'], when: [{ path: '$.amount', op: 'gt', value: 10 }] },
        { id: 'refusals', effect: 'allow', tools: ['refusing'] },
      ],
      admin: { tokens: [{ token: adminTokens.admin, id: 'alice', roles: ['admin'] }] },
      onError: (error) => errors.push(error),
    });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });

    const direct = await gateway.fetch(jsonRequest('/tools/buggy/invoke', { key: apiKey, body: { input: { amount: 1 } } }));
    expect(direct.status).toBe(502);
    const text = await direct.text();
    expect(text).not.toContain('field');
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/^Error: Tool "buggy" threw TypeError: Cannot read properties of undefined/);
    // The frames of what was thrown, for the developer.
    expect((errors[0] as Error).stack).toMatch(/\n\s+at /);

    const held = await gateway.fetch(jsonRequest('/tools/buggy/invoke', { key: apiKey, body: { input: { amount: 50 } } }));
    expect(held.status).toBe(202);
    const { approval } = (await held.json()) as { approval: { id: string } };
    await gateway.admin.decide(approval.id, { decision: 'approve' }, { id: 'alice', roles: ['admin'] });
    expect(errors).toHaveLength(2);
    expect(String(errors[1])).toMatch(/Tool "buggy" threw TypeError/);

    // A message that quotes the input reaches onError redacted, as the record would hold it.
    const quoting = await gateway.fetch(
      jsonRequest('/tools/buggy/invoke', { key: apiKey, body: { input: { amount: 1, card: '4111111111111111' } } }),
    );
    expect(quoting.status).toBe(502);
    expect(errors).toHaveLength(3);
    const reported = `${String(errors[2])}\n${(errors[2] as Error).stack}`;
    expect(reported).toContain('charge failed for card');
    expect(reported).not.toContain('4111111111111111');
    expect(reported).not.toContain('hunter2');

    // A refusal the tool makes in its own words is its answer, not a failure of its code.
    const refused = await gateway.fetch(jsonRequest('/tools/refusing/invoke', { key: apiKey, body: { input: {} } }));
    expect(refused.status).toBe(502);
    expect(errors).toHaveLength(3);
  });

  it("takes a GatewayError made by another copy of the package (its CommonJS build, say) as the tool's own refusal", async () => {
    vi.resetModules();
    const other = await import('../../src/errors.js');
    expect(other.GatewayError).not.toBe(GatewayError);
    const errors: unknown[] = [];
    const crm = defineTool({
      name: 'crm.update',
      description: 'updates',
      inputSchema: { type: 'object' } as const,
      handler: () => {
        throw new other.GatewayError({ code: 'POLICY_DENIED', message: 'CRM refuses changes on Sundays' });
      },
    });
    gateway = createGateway({
      store: memoryStore(),
      tools: [crm],
      policy: [{ id: 'all', effect: 'allow' }],
      onError: (error) => errors.push(error),
    });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const response = await gateway.fetch(jsonRequest('/tools/crm.update/invoke', { key: apiKey, body: { input: {} } }));
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { message: string } }).error.message).toBe('CRM refuses changes on Sundays');
    expect(errors).toEqual([]);
    // Subclasses keep the ordinary check.
    class Narrower extends GatewayError {}
    expect(new GatewayError({ code: 'CONFLICT', message: 'x' }) instanceof Narrower).toBe(false);
    expect(new Narrower({ code: 'CONFLICT', message: 'x' }) instanceof GatewayError).toBe(true);
  });

  it('keeps its answer and its record when what it threw cannot be read, and redacts stack lines and what policy adds', async () => {
    const errors: unknown[] = [];
    const thrower = defineTool({
      name: 'thrower',
      description: 'throws what it is asked to',
      inputSchema: { type: 'object', properties: { kind: { type: 'string' }, host: { type: 'string' } } } as const,
      handler: ({ kind, host }) => {
        if (kind === 'unreadable') {
          const error = new Error('x');
          Object.defineProperty(error, 'stack', {
            get() {
              throw new TypeError('no stack for you');
            },
          });
          throw error;
        }
        if (kind === 'multiline') throw new Error('charge failed:\n    at card 4111 1111 1111 1111');
        throw new Error(`cannot reach ${host}`);
      },
    });
    gateway = createGateway({
      store: memoryStore(),
      tools: [thrower],
      policy: [
        { id: 'hold', effect: 'require_approval', tools: ['thrower'], when: [{ path: '$.host', op: 'eq', value: 'hold' }] },
        { id: 'all', effect: 'allow', tools: ['thrower'], redact: { detectors: { ipv4: true } } },
      ],
      onError: (error) => errors.push(error),
    });
    const { apiKey, agent } = await gateway.admin.createAgent({ name: 'bot' });

    const unreadable = await gateway.invoke({ agentKey: apiKey, tool: 'thrower', input: { kind: 'unreadable' } });
    expect(unreadable).toMatchObject({ status: 'error', error: { code: 'UPSTREAM_ERROR' } });
    const overHttp = await gateway.fetch(jsonRequest('/tools/thrower/invoke', { key: apiKey, body: { input: { kind: 'unreadable' } } }));
    expect(overHttp.status).toBe(502);
    expect(String(errors.at(-1))).toBe('Error: Tool "thrower" threw Error: x');

    // On the approved path too: the decision is answered and the outcome recorded.
    const held = await gateway.invoke({ agentKey: apiKey, tool: 'thrower', input: { kind: 'unreadable', host: 'hold' } });
    expect(held.status).toBe('pending_approval');
    const approvalId = (held as { approval: { id: string } }).approval.id;
    const decided = await gateway.admin.decide(approvalId, { decision: 'approve' }, { id: 'alice', roles: ['admin'] });
    expect(decided.outcome).toMatchObject({ status: 'error', error: { code: 'UPSTREAM_ERROR' } });
    expect((await gateway.admin.getInvocation(held.invocationId as string)).status).toBe('failed');

    await gateway.invoke({ agentKey: apiKey, tool: 'thrower', input: { kind: 'multiline' } });
    const multiline = errors.at(-1) as Error;
    expect(`${multiline.message}\n${multiline.stack}`).not.toContain('4111 1111 1111 1111');

    const policyRedacted = await gateway.invoke({ agentId: agent.id, tool: 'thrower', input: { kind: 'ip', host: '10.20.30.40' } });
    expect(policyRedacted.status).toBe('error');
    expect(String(errors.at(-1))).toMatch(/^Error: Tool "thrower" threw Error: cannot reach /);
    expect(String(errors.at(-1))).not.toContain('10.20.30.40');
  });
});

describe("a tool's own refusal", () => {
  it('reaches the caller and the record redacted as its output would be, on the direct and the approved path', async () => {
    const lookup = defineTool({
      name: 'crm.lookup',
      description: 'finds a customer',
      inputSchema: { type: 'object', properties: { email: { type: 'string' }, amount: { type: 'number' } } } as const,
      handler: ({ email }) => {
        throw new GatewayError({
          code: 'UPSTREAM_ERROR',
          message: `No account for ${email}, card 4111 1111 1111 1111 on file`,
          details: { contact: { email, password: 'hunter2' }, codes: ['4111111111111111'], retryable: false },
        });
      },
    });
    gateway = createGateway({
      store: memoryStore(),
      tools: [lookup],
      policy: [
        { id: 'big', effect: 'require_approval', when: [{ path: '$.amount', op: 'gt', value: 10 }] },
        { id: 'all', effect: 'allow' },
      ],
    });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const redacted = {
      code: 'UPSTREAM_ERROR',
      message: 'No account for ***, card *** on file',
      details: { contact: { email: '***', password: '***' }, codes: ['***'], retryable: false },
    };

    const direct = await gateway.invoke({ agentKey: apiKey, tool: 'crm.lookup', input: { email: 'ada@example.com', amount: 1 } });
    expect(direct.status).toBe('error');
    expect((direct as { error: GatewayError }).error.toJSON()).toEqual(redacted);
    const directRecord = await gateway.admin.getInvocation(direct.invocationId as string);
    expect(directRecord.error).toEqual(redacted);

    const held = await gateway.invoke({ agentKey: apiKey, tool: 'crm.lookup', input: { email: 'ada@example.com', amount: 50 } });
    expect(held.status).toBe('pending_approval');
    const approvalId = (held as { approval: { id: string } }).approval.id;
    await gateway.admin.decide(approvalId, { decision: 'approve' }, { id: 'alice', roles: ['approver'] });
    const approvedRecord = await gateway.admin.getInvocation(held.invocationId as string);
    expect(approvedRecord.status).toBe('failed');
    expect(approvedRecord.error).toEqual(redacted);
    expect(JSON.stringify(await gateway.admin.listInvocations())).not.toMatch(/ada@example|4111|hunter2/);
  });

  it('with a code the gateway does not know, or headers no response can carry, is answered over node:http, not crashed on', async () => {
    const errors: unknown[] = [];
    const unknownCode = defineTool({
      name: 'unknown.code',
      description: 'refuses with a code of its own',
      inputSchema: { type: 'object' } as const,
      handler: () => {
        throw new GatewayError({ code: 'QUOTA_EXCEEDED' as GatewayError['code'], message: 'quota exceeded' });
      },
    });
    const badHeaders = defineTool({
      name: 'bad.headers',
      description: 'refuses with a header value that holds a line break',
      inputSchema: { type: 'object' } as const,
      handler: () => {
        throw new GatewayError({
          code: 'RATE_LIMITED',
          message: 'slow down',
          headers: { 'retry-after': '5', 'x-reason': 'quota\r\nset-cookie: session=1', 'bad name': 'x' },
        });
      },
    });
    gateway = createGateway({
      store: memoryStore(),
      tools: [unknownCode, badHeaders],
      policy: [{ id: 'all', effect: 'allow' }],
      onError: (error) => errors.push(error),
    });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const server = await listen(createNodeHandler(gateway));
    try {
      const post = (tool: string) =>
        fetch(`${server.url}/tools/${tool}/invoke`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: '{"input":{}}',
        });

      const unknown = await post('unknown.code');
      expect(unknown.status).toBe(502);
      expect(((await unknown.json()) as { error: unknown }).error).toEqual({
        code: 'UPSTREAM_ERROR',
        message: 'Tool "unknown.code" failed',
      });
      expect(String(errors.at(-1))).toMatch(/^Error: Tool "unknown.code" threw GatewayError: quota exceeded/);

      const limited = await post('bad.headers');
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('5');
      expect(limited.headers.get('x-reason')).toBeNull();
      expect(limited.headers.get('set-cookie')).toBeNull();
      expect(((await limited.json()) as { error: { message: string } }).error.message).toBe('slow down');

      // The same over fetch, and the records say what the callers were told.
      const viaFetch = await gateway.fetch(jsonRequest('/tools/unknown.code/invoke', { key: apiKey, body: { input: {} } }));
      expect(viaFetch.status).toBe(502);
      const { invocationId } = (await viaFetch.json()) as { invocationId: string };
      expect((await gateway.admin.getInvocation(invocationId)).error).toEqual({
        code: 'UPSTREAM_ERROR',
        message: 'Tool "unknown.code" failed',
      });
      const limitedViaFetch = await gateway.fetch(jsonRequest('/tools/bad.headers/invoke', { key: apiKey, body: { input: {} } }));
      expect(limitedViaFetch.status).toBe(429);
    } finally {
      await server.close();
    }
  });
});
