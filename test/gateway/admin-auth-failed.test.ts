import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/index.js';
import { adminTokens, testGateway } from '../fixtures.js';
import { breakableStore, jsonRequest } from '../helpers.js';

let gateway: Gateway;
afterEach(async () => {
  await gateway?.close();
});

const BOGUS = 'bogus-admin-token-5f1e9c0b7a3d2e4f';

describe('failed admin authentication', () => {
  it('answers 401 and appends auth.failed naming the admin door and the path, never the token', async () => {
    gateway = testGateway();
    const response = await gateway.fetch(jsonRequest('/admin/agents?limit=5', { key: BOGUS }));
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');

    const events = await gateway.admin.listAudit({ type: 'auth.failed' });
    expect(events.items).toHaveLength(1);
    expect(events.items[0]?.event).toMatchObject({
      type: 'auth.failed',
      actor: 'anonymous',
      data: { door: 'admin', path: '/admin/agents' },
    });
    expect(JSON.stringify(events.items)).not.toContain(BOGUS);
    expect(await gateway.admin.verifyAudit()).toMatchObject({ ok: true });
  });

  it('records missing credentials and agent keys at the admin door too, and cuts long paths', async () => {
    gateway = testGateway();
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    expect((await gateway.fetch(jsonRequest('/admin/audit'))).status).toBe(401);
    expect((await gateway.fetch(jsonRequest('/admin/agents', { key: apiKey }))).status).toBe(401);
    expect((await gateway.fetch(jsonRequest(`/admin/${'x'.repeat(1000)}`, { key: BOGUS }))).status).toBe(401);
    // A real admin token opens the door and leaves no such event.
    expect((await gateway.fetch(jsonRequest('/admin/agents', { key: adminTokens.admin }))).status).toBe(200);

    const events = (await gateway.admin.listAudit({ type: 'auth.failed' })).items.map((entry) => entry.event.data as { path: string });
    expect(events.map((data) => data.path.slice(0, 13))).toEqual(['/admin/audit', '/admin/agents', '/admin/xxxxxx']);
    expect(events[2]?.path).toHaveLength(256);
    expect(JSON.stringify(events)).not.toContain(apiKey);
  });

  it('still answers the same 401, and nothing of the failure, when the event cannot be written', async () => {
    const { store, setBroken } = breakableStore('appendAudit', 'disk full at /var/lib/atg');
    gateway = testGateway({ store, audit: { appendTimeoutMs: 200 } });
    const normal = await gateway.fetch(jsonRequest('/admin/agents', { key: BOGUS }));
    const normalBody = await normal.text();
    setBroken(true);
    const response = await gateway.fetch(jsonRequest('/admin/agents', { key: BOGUS }));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(normal.headers.get('www-authenticate'));
    const body = await response.text();
    expect(body).toBe(normalBody);
    expect(body).not.toContain('disk full');
    setBroken(false);
  });
});
