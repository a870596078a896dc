/**
 * The Next.js route handlers, called as Next.js calls them: with a Web `Request` for the
 * route's path. (The built Next.js example runs in the framework matrix.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { toNextHandlers } from '../../adapters/next.js';
import { type Gateway, createGateway } from '../../src/index.js';
import { echo } from '../fixtures.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  while (gateways.length > 0) await gateways.pop()?.close();
});

async function setUp(basePath: string) {
  const gateway = createGateway({ basePath, tools: [echo], policy: [{ id: 'all', effect: 'allow' }] });
  gateways.push(gateway);
  const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
  return { gateway, authorization: `Bearer ${apiKey}` };
}

describe('toNextHandlers', () => {
  it("maps the route's basePath onto the gateway's, body and query passed through", async () => {
    const { gateway, authorization } = await setUp('');
    const { POST } = toNextHandlers(gateway, { basePath: '/api/atg' });
    const answer = await POST(
      new Request('http://localhost:3000/api/atg/tools/echo/invoke?trace=1', {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json' },
        body: JSON.stringify({ input: { text: 'from next' } }),
      }),
    );
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ status: 'succeeded', output: { text: 'from next' } });
  });

  it('answers outside its basePath as the gateway answers an unknown path', async () => {
    const { gateway, authorization } = await setUp('/atg');
    const { GET } = toNextHandlers(gateway, { basePath: '/api/atg' });
    const outside = await GET(new Request('http://localhost:3000/api/atgx/tools', { headers: { authorization } }));
    const unknown = await gateway.fetch(new Request('http://localhost:3000/atg/no-such-route', { headers: { authorization } }));
    expect(outside.status).toBe(404);
    expect(Object.fromEntries(outside.headers)).toEqual(Object.fromEntries(unknown.headers));
    expect(await outside.json()).toEqual(await unknown.json());
  });

  it('answers a request whose body host code read first as the gateway does: 500, told to onError', async () => {
    const reported: unknown[] = [];
    const gateway = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }], onError: (error) => reported.push(error) });
    gateways.push(gateway);
    const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
    const { POST } = toNextHandlers(gateway, { basePath: '/api/atg' });
    const readFirst = async (url: string) => {
      const request = new Request(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: '{"input":{"text":"hi"}}',
      });
      await request.text();
      return request;
    };
    const viaNext = await POST(await readFirst('http://localhost:3000/api/atg/tools/echo/invoke'));
    const direct = await gateway.fetch(await readFirst('http://localhost:3000/tools/echo/invoke'));
    expect(viaNext.status).toBe(500);
    expect(await viaNext.json()).toEqual(await direct.json());
    expect(reported.map((error) => (error as Error).message)).toEqual([
      'The request body was already read before the gateway got the request',
      'The request body was already read before the gateway got the request',
    ]);
  });

  it('refuses a basePath that is not a path prefix', async () => {
    const { gateway } = await setUp('');
    expect(() => toNextHandlers(gateway, { basePath: 'api/' })).toThrow(TypeError);
  });
});
