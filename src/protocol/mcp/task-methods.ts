/**
 * MCP tasks over governed calls: task-augmented `tools/call` and `tasks/get`, `tasks/result`,
 * `tasks/list`, `tasks/cancel` (2025-11-25), and the 2026-07-28 tasks extension
 * (`CreateTaskResult` with `resultType: "task"`, `tasks/get` with the result inlined,
 * `tasks/update`, `tasks/cancel`). A task is an invocation of the requesting agent; every
 * other agent's task is "not found". See docs/mcp.md for what is covered.
 */
import { GatewayError } from '../../errors.js';
import type { AgentPrincipal, CallOutcome } from '../../pipeline/types.js';
import { endedOutcomeOfRecord } from '../../pipeline/idempotency.js';
import type { InvocationRecord } from '../../store/types.js';
import { answerCall, type CalledTool, describeError } from './call-result.js';
import { clientCapabilitiesMetaKey } from './era-routing.js';
import { isJsonObject, type JsonObject, JsonRpcErrorCode, type JsonRpcId } from './json-rpc.js';
import type { MethodCall } from './methods.js';
import { errorReply, type Reply, resultReply } from './replies.js';
import {
  approvalStatusMessage,
  isTerminalTaskStatus,
  legacyTaskJson,
  modelImmediateResponseMetaKey,
  modernTaskFields,
  relatedTaskMetaKey,
  type TaskDialect,
  type TaskState,
  taskResultMaxWaitMs,
  taskStateOfRecord,
  tasksExtensionId,
} from './task-state.js';
import type { McpBackend } from './types.js';

/** What the task methods need besides the backend. */
export interface TaskMethodsOptions {
  backend: McpBackend;
  /** What answering a call of the named tool needs to know (output schema, MCP content), for this agent. */
  describeTool(agent: AgentPrincipal, name: string): Promise<CalledTool>;
  /** The `_meta` every 2026-07-28 result carries. */
  serverInfoMeta: Record<string, unknown>;
}

/** The task methods, bound to one backend. */
export interface TaskMethods {
  /** 2025-11-25 `tools/call` with `params.task`: the `CreateTaskResult` of a call that has run or waits. */
  createLegacyTask(call: MethodCall, outcome: CallOutcome, tool: CalledTool): Promise<Reply>;
  /**
   * 2026-07-28 `tools/call` from a client that declared the extension, for a call that
   * waits for approval (or, to a repeat, was approved and runs): a `CreateTaskResult`, or
   * `undefined` when no task can be read back (then the call is answered as usual).
   */
  createModernTask(
    call: MethodCall,
    outcome: Extract<CallOutcome, { status: 'pending_approval' | 'running' }>,
    tool: CalledTool,
  ): Promise<Reply | undefined>;
  get(call: MethodCall): Promise<Reply>;
  /** `tasks/result` (2025-11-25 only). */
  result(call: MethodCall): Promise<Reply>;
  /** `tasks/list` (2025-11-25 only). */
  list(call: MethodCall): Promise<Reply>;
  cancel(call: MethodCall): Promise<Reply>;
  /** `tasks/update` (2026-07-28 extension only). */
  update(call: MethodCall): Promise<Reply>;
}

/** True when a 2026-07-28 request declares the tasks extension in its per-request capabilities. */
export function declaresTasksExtension(params: JsonObject | undefined): boolean {
  const meta = params?._meta;
  if (!isJsonObject(meta)) return false;
  const capabilities = meta[clientCapabilitiesMetaKey];
  if (!isJsonObject(capabilities) || !isJsonObject(capabilities.extensions)) return false;
  return isJsonObject(capabilities.extensions[tasksExtensionId]);
}

/** The problem with a 2025-11-25 `params.task` (`{ ttl? }`), or `undefined` when it is well formed. */
export function taskParamsProblem(task: unknown): string | undefined {
  if (!isJsonObject(task)) return 'task must be an object';
  const ttl = task.ttl;
  if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 0)) return 'task.ttl must be a non-negative number';
  return undefined;
}

const taskNotFound = 'Failed to retrieve task: Task not found';
const missingCapabilityData = { requiredCapabilities: { extensions: { [tasksExtensionId]: {} } } };

function inBandError(id: JsonRpcId, code: number, message: string, data?: unknown): Reply {
  return errorReply(200, id, code, message, data);
}

function internalError(id: JsonRpcId): Reply {
  return inBandError(id, JsonRpcErrorCode.internalError, 'Internal error');
}

/**
 * `-32603` for a failure of the gateway: a {@link GatewayError} (the audit trail or the store
 * out of reach, say) says what `tools/call` would say of it in a tool result (its code and
 * message, when to retry; `data` as that result's `_meta["io.agent-tool-gateway/error"]`);
 * anything else is a bare `Internal error`.
 */
function failureReply(id: JsonRpcId, error: unknown): Reply {
  if (!(error instanceof GatewayError)) return internalError(id);
  const { lines, data } = describeError(error);
  return inBandError(id, JsonRpcErrorCode.internalError, lines.join(' '), data);
}

/** What kept a record from being read (the store out of reach, say). */
interface ReadFailure {
  failure: unknown;
}

function isReadFailure(value: InvocationRecord | ReadFailure | undefined): value is ReadFailure {
  return value !== undefined && 'failure' in value;
}

function dialectOf(call: MethodCall): TaskDialect {
  return call.era.kind === 'legacy' ? 'legacy' : 'modern';
}

/** Creates the task methods. */
export function createTaskMethods(options: TaskMethodsOptions): TaskMethods {
  const { backend, describeTool, serverInfoMeta } = options;
  const now = () => (backend.now === undefined ? Date.now() : backend.now());

  /** The agent's record, `undefined` when it has none by that id, or what kept it from being read. */
  async function readRecord(agent: AgentPrincipal, taskId: string): Promise<InvocationRecord | undefined | ReadFailure> {
    try {
      return await backend.getInvocation(agent, taskId);
    } catch (error) {
      return { failure: error };
    }
  }

  /** Checks the 2026 gate and reads `params.taskId`; a Reply when the request ends here. */
  function taskIdOf(call: MethodCall): string | Reply {
    if (call.era.kind === 'modern' && !declaresTasksExtension(call.params)) {
      return errorReply(
        400,
        call.id,
        JsonRpcErrorCode.missingRequiredClientCapability,
        `Missing required client capability: this request needs the ${tasksExtensionId} extension`,
        missingCapabilityData,
      );
    }
    const taskId = call.params?.taskId;
    if (typeof taskId !== 'string' || taskId.length === 0) {
      return inBandError(call.id, JsonRpcErrorCode.invalidParams, 'Invalid params: taskId must be a non-empty string');
    }
    return taskId;
  }

  /** Reads the task named by the request: its record, or the reply that ends the request. */
  async function lookUp(call: MethodCall): Promise<{ record: InvocationRecord; reply?: undefined } | { reply: Reply }> {
    const taskId = taskIdOf(call);
    if (typeof taskId !== 'string') return { reply: taskId };
    const record = await readRecord(call.agent, taskId);
    if (isReadFailure(record)) return { reply: failureReply(call.id, record.failure) };
    if (record === undefined) return { reply: inBandError(call.id, JsonRpcErrorCode.invalidParams, taskNotFound) };
    return { record };
  }

  function modernResult(id: JsonRpcId, fields: Record<string, unknown>): Reply {
    return resultReply(id, JSON.stringify({ resultType: 'complete', ...fields, _meta: serverInfoMeta }));
  }

  /** The 2026 `DetailedTask` of a record: terminal tasks carry their result or JSON-RPC error. */
  async function detailedTask(call: MethodCall, record: InvocationRecord): Promise<Record<string, unknown>> {
    const state = taskStateOfRecord(record, 'modern');
    if (!isTerminalTaskStatus(state.status) || state.status === 'cancelled') return modernTaskFields(state);
    // Read from the record as the backend gave it (as it stands now), not asked for again.
    const answer = answerCall(endedOutcomeOfRecord(record, now()), await describeTool(call.agent, record.tool), 'any');
    if (answer.kind === 'protocol-error') {
      return { ...modernTaskFields({ ...state, status: 'failed' }), error: { code: answer.code, message: answer.message } };
    }
    return { ...modernTaskFields({ ...state, status: 'completed' }), result: answer.result };
  }

  return {
    async createLegacyTask(call, outcome, tool) {
      const answer = answerCall(outcome, tool, 'object');
      // A call refused before it ran (an unknown tool) is answered as tools/call would be.
      if (answer.kind === 'protocol-error') return inBandError(call.id, answer.code, answer.message);
      const record = outcome.invocationId === undefined ? undefined : await readRecord(call.agent, outcome.invocationId);
      if (record === undefined || isReadFailure(record)) {
        // Nothing to poll later: a task must be retrievable once it has been returned.
        const reason = outcome.status === 'error' ? ` (${outcome.error.code}: ${outcome.error.message})` : '';
        return inBandError(
          call.id,
          JsonRpcErrorCode.internalError,
          `Internal error: the call was not recorded, so no task was created${reason}`,
        );
      }
      const state: TaskState = taskStateOfRecord(record, 'legacy');
      const meta: Record<string, unknown> = { ...(answer.result._meta as Record<string, unknown> | undefined) };
      if (outcome.status === 'pending_approval' && record.status === 'pending_approval') {
        state.statusMessage = approvalStatusMessage(tool.name, outcome.approval);
        const content = answer.result.content as Array<{ text?: unknown }> | undefined;
        const text = content?.[0]?.text;
        if (typeof text === 'string') meta[modelImmediateResponseMetaKey] = text;
      }
      meta[relatedTaskMetaKey] = { taskId: state.taskId };
      return resultReply(call.id, JSON.stringify({ task: legacyTaskJson(state), _meta: meta }));
    },

    async createModernTask(call, outcome, tool) {
      const record = await readRecord(call.agent, outcome.invocationId);
      if (record === undefined || isReadFailure(record)) return undefined;
      const state = taskStateOfRecord(record, 'modern');
      if (outcome.status === 'pending_approval' && record.status === 'pending_approval') {
        state.statusMessage = approvalStatusMessage(tool.name, outcome.approval);
      }
      const answer = answerCall(outcome, tool, 'any');
      const meta = { ...serverInfoMeta, ...(answer.kind === 'result' ? (answer.result._meta as Record<string, unknown>) : {}) };
      return resultReply(call.id, JSON.stringify({ resultType: 'task', ...modernTaskFields(state), _meta: meta }));
    },

    async get(call) {
      const found = await lookUp(call);
      if (found.reply !== undefined) return found.reply;
      const { record } = found;
      if (dialectOf(call) === 'legacy') return resultReply(call.id, JSON.stringify(legacyTaskJson(taskStateOfRecord(record, 'legacy'))));
      try {
        return modernResult(call.id, await detailedTask(call, record));
      } catch (error) {
        return failureReply(call.id, error);
      }
    },

    async result(call) {
      const found = await lookUp(call);
      if (found.reply !== undefined) return found.reply;
      const taskId = found.record.id;
      try {
        let record: InvocationRecord = found.record;
        // A task that has ended is answered from its record; one still working is waited for.
        let outcome: CallOutcome | undefined = isTerminalTaskStatus(taskStateOfRecord(record, 'legacy').status)
          ? endedOutcomeOfRecord(record, now())
          : await backend.waitForOutcome(call.agent, taskId, taskResultMaxWaitMs, call.abort);
        if (outcome === undefined || outcome.status === 'pending_approval' || outcome.status === 'running') {
          const latest = await backend.getInvocation(call.agent, taskId);
          if (latest === undefined) return inBandError(call.id, JsonRpcErrorCode.invalidParams, taskNotFound);
          const status = taskStateOfRecord(latest, 'legacy').status;
          if (!isTerminalTaskStatus(status)) {
            return inBandError(
              call.id,
              JsonRpcErrorCode.requestTimeout,
              'Request timed out: the task is still working (waiting for approval or running); poll tasks/get and call tasks/result again',
              { taskId, status },
            );
          }
          record = latest;
          outcome = endedOutcomeOfRecord(latest, now());
        }
        const answer = answerCall(outcome, await describeTool(call.agent, record.tool), 'object');
        if (answer.kind === 'protocol-error') return inBandError(call.id, answer.code, answer.message);
        const meta = { ...(answer.result._meta as Record<string, unknown> | undefined), [relatedTaskMetaKey]: { taskId } };
        return resultReply(call.id, JSON.stringify({ ...answer.result, _meta: meta }));
      } catch (error) {
        return failureReply(call.id, error);
      }
    },

    async list(call) {
      const cursor = call.params?.cursor;
      if (cursor !== undefined && typeof cursor !== 'string') {
        return inBandError(call.id, JsonRpcErrorCode.invalidParams, 'Invalid params: cursor must be a string');
      }
      let page: { items: InvocationRecord[]; nextCursor?: string };
      try {
        page = await backend.listInvocations(call.agent, cursor);
      } catch (error) {
        if (error instanceof GatewayError && error.code === 'BAD_REQUEST') {
          return inBandError(call.id, JsonRpcErrorCode.invalidParams, 'Invalid params: invalid or expired cursor');
        }
        return failureReply(call.id, error);
      }
      const tasks = page.items.map((record) => legacyTaskJson(taskStateOfRecord(record, 'legacy')));
      return resultReply(call.id, JSON.stringify(page.nextCursor === undefined ? { tasks } : { tasks, nextCursor: page.nextCursor }));
    },

    async cancel(call) {
      const found = await lookUp(call);
      if (found.reply !== undefined) return found.reply;
      const { record } = found;
      const dialect = dialectOf(call);
      const before = taskStateOfRecord(record, dialect);
      if (dialect === 'modern') {
        // The extension's cancel is cooperative and idempotent: always an empty acknowledgement.
        if (record.status === 'pending_approval') {
          try {
            await backend.cancelInvocation(call.agent, record.id);
          } catch (error) {
            if (!(error instanceof GatewayError) || (error.code !== 'APPROVAL_ALREADY_DECIDED' && error.code !== 'NOT_FOUND')) {
              return failureReply(call.id, error);
            }
          }
        }
        return modernResult(call.id, {});
      }
      if (isTerminalTaskStatus(before.status)) {
        return inBandError(call.id, JsonRpcErrorCode.invalidParams, `Cannot cancel task: already in terminal status '${before.status}'`);
      }
      if (record.status !== 'pending_approval') {
        return inBandError(
          call.id,
          JsonRpcErrorCode.invalidParams,
          'Cannot cancel task: the call is already running and cannot be stopped',
        );
      }
      try {
        await backend.cancelInvocation(call.agent, record.id);
      } catch (error) {
        if (!(error instanceof GatewayError)) return internalError(call.id);
        if (error.code === 'NOT_FOUND') return inBandError(call.id, JsonRpcErrorCode.invalidParams, taskNotFound);
        if (error.code !== 'APPROVAL_ALREADY_DECIDED') return failureReply(call.id, error);
        const latest = await readRecord(call.agent, record.id);
        const status = latest === undefined || isReadFailure(latest) ? undefined : taskStateOfRecord(latest, 'legacy').status;
        return inBandError(
          call.id,
          JsonRpcErrorCode.invalidParams,
          status !== undefined && isTerminalTaskStatus(status)
            ? `Cannot cancel task: already in terminal status '${status}'`
            : 'Cannot cancel task: its approval was already decided and the call is running',
        );
      }
      const cancelled = await readRecord(call.agent, record.id);
      if (isReadFailure(cancelled)) return failureReply(call.id, cancelled.failure);
      if (cancelled === undefined) return internalError(call.id);
      return resultReply(call.id, JSON.stringify(legacyTaskJson(taskStateOfRecord(cancelled, 'legacy'))));
    },

    async update(call) {
      const taskId = taskIdOf(call);
      if (typeof taskId !== 'string') return taskId;
      if (!isJsonObject(call.params?.inputResponses)) {
        return inBandError(call.id, JsonRpcErrorCode.invalidParams, 'Invalid params: inputResponses must be an object');
      }
      const record = await readRecord(call.agent, taskId);
      if (isReadFailure(record)) return failureReply(call.id, record.failure);
      if (record === undefined) return inBandError(call.id, JsonRpcErrorCode.invalidParams, taskNotFound);
      // The gateway never asks the client for input, so no response is outstanding: each is ignored.
      return modernResult(call.id, {});
    },
  };
}
