/**
 * The host's admin `authenticate` hook gets a real Web `Request` behind every adapter, one
 * it can copy, hand to `fetch`, or read the body of, without taking the body from the gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toNextHandlers } from '../../adapters/next.js';
import { type AdminPrincipal, type Gateway, createGateway } from '../../src/index.js';
import { echo } from '../fixtures.js';
import { type Host, everyHost } from './hosts.js';
import { send } from './send.js';

interface Seen {
  isRequest: boolean;
  copiedUrl: string;
  session: string | null;
  hasSignal: boolean;
  body: string;
}

/** A gateway whose admin hook looks at the request as host code would, and lets in `x-session: staff`. */
function hookedGateway(seen: Seen[]): Gateway {
  return createGateway({
    tools: [echo],
    policy: [{ id: 'all', effect: 'allow' }],
    admin: {
      authenticate: async (request): Promise<AdminPrincipal | null> => {
        // A copy takes the body over, as `fetch(request)` would.
        const copy = new Request(request);
        seen.push({
          isRequest: request instanceof Request,
          copiedUrl: copy.url,
          session: copy.headers.get('x-session'),
          hasSignal: request.signal instanceof AbortSignal,
          body: await copy.text(),
        });
        return request.headers.get('x-session') === 'staff' ? { id: 'alice', roles: ['admin'] } : null;
      },
    },
  });
}

const body = JSON.stringify({ name: 'created-by-staff' });
const headers = { 'x-session': 'staff', 'content-type': 'application/json' };

describe.each(everyHost)('%s', (_name, start) => {
  const seen: Seen[] = [];
  let gateway: Gateway;
  let host: Host;
  beforeAll(async () => {
    gateway = hookedGateway(seen);
    host = await start(gateway);
  });
  afterAll(async () => {
    await host.close();
    await gateway.close();
  });

  it('hands the hook a Web Request whose body it may read, and still reads that body itself', async () => {
    const created = await send(`${host.url}/admin/agents`, { headers, body });
    expect(created.status).toBe(201);
    expect(created.json().agent.name).toBe('created-by-staff');
    const [hook] = seen;
    expect(hook).toMatchObject({ isRequest: true, session: 'staff', hasSignal: true, body });
    expect(new URL(hook?.copiedUrl as string).pathname).toBe('/admin/agents');
  });
});

describe.each(everyHost)('%s, for a method no Web Request can carry', (_name, start) => {
  it("lets the hook judge a TRACE (401, or the admin route's 405), never a 500 told to onError", async () => {
    const methods: string[] = [];
    const reported: unknown[] = [];
    const gateway = createGateway({
      tools: [echo],
      onError: (error) => reported.push(error),
      admin: {
        authenticate: (request) => {
          methods.push(request.method);
          return request.headers.get('x-session') === 'staff' ? { id: 'alice', roles: ['admin'] } : null;
        },
      },
    });
    const host = await start(gateway);
    try {
      const anonymous = await send(`${host.url}/admin/agents`, { method: 'TRACE' });
      expect(anonymous.status).toBe(401);
      expect(anonymous.json().error.code).toBe('UNAUTHENTICATED');
      const staff = await send(`${host.url}/admin/agents`, { method: 'TRACE', headers: { 'x-session': 'staff' } });
      expect(staff.status).toBe(405);
      expect(staff.json().error.code).toBe('METHOD_NOT_ALLOWED');
      expect(methods).toEqual(['TRACE', 'TRACE']);
      expect(reported).toEqual([]);
    } finally {
      await host.close();
      await gateway.close();
    }
  });
});

describe('toNextHandlers and gateway.fetch', () => {
  it('hand the hook a Request whose body it may read, and still read that body themselves', async () => {
    const seen: Seen[] = [];
    const gateway = hookedGateway(seen);
    try {
      const { POST } = toNextHandlers(gateway, { basePath: '/api/atg' });
      const viaNext = await POST(new Request('http://app.test/api/atg/admin/agents', { method: 'POST', headers, body }));
      expect(viaNext.status).toBe(201);
      const direct = await gateway.fetch(new Request('http://gateway.test/admin/agents', { method: 'POST', headers, body }));
      expect(direct.status).toBe(201);
      expect(seen).toEqual([
        { isRequest: true, copiedUrl: 'http://app.test/admin/agents', session: 'staff', hasSignal: true, body },
        { isRequest: true, copiedUrl: 'http://gateway.test/admin/agents', session: 'staff', hasSignal: true, body },
      ]);
    } finally {
      await gateway.close();
    }
  });
});
