/**
 * Test helpers for users of agent-tool-gateway: the store conformance suite every store
 * (the built-in ones and yours) must pass, and a fake upstream for testing HTTP tools
 * through a real gateway.
 *
 * @packageDocumentation
 */
export { runStoreConformance } from './store-conformance.js';
export type { AuditIndexField, StoreConformanceOptions } from './store-conformance.js';
export { createFakeUpstream } from './fake-upstream.js';
export type {
  FakeUpstream,
  FakeUpstreamOptions,
  FakeUpstreamRequest,
  FakeUpstreamResponse,
  FakeUpstreamRoute,
} from './fake-upstream.js';
