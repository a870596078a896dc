import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway } from '../../src/index.js';
import { sqlStore } from '../../src/store/sql/index.js';
import type { SqlClient } from '../../src/store/sql/index.js';
import { postgresUrl, randomSchema } from './fixtures/sql-engines.js';

const fixture = fileURLToPath(new URL('./fixtures/sql-kill-gateway.ts', import.meta.url));
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** Starts the fixture gateway; resolves with its address, key and the lines it prints. */
async function startDoomedGateway(env: Record<string, string>): Promise<{
  child: ChildProcess;
  url: string;
  apiKey: string;
  nextLine: () => Promise<string>;
}> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  const nextLine = async (): Promise<string> => {
    const line = await lines.next();
    if (line.done) throw new Error(`the gateway process ended early: ${stderr.slice(-2000)}`);
    return line.value;
  };
  const ready = JSON.parse(await nextLine()) as { url: string; apiKey: string };
  return { child, ...ready, nextLine };
}

interface Variant {
  name: string;
  /** Environment for the fixture, and a client on the same database for the test afterwards. */
  prepare(): Promise<{ env: Record<string, string>; reopen: () => SqlClient; schema?: string }>;
}

const variants: Variant[] = [
  {
    name: 'PGlite data directory',
    async prepare() {
      const dataDir = await mkdtemp(join(tmpdir(), 'atg-kill-'));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      return { env: { ATG_KILL_DATA_DIR: dataDir, ATG_KILL_DATABASE_URL: '' }, reopen: () => new PGlite(dataDir) };
    },
  },
];
if (postgresUrl !== undefined) {
  variants.push({
    name: 'Postgres',
    async prepare() {
      const schema = randomSchema('atg_kill');
      cleanups.push(async () => {
        const pool = new pg.Pool({ connectionString: postgresUrl, max: 1 });
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await pool.end();
      });
      return {
        env: { ATG_KILL_DATABASE_URL: postgresUrl as string, ATG_KILL_SCHEMA: schema },
        reopen: () => new pg.Pool({ connectionString: postgresUrl }),
        schema,
      };
    },
  });
}

describe.each(variants)('a gateway killed mid-call ($name)', (variant) => {
  it('leaves a call that the next gateway lists as incomplete and marks outcome_unknown, once', async () => {
    const { env, reopen, schema } = await variant.prepare();
    const doomed = await startDoomedGateway(env);

    const call = fetch(`${doomed.url}/tools/payments.transfer/invoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${doomed.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ input: { amount: 250 } }),
    });
    // The connection dies with the process; that rejection is expected.
    call.catch(() => undefined);
    expect(await doomed.nextLine()).toBe('HANDLER_STARTED');
    doomed.child.kill('SIGKILL');
    await once(doomed.child, 'exit');

    const gateway = createGateway({ store: sqlStore({ client: reopen(), schema, closeClient: true }), refreshIntervalMs: 0 });
    cleanups.push(() => gateway.close());

    const incomplete = await gateway.admin.incompleteInvocations({ graceMs: 0 });
    expect(incomplete).toHaveLength(1);
    const [lost] = incomplete;
    expect(lost).toMatchObject({ tool: 'payments.transfer', agentId: expect.any(String) });

    const record = await gateway.admin.getInvocation(lost?.invocationId as string);
    expect(record).toMatchObject({ status: 'outcome_unknown', tool: 'payments.transfer' });
    const outcomeEvents = await gateway.admin.listAudit({ type: 'invocation.outcome_unknown' });
    expect(outcomeEvents.items.map((entry) => entry.event.invocationId)).toEqual([lost?.invocationId]);

    // Reported once: the outcome event closes it.
    expect(await gateway.admin.incompleteInvocations({ graceMs: 0 })).toEqual([]);
    expect((await gateway.admin.verifyAudit()).ok).toBe(true);
  });
});
