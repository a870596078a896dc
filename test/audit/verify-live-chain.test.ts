/**
 * Verification and export of a chain that another instance appends to while they read it. On
 * Postgres the head and the first page are read on two connections, in either order: the page
 * may be read before an append that the head then shows. Staged here on PGlite, with the
 * reads held in that order.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, describe, expect, it } from 'vitest';
import { createAuditLog, exportAudit, generateAuditSigningKey, verifyAuditChain, verifyAuditExport } from '../../src/index.js';
import { sqlStore } from '../../src/store/sql/index.js';
import type { Store } from '../../src/store/types.js';
import { randomSchema } from '../e2e/fixtures/sql-engines.js';
import { deferred } from '../helpers.js';
import { sampleEvent } from './helpers.js';

const database = new PGlite();
afterAll(() => database.close());

/**
 * The trail's deadline for a write: this test is about the order of reads, not about time,
 * and PGlite's start and the schema's creation on a busy machine can take seconds.
 */
const appendTimeoutMs = 120_000;

/**
 * `reader`, whose first `listAudit` is answered before `append` runs and whose `getAuditHead`
 * and `listCheckpoints` are answered after it (the other instance's append lands between).
 */
function appendBetweenPageAndHead(reader: Store, append: () => Promise<void>): Store {
  const staged = Object.create(reader) as Store;
  const appended = deferred();
  let first = true;
  staged.listAudit = async (filter) => {
    const page = await reader.listAudit(filter);
    if (first) {
      first = false;
      await append();
      appended.resolve();
    }
    return page;
  };
  staged.getAuditHead = async () => {
    await appended.promise;
    return reader.getAuditHead();
  };
  staged.listCheckpoints = async (range) => {
    await appended.promise;
    return reader.listCheckpoints(range);
  };
  return staged;
}

describe('reading a chain another instance appends to', () => {
  it('verifies as intact, signed checkpoints included', async () => {
    const schema = randomSchema('atg_live_verify');
    const { privateKey, publicJwk } = await generateAuditSigningKey();
    const mine = sqlStore({ client: database, schema });
    const theirs = sqlStore({ client: database, schema });
    const other = createAuditLog({
      store: theirs,
      appendTimeoutMs,
      checkpoints: { signingKey: privateKey, everyEvents: 0, everyMs: 0 },
    });
    for (let index = 0; index < 3; index++) await other.append(sampleEvent(index));
    await other.checkpoint();

    const store = appendBetweenPageAndHead(mine, async () => {
      await other.append(sampleEvent(3));
      await other.checkpoint();
    });
    expect(await verifyAuditChain({ store, publicKey: publicJwk })).toEqual({ ok: true, through: 3, signedThrough: 3 });
    await other.close();
    await Promise.all([mine.close(), theirs.close()]);
  });

  it('exports every entry up to the head it read', async () => {
    const schema = randomSchema('atg_live_export');
    const dir = await mkdtemp(join(tmpdir(), 'atg-live-export-'));
    const mine = sqlStore({ client: database, schema });
    const theirs = sqlStore({ client: database, schema });
    const other = createAuditLog({ store: theirs, appendTimeoutMs });
    for (let index = 0; index < 3; index++) await other.append(sampleEvent(index));

    const store = appendBetweenPageAndHead(mine, async () => {
      await other.append(sampleEvent(3));
    });
    const manifest = await exportAudit({ store, dir });
    expect(manifest).toMatchObject({ fromSeq: 0, toSeq: 3, count: 4 });
    expect(await verifyAuditExport({ dir })).toEqual({ ok: true, through: 3 });
    await other.close();
    await Promise.all([mine.close(), theirs.close()]);
    await rm(dir, { recursive: true, force: true });
  });
});
