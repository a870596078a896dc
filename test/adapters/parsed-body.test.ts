/**
 * Behind a body parser, the adapters hand the gateway the body the parser consumed. The
 * gateway must answer it as it answers the bytes the client sent: a number JSON cannot
 * carry is refused, an empty body stays empty, everything else keeps its values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, createGateway, defineTool } from '../../src/index.js';
import { type Host, connectHost, expressHost, koaHost } from './hosts.js';
import { send } from './send.js';

const calls: unknown[] = [];
/** Takes any object and answers it back. */
const mirror = defineTool({
  name: 'mirror',
  description: 'Answers its input',
  inputSchema: { type: 'object' } as const,
  handler: (input) => {
    calls.push(input);
    return { received: input };
  },
});

const hosts: Array<[string, (gateway: Gateway) => Promise<Host>]> = [
  ['Express 5 after express.json()', (gateway) => expressHost(5, gateway, 'json')],
  ['Express 4 after express.json()', (gateway) => expressHost(4, gateway, 'json')],
  ['Koa 3 after a JSON parser that keeps no raw body', (gateway) => koaHost(3, gateway, 'json-without-raw-body')],
  ['Koa 2 after a JSON parser that keeps no raw body', (gateway) => koaHost(2, gateway, 'json-without-raw-body')],
  ['createNodeHandler Connect-style in Express after express.json()', (gateway) => connectHost(gateway)],
];

describe.each(hosts)('%s', (_name, start) => {
  let gateway: Gateway;
  let host: Host;
  let headers: Record<string, string>;
  beforeAll(async () => {
    gateway = createGateway({ tools: [mirror], policy: [{ id: 'all', effect: 'allow' }] });
    const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
    headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
    host = await start(gateway);
  });
  afterAll(async () => {
    await host.close();
    await gateway.close();
  });

  /** The answer of the host, and the gateway's own answer to the same bytes. */
  async function both(body: string, options: { chunked?: boolean } = {}) {
    const viaHost = await send(`${host.url}/tools/mirror/invoke`, { headers, body, ...options });
    const direct = await gateway.fetch(new Request('http://gateway.test/tools/mirror/invoke', { method: 'POST', headers, body }));
    return { viaHost, direct: { status: direct.status, body: (await direct.json()) as any } };
  }

  it('refuses a number too large for a double with the gateway 400, without running the tool', async () => {
    calls.length = 0;
    for (const [body, path] of [
      ['{"input":{"n":1e400}}', '/n'],
      ['{"input":{"list":[1,-1e999]}}', '/list/1'],
    ]) {
      const { viaHost, direct } = await both(body as string);
      expect(viaHost.status).toBe(400);
      expect(viaHost.json().error).toMatchObject({ code: 'BAD_REQUEST', message: `Input holds a number JSON cannot carry at ${path}` });
      expect(viaHost.json().error).toEqual(direct.body.error);
    }
    expect(calls).toEqual([]);
  });

  it('keeps an empty chunked body empty: the gateway 400, not a call with {}', async () => {
    calls.length = 0;
    const { viaHost, direct } = await both('', { chunked: true });
    expect(viaHost.status).toBe(400);
    expect(viaHost.json()).toEqual(direct.body);
    expect(viaHost.json().error).toEqual({ code: 'BAD_REQUEST', message: 'Malformed JSON body' });
    expect(calls).toEqual([]);
  });

  it('still hands over a chunked {} and ordinary values as they were sent', async () => {
    const empty = await send(`${host.url}/tools/mirror/invoke`, { headers, body: '{}', chunked: true });
    expect(empty.status).toBe(200);
    expect(empty.json()).toMatchObject({ status: 'succeeded', output: { received: {} } });
    const input = { text: 'null', none: null, n: 1.5, big: 1e300, negative: -0.25, nested: [null, 'Infinity', { x: 2 }] };
    const ordinary = await send(`${host.url}/tools/mirror/invoke`, { headers, body: JSON.stringify({ input }), chunked: true });
    expect(ordinary.status).toBe(200);
    expect(ordinary.json()).toMatchObject({ status: 'succeeded', output: { received: input } });
  });
});
