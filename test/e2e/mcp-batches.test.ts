/**
 * JSON-RPC batches (2025-03-26) against the real gateway on loopback, as raw bodies: the
 * official clients never send batches. JSON-RPC 2.0 answers every request of a batch and
 * no notification, whatever the notification's params are.
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
  } = await servedGateway({ tools: [echo], policy: [{ id: 'echo', effect: 'allow', tools: ['echo'] }] }, 'batch-agent'));
});

afterAll(async () => {
  await close();
});

/** A 2025-03-26 POST (no MCP-Protocol-Version header): its status and body text. */
async function post(body: unknown): Promise<{ status: number; text: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

const positionalNotification = { jsonrpc: '2.0', method: 'notifications/cancelled', params: ['req-1', 'gone'] };

describe('MCP batches through the gateway', () => {
  it('leave a notification with by-position params out of the answer; requests keep their entries', async () => {
    const { status, text } = await post([
      { jsonrpc: '2.0', id: 1, method: 'ping' },
      positionalNotification,
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } },
      { jsonrpc: '2.0', id: 3, method: 'tools/list', params: [1] },
      { jsonrpc: '2.0', method: 'notifications/initialized', params: 'not structured' },
    ]);
    expect(status).toBe(200);
    const answers = JSON.parse(text) as Array<{ id: unknown; result?: any; error?: { code: number; message: string } }>;
    expect(answers.map((answer) => answer.id)).toEqual([1, 2, 3, null]);
    expect(answers[0]?.result).toEqual({});
    expect(answers[1]?.result.content[0].text).toContain('hi');
    // A request with by-position params is answered, as alone: -32602.
    expect(answers[2]?.error).toEqual({ code: -32602, message: 'Invalid params: "params" must be an object' });
    // Params that are not structured at all make no valid notification: an invalid request, answered with id null.
    expect(answers[3]?.error?.code).toBe(-32600);
  });

  it('answer a batch of notifications only with 202 and no body, one with by-position params included', async () => {
    const { status, text } = await post([positionalNotification, { jsonrpc: '2.0', method: 'notifications/initialized' }]);
    expect(status).toBe(202);
    expect(text).toBe('');
    expect(await post([positionalNotification])).toEqual({ status: 202, text: '' });
  });

  it('refuse such a notification posted alone with 400, as one MCP cannot accept', async () => {
    const { status, text } = await post(positionalNotification);
    expect(status).toBe(400);
    expect(JSON.parse(text)).toMatchObject({ id: null, error: { code: -32600 } });
  });
});
