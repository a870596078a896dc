import { tokenIdentityOf } from '../auth/token-identity.js';
import { GatewayError, isErrorCode, isGatewayError } from '../errors.js';
import type { AgentRecord } from '../store/types.js';
import type { CompiledRedaction } from '../redaction/types.js';
import type { ResolvedTool } from '../tools/registry.js';
import { HEADER_NAME } from '../upstream/request-plan.js';
import type { ToolCallContext, ToolExecution, ToolRedaction } from '../tools/types.js';
import { AbortSource, type CallAbort, callAbortKey } from '../util/call-abort.js';
import type { PipelineDependencies } from './dependencies.js';
import type { CallContext, Step } from './types.js';

/** A tool whose own code threw, and what the deciding policy adds to its redaction. */
export interface ToolCodeFailure {
  tool: ResolvedTool;
  redact: ToolRedaction | undefined;
}

/** The errors {@link runTool} made of what a tool's own code threw. */
const toolCodeFailures = new WeakMap<GatewayError, ToolCodeFailure>();

/**
 * The tool whose own code threw, for the `UPSTREAM_ERROR` a call gets when it threw something
 * other than a {@link GatewayError} (a bug, say, not a refusal the tool made or an upstream's
 * answer); undefined for any other error. Its `cause` is what was thrown, which the caller
 * never sees but `onError` should (redacted: see {@link describeToolCodeFailure}).
 */
export function toolCodeFailureOf(error: unknown): ToolCodeFailure | undefined {
  return error instanceof GatewayError ? toolCodeFailures.get(error) : undefined;
}

/**
 * What `onError` is told of a tool's code that threw: an `Error` naming the tool, with the
 * thrown message as `redaction` leaves it (a message can quote the input: a card number, a
 * password), and the thrown stack's frames, redacted too (the stack's opening lines, its
 * message, are left out). Never throws: a thrown value that cannot be read (a throwing getter)
 * is described as such.
 */
export function describeToolCodeFailure(toolName: string, thrown: unknown, redaction: () => CompiledRedaction): Error {
  let message = 'a value that cannot be shown';
  let frames = '';
  try {
    const compiled = redaction();
    if (thrown instanceof Error) {
      const header = `${thrown.name}: ${thrown.message}`;
      message = compiled.text(header);
      const stack = thrown.stack;
      if (typeof stack === 'string') {
        // The stack opens with the name and the message, whose lines may look like frames.
        const body = stack.startsWith(header) ? stack.slice(header.length) : stack;
        frames = body
          .split('\n')
          .filter((line) => /^\s+at /.test(line))
          .map((line) => compiled.text(line))
          .join('\n');
      }
    } else {
      message = compiled.text(typeof thrown === 'string' ? thrown : String(thrown));
    }
  } catch {
    // What was thrown, or the redaction of it, could not be read: the tool's name is still told.
  }
  const report = new Error(`Tool "${toolName}" threw ${message}`);
  report.stack = frames === '' ? `Error: ${report.message}` : `Error: ${report.message}\n${frames}`;
  return report;
}

/**
 * Runs a tool under its deadline and the caller's abort, and checks the output
 * against the tool's output schema. Shared by the pipeline and by approved-call execution.
 */
export async function runTool(
  tool: ResolvedTool,
  input: unknown,
  call: { abort: CallAbort; invocationId: string; agent: AgentRecord; redact?: ToolRedaction | undefined },
): Promise<ToolExecution> {
  // A cleared timer and a removed listener: nothing outlives the call (AbortSignal.timeout
  // would keep a timer alive for the whole deadline). The tool's AbortSignal is made only if
  // the tool reads it; the gateway's HTTP tools listen on the AbortSource instead.
  const source = new AbortSource();
  let timedOut = false;
  const abortError = () =>
    timedOut
      ? new GatewayError({ code: 'UPSTREAM_TIMEOUT', message: `Tool "${tool.name}" did not finish within ${tool.timeoutMs} ms` })
      : new GatewayError({ code: 'CANCELLED', message: 'The caller went away' });
  /** Settles the call's promise as aborted, once that promise exists. */
  let rejectAborted: ((error: GatewayError) => void) | undefined;
  const context = new RunningToolContext(source, call.invocationId, call.agent);
  source.onAbort(() => {
    context.abortSignal();
    rejectAborted?.(abortError());
  });
  const timer = setTimeout(() => {
    timedOut = true;
    // What the tool's signal says: a deadline is a TimeoutError, as AbortSignal.timeout's is.
    source.abort(new DOMException(`Tool "${tool.name}" did not finish within ${tool.timeoutMs} ms`, 'TimeoutError'));
  }, tool.timeoutMs);
  const caller = call.abort;
  const onCallerAbort = () => source.abort(caller.reason);
  const stopListening = caller.onAbort(onCallerAbort);
  if (caller.aborted) onCallerAbort();

  let execution: ToolExecution;
  try {
    // Local handlers may ignore the signal: the deadline and the caller's abort settle this
    // promise themselves, so they hold regardless.
    execution = await new Promise<ToolExecution>((resolve, reject) => {
      rejectAborted = reject;
      if (source.aborted) reject(abortError());
      else tool.execute(input, context).then(resolve, reject);
    });
  } catch (error) {
    if (source.aborted) throw abortError();
    const refusal = isGatewayError(error) ? answerableRefusal(error) : undefined;
    if (refusal !== undefined) throw refusal;
    const failure = new GatewayError({ code: 'UPSTREAM_ERROR', message: `Tool "${tool.name}" failed`, cause: error });
    toolCodeFailures.set(failure, { tool, redact: call.redact });
    throw failure;
  } finally {
    clearTimeout(timer);
    stopListening();
  }

  // Output the tool refuses is the upstream's failure; an upstream that answered keeps its status.
  const mcpContent = tool.definition.outputFormat === 'mcp-content';
  if (mcpContent && !hasContentBlocks(execution.output)) {
    throw new GatewayError({
      code: 'UPSTREAM_ERROR',
      message: `Tool "${tool.name}" must return { content: [...] } (outputFormat "mcp-content")`,
      ...(execution.upstreamStatus === undefined ? {} : { details: { upstreamStatus: execution.upstreamStatus } }),
    });
  }
  if (tool.validateOutput !== undefined) {
    const structured = mcpContent ? (execution.output as { structuredContent?: unknown }).structuredContent : execution.output;
    const issues = tool.validateOutput(structured);
    if (issues !== undefined) {
      throw new GatewayError({
        code: 'UPSTREAM_ERROR',
        message: `Tool "${tool.name}" returned output that does not match its outputSchema`,
        details: execution.upstreamStatus === undefined ? { issues } : { upstreamStatus: execution.upstreamStatus, issues },
      });
    }
  }
  return execution;
}

/**
 * A tool's own `GatewayError` as the caller can be answered with it: undefined when its code
 * is none the gateway knows (a typo from JavaScript, a code of a newer copy of the package),
 * which has no HTTP status, so the call fails as a tool whose code threw; its headers without
 * those no HTTP response can carry (a name that is not a token, a value that is not a string
 * or holds a line break), which would fail the answer after the call has run.
 */
function answerableRefusal(error: GatewayError): GatewayError | undefined {
  let code: unknown;
  let headers: unknown;
  try {
    code = error.code;
    headers = error.headers;
  } catch {
    return undefined;
  }
  if (!isErrorCode(code)) return undefined;
  if (headers === undefined) return error;
  const kept: Record<string, string> = {};
  let dropped = false;
  if (typeof headers === 'object' && headers !== null && !Array.isArray(headers)) {
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value === 'string' && HEADER_NAME.test(name) && HEADER_VALUE.test(value)) kept[name] = value;
      else dropped = true;
    }
  } else dropped = true;
  if (!dropped) return error;
  const replaced = new GatewayError({
    code,
    message: error.message,
    ...(error.details === undefined ? {} : { details: error.details }),
    ...(Object.keys(kept).length === 0 ? {} : { headers: kept }),
    ...(error.cause === undefined ? {} : { cause: error.cause }),
  });
  if (error.stack !== undefined) replaced.stack = error.stack;
  return replaced;
}

/** An HTTP field value as Node writes it: no control characters but tab, nothing past U+00FF. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * The context a tool's handler gets. A class, so that `signal` is a getter on the prototype:
 * V8 keeps an object literal's getter in an accessor pair allocated in the old generation,
 * and that pair, pointing at a closure over the call, kept the whole call alive until the
 * next full collection (about 1.2 KB promoted per call). `signal` is made on first read.
 */
class RunningToolContext implements ToolCallContext {
  readonly agent: ToolCallContext['agent'];
  readonly [callAbortKey]: AbortSource;
  private controller: AbortController | undefined;

  constructor(
    source: AbortSource,
    readonly invocationId: string,
    agent: AgentRecord,
  ) {
    this[callAbortKey] = source;
    this.agent = { id: agent.id, name: agent.name, tags: agent.tags };
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const source = this[callAbortKey];
      this.controller = new AbortController();
      if (source.aborted) this.controller.abort(source.reason);
    }
    return this.controller.signal;
  }

  /** Aborts the tool's signal, if the tool has read it. */
  abortSignal(): void {
    this.controller?.abort(this[callAbortKey].reason);
  }
}

function hasContentBlocks(output: unknown): boolean {
  return typeof output === 'object' && output !== null && Array.isArray((output as { content?: unknown }).content);
}

/** The data of a call's `invocation.started` event, members in sorted order. */
function startedEventData(context: CallContext, toolVersion: string): Record<string, unknown> {
  const token = tokenIdentityOf(context.agent);
  return token === undefined
    ? { door: context.door, inputDigest: context.inputDigest, toolVersion }
    : { door: context.door, inputDigest: context.inputDigest, token, toolVersion };
}

/**
 * The innermost step: records that the call starts (before anything runs, so a crash
 * leaves evidence), then runs the tool.
 */
export function executeStep(deps: PipelineDependencies): Step {
  return async (context) => {
    const { tool, agent } = context;
    if (tool === undefined || agent === undefined) throw new Error('execute runs after resolve-tool');
    await deps.audit.append({
      type: 'invocation.started',
      actor: `agent:${agent.id}`,
      invocationId: context.invocationId,
      agentId: agent.id,
      tool: tool.name,
      data: startedEventData(context, tool.version),
    });
    context.started = true;
    let execution: ToolExecution;
    try {
      execution = await runTool(tool, context.input, {
        abort: context.abort,
        invocationId: context.invocationId,
        agent,
        redact: context.decision?.redact,
      });
    } catch (error) {
      // A failed upstream still answered: its status belongs in the record and the audit event.
      const upstreamStatus = upstreamStatusOf(error);
      if (upstreamStatus !== undefined) context.upstreamStatus = upstreamStatus;
      throw error;
    }
    if (execution.upstreamStatus !== undefined) context.upstreamStatus = execution.upstreamStatus;
    return { status: 'succeeded', invocationId: context.invocationId, output: execution.output };
  };
}

/**
 * The upstream HTTP status a failed tool call carries: `details.upstreamStatus` of a
 * {@link GatewayError} (an HTTP tool's `UPSTREAM_ERROR` has it when the upstream answered),
 * if it is an integer from 100 to 599; otherwise undefined. For recording a failed call's
 * upstream status wherever a tool is run.
 */
export function upstreamStatusOf(error: unknown): number | undefined {
  if (!isGatewayError(error)) return undefined;
  const details = error.details;
  if (typeof details !== 'object' || details === null) return undefined;
  const status = (details as { upstreamStatus?: unknown }).upstreamStatus;
  return typeof status === 'number' && Number.isInteger(status) && status >= 100 && status <= 599 ? status : undefined;
}
