/**
 * The real gateway behind the real node:http bridge, judged by the official MCP clients:
 * v2 (`@modelcontextprotocol/client`) with legacy and 2026-07-28 negotiation, and v1
 * (`@modelcontextprotocol/sdk`). Every call goes through the same pipeline as REST.
 */
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeHandler } from '../../adapters/node.js';
import { type Gateway, createGateway, defineTool } from '../../src/index.js';
import { adminTokens, echo, refund } from '../fixtures.js';
import { jsonRequest, listen, mcpHeaders, servedGateway } from '../helpers.js';

let gateway: Gateway;
let url: URL;
let apiKey: string;
let close: () => Promise<void>;
let refundRuns = 0;

const fillers = Array.from({ length: 120 }, (_, index) =>
  defineTool({
    name: `bulk.tool_${String(index).padStart(3, '0')}`,
    description: `Filler ${index}`,
    inputSchema: { type: 'object', properties: {} } as const,
    handler: () => ({ index }),
  }),
);
const typed = defineTool({
  name: 'orders.total',
  description: 'Total of an order',
  inputSchema: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] } as const,
  outputSchema: { type: 'object', properties: { total: { type: 'number' } }, required: ['total'] },
  handler: () => ({ total: 42 }),
});
const hidden = defineTool({
  name: 'admin.wipe',
  description: 'never listed',
  inputSchema: { type: 'object' } as const,
  handler: () => ({}),
});
const countedRefund = defineTool({
  ...refund,
  handler: ({ orderId, amount }: { orderId: string; amount: number }) => {
    refundRuns++;
    return { orderId, refunded: amount };
  },
});

beforeAll(async () => {
  gateway = createGateway({
    tools: [echo, countedRefund, typed, hidden, ...fillers],
    policy: [
      { id: 'echo', effect: 'allow', tools: ['echo', 'orders.*', 'bulk.*'] },
      { id: 'refunds-small', effect: 'allow', tools: ['refunds.*'], when: [{ path: 'amount', op: 'lte', value: 100 }] },
      { id: 'refunds-big', effect: 'require_approval', tools: ['refunds.*'], when: [{ path: 'amount', op: 'gt', value: 100 }] },
      { id: 'no-fraud', effect: 'deny', tools: ['refunds.create'], when: [{ path: 'orderId', op: 'matches', value: '^FRAUD-' }] },
    ],
    admin: { tokens: [{ token: adminTokens.approver, id: 'bob', roles: ['approver'] }] },
  });
  apiKey = (await gateway.admin.createAgent({ name: 'mcp-agent' })).apiKey;
  const server = await listen(createNodeHandler(gateway));
  url = new URL(`${server.url}/mcp`);
  close = async () => {
    await server.close();
    await gateway.close();
  };
});

afterAll(async () => {
  await close();
});

const auth = (key = apiKey) => ({ requestInit: { headers: { Authorization: `Bearer ${key}` } } });

type AnyClient = {
  listTools(params?: { cursor?: string }): Promise<{ tools: Array<{ name: string }>; nextCursor?: string }>;
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

describe.each(clients)('MCP through the gateway (%s)', (label, connect) => {
  it('lists only visible tools, across pages', async () => {
    const client = await connect();
    const names: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await client.listTools(cursor === undefined ? {} : { cursor });
      names.push(...page.tools.map((tool) => tool.name));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined);
    // The v2 client follows cursors itself; v1 hands them to the caller.
    if (label === 'v1 sdk') expect(pages).toBeGreaterThan(1);
    expect(names).toHaveLength(123);
    expect(names).toContain('refunds.create');
    expect(names).not.toContain('admin.wipe');
    expect([...names].sort()).toEqual(names);
    await client.close();
  });

  it('calls tools, with structured content when there is an output schema', async () => {
    const client = await connect();
    const result = await client.callTool({ name: 'echo', arguments: { text: 'over mcp' } });
    expect(result.isError).toBeFalsy();
    expect(JSON.parse(result.content[0].text)).toEqual({ text: 'over mcp' });
    const structured = await client.callTool({ name: 'orders.total', arguments: { orderId: 'O-1' } });
    expect(structured.structuredContent).toEqual({ total: 42 });
    await client.close();
  });

  it('answers invalid input and denials as tool errors, unknown tools as protocol errors', async () => {
    const client = await connect();
    const invalid = await client.callTool({ name: 'refunds.create', arguments: { orderId: 5 } });
    expect(invalid.isError).toBe(true);
    expect(invalid.content[0].text).toMatch(/INVALID_INPUT/);
    expect(invalid.content[0].text).toMatch(/\/orderId/);
    const denied = await client.callTool({ name: 'refunds.create', arguments: { orderId: 'FRAUD-1', amount: 1 } });
    expect(denied.isError).toBe(true);
    expect(denied.content[0].text).toMatch(/POLICY_DENIED/);
    expect(denied.content[0].text).toMatch(/no-fraud/);
    await expect(client.callTool({ name: 'admin.wipe', arguments: {} })).rejects.toThrow(/Unknown tool|-32602/);
    await expect(client.callTool({ name: 'no.such.tool', arguments: {} })).rejects.toThrow(/Unknown tool|-32602/);
    await client.close();
  });
});

describe('MCP authentication', () => {
  it('refuses a bad key with 401 for every client', async () => {
    const v2 = new ClientV2({ name: 'bad', version: '1.0.0' });
    await expect(v2.connect(new TransportV2(url, auth('atg_not_a_key')))).rejects.toMatchObject({ data: { status: 401 } });
    const v1 = new ClientV1({ name: 'bad', version: '1.0.0' });
    await expect(v1.connect(new TransportV1(url, auth('atg_not_a_key')))).rejects.toMatchObject({ code: 401 });
  });
});

describe('MCP approval loop', () => {
  it('pending → approved by a human via the admin API → the repeated call returns the outcome, executed once', async () => {
    const client = new ClientV2({ name: 'approval', version: '1.0.0' });
    await client.connect(new TransportV2(url, auth()));
    const before = refundRuns;
    const first = (await client.callTool({ name: 'refunds.create', arguments: { orderId: 'O-77', amount: 700 } })) as any;
    expect(first.isError).toBeFalsy();
    expect(first.content[0].text).toMatch(/Approval required/);
    const approval = first._meta['io.agent-tool-gateway/approval'];
    expect(approval.approvalId).toEqual(expect.any(String));
    expect(refundRuns).toBe(before);

    const waiting = (await client.callTool({ name: 'refunds.create', arguments: { orderId: 'O-77', amount: 700 } })) as any;
    expect(waiting._meta['io.agent-tool-gateway/approval'].approvalId).toBe(approval.approvalId);

    const decided = await gateway.fetch(
      jsonRequest(`/admin/approvals/${approval.approvalId}/approve`, { key: adminTokens.approver, body: { reason: 'checked' } }),
    );
    expect(decided.status).toBe(200);
    const done = (await client.callTool({ name: 'refunds.create', arguments: { orderId: 'O-77', amount: 700 } })) as any;
    expect(done.isError).toBeFalsy();
    expect(JSON.parse(done.content[0].text)).toEqual({ orderId: 'O-77', refunded: 700 });
    expect(refundRuns).toBe(before + 1);
    await client.close();
  });
});

describe('MCP approval notices per revision', () => {
  it('flag a tool with an output schema as an error only where clients check structured content', async () => {
    const served = await servedGateway({
      tools: [typed],
      policy: [{ id: 'ask', effect: 'require_approval', tools: ['orders.total'] }],
    });
    const notice = async (version?: string) => {
      const headers: Record<string, string> = { ...mcpHeaders(served.apiKey) };
      if (version === undefined) delete headers['mcp-protocol-version'];
      else headers['mcp-protocol-version'] = version;
      const body = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'orders.total', arguments: { orderId: 'O-9' } } };
      const response = await fetch(served.mcpUrl, { method: 'POST', headers, body: JSON.stringify(body) });
      return ((await response.json()) as any).result;
    };
    try {
      // 2025-03-26 (no header) has no output schemas: the notice is a plain result, as for any tool.
      for (const version of [undefined, '2025-03-26']) {
        const result = await notice(version);
        expect(result.content[0].text).toMatch(/^Approval required/);
        expect(result).not.toHaveProperty('isError');
        expect(result).not.toHaveProperty('structuredContent');
      }
      // From 2025-06-18 on, clients would reject it without schema-valid structured content.
      for (const version of ['2025-06-18', '2025-11-25']) {
        const result = await notice(version);
        expect(result.content[0].text).toMatch(/^Approval required/);
        expect(result.isError).toBe(true);
      }
    } finally {
      await served.close();
    }
  });
});

describe('MCP server identity', () => {
  it('names the server and gives the instructions configured, to both official clients', async () => {
    const named = createGateway({
      tools: [echo],
      policy: [{ id: 'all', effect: 'allow' }],
      mcp: {
        serverInfo: {
          name: 'acme-crm-gateway',
          version: '3.1.4',
          title: 'Acme CRM',
          websiteUrl: 'https://acme.example/gateway',
          description: 'Customer lookups and refunds, governed.',
          icons: [
            { src: 'https://acme.example/icon.png', mimeType: 'image/png', sizes: ['48x48', '96x96'] },
            { src: 'data:image/svg+xml;base64,PHN2Zy8+', mimeType: 'image/svg+xml', sizes: ['any'], theme: 'dark' },
          ],
        },
        instructions: 'Look customers up before refunding.',
      },
    });
    const key = (await named.admin.createAgent({ name: 'a' })).apiKey;
    const server = await listen(createNodeHandler(named));
    const endpoint = new URL(`${server.url}/mcp`);
    const headers = { requestInit: { headers: { Authorization: `Bearer ${key}` } } };
    const v1 = new ClientV1({ name: 'e2e', version: '1.0.0' });
    const v2 = new ClientV2({ name: 'e2e', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    try {
      await v1.connect(new TransportV1(endpoint, headers));
      await v2.connect(new TransportV2(endpoint, headers));
      for (const client of [v1, v2]) {
        expect(client.getServerVersion()).toMatchObject({
          name: 'acme-crm-gateway',
          version: '3.1.4',
          title: 'Acme CRM',
          websiteUrl: 'https://acme.example/gateway',
          description: 'Customer lookups and refunds, governed.',
          icons: [
            { src: 'https://acme.example/icon.png', mimeType: 'image/png', sizes: ['48x48', '96x96'] },
            { src: 'data:image/svg+xml;base64,PHN2Zy8+', mimeType: 'image/svg+xml', sizes: ['any'], theme: 'dark' },
          ],
        });
        expect(client.getInstructions()).toBe('Look customers up before refunding.');
      }
      expect(() => createGateway({ mcp: { serverInfo: { name: '', version: '1' } } })).toThrow(/serverInfo/);
      for (const serverInfo of [
        { name: 'x', version: '1', websiteUrl: 'javascript:alert(1)' },
        { name: 'x', version: '1', icons: [{ src: 'javascript:alert(1)' }] },
        { name: 'x', version: '1', icons: [{ src: 'data:text/html,<script>alert(1)</script>' }] },
        { name: 'x', version: '1', icons: [{ src: 'https://acme.example/i.png', sizes: ['big'] }] },
        { name: 'x', version: '1', icons: [{ src: 'https://acme.example/i.png', theme: 'blue' }] },
        { name: 'x', version: '1', description: '' },
        { name: 'x', version: '1', icons: [{ src: `data:image/png;base64,${'A'.repeat(70_000)}` }] },
      ]) {
        expect(() => createGateway({ mcp: { serverInfo: serverInfo as never } })).toThrow(/serverInfo/);
      }
      // Without it, the gateway names itself with this package's version.
      const plain = new ClientV1({ name: 'e2e', version: '1.0.0' });
      await plain.connect(new TransportV1(url, auth()));
      const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      expect(plain.getServerVersion()).toMatchObject({ name: 'agent-tool-gateway', version });
      await plain.close();
    } finally {
      await v1.close();
      await v2.close();
      await server.close();
      await named.close();
    }
  });
});
