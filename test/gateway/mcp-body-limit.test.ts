import { afterEach, describe, expect, it } from 'vitest';
import { createNodeHandler } from '../../adapters/node.js';
import { type Gateway, createGateway } from '../../src/index.js';
import { echo } from '../fixtures.js';
import { listen, mcpHeaders, mcpRequest } from '../helpers.js';

const LIMIT = 2048;

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

async function setup(): Promise<{ gateway: Gateway; apiKey: string }> {
  const gateway = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }], maxBodyBytes: LIMIT });
  closers.push(() => gateway.close());
  const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
  return { gateway, apiKey };
}

/** A tools/call of echo, padded with white space (still JSON) to exactly `bytes` bytes. */
function paddedCall(bytes: number): string {
  const message = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } });
  return message + ' '.repeat(bytes - Buffer.byteLength(message));
}

describe("/mcp and the gateway's maxBodyBytes", () => {
  it('serves a body of exactly the limit', async () => {
    const { gateway, apiKey } = await setup();
    const response = await gateway.fetch(mcpRequest(apiKey, paddedCall(LIMIT)));
    expect(response.status).toBe(200);
    const body = (await response.json()) as { result: { isError?: boolean; content: Array<{ text: string }> } };
    expect(body.result.isError).toBeUndefined();
    expect(body.result.content[0]?.text).toBe('{"text":"hi"}');
  });

  it("refuses one byte more with 413 in the gateway's error body, and nothing is called", async () => {
    const { gateway, apiKey } = await setup();
    const response = await gateway.fetch(mcpRequest(apiKey, paddedCall(LIMIT + 1)));
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: { code: 'PAYLOAD_TOO_LARGE', message: `Request body exceeds ${LIMIT} bytes` } });
    expect((await gateway.admin.listInvocations()).items).toHaveLength(0);
  });

  it('stops reading a streamed body once it passes the limit', async () => {
    const { gateway, apiKey } = await setup();
    // 64 KiB in 1 KiB chunks, handed out as they are asked for.
    let pulled = 0;
    const large = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new TextEncoder().encode(' '.repeat(1024)));
        if (pulled === 64) controller.close();
      },
    });
    const response = await gateway.fetch(mcpRequest(apiKey, large));
    expect(response.status).toBe(413);
    expect(pulled).toBeLessThan(10);
  });

  it('applies through the Node bridge too, whose own limit is larger', async () => {
    const { gateway, apiKey } = await setup();
    const server = await listen(createNodeHandler(gateway, { maxBodyBytes: 1024 * 1024 }));
    closers.push(server.close);
    const under = await fetch(`${server.url}/mcp`, { method: 'POST', headers: mcpHeaders(apiKey), body: paddedCall(LIMIT) });
    expect(under.status).toBe(200);
    const over = await fetch(`${server.url}/mcp`, { method: 'POST', headers: mcpHeaders(apiKey), body: paddedCall(LIMIT + 1) });
    expect(over.status).toBe(413);
    expect(((await over.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('a body that starts with a byte order mark', () => {
  it('is read as Request.text() reads it, on /mcp and on REST invoke', async () => {
    const { gateway, apiKey } = await setup();
    const bom = '\uFEFF';
    const mcp = await gateway.fetch(mcpRequest(apiKey, bom + paddedCall(200)));
    expect(mcp.status).toBe(200);
    const rest = await gateway.fetch(
      new Request('http://gateway.test/tools/echo/invoke', {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: `${bom}{"input":{"text":"hi"}}`,
      }),
    );
    expect(rest.status).toBe(200);
    expect(await rest.json()).toMatchObject({ status: 'succeeded', output: { text: 'hi' } });
  });
});
