import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Gateway,
  type Store,
  createGateway,
  defineTool,
  generateAuditSigningKey,
  httpTool,
  memoryStore,
  verifyAuditExport,
} from '../../src/index.js';
import { adminTokens } from '../fixtures.js';
import { breakableStore, jsonRequest, listen } from '../helpers.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

function counted() {
  const counter = { runs: 0 };
  const tool = defineTool({
    name: 'count',
    description: 'counts',
    inputSchema: { type: 'object', properties: { n: { type: 'number' } } } as const,
    handler: ({ n }) => {
      counter.runs++;
      return { n };
    },
  });
  return { counter, tool };
}

describe('audit failure modes', () => {
  it('fail-closed (default): a start that cannot be recorded means 503 and nothing runs', async () => {
    const { counter, tool } = counted();
    const { store, setBroken } = breakableStore();
    const gateway = createGateway({ store, tools: [tool], policy: [{ id: 'all', effect: 'allow' }], audit: { appendTimeoutMs: 500 } });
    closers.push(() => gateway.close());
    const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
    setBroken(true);
    const response = await gateway.fetch(jsonRequest('/tools/count/invoke', { key: apiKey, body: { input: { n: 1 } } }));
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    expect(counter.runs).toBe(0);
    setBroken(false);
    const after = await gateway.fetch(jsonRequest('/tools/count/invoke', { key: apiKey, body: { input: { n: 2 } } }));
    expect(after.status).toBe(200);
    expect(counter.runs).toBe(1);
  });

  it('fail-open: the call runs and the hook hears about the lost event', async () => {
    const { counter, tool } = counted();
    const { store, setBroken } = breakableStore();
    const errors: unknown[] = [];
    const lost: Array<{ type: string; invocationId?: string }> = [];
    const gateway = createGateway({
      store,
      tools: [tool],
      policy: [{ id: 'all', effect: 'allow' }],
      audit: {
        failMode: 'open',
        appendTimeoutMs: 500,
        onAuditError: (error, event) => {
          errors.push(error);
          lost.push(event);
        },
      },
    });
    closers.push(() => gateway.close());
    const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
    setBroken(true);
    const response = await gateway.fetch(jsonRequest('/tools/count/invoke', { key: apiKey, body: { input: { n: 1 } } }));
    expect(response.status).toBe(200);
    expect(counter.runs).toBe(1);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors[0]).toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    // The hook is told which event was lost.
    const { invocationId } = (await response.json()) as { invocationId: string };
    expect(lost).toContainEqual(expect.objectContaining({ type: 'invocation.started', invocationId }));
  });
});

describe('audit sinks', () => {
  it('get every committed entry besides the store', async () => {
    const { tool } = counted();
    const received: string[] = [];
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    const gateway = createGateway({
      tools: [tool],
      policy: [{ id: 'all', effect: 'allow' }],
      auditSinks: [
        {
          write(entries) {
            for (const entry of entries) received.push(entry.event.type);
            if (received.includes('invocation.completed')) resolveDone();
          },
        },
      ],
    });
    closers.push(() => gateway.close());
    const { agent } = await gateway.admin.createAgent({ name: 'a' });
    await gateway.invoke({ agentId: agent.id, tool: 'count', input: { n: 1 } });
    await done;
    expect(received).toEqual(['admin.agent.created', 'invocation.started', 'invocation.completed']);
  });
});

describe('the chain under load', () => {
  it('1,000 concurrent mixed calls: records = outcome events = upstream requests, chain intact', async () => {
    let upstreamHits = 0;
    const upstream = await listen((_req, res) => {
      upstreamHits++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true,"email":"someone@example.com"}');
    });
    closers.push(upstream.close);
    const crm = httpTool({
      name: 'crm.ping',
      description: 'ping',
      method: 'GET',
      url: `${upstream.url}/ping`,
      inputSchema: { type: 'object', properties: { n: { type: 'number' } } },
      allowPrivateNetwork: true,
    });
    const gateway = createGateway({
      tools: [crm],
      store: memoryStore({ maxRecords: 100_000 }),
      policy: [
        { id: 'allow', effect: 'allow' },
        { id: 'deny-odd-hundreds', effect: 'deny', when: [{ path: 'n', op: 'in', value: [101, 301, 501, 701, 901] }] },
      ],
    });
    closers.push(() => gateway.close());
    const { apiKey } = await gateway.admin.createAgent({ name: 'load' });
    const calls = Array.from({ length: 1000 }, (_, n) => {
      const input = n % 10 === 9 ? { n: 'not a number' } : { n };
      return gateway.fetch(jsonRequest('/tools/crm.ping/invoke', { key: apiKey, body: { input } }));
    });
    const statuses = (await Promise.all(calls)).map((response) => response.status);
    const succeeded = statuses.filter((status) => status === 200).length;
    expect(statuses.filter((status) => status === 403)).toHaveLength(5);
    expect(statuses.filter((status) => status === 422)).toHaveLength(100);
    expect(succeeded).toBe(895);
    expect(upstreamHits).toBe(succeeded);

    const records = await gateway.admin.listInvocations({ limit: 1000 });
    expect(records.items).toHaveLength(1000);
    const count = async (type: string) => (await gateway.admin.listAudit({ type, limit: 1000 })).items.length;
    expect(await count('invocation.started')).toBe(upstreamHits);
    expect(await count('invocation.completed')).toBe(succeeded);
    expect((await count('invocation.denied')) + (await count('invocation.invalid'))).toBe(105);
    expect(await gateway.admin.verifyAudit()).toMatchObject({ ok: true });
    expect(await gateway.admin.incompleteInvocations({ graceMs: 0 })).toEqual([]);
  });
});

describe('verification and evidence', () => {
  it('signs checkpoints, verifies over HTTP, and names the exact entry that was edited', async () => {
    const { privateKey } = await generateAuditSigningKey();
    const store = memoryStore();
    const gateway: Gateway = createGateway({
      store,
      tools: [counted().tool],
      policy: [{ id: 'all', effect: 'allow' }],
      admin: { tokens: [{ token: adminTokens.auditor, id: 'carol', roles: ['auditor'] }] },
      audit: { checkpoints: { signingKey: privateKey, everyEvents: 5 } },
    });
    closers.push(() => gateway.close());
    const { agent } = await gateway.admin.createAgent({ name: 'a' });
    for (let n = 0; n < 12; n++) await gateway.invoke({ agentId: agent.id, tool: 'count', input: { n } });
    const verify = async () =>
      (await (await gateway.fetch(jsonRequest('/admin/audit/verify', { key: adminTokens.auditor }))).json()) as Record<string, unknown>;
    // Checkpoints are signed off the call path; wait until one is there.
    while ((await store.listCheckpoints()).length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await verify()).toMatchObject({ ok: true });
    // A range past the chain's end, or backwards, vouches for nothing: 400.
    const head = (await store.getAuditHead())?.seq as number;
    for (const query of [`from=${head + 1}`, `from=${head + 2}`, 'from=999999999999999', 'from=5&to=2']) {
      const answer = await gateway.fetch(jsonRequest(`/admin/audit/verify?${query}`, { key: adminTokens.auditor }));
      expect(answer.status, query).toBe(400);
      expect(((await answer.json()) as { error: { message: string } }).error.message).toMatch(/^Nothing to verify/);
    }
    const atEnd = await gateway.fetch(jsonRequest(`/admin/audit/verify?from=${head}`, { key: adminTokens.auditor }));
    expect(await atEnd.json()).toMatchObject({ ok: true, through: head });

    const dir = await mkdtemp(join(tmpdir(), 'atg-export-'));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const manifest = await gateway.admin.exportAudit({ dir });
    expect(manifest.count).toBeGreaterThan(20);
    expect(await verifyAuditExport({ dir })).toMatchObject({ ok: true });
    // An export stopped by its signal writes nothing.
    const stoppedDir = join(dir, 'stopped');
    await expect(gateway.admin.exportAudit({ dir: stoppedDir, signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(await readdir(stoppedDir).catch(() => [])).toEqual([]);

    // Tamper with one stored entry (as someone with database access would).
    const { items } = await store.listAudit({ fromSeq: 7, toSeq: 7 });
    const entry = items[0];
    if (entry === undefined) throw new Error('no entry 7');
    const stored = (store as unknown as { listAudit: Store['listAudit'] }).listAudit;
    const tampered = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'listAudit') {
          return async (filter: Parameters<Store['listAudit']>[0]) => {
            const page = await stored.call(target, filter);
            return {
              ...page,
              items: page.items.map((item) => (item.seq === 7 ? { ...item, event: { ...item.event, actor: 'agent:someone-else' } } : item)),
            };
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
    const { verifyAuditChain } = await import('../../src/index.js');
    expect(await verifyAuditChain({ store: tampered })).toMatchObject({ ok: false, brokenAt: 7, reason: 'edited' });
  });
});
