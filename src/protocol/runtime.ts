import type { CallOutcome, Door } from '../pipeline/types.js';
import type { AgentRecord, InvocationRecord, Store } from '../store/types.js';
import type { ResolvedTool } from '../tools/registry.js';
import type { CallAbort } from '../util/call-abort.js';

/** One governed call as a door asks for it. */
export interface CallRequest {
  door: Door;
  /** Set when the door authenticated already. */
  agent?: AgentRecord;
  credential?: string;
  agentId?: string;
  toolName: string;
  input: unknown;
  /** Aborts the call (the client went away). */
  abort: CallAbort;
  idempotencyKey?: string;
}

/** What the doors (REST, MCP, admin) need from the gateway. They never re-implement a step. */
export interface GatewayRuntime {
  readonly store: Store;
  readonly maxBodyBytes: number;
  readonly maxWaitSeconds: number;
  /** The agent of the request's bearer key; throws the one 401 otherwise (and audits it). */
  authenticateRequest(request: Request): Promise<AgentRecord>;
  /** Tools the agent may call, by name. */
  visibleTools(agent: AgentRecord): readonly ResolvedTool[];
  /** Runs the pipeline. */
  call(request: CallRequest): Promise<CallOutcome>;
  /** Waits up to `ms` for a pending call to reach a final state; returns its outcome then. */
  waitForOutcome(invocationId: string, ms: number, abort: CallAbort): Promise<CallOutcome | undefined>;
  /** A record as it stands now: one whose approval's time is up reads as expired (nothing is written). */
  invocationAsOfNow(record: InvocationRecord): Promise<InvocationRecord>;
}
