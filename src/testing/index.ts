/**
 * Test helpers for users of agent-tool-gateway: the store conformance suite every store
 * (the built-in ones and yours) must pass.
 *
 * @packageDocumentation
 */
export { runStoreConformance } from './store-conformance.js';
export type { StoreConformanceOptions } from './store-conformance.js';
