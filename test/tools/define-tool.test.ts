import { describe, expect, it } from 'vitest';
import { createGateway, defineTool } from '../../src/index.js';

const base = { description: 'x', inputSchema: { type: 'object' } as const, handler: () => 1 };

describe('defineTool', () => {
  it('refuses bad names and schemas with a message naming the problem', () => {
    expect(() => defineTool({ ...base, name: 'has space' })).toThrow(/tool name/);
    expect(() => defineTool({ ...base, name: '' })).toThrow(/tool name/);
    expect(() => defineTool({ ...base, name: 'x'.repeat(129) })).toThrow(/tool name/);
    // Path segments URL parsing resolves away: no request could name the tool.
    expect(() => defineTool({ ...base, name: '.' })).toThrow(/tool name/);
    expect(() => defineTool({ ...base, name: '..' })).toThrow(/tool name/);
    expect(defineTool({ ...base, name: '...' }).name).toBe('...');
    expect(defineTool({ ...base, name: 'crm/../orders' }).name).toBe('crm/../orders');
    expect(() => defineTool({ ...base, name: 'ok', inputSchema: { type: 'string' } as const })).toThrow(/inputSchema/);
    expect(() => defineTool({ ...base, name: 'ok', timeoutMs: 0 })).toThrow(/timeoutMs/);
    // Longer than a Node timer holds: the timer would fire at once and every call time out.
    expect(() => defineTool({ ...base, name: 'ok', timeoutMs: 2 ** 31 })).toThrow(
      'timeoutMs must be a positive integer of at most 2147483647',
    );
    expect(defineTool({ ...base, name: 'ok', timeoutMs: 2 ** 31 - 1 }).timeoutMs).toBe(2 ** 31 - 1);
    const unknownKeyword = defineTool({ ...base, name: 'ok', inputSchema: { type: 'object', frobnicate: true } as never });
    expect(() => createGateway({ tools: [unknownKeyword] })).toThrow(/invalid JSON Schema/);
  });

  it('gives each definition a version that changes with it', async () => {
    const one = defineTool({ ...base, name: 'v' });
    const two = defineTool({ ...base, name: 'v', description: 'changed' });
    const gateway = createGateway({ tools: [one], policy: [{ id: 'all', effect: 'allow' }] });
    const other = createGateway({ tools: [two], policy: [{ id: 'all', effect: 'allow' }] });
    const { agent } = await gateway.admin.createAgent({ name: 'a' });
    const { agent: agent2 } = await other.admin.createAgent({ name: 'a' });
    const first = await gateway.invoke({ agentId: agent.id, tool: 'v' });
    const second = await other.invoke({ agentId: agent2.id, tool: 'v' });
    const r1 = await gateway.admin.getInvocation(first.status === 'succeeded' ? first.invocationId : '');
    const r2 = await other.admin.getInvocation(second.status === 'succeeded' ? second.invocationId : '');
    expect(r1.toolVersion).toMatch(/^[0-9a-f]{64}$/);
    expect(r1.toolVersion).not.toBe(r2.toolVersion);
    await gateway.close();
    await other.close();
  });

  it('runs a tool with the longest deadline it accepts', async () => {
    const patient = defineTool({
      ...base,
      name: 'patient',
      timeoutMs: 2 ** 31 - 1,
      handler: async () => {
        await new Promise((resolve) => setImmediate(resolve));
        return { ok: true };
      },
    });
    const gateway = createGateway({ tools: [patient], policy: [{ id: 'all', effect: 'allow' }] });
    const { agent } = await gateway.admin.createAgent({ name: 'a' });
    expect(await gateway.invoke({ agentId: agent.id, tool: 'patient' })).toMatchObject({ status: 'succeeded', output: { ok: true } });
    await gateway.close();
  });

  it('checks outputs against the output schema', async () => {
    const typed = defineTool({
      ...base,
      name: 'typed',
      outputSchema: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] },
      handler: () => ({ n: 'not a number' }),
    });
    const gateway = createGateway({ tools: [typed], policy: [{ id: 'all', effect: 'allow' }] });
    const { agent } = await gateway.admin.createAgent({ name: 'a' });
    const outcome = await gateway.invoke({ agentId: agent.id, tool: 'typed' });
    expect(outcome.status === 'error' && outcome.error.code).toBe('UPSTREAM_ERROR');
    await gateway.close();
  });
});
