import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { afterAll } from 'vitest';
import { sqlStore } from '../../src/store/sql/index.js';
import type { SqlStore } from '../../src/store/sql/index.js';
import { runStoreConformance } from '../../src/testing/store-conformance.js';

// One embedded database for the whole file; every test gets a fresh schema in it.
let database: PGlite | undefined;
const shared = () => (database ??= new PGlite());

afterAll(async () => {
  await database?.close();
});

runStoreConformance({
  name: 'sqlStore on PGlite',
  createStore: () => sqlStore({ client: shared(), schema: `conformance_${randomBytes(6).toString('hex')}` }),
  cleanup: async (store) => {
    await store.close();
    await shared().query(`DROP SCHEMA "${(store as SqlStore).schema}" CASCADE`);
  },
});
