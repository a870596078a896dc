import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, createGateway } from '../../src/index.js';
import { echo } from '../fixtures.js';
import { type Host, fastifyHost } from './hosts.js';
import { send } from './send.js';

describe('fastifyGatewayPlugin with a prefix', () => {
  const reported: unknown[] = [];
  let gateway: Gateway;
  let host: Host;
  let authorization: string;
  beforeAll(async () => {
    gateway = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }], onError: (error) => reported.push(error) });
    authorization = `Bearer ${(await gateway.admin.createAgent({ name: 'a' })).apiKey}`;
    host = await fastifyHost(gateway, {}, (error) => reported.push(error));
  });
  afterAll(async () => {
    await host.close();
    await gateway.close();
  });

  it('answers a percent-encoded prefix as an unknown path: 404, nothing reported', async () => {
    const origin = new URL(host.url).origin;
    for (const path of ['/%61tg/tools', '/%61%74%67/tools/echo/invoke', '/%61tg']) {
      const answer = await send(origin + path, { method: 'GET', headers: { authorization } });
      expect(answer.status).toBe(404);
      expect(answer.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'No such route' } });
      expect(answer.headers['cache-control']).toBe('no-store');
    }
    expect(reported).toEqual([]);
  });

  it('still serves the prefix as spelled, with an encoded remainder', async () => {
    const tools = await send(`${host.url}/tools`, { method: 'GET', headers: { authorization } });
    expect(tools.status).toBe(200);
    const invoked = await send(`${host.url}/tools/%65cho/invoke?x=1`, {
      headers: { authorization, 'content-type': 'application/json' },
      body: '{"input":{"text":"hi"}}',
    });
    expect(invoked.status).toBe(200);
    expect(invoked.json()).toMatchObject({ status: 'succeeded', output: { text: 'hi' } });
    expect(reported).toEqual([]);
  });
});
