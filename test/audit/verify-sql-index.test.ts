import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeHandler } from '../../adapters/node.js';
import { runCli } from '../../src/cli/run.js';
import type { AuditEntry, Gateway } from '../../src/index.js';
import { sqlStore } from '../../src/store/sql/index.js';
import { postgresUrl, randomSchema } from '../e2e/fixtures/sql-engines.js';
import { adminTokens, testGateway } from '../fixtures.js';
import { listen } from '../helpers.js';

/**
 * A gateway on the SQL store served over HTTP (real Postgres with ATG_TEST_POSTGRES_URL, else
 * PGlite on a data directory), the database as someone with write access reaches it, and
 * `atg` on the same database.
 */
interface Deployment {
  url: string;
  gateway: Gateway;
  /** The audit entries' table, schema-qualified. */
  table: string;
  /** Runs a statement on the database behind the gateway's back. */
  sql(text: string, params?: unknown[]): Promise<void>;
  /** Closes the gateway, then runs `atg` on its database (PGlite's directory is one process's at a time). */
  atg(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function deploy(): Promise<Deployment> {
  const schema = randomSchema('atg_index');
  let client: pg.Pool | PGlite;
  let sql: (text: string, params?: unknown[]) => Promise<void>;
  let storeArgs: string[];
  if (postgresUrl !== undefined) {
    client = new pg.Pool({ connectionString: postgresUrl, max: 5 });
    const admin = new pg.Pool({ connectionString: postgresUrl, max: 1 });
    sql = async (text, params = []) => {
      await admin.query(text, params);
    };
    storeArgs = ['--database-url', postgresUrl, '--schema', schema];
    cleanups.push(async () => {
      // Only the schema this test made.
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    });
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'atg-index-'));
    const database = new PGlite(join(dir, 'db'));
    client = database;
    sql = async (text, params = []) => {
      await database.query(text, params);
    };
    storeArgs = ['--data-dir', join(dir, 'db'), '--schema', schema];
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
  }
  const gateway = testGateway({ store: sqlStore({ client, schema, closeClient: true }) });
  const server = await listen(createNodeHandler(gateway));
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      await server.close();
      await gateway.close();
    })());
  cleanups.push(close);
  return {
    url: server.url,
    gateway,
    table: `"${schema}".audit_entries`,
    sql,
    async atg(args) {
      await close();
      let stdout = '';
      let stderr = '';
      const code = await runCli([...args, ...storeArgs], {
        stdout: { write: (text: string) => (stdout += text) },
        stderr: { write: (text: string) => (stderr += text) },
        env: {},
      });
      return { code, stdout, stderr };
    },
  };
}

async function call(url: string, path: string, init: { key: string; body?: unknown }): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}${path}`, {
    method: init.body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${init.key}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: response.status, body: await response.json() };
}

/** Two agents, each calling `echo` over REST twice; returns their ids and the chain's entries. */
async function recordCalls(deployment: Deployment): Promise<{ ann: string; bob: string; entries: AuditEntry[] }> {
  const ids: string[] = [];
  for (const name of ['ann', 'bob']) {
    const { agent, apiKey } = await deployment.gateway.admin.createAgent({ name });
    ids.push(agent.id);
    for (const text of ['one', 'two']) {
      const answer = await call(deployment.url, '/tools/echo/invoke', { key: apiKey, body: { input: { text } } });
      expect(answer).toMatchObject({ status: 200, body: { status: 'succeeded' } });
    }
  }
  const listed = await call(deployment.url, '/admin/audit?limit=1000', { key: adminTokens.auditor });
  expect(listed.status).toBe(200);
  const { items, indexMismatches } = listed.body as { items: AuditEntry[]; indexMismatches?: unknown };
  expect(indexMismatches).toBeUndefined();
  return { ann: ids[0] as string, bob: ids[1] as string, entries: items };
}

/** The entries of agent `agentId`'s calls of type `type`, in chain order. */
function callsOf(entries: AuditEntry[], agentId: string, type: string): AuditEntry[] {
  return entries.filter((entry) => entry.event.agentId === agentId && entry.event.type === type);
}

const seqs = (body: unknown) => (body as { items: AuditEntry[] }).items.map((entry) => entry.seq);

describe(`audit verification on the SQL store (${postgresUrl === undefined ? 'PGlite' : 'Postgres'}): index columns`, () => {
  it('an intact chain verifies over HTTP, through the API and with atg', async () => {
    const deployment = await deploy();
    const { ann, entries } = await recordCalls(deployment);
    const head = (entries.at(-1) as AuditEntry).seq;

    expect(await call(deployment.url, '/admin/audit/verify', { key: adminTokens.auditor })).toEqual({
      status: 200,
      body: { ok: true, through: head },
    });
    expect(await deployment.gateway.admin.verifyAudit()).toEqual({ ok: true, through: head });
    const annsCalls = await call(deployment.url, `/admin/audit?agentId=${ann}&type=invocation`, { key: adminTokens.auditor });
    expect(annsCalls.body).toEqual({
      items: entries.filter((entry) => entry.event.agentId === ann && entry.event.type.startsWith('invocation.')),
    });

    const cli = await deployment.atg(['audit', 'verify', '--json']);
    expect({ code: cli.code, result: JSON.parse(cli.stdout), stderr: cli.stderr }).toEqual({
      code: 0,
      result: { ok: true, through: head },
      stderr: '',
    });
  });

  it("an agent_id changed in the database: verification reports the entry and column, a listing does not show it as the other agent's", async () => {
    const deployment = await deploy();
    const { ann, bob, entries } = await recordCalls(deployment);
    const forged = callsOf(entries, ann, 'invocation.completed')[0] as AuditEntry;
    await deployment.sql(`UPDATE ${deployment.table} SET agent_id = $1 WHERE seq = $2`, [bob, forged.seq]);
    const broken = { ok: false, through: forged.seq - 1, brokenAt: forged.seq, reason: 'index_mismatch', columns: ['agent_id'] };

    expect(await call(deployment.url, '/admin/audit/verify', { key: adminTokens.auditor })).toEqual({ status: 200, body: broken });
    expect(await deployment.gateway.admin.verifyAudit()).toEqual(broken);
    // Bob's listing: the forged column selects the entry, its event says Ann: left out, and named.
    const bobs = await call(deployment.url, `/admin/audit?agentId=${bob}`, { key: adminTokens.auditor });
    expect(seqs(bobs.body)).toEqual(entries.filter((entry) => entry.event.agentId === bob).map((entry) => entry.seq));
    expect((bobs.body as { indexMismatches: unknown }).indexMismatches).toEqual([{ seq: forged.seq, columns: ['agent_id'] }]);
    // Ann's listing never reads it: only verification can tell it is gone from there.
    const anns = await call(deployment.url, `/admin/audit?agentId=${ann}`, { key: adminTokens.auditor });
    expect(seqs(anns.body)).not.toContain(forged.seq);

    const text = await deployment.atg(['audit', 'verify']);
    expect(text).toEqual({
      code: 1,
      stdout:
        `broken: audit chain at seq ${forged.seq}: the row's index columns, which filtered listings select by, disagree with its event ` +
        `(index_mismatch: agent_id); intact through seq ${forged.seq - 1}\n`,
      stderr: '',
    });
    const json = await deployment.atg(['audit', 'verify', '--json']);
    expect({ code: json.code, result: JSON.parse(json.stdout) }).toEqual({ code: 1, result: broken });
  });

  it('type, tool and at changed in the database: each is reported with its column, the first one first', async () => {
    const deployment = await deploy();
    const { ann, bob, entries } = await recordCalls(deployment);
    const typeForged = callsOf(entries, ann, 'invocation.started')[0] as AuditEntry;
    const toolForged = callsOf(entries, ann, 'invocation.completed')[1] as AuditEntry;
    const atForged = callsOf(entries, bob, 'invocation.completed')[0] as AuditEntry;
    expect(typeForged.seq < toolForged.seq && toolForged.seq < atForged.seq).toBe(true);
    const table = deployment.table;
    await deployment.sql(`UPDATE ${table} SET type = 'admin.agent.revoked' WHERE seq = $1`, [typeForged.seq]);
    await deployment.sql(`UPDATE ${table} SET tool = 'refunds.create' WHERE seq = $1`, [toolForged.seq]);
    // The same instant in another form, which sorts before the event's own text.
    await deployment.sql(`UPDATE ${table} SET at = $1 WHERE seq = $2`, [atForged.event.at.replace(/Z$/, '+00:00'), atForged.seq]);

    const verify = async (from?: number) =>
      (await call(deployment.url, `/admin/audit/verify${from === undefined ? '' : `?from=${from}`}`, { key: adminTokens.auditor })).body;
    const breakAt = (entry: AuditEntry, column: string) => ({
      ok: false,
      through: entry.seq - 1,
      brokenAt: entry.seq,
      reason: 'index_mismatch',
      columns: [column],
    });
    expect(await verify()).toEqual(breakAt(typeForged, 'type'));
    expect(await verify(typeForged.seq + 1)).toEqual(breakAt(toolForged, 'tool'));
    expect(await verify(toolForged.seq + 1)).toEqual(breakAt(atForged, 'at'));
    expect(await deployment.gateway.admin.verifyAudit({ from: atForged.seq + 1 })).toEqual({
      ok: true,
      through: (entries.at(-1) as AuditEntry).seq,
    });

    // Filtered listings show none of them under a filter its event does not match, and name them.
    const listed = async (query: string) => (await call(deployment.url, `/admin/audit?${query}`, { key: adminTokens.auditor })).body;
    expect(await listed('type=admin.agent.revoked')).toEqual({ items: [], indexMismatches: [{ seq: typeForged.seq, columns: ['type'] }] });
    expect(await listed('tool=refunds.create')).toEqual({ items: [], indexMismatches: [{ seq: toolForged.seq, columns: ['tool'] }] });
    const beforeIt = await listed(`to=${encodeURIComponent(atForged.event.at)}&agentId=${bob}`);
    expect(seqs(beforeIt)).not.toContain(atForged.seq);
    expect((beforeIt as { indexMismatches: unknown }).indexMismatches).toEqual([{ seq: atForged.seq, columns: ['at'] }]);

    const cli = async (...args: string[]) => {
      const result = await deployment.atg(['audit', 'verify', '--json', ...args]);
      return { code: result.code, result: JSON.parse(result.stdout) as unknown };
    };
    expect(await cli()).toEqual({ code: 1, result: breakAt(typeForged, 'type') });
    expect(await cli('--from', String(typeForged.seq + 1))).toEqual({ code: 1, result: breakAt(toolForged, 'tool') });
    expect(await cli('--from', String(toolForged.seq + 1))).toEqual({ code: 1, result: breakAt(atForged, 'at') });
  });
});
