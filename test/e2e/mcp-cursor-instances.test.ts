import { describe, expect, it } from 'vitest';
import { createGateway, defineTool, generateEncryptionKey, memoryStore } from '../../src/index.js';

const tools = ['a', 'b', 'c'].map((name) =>
  defineTool({ name, description: name, inputSchema: { type: 'object' } as const, handler: () => ({}) }),
);

function listRequest(key: string, cursor?: string): Request {
  return new Request('http://gateway.test/mcp', {
    method: 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: cursor === undefined ? {} : { cursor } }),
  });
}

describe('tools/list cursors across instances', () => {
  it('are good on every instance that shares the encryption key, and refused elsewhere', async () => {
    const store = memoryStore();
    const encryptionKey = generateEncryptionKey();
    const options = { store, tools, policy: [{ id: 'all', effect: 'allow' as const }], mcp: { pageSize: 2 } };
    const a = createGateway({ ...options, encryptionKey });
    const b = createGateway({ ...options, encryptionKey });
    const other = createGateway({ ...options, encryptionKey: generateEncryptionKey() });
    const { apiKey } = await a.admin.createAgent({ name: 'agent' });

    const first = (await (await a.fetch(listRequest(apiKey))).json()) as { result: { tools: unknown[]; nextCursor: string } };
    expect(first.result.tools).toHaveLength(2);
    const onB = (await (await b.fetch(listRequest(apiKey, first.result.nextCursor))).json()) as {
      result: { tools: Array<{ name: string }> };
    };
    expect(onB.result.tools.map((tool) => tool.name)).toEqual(['c']);
    const elsewhere = (await (await other.fetch(listRequest(apiKey, first.result.nextCursor))).json()) as { error: { code: number } };
    expect(elsewhere.error.code).toBe(-32602);
    await Promise.all([a.close(), b.close(), other.close()]);
  });
});
