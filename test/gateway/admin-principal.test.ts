import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/index.js';
import { testGateway } from '../fixtures.js';
import { jsonRequest } from '../helpers.js';

let gateway: Gateway;
afterEach(async () => {
  await gateway?.close();
});

let reported: unknown[] = [];

/** A gateway whose admin hook answers whatever `answer()` gives; what it tells onError lands in `reported`. */
function hookedGateway(answer: () => unknown) {
  reported = [];
  gateway = testGateway({ admin: { authenticate: async () => answer() as never }, onError: (error) => reported.push(error) });
  return gateway;
}

async function send(path: string, method = 'GET', body?: unknown) {
  const response = await gateway.fetch(jsonRequest(path, { method, key: 'host-session-cookie-stand-in', body }));
  return { status: response.status, body: (await response.json()) as any };
}

describe('the principal an admin authenticate hook returns', () => {
  const malformed: Array<[string, unknown]> = [
    ['roles as a string that contains "admin"', { id: 'u', roles: 'super-admin-readonly' }],
    ['roles as the string "admin"', { id: 'u', roles: 'admin' }],
    ['no roles', { id: 'u' }],
    ['no id', { roles: ['admin'] }],
    ['an empty id', { id: '', roles: ['admin'] }],
    ['a numeric id', { id: 7, roles: ['admin'] }],
    ['a role it does not know', { id: 'u', roles: ['root'] }],
    ['a known role beside one it does not know', { id: 'u', roles: ['admin', 'superuser'] }],
    ['true', true],
    ['a string', 'yes'],
    ['an array', [{ id: 'u', roles: ['admin'] }]],
  ];

  it.each(malformed)('is refused with 401, and reaches no route, when it has %s', async (_name, principal) => {
    hookedGateway(() => principal);
    const listed = await send('/admin/agents');
    expect(listed).toEqual({ status: 401, body: { error: { code: 'UNAUTHENTICATED', message: 'Missing or invalid credentials' } } });
    expect((await send('/admin/agents', 'POST', { name: 'bot' })).status).toBe(401);
    expect((await gateway.admin.listAgents()).items).toEqual([]);
    const failed = await gateway.admin.listAudit({ type: 'auth.failed' });
    expect(failed.items.map((item) => item.event)).toMatchObject([
      { actor: 'anonymous', data: { door: 'admin', path: '/admin/agents' } },
      { actor: 'anonymous', data: { door: 'admin', path: '/admin/agents' } },
    ]);
    expect((await gateway.admin.listAudit({ type: 'admin.agent.created' })).items).toEqual([]);
    // onError hears why, once per refused request, without the values the hook returned.
    expect(reported).toHaveLength(2);
    for (const error of reported) {
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toMatch(/^admin\.authenticate returned a malformed principal, refused with 401: /);
      expect((error as Error).message).not.toMatch(/super-admin-readonly|root|superuser/);
    }
  });

  it('is refused like no principal when the hook answers null or undefined', async () => {
    let answer: unknown = null;
    hookedGateway(() => answer);
    expect((await send('/admin/agents')).status).toBe(401);
    answer = undefined;
    expect((await send('/admin/agents')).status).toBe(401);
  });

  it('lets a well-formed principal in with exactly its roles, and audits it by its id', async () => {
    let answer: unknown = { id: 'u-1', roles: [], team: 'ops' };
    hookedGateway(() => answer);
    // Authenticated, with no role a route asks for.
    expect((await send('/admin/agents')).status).toBe(403);
    answer = { id: 'u-1', roles: ['auditor', 'auditor'] };
    expect((await send('/admin/audit')).status).toBe(200);
    expect((await send('/admin/agents')).status).toBe(403);
    answer = { id: 'u-1', roles: ['approver', 'admin'] };
    expect((await send('/admin/agents', 'POST', { name: 'bot' })).status).toBe(201);
    const created = await gateway.admin.listAudit({ type: 'admin.agent.created' });
    expect(created.items.map((item) => item.event.actor)).toEqual(['admin:u-1']);
  });

  it('is read once: the roles checked are the roles used', async () => {
    let reads = 0;
    hookedGateway(() => ({
      id: 'u-2',
      get roles() {
        reads++;
        // A principal that would turn admin after being checked.
        return reads === 1 ? ['auditor'] : ['admin'];
      },
    }));
    expect((await send('/admin/agents', 'POST', { name: 'bot' })).status).toBe(403);
    expect(reads).toBe(1);
    expect((await gateway.admin.listAgents()).items).toEqual([]);
  });

  it('when the hook throws, answers 503 AUTH_UNAVAILABLE with Retry-After, audits it, and tells onError, never the error', async () => {
    hookedGateway(() => {
      throw new Error('session store at redis://:hunter2@cache:6379 is down');
    });
    const response = await gateway.fetch(jsonRequest('/admin/agents', { method: 'POST', key: 'session', body: { name: 'bot' } }));
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ error: { code: 'AUTH_UNAVAILABLE', message: 'Admin authentication is unavailable' } });
    expect(text).not.toContain('hunter2');
    expect((await gateway.admin.listAgents()).items).toEqual([]);
    const failed = await gateway.admin.listAudit({ type: 'auth.failed' });
    expect(failed.items.map((item) => item.event)).toMatchObject([
      { actor: 'anonymous', data: { door: 'admin', path: '/admin/agents', reason: 'auth_unavailable' } },
    ]);
    expect(JSON.stringify(failed.items)).not.toContain('hunter2');
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatchObject({ code: 'AUTH_UNAVAILABLE', cause: { message: expect.stringContaining('is down') } });
  });
});
