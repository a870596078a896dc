/**
 * A tool's output is checked against its outputSchema before redaction; redaction can then
 * make it stop conforming (a number masked to "***", a required member removed, a string that
 * no longer matches its pattern). The official clients reject a result whose structuredContent
 * does not conform, so such a result withholds it and says that the call succeeded. Judged by
 * the official clients (v1 and v2, both eras), for tools/call, tasks/result (2025-11-25) and
 * tasks/get (2026-07-28 tasks extension), against the real gateway on loopback.
 */
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, defineTool } from '../../src/index.js';
import { adminTokens } from '../fixtures.js';
import { jsonRequest, mcp2026Headers, servedGateway } from '../helpers.js';

const runs = new Map<string, number>();
const counted = (name: string) => runs.set(name, (runs.get(name) ?? 0) + 1);

const accountSchema = {
  type: 'object',
  properties: { name: { type: 'string' }, pin: { type: 'integer' } },
  required: ['name', 'pin'],
};
/** `pin` is a sensitive key name by default: redaction masks the integer to "***". */
const account = defineTool({
  name: 'x.account',
  description: 'An account with its PIN',
  inputSchema: { type: 'object', properties: {} } as const,
  outputSchema: accountSchema,
  handler: () => {
    counted('x.account');
    return { name: 'ada', pin: 1234 };
  },
});
/** A required member removed by the tool's own redaction profile. */
const profile = defineTool({
  name: 'x.profile',
  description: 'A profile without its national id',
  inputSchema: { type: 'object', properties: {} } as const,
  outputSchema: {
    type: 'object',
    properties: { name: { type: 'string' }, nationalId: { type: 'string' } },
    required: ['name', 'nationalId'],
  },
  redact: { paths: [{ path: '$.nationalId', mode: 'remove' }] },
  handler: () => ({ name: 'ada', nationalId: 'AB123456' }),
});
/** A masked string that no longer matches its pattern. */
const customer = defineTool({
  name: 'x.customer',
  description: 'A customer reference',
  inputSchema: { type: 'object', properties: {} } as const,
  outputSchema: { type: 'object', properties: { ref: { type: 'string', pattern: '^C-[0-9]+$' } }, required: ['ref'] },
  redact: { paths: ['$.ref'] },
  handler: () => ({ ref: 'C-42' }),
});
/** Redaction changes a field, but the schema still holds: structuredContent goes out, redacted. */
const note = defineTool({
  name: 'x.note',
  description: 'A note that mentions an e-mail address',
  inputSchema: { type: 'object', properties: {} } as const,
  outputSchema: { type: 'object', properties: { note: { type: 'string' } }, required: ['note'] },
  handler: () => ({ note: 'write to ada@example.com' }),
});
/** A tool that answers MCP content itself, with structured content redaction breaks. */
const blocks = defineTool({
  name: 'x.blocks',
  description: 'Own content blocks',
  inputSchema: { type: 'object', properties: {} } as const,
  outputSchema: accountSchema,
  outputFormat: 'mcp-content',
  handler: () => ({ content: [{ type: 'text', text: 'Account of ada' }], structuredContent: { name: 'ada', pin: 1234 } }),
});
/** The same account, behind an approval: its outcome is read through tasks. */
const approvedAccount = defineTool({
  name: 'y.account',
  description: 'An account with its PIN, after approval',
  inputSchema: { type: 'object', properties: { reason: { type: 'string' } } } as const,
  outputSchema: accountSchema,
  handler: () => {
    counted('y.account');
    return { name: 'ada', pin: 1234 };
  },
});

let gateway: Gateway;
let url: URL;
let apiKey: string;
let close: () => Promise<void>;

beforeAll(async () => {
  let mcpUrl: string;
  ({ gateway, mcpUrl, apiKey, close } = await servedGateway(
    {
      tools: [account, profile, customer, note, blocks, approvedAccount],
      policy: [
        { id: 'x', effect: 'allow', tools: ['x.*'] },
        { id: 'y', effect: 'require_approval', tools: ['y.*'] },
      ],
      admin: { tokens: [{ token: adminTokens.approver, id: 'bob', roles: ['approver'] }] },
    },
    'redacted-output-agent',
  ));
  url = new URL(mcpUrl);
});

afterAll(async () => {
  await close();
});

const auth = () => ({ requestInit: { headers: { Authorization: `Bearer ${apiKey}` } } });
const withheldKey = 'io.agent-tool-gateway/structuredContentWithheld';

type AnyClient = {
  listTools(): Promise<unknown>;
  callTool(params: { name: string; arguments?: Record<string, unknown> }): Promise<any>;
  close(): Promise<void>;
};

const clients: Array<[string, () => Promise<AnyClient>]> = [
  [
    'v2, 2025 negotiation',
    async () => {
      const client = new ClientV2({ name: 'e2e', version: '1.0.0' });
      await client.connect(new TransportV2(url, auth()));
      return client as unknown as AnyClient;
    },
  ],
  [
    'v2, 2026-07-28',
    async () => {
      const client = new ClientV2({ name: 'e2e', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
      await client.connect(new TransportV2(url, auth()));
      return client as unknown as AnyClient;
    },
  ],
  [
    'v1 sdk',
    async () => {
      const client = new ClientV1({ name: 'e2e', version: '1.0.0' });
      await client.connect(new TransportV1(url, auth()));
      return client as unknown as AnyClient;
    },
  ],
];

/** What every withheld result holds: it says the call ran, and carries the redacted output. */
function expectWithheld(result: any, name: string, output: unknown, paths: string[]): void {
  expect(result.isError).toBe(true);
  expect(result).not.toHaveProperty('structuredContent');
  expect(result.content[0].type).toBe('text');
  expect(result.content[0].text).toContain(`The call to "${name}" succeeded and ran once`);
  expect(result.content[0].text).toContain('structured content is withheld');
  expect(JSON.parse(result.content[1].text)).toEqual(output);
  expect(result._meta[withheldKey]).toEqual({ reason: 'redaction', paths });
  expect(typeof result._meta['io.agent-tool-gateway/invocationId']).toBe('string');
}

describe.each(clients)('structured content after redaction (%s)', (_label, connect) => {
  let client: AnyClient;
  beforeAll(async () => {
    client = await connect();
    // The clients validate structured content against the schemas they have listed.
    await client.listTools();
  });
  afterAll(async () => {
    await client.close();
  });

  it('withholds a masked number instead of sending content the client rejects; the tool ran once', async () => {
    const before = runs.get('x.account') ?? 0;
    const result = await client.callTool({ name: 'x.account', arguments: {} });
    expectWithheld(result, 'x.account', { name: 'ada', pin: '***' }, ['/pin']);
    expect(runs.get('x.account')).toBe(before + 1);
  });

  it('withholds an output whose required member redaction removed', async () => {
    expectWithheld(await client.callTool({ name: 'x.profile', arguments: {} }), 'x.profile', { name: 'ada' }, ['/nationalId']);
  });

  it('withholds a masked string that no longer matches its pattern', async () => {
    expectWithheld(await client.callTool({ name: 'x.customer', arguments: {} }), 'x.customer', { ref: '***' }, ['/ref']);
  });

  it('withholds the structured content of a tool that answers MCP content, keeping its blocks', async () => {
    const result = await client.callTool({ name: 'x.blocks', arguments: {} });
    expectWithheld(result, 'x.blocks', { name: 'ada', pin: '***' }, ['/pin']);
    expect(result.content[2]).toEqual({ type: 'text', text: 'Account of ada' });
  });

  it('sends redacted structured content that still conforms as usual', async () => {
    const result = await client.callTool({ name: 'x.note', arguments: {} });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ note: 'write to ***' });
    expect(result._meta).not.toHaveProperty(withheldKey);
  });
});

async function approvalOf(invocationId: string): Promise<string> {
  const response = await gateway.fetch(jsonRequest('/admin/approvals?status=pending', { key: adminTokens.approver }));
  const { items } = (await response.json()) as { items: Array<{ id: string; invocationId: string }> };
  const approval = items.find((item) => item.invocationId === invocationId);
  if (approval === undefined) throw new Error(`no pending approval for ${invocationId}`);
  return approval.id;
}

async function approve(invocationId: string): Promise<void> {
  const approvalId = await approvalOf(invocationId);
  const response = await gateway.fetch(jsonRequest(`/admin/approvals/${approvalId}/approve`, { key: adminTokens.approver, body: {} }));
  expect(response.status).toBe(200);
}

describe('structured content after redaction, through tasks', () => {
  it('2025-11-25 (official v1 client): tasks/result withholds it as tools/call does', async () => {
    const client = new ClientV1({ name: 'tasks-e2e', version: '1.0.0' });
    await client.connect(new TransportV1(url, auth()));
    await client.listTools();
    const before = runs.get('y.account') ?? 0;
    let taskId: string | undefined;
    let result: any;
    // callToolStream validates the final result against the outputSchema, as callTool does.
    for await (const message of client.experimental.tasks.callToolStream({ name: 'y.account', arguments: { reason: 'legacy' } })) {
      if (message.type === 'taskCreated') {
        taskId = message.task.taskId;
        await approve(taskId);
      }
      if (message.type === 'result') result = message.result;
      if (message.type === 'error') throw message.error;
    }
    if (taskId === undefined) throw new Error('no task was created');
    expectWithheld(result, 'y.account', { name: 'ada', pin: '***' }, ['/pin']);
    const again = await client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
    expectWithheld(again, 'y.account', { name: 'ada', pin: '***' }, ['/pin']);
    expect(again._meta?.['io.modelcontextprotocol/related-task']).toEqual({ taskId });
    expect(runs.get('y.account')).toBe(before + 1);
    await client.close();
  });

  it('2026-07-28 tasks extension: tasks/get inlines the withheld result', async () => {
    let id = 0;
    const rpc = async (method: string, params: Record<string, unknown>) => {
      const name = typeof params.taskId === 'string' ? params.taskId : (params.name as string);
      const response = await fetch(url, {
        method: 'POST',
        headers: mcp2026Headers(apiKey, method, name),
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: ++id,
          method,
          params: {
            ...params,
            _meta: {
              'io.modelcontextprotocol/protocolVersion': '2026-07-28',
              'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } },
            },
          },
        }),
      });
      return (await response.json()) as any;
    };
    const created = await rpc('tools/call', { name: 'y.account', arguments: { reason: 'modern' } });
    expect(created.result).toMatchObject({ resultType: 'task', status: 'working' });
    const taskId = created.result.taskId as string;
    await approve(taskId);
    const done = await rpc('tasks/get', { taskId });
    expect(done.result).toMatchObject({ resultType: 'complete', status: 'completed' });
    expectWithheld(done.result.result, 'y.account', { name: 'ada', pin: '***' }, ['/pin']);
  });
});
