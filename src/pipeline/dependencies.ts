import type { AgentAuthenticator } from '../auth/agent-authenticator.js';
import type { ApprovalCoordinator } from '../approval/coordinator.js';
import type { RateLimiter } from '../policy/rate-limit.js';
import type { PolicyEngine } from '../policy/types.js';
import type { AuditEvent, Store } from '../store/types.js';
import type { ToolRegistry } from '../tools/registry.js';
import type { RedactorCache } from './redactors.js';
import type { CallOutcome } from './types.js';

/** What an audit append takes: the log fills in `id` and `at`. */
export type AuditEventInput = Omit<AuditEvent, 'id' | 'at'>;

/** The pieces the pipeline steps work with, wired once by `createGateway`. */
export interface PipelineDependencies {
  readonly store: Store;
  readonly tools: ToolRegistry;
  /** The current policy (store-held rules change it at run time). */
  policy(): PolicyEngine;
  readonly rateLimiter: RateLimiter;
  readonly audit: { append(event: AuditEventInput): Promise<unknown> };
  readonly agents: AgentAuthenticator;
  readonly redactors: RedactorCache;
  readonly approvals: ApprovalCoordinator;
  readonly maxDepth: number;
  /** The digest that binds approvals and idempotency keys to an input (SHA-256, or HMAC with `inputDigestKey`). */
  digestInput(input: unknown): string;
  /** Calls running in this process by invocation id, so an idempotent repeat can wait for the first. */
  readonly inFlight: Map<string, Promise<CallOutcome>>;
  now(): number;
  /** Tells the gateway's `onError` of a failure that does not change the call's outcome. */
  reportError(error: unknown): void;
}
