/**
 * A governed call seen as an MCP task. There is no separate task store: a task is an
 * invocation, its id is the invocation id, and its state is read from the invocation
 * record every time, so every gateway instance sharing the store answers the same.
 *
 * Two dialects exist. The 2025-11-25 revision has tasks in its core (`ttl`, `pollInterval`,
 * a tool result with `isError: true` makes the task `failed`); the 2026-07-28 tasks
 * extension (`io.modelcontextprotocol/tasks`) renames the timing fields (`ttlMs`,
 * `pollIntervalMs`) and keeps `failed` for JSON-RPC errors only, so a tool error ends
 * `completed` with `isError: true` in its result.
 */
import type { InvocationRecord } from '../../store/types.js';

/** The identifier of the 2026-07-28 tasks extension. */
export const tasksExtensionId = 'io.modelcontextprotocol/tasks';

/** The `_meta` key that ties a 2025-11-25 message to its task. */
export const relatedTaskMetaKey = 'io.modelcontextprotocol/related-task';

/** The `_meta` key of the text a host may hand the model while a 2025-11-25 task runs. */
export const modelImmediateResponseMetaKey = 'io.modelcontextprotocol/model-immediate-response';

/**
 * Suggested polling interval of a task still working (ms). Tasks wait for people, who
 * decide in minutes; polling faster only costs store reads.
 */
export const taskPollIntervalMs = 5000;

/**
 * The longest `tasks/result` holds its request while the task is still working (ms): below
 * the 60 s that clients and load balancers commonly allow a request, so the client hears
 * from us rather than from a timeout in between.
 */
export const taskResultMaxWaitMs = 50_000;

/** The status of a task, as both dialects name it. */
export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';

/** Which task specification a request follows: 2025-11-25 core tasks, or the 2026-07-28 extension. */
export type TaskDialect = 'legacy' | 'modern';

/** The state of one task, before either dialect's field names are applied. */
export interface TaskState {
  taskId: string;
  status: TaskStatus;
  statusMessage?: string;
  createdAt: string;
  lastUpdatedAt: string;
}

const maxStatusMessageLength = 500;

/** True for `completed`, `failed` and `cancelled`: the task will not change any more. */
export function isTerminalTaskStatus(status: TaskStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

/**
 * The task an invocation record stands for. `pending_approval` and `running` are
 * `working` (waiting for a human approver is not `input_required`: that status asks the
 * requesting client for input, and the approver is somebody else).
 */
export function taskStateOfRecord(record: InvocationRecord, dialect: TaskDialect): TaskState {
  const state: TaskState = {
    taskId: record.id,
    status: taskStatusOfRecord(record, dialect),
    createdAt: record.createdAt,
    lastUpdatedAt: record.updatedAt,
  };
  const message = statusMessageOfRecord(record);
  if (message !== undefined) state.statusMessage = clip(message);
  return state;
}

function taskStatusOfRecord(record: InvocationRecord, dialect: TaskDialect): TaskStatus {
  switch (record.status) {
    case 'pending_approval':
    case 'running':
      return 'working';
    case 'succeeded':
      return 'completed';
    case 'cancelled':
      return 'cancelled';
    default:
      // An unknown tool is the one outcome `tools/call` answers with a JSON-RPC error.
      if (record.error?.code === 'TOOL_NOT_FOUND') return 'failed';
      return dialect === 'legacy' ? 'failed' : 'completed';
  }
}

function statusMessageOfRecord(record: InvocationRecord): string | undefined {
  switch (record.status) {
    case 'pending_approval':
      return record.approvalId === null
        ? 'Waiting for a human approver; the tool has not run yet.'
        : `Waiting for a human approver to decide approval ${record.approvalId}; the tool has not run yet.`;
    case 'running':
      return record.approvalId === null
        ? 'The call is running.'
        : `Approval ${record.approvalId} was granted; the call is running and has not finished yet.`;
    case 'succeeded':
      return undefined;
    case 'outcome_unknown':
      return 'The outcome of this call is unknown: the gateway stopped while the tool was running.';
    default:
      return record.error === null ? `The call ended as ${record.status}.` : `${record.error.code}: ${record.error.message}`;
  }
}

/**
 * The message of a task that has just been created for a call waiting for approval: the
 * approval id and its expiry, which the invocation record alone does not carry.
 */
export function approvalStatusMessage(toolName: string, approval: { id: string; expiresAt: string }): string {
  return clip(
    `Approval required: this call to "${toolName}" waits for a human decision and has not run yet. ` +
      `Approval id: ${approval.id}. It expires at ${approval.expiresAt}. ` +
      'The task completes once an approver has decided and the call has run.',
  );
}

/**
 * A 2025-11-25 `Task`. The gateway keeps invocation records without a time limit of its own:
 * `ttl` is `null`.
 */
export function legacyTaskJson(state: TaskState): Record<string, unknown> {
  return taskFields(state, 'ttl', 'pollInterval');
}

/** The `Task` fields of the 2026-07-28 extension: the same, named `ttlMs` and `pollIntervalMs`. */
export function modernTaskFields(state: TaskState): Record<string, unknown> {
  return taskFields(state, 'ttlMs', 'pollIntervalMs');
}

function taskFields(state: TaskState, ttlField: string, pollIntervalField: string): Record<string, unknown> {
  const task: Record<string, unknown> = { taskId: state.taskId, status: state.status };
  if (state.statusMessage !== undefined) task.statusMessage = state.statusMessage;
  task.createdAt = state.createdAt;
  task.lastUpdatedAt = state.lastUpdatedAt;
  task[ttlField] = null;
  if (!isTerminalTaskStatus(state.status)) task[pollIntervalField] = taskPollIntervalMs;
  return task;
}

function clip(message: string): string {
  return message.length > maxStatusMessageLength ? `${message.slice(0, maxStatusMessageLength)}…` : message;
}
