/**
 * Every Node adapter takes the gateway's `maxBodyBytes` as its own limit unless it is given
 * one: one setting on the gateway holds behind every framework.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, defineTool } from '../../src/index.js';
import { type AdapterOptions, everyHost } from './hosts.js';
import { send } from './send.js';

const measure = defineTool({
  name: 'measure',
  description: 'Answers the length of its text',
  inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } as const,
  handler: ({ text }) => ({ length: text.length }),
});

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

describe.each(everyHost)('%s', (_name, start) => {
  async function serve(maxBodyBytes: number, options?: AdapterOptions) {
    const gateway = createGateway({ maxBodyBytes, tools: [measure], policy: [{ id: 'all', effect: 'allow' }] });
    const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
    const host = await start(gateway, options);
    closers.push(async () => {
      await host.close();
      await gateway.close();
    });
    const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
    return (text: string) => send(`${host.url}/tools/measure/invoke`, { headers, body: JSON.stringify({ input: { text } }) });
  }

  it("takes a 2 MiB body when the gateway's maxBodyBytes is 4 MiB", async () => {
    const invoke = await serve(4 * 1024 * 1024);
    const answer = await invoke('x'.repeat(2 * 1024 * 1024));
    expect(answer.status).toBe(200);
    expect(answer.json()).toMatchObject({ status: 'succeeded', output: { length: 2 * 1024 * 1024 } });
  });

  it("refuses with 413 past the gateway's maxBodyBytes below 1 MiB", async () => {
    const invoke = await serve(1024);
    const answer = await invoke('x'.repeat(2048));
    expect(answer.status).toBe(413);
    expect(answer.json().error).toEqual({ code: 'PAYLOAD_TOO_LARGE', message: 'Request body exceeds 1024 bytes' });
    // The gateway's own error headers, and the connection closed: the rest of the body is unread.
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.headers.connection).toBe('close');
  });

  it("applies the adapter's own maxBodyBytes over the gateway's", async () => {
    const invoke = await serve(4 * 1024 * 1024, { maxBodyBytes: 1024 });
    const answer = await invoke('x'.repeat(2048));
    expect(answer.status).toBe(413);
    expect(answer.json().error).toEqual({ code: 'PAYLOAD_TOO_LARGE', message: 'Request body exceeds 1024 bytes' });
  });
});
