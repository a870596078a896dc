import { GatewayError, isGatewayError } from '../errors.js';
import type { AgentRecord } from '../store/types.js';
import type { ResolvedTool } from '../tools/registry.js';
import type { ToolExecution } from '../tools/types.js';
import type { PipelineDependencies } from './dependencies.js';
import type { Step } from './types.js';

/** The signal of calls made without one: nothing listens to it, so it costs nothing per call. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/**
 * Runs a tool under its deadline and the caller's abort signal, and checks the output
 * against the tool's output schema. Shared by the pipeline and by approved-call execution.
 */
export async function runTool(
  tool: ResolvedTool,
  input: unknown,
  call: { signal: AbortSignal; invocationId: string; agent: AgentRecord },
): Promise<ToolExecution> {
  // A cleared timer and a removed listener: nothing outlives the call (AbortSignal.timeout
  // would keep a timer alive for the whole deadline). The tool's own AbortController is made
  // only if the tool reads its signal; the deadline holds either way.
  let controller: AbortController | undefined;
  let aborting = false;
  let timedOut = false;
  const abortError = () =>
    timedOut
      ? new GatewayError({ code: 'UPSTREAM_TIMEOUT', message: `Tool "${tool.name}" did not finish within ${tool.timeoutMs} ms` })
      : new GatewayError({ code: 'CANCELLED', message: 'The caller went away' });
  let rejectAborted: (error: GatewayError) => void = () => undefined;
  // Local handlers may ignore the signal: the race makes the deadline hold regardless.
  const aborted = new Promise<never>((_, reject) => {
    rejectAborted = reject;
  });
  aborted.catch(() => undefined);
  const onAbort = () => {
    aborting = true;
    controller?.abort(abortReason());
    rejectAborted(abortError());
  };
  // What the tool's signal says: a deadline is a TimeoutError, as AbortSignal.timeout's is.
  const abortReason = () =>
    timedOut ? new DOMException(`Tool "${tool.name}" did not finish within ${tool.timeoutMs} ms`, 'TimeoutError') : call.signal.reason;
  const timer = setTimeout(() => {
    timedOut = true;
    onAbort();
  }, tool.timeoutMs);
  const listens = call.signal !== NEVER_ABORTED;
  if (call.signal.aborted) onAbort();
  else if (listens) call.signal.addEventListener('abort', onAbort, { once: true });
  const context = {
    get signal(): AbortSignal {
      if (controller === undefined) {
        controller = new AbortController();
        if (aborting) controller.abort(abortReason());
      }
      return controller.signal;
    },
    invocationId: call.invocationId,
    agent: { id: call.agent.id, name: call.agent.name, tags: call.agent.tags },
  };

  let execution: ToolExecution;
  try {
    execution = await Promise.race([tool.execute(input, context), aborted]);
  } catch (error) {
    if (aborting) throw abortError();
    if (isGatewayError(error)) throw error;
    throw new GatewayError({ code: 'UPSTREAM_ERROR', message: `Tool "${tool.name}" failed`, cause: error });
  } finally {
    clearTimeout(timer);
    if (listens) call.signal.removeEventListener('abort', onAbort);
  }

  const mcpContent = tool.definition.outputFormat === 'mcp-content';
  if (mcpContent && !hasContentBlocks(execution.output)) {
    throw new GatewayError({
      code: 'UPSTREAM_ERROR',
      message: `Tool "${tool.name}" must return { content: [...] } (outputFormat "mcp-content")`,
    });
  }
  if (tool.validateOutput !== undefined) {
    const structured = mcpContent ? (execution.output as { structuredContent?: unknown }).structuredContent : execution.output;
    const issues = tool.validateOutput(structured);
    if (issues !== undefined) {
      throw new GatewayError({
        code: 'UPSTREAM_ERROR',
        message: `Tool "${tool.name}" returned output that does not match its outputSchema`,
        details: { issues },
      });
    }
  }
  return execution;
}

function hasContentBlocks(output: unknown): boolean {
  return typeof output === 'object' && output !== null && Array.isArray((output as { content?: unknown }).content);
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
      data: { door: context.door, inputDigest: context.inputDigest, toolVersion: tool.version },
    });
    const execution = await runTool(tool, context.input, { signal: context.signal, invocationId: context.invocationId, agent });
    if (execution.upstreamStatus !== undefined) context.upstreamStatus = execution.upstreamStatus;
    return { status: 'succeeded', invocationId: context.invocationId, output: execution.output };
  };
}
