import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { afterAll } from 'vitest';
import { type SqlStore, sqlStore } from '../../src/store/sql/index.js';
import { runStoreConformance } from '../../src/testing/store-conformance.js';
import { pgliteEngine, tamperAuditIndexBy } from '../e2e/fixtures/sql-engines.js';
import { runSqlStoreBehaviour } from '../e2e/fixtures/sql-store-behaviour.js';

// One embedded database for the conformance suite; every test gets a fresh schema in it.
let database: PGlite | undefined;
const shared = () => (database ??= new PGlite());

afterAll(async () => {
  await database?.close();
});

runStoreConformance({
  name: 'sqlStore on PGlite',
  createStore: () => sqlStore({ client: shared(), schema: `conformance_${randomBytes(6).toString('hex')}` }),
  // Another store on the same schema, as another gateway in this process would open.
  openSecondHandle: (store) => sqlStore({ client: shared(), schema: (store as SqlStore).schema }),
  tamperAuditIndex: tamperAuditIndexBy((text, params) => shared().query(text, params)),
  cleanup: async (store) => {
    await store.close();
    await shared().query(`DROP SCHEMA "${(store as SqlStore).schema}" CASCADE`);
  },
});

runSqlStoreBehaviour(pgliteEngine);
