import { describe, expect, it } from 'vitest';
import { createMcpHandler } from '../../../src/protocol/mcp/index.js';
import { createFakeBackend, createTestHandler, fakeTools, manyTools, mcpPost, modernPost, send, testOptions } from './fake-backend.js';

type Handler = ReturnType<typeof createTestHandler>['handler'];

function legacyList(cursor?: unknown, version = '2025-11-25', id: number | string = 1) {
  return mcpPost(
    { jsonrpc: '2.0', id, method: 'tools/list', ...(cursor === undefined ? {} : { params: { cursor } }) },
    { 'mcp-protocol-version': version },
  );
}

async function walk(handler: Handler, request: (cursor?: string) => Request) {
  const names: string[] = [];
  const cursors: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 50; page++) {
    const { status, body } = await send(handler, request(cursor));
    expect(status).toBe(200);
    names.push(...body.result.tools.map((tool: { name: string }) => tool.name));
    cursor = body.result.nextCursor;
    if (cursor === undefined) break;
    cursors.push(cursor);
  }
  return { names, cursors };
}

describe('MCP endpoint: tools/list', () => {
  const tools = manyTools(120);

  it('pages 120 tools by 50 in the backend order (2025 era)', async () => {
    const { handler } = createTestHandler(tools);
    const { names, cursors } = await walk(handler, (cursor) => legacyList(cursor));
    expect(names).toEqual(tools.map((tool) => tool.name));
    expect(cursors).toHaveLength(2);
    for (const cursor of cursors) expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('pages 120 tools with caching hints on every page (2026-07-28)', async () => {
    const { handler } = createTestHandler(tools);
    const pages: Array<{ ttlMs: number; cacheScope: string }> = [];
    let cursor: string | undefined;
    const names: string[] = [];
    do {
      const { body } = await send(handler, modernPost('tools/list', cursor === undefined ? {} : { cursor }));
      pages.push(body.result);
      names.push(...body.result.tools.map((tool: { name: string }) => tool.name));
      cursor = body.result.nextCursor;
    } while (cursor !== undefined);
    expect(names).toHaveLength(120);
    expect(pages).toHaveLength(3);
    for (const page of pages) {
      expect(page.ttlMs).toBe(60000);
      expect(page.cacheScope).toBe('private');
    }
  });

  it('honours pageSize', async () => {
    const handler = createMcpHandler(createFakeBackend(tools), { ...testOptions, pageSize: 7 });
    const { names, cursors } = await walk(handler, (cursor) => legacyList(cursor));
    expect(names).toHaveLength(120);
    expect(cursors).toHaveLength(17);
  });

  it('rejects tampered, forged and foreign cursors with -32602', async () => {
    const { handler } = createTestHandler(tools);
    const first = await send(handler, legacyList());
    const cursor: string = first.body.result.nextCursor;
    const flipped = `${cursor.slice(0, 3)}${cursor[3] === 'A' ? 'B' : 'A'}${cursor.slice(4)}`;
    const otherSecret = createMcpHandler(createFakeBackend(tools), { ...testOptions, cursorSecret: new Uint8Array(32).fill(9) });
    const foreign: string = (await send(otherSecret, legacyList())).body.result.nextCursor;
    for (const bad of [flipped, foreign, '', 'x', `${cursor}A`, cursor.slice(0, -1), 'eyJvZmZzZXQiOjUwfQ', '50']) {
      const { status, body } = await send(handler, legacyList(bad, '2025-11-25', 'bad'));
      expect(status).toBe(200);
      expect(body.id).toBe('bad');
      expect(body.error.code).toBe(-32602);
    }
    const wrongType = await send(handler, legacyList(50));
    expect(wrongType.body.error.code).toBe(-32602);
  });

  it('invalidates cursors when the listing changes', async () => {
    const { handler, backend } = createTestHandler(tools);
    const cursor: string = (await send(handler, legacyList())).body.result.nextCursor;
    expect((await send(handler, legacyList(cursor))).body.result.tools).toHaveLength(50);
    backend.setTools(manyTools(121));
    expect((await send(handler, legacyList(cursor))).body.error.code).toBe(-32602);
  });

  it('keeps a cursor valid while the listing only changes content, not names', async () => {
    const { handler, backend } = createTestHandler(tools);
    const cursor: string = (await send(handler, legacyList())).body.result.nextCursor;
    backend.setTools(tools.map((tool) => ({ ...tool, description: 'changed' })));
    const { body } = await send(handler, legacyList(cursor));
    expect(body.result.tools[0].description).toBe('changed');
  });

  it('answers identical pages from its cache', async () => {
    const { handler } = createTestHandler(tools);
    const first = await send(handler, legacyList(undefined, '2025-11-25', 1));
    const second = await send(handler, legacyList(undefined, '2025-11-25', 1));
    expect(second.text).toBe(first.text);
  });

  it('shapes tools per revision: no title or outputSchema in 2025-03-26', async () => {
    const { handler } = createTestHandler();
    const old = await send(handler, legacyList(undefined, '2025-03-26'));
    const echo = old.body.result.tools.find((tool: { name: string }) => tool.name === 'echo');
    expect(echo).toEqual({
      name: 'echo',
      description: 'Returns its arguments',
      inputSchema: { type: 'object', properties: { message: { type: 'string' } } },
      annotations: { readOnlyHint: true },
    });
    expect(old.body.result.tools.find((tool: { name: string }) => tool.name === 'weather')).not.toHaveProperty('outputSchema');

    const current = await send(handler, legacyList(undefined, '2025-06-18'));
    expect(current.body.result.tools.find((tool: { name: string }) => tool.name === 'echo').title).toBe('Echo');
    expect(current.body.result.tools.find((tool: { name: string }) => tool.name === 'weather').outputSchema).toBeDefined();
    expect(current.body.result.tools).toHaveLength(fakeTools.length);
    expect(current.body.result).not.toHaveProperty('nextCursor');
  });

  it('answers an empty listing with an empty page', async () => {
    const { handler } = createTestHandler([]);
    const { body } = await send(handler, legacyList());
    expect(body.result).toEqual({ tools: [] });
  });

  it('answers a failing backend listing with -32603 in-band, without details', async () => {
    const backend = createFakeBackend();
    backend.listTools = async () => {
      throw new Error('store offline at 10.0.0.5');
    };
    const handler = createMcpHandler(backend, testOptions);
    const { status, body, text } = await send(handler, legacyList());
    expect(status).toBe(200);
    expect(body.error.code).toBe(-32603);
    expect(text).not.toContain('10.0.0.5');
  });
});
