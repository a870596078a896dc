/**
 * JSON-RPC integer ids against the real gateway on loopback. JSON parsing rounds an integer
 * beyond 2^53 - 1, so an answer would carry an id the client never sent and could not be
 * matched: such ids are invalid (-32600, id null), as fractional ids are, and every id up to
 * that range comes back exactly as sent. Raw bodies, since JavaScript cannot write these ids.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echo } from '../fixtures.js';
import { servedGateway } from '../helpers.js';

let url: string;
let apiKey: string;
let close: () => Promise<void>;

beforeAll(async () => {
  ({
    mcpUrl: url,
    apiKey,
    close,
  } = await servedGateway({ tools: [echo], policy: [{ id: 'echo', effect: 'allow', tools: ['echo'] }] }, 'id-agent'));
});

afterAll(async () => {
  await close();
});

async function post(body: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', accept: 'application/json', ...headers },
    body,
  });
  return { status: response.status, text: await response.text() };
}

const unsafeIds = ['9007199254740992', '9007199254740993', '-9007199254740992', '123456789012345678901234567890', '1e300'];
const safeIds = ['9007199254740991', '-9007199254740991', '0', '-1', '42'];

describe('JSON-RPC request ids through the gateway', () => {
  it.each(unsafeIds)('refuses the id %s, beyond the safe integer range, with -32600 and id null', async (id) => {
    const { status, text } = await post(`{"jsonrpc":"2.0","id":${id},"method":"ping"}`);
    expect(status).toBe(400);
    const body = JSON.parse(text);
    expect(body.id).toBeNull();
    expect(body.error.code).toBe(-32600);
    expect(body.error.message).toContain('-(2^53 - 1) to 2^53 - 1');
  });

  it.each(safeIds)('answers the integer id %s exactly as sent', async (id) => {
    const { status, text } = await post(`{"jsonrpc":"2.0","id":${id},"method":"ping"}`);
    expect(status).toBe(200);
    expect(text).toBe(`{"jsonrpc":"2.0","id":${id},"result":{}}`);
  });

  it('refuses such an id in a 2026-07-28 request', async () => {
    const meta = '{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}';
    const { status, text } = await post(`{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/list","params":{"_meta":${meta}}}`, {
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/list',
    });
    expect(status).toBe(400);
    expect(JSON.parse(text)).toMatchObject({ id: null, error: { code: -32600 } });
  });

  it('answers such an id inside a 2025-03-26 batch with its own -32600 entry', async () => {
    const { status, text } = await post(
      '[{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"},{"jsonrpc":"2.0","id":9007199254740991,"method":"ping"}]',
    );
    expect(status).toBe(200);
    const [refused, answered] = JSON.parse(text);
    expect(refused).toMatchObject({ id: null, error: { code: -32600 } });
    expect(text).toContain('"id":9007199254740991,"result":{}');
    expect(answered).toEqual({ jsonrpc: '2.0', id: 9007199254740991, result: {} });
  });
});
