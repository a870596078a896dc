/**
 * Turns the outcome of a governed call into an MCP `tools/call` answer. Everything that went
 * wrong while running the tool (invalid input, policy denial, upstream failure, timeout, even
 * an internal error) becomes a tool result with `isError: true` that a model can read; only
 * an unknown tool is a protocol error.
 */
import type { GatewayError } from '../../errors.js';
import type { CallOutcome } from '../../pipeline/types.js';
import { isJsonObject, JsonRpcErrorCode } from './json-rpc.js';
import type { McpToolView } from './types.js';

/** The `_meta` key of the machine-readable approval data on a pending call. */
export const approvalMetaKey = 'io.agent-tool-gateway/approval';

/** The `_meta` key of the invocation id on every call result. */
export const invocationMetaKey = 'io.agent-tool-gateway/invocationId';

/** The `_meta` key of the machine-readable error on an `isError` result. */
export const errorMetaKey = 'io.agent-tool-gateway/error';

/**
 * The `_meta` key on the result of a call that succeeded but whose structured content is
 * withheld because its redacted output no longer conforms to the tool's `outputSchema`:
 * `{ reason: "redaction", paths }`, the JSON Pointers of the fields that do not conform.
 */
export const structuredContentWithheldMetaKey = 'io.agent-tool-gateway/structuredContentWithheld';

/**
 * What `structuredContent` may hold in the negotiated revision: nothing (2025-03-26), a JSON
 * object (2025-06-18, 2025-11-25) or any JSON value (2026-07-28).
 */
export type StructuredContentSupport = 'none' | 'object' | 'any';

/** A call answered with a `tools/call` result. */
export interface ResultAnswer {
  kind: 'result';
  result: Record<string, unknown>;
  /**
   * The JSON of `result.structuredContent` when it is already at hand: a succeeded call's
   * text block holds that very JSON, so {@link callResultJson} need not serialise it again.
   */
  structuredJson?: string;
}

/** How one call is answered. */
export type CallAnswer = ResultAnswer | { kind: 'protocol-error'; code: number; message: string };

/** What the mapping needs to know about the called tool. */
export interface CalledTool {
  name: string;
  /** True when the listing shows an `outputSchema` for it. */
  hasOutputSchema: boolean;
  /** True when the tool returns MCP content blocks itself (`outputFormat: 'mcp-content'`). */
  mcpContent?: boolean;
  /**
   * The tool's `outputSchema` check, run on the redacted output before it is sent as
   * `structuredContent` (see {@link McpToolView.validateOutput}); absent for tools without
   * a schema, which then pay nothing.
   */
  validateOutput?: McpToolView['validateOutput'];
}

const maxIssueLines = 20;
const maxDetailsLength = 2000;
const maxEchoedNameLength = 128;
const maxWithheldPaths = 20;

/**
 * Maps a {@link CallOutcome} to a `tools/call` result or protocol error.
 *
 * A succeeded call of a tool with an `outputSchema` carries its (redacted) output as
 * `structuredContent` when the revision allows it. If redaction made that output stop
 * conforming to the schema, the official clients would reject the result although the call
 * ran; it is then answered with `isError: true` (so that clients skip output validation),
 * no `structuredContent`, a text saying that the call succeeded and ran once, the redacted
 * output as JSON in a second text block, and
 * `_meta["io.agent-tool-gateway/structuredContentWithheld"]`.
 */
export function answerCall(outcome: CallOutcome, tool: CalledTool, structured: StructuredContentSupport): CallAnswer {
  switch (outcome.status) {
    case 'succeeded':
      return succeededAnswer(outcome.output, outcome.invocationId, tool, structured);
    case 'pending_approval':
    case 'running':
      return { kind: 'result', result: pendingResult(outcome, tool, structured) };
    case 'error':
      if (outcome.error.code === 'TOOL_NOT_FOUND') {
        const name = tool.name.length > maxEchoedNameLength ? `${tool.name.slice(0, maxEchoedNameLength)}…` : tool.name;
        return { kind: 'protocol-error', code: JsonRpcErrorCode.invalidParams, message: `Unknown tool: ${name}` };
      }
      return { kind: 'result', result: errorResult(outcome.error, outcome.invocationId) };
  }
}

/**
 * The JSON text of a `tools/call` result whose `_meta` is `meta`, with `resultType` first when
 * given (the 2026-07-28 revision). Members keep the result's order: `content`,
 * `structuredContent`, `isError`, `_meta`.
 */
export function callResultJson(answer: ResultAnswer, meta: unknown, resultType?: string): string {
  const { result, structuredJson } = answer;
  if (structuredJson === undefined) {
    return JSON.stringify(resultType === undefined ? { ...result, _meta: meta } : { resultType, ...result, _meta: meta });
  }
  // Only succeededAnswer sets structuredJson, on a result of exactly these three members.
  const head = resultType === undefined ? '{' : `{"resultType":${JSON.stringify(resultType)},`;
  return `${head}"content":${JSON.stringify(result.content)},"structuredContent":${structuredJson},"_meta":${JSON.stringify(meta)}}`;
}

function succeededAnswer(output: unknown, invocationId: string, tool: CalledTool, structured: StructuredContentSupport): ResultAnswer {
  const meta = { [invocationMetaKey]: invocationId };
  if (tool.mcpContent && isJsonObject(output) && Array.isArray(output.content)) {
    // The tool speaks MCP content itself: its blocks go out as they are.
    const result: Record<string, unknown> = { content: output.content };
    const content = output.structuredContent;
    if (tool.hasOutputSchema && content !== undefined && (structured === 'any' || (structured === 'object' && isJsonObject(content)))) {
      const issues = tool.validateOutput?.(content);
      if (issues !== undefined) {
        // The tool's own blocks follow the JSON: they are what it meant the model to read.
        const blocks = [{ type: 'text', text: JSON.stringify(content) }, ...output.content];
        return { kind: 'result', result: withheldResult(tool.name, invocationId, blocks, issues) };
      }
      result.structuredContent = content;
    }
    result._meta = meta;
    return { kind: 'result', result };
  }
  const json = typeof output === 'string' ? undefined : JSON.stringify(output);
  const content = [{ type: 'text', text: typeof output === 'string' ? output : (json ?? 'null') }];
  if (!tool.hasOutputSchema || !(structured === 'any' || (structured === 'object' && isJsonObject(output)))) {
    return { kind: 'result', result: { content, _meta: meta } };
  }
  const structuredContent = output === undefined ? null : output;
  const issues = tool.validateOutput?.(structuredContent);
  if (issues !== undefined) return { kind: 'result', result: withheldResult(tool.name, invocationId, content, issues) };
  const result = { content, structuredContent, _meta: meta };
  // The text is the structured content's own JSON whenever JSON.stringify gave one.
  return json === undefined ? { kind: 'result', result } : { kind: 'result', result, structuredJson: json };
}

/**
 * The result of a call that succeeded but whose redacted output no longer conforms to the
 * tool's `outputSchema`. As for an approval notice of such a tool, `isError` is what makes
 * clients accept a result without schema-valid `structuredContent`; the text says plainly
 * that the call ran, so that a model does not call it again, and `blocks` carry the output.
 */
function withheldResult(
  name: string,
  invocationId: string,
  blocks: readonly unknown[],
  issues: ReadonlyArray<{ path: string; message: string }>,
): Record<string, unknown> {
  // The paths point into the redacted output, whose keys are redacted already.
  const paths = [...new Set(issues.map((issue) => issue.path))].slice(0, maxWithheldPaths);
  const fields = paths.map((path) => (path === '' ? '(the whole output)' : path)).join(', ');
  const text =
    `The call to "${name}" succeeded and ran once; do not call it again for this result. ` +
    `Redaction changed fields that the tool's output schema describes (${fields}), so the structured content is withheld ` +
    'and this result is marked as an error only so that clients accept it. The redacted output follows.';
  return {
    content: [{ type: 'text', text }, ...blocks],
    isError: true,
    _meta: { [invocationMetaKey]: invocationId, [structuredContentWithheldMetaKey]: { reason: 'redaction', paths } },
  };
}

/**
 * The notice of a call that has no outcome yet: one waiting for a human decision, or (to a
 * repeat) one approved and running now.
 */
function pendingResult(
  outcome: Extract<CallOutcome, { status: 'pending_approval' | 'running' }>,
  tool: CalledTool,
  structured: StructuredContentSupport,
): Record<string, unknown> {
  const approvalId = outcome.approval.id;
  let approval: Record<string, string>;
  let text: string;
  if (outcome.status === 'pending_approval') {
    const { expiresAt } = outcome.approval;
    approval = { approvalId, expiresAt, invocationId: outcome.invocationId };
    text =
      `Approval required: this call to "${tool.name}" waits for a human decision and has not run yet. ` +
      `Approval id: ${approvalId}. It expires at ${expiresAt}. ` +
      'Call the same tool again with the same arguments to get the outcome once the approval has been decided; ' +
      'that call will not run the tool a second time.';
  } else {
    approval = { approvalId, invocationId: outcome.invocationId };
    text =
      `This call to "${tool.name}" was approved and is running now; it has not finished yet. Approval id: ${approvalId}. ` +
      'Call the same tool again with the same arguments to get the outcome once it has finished; ' +
      'that call will not run the tool a second time.';
  }
  // Official clients reject a non-error result without schema-valid structuredContent for a
  // tool that declares an outputSchema; a pending call has no such content, so for those
  // tools the notice travels as an error result (clients skip output validation on errors).
  // 2025-03-26 has neither output schemas nor structured content: nothing is validated, and
  // the notice is a plain result for every tool.
  const result: Record<string, unknown> = { content: [{ type: 'text', text }] };
  if (structured !== 'none') {
    if (tool.hasOutputSchema) result.isError = true;
    else result.structuredContent = { status: outcome.status, ...approval };
  }
  result._meta = { [approvalMetaKey]: approval, [invocationMetaKey]: outcome.invocationId };
  return result;
}

/**
 * What the gateway tells an MCP client of an error: lines of text (code and message, the
 * details, when to retry) and the machine-readable error (`{ code, details? }`). A tool
 * result with `isError` carries them, and so does a JSON-RPC error of a method that has no
 * tool result to carry them in (a task's cancellation the gateway could not record).
 */
export function describeError(error: GatewayError): { lines: string[]; data: { code: string; details?: unknown } } {
  const lines = [`${error.code}: ${error.message}`, ...describeDetails(error)];
  const retryAfter = error.headers?.['retry-after'] ?? error.headers?.['Retry-After'];
  if (retryAfter !== undefined) lines.push(`Retry after ${retryAfter} seconds.`);
  const data = error.details === undefined ? { code: error.code } : { code: error.code, details: error.details };
  return { lines, data };
}

function errorResult(error: GatewayError, invocationId: string | undefined): Record<string, unknown> {
  const { lines, data } = describeError(error);
  const meta: Record<string, unknown> = { [errorMetaKey]: data };
  if (invocationId !== undefined) meta[invocationMetaKey] = invocationId;
  return { content: [{ type: 'text', text: lines.join('\n') }], isError: true, _meta: meta };
}

function isInputIssue(value: unknown): value is { path: string; message: string } {
  return isJsonObject(value) && typeof value.path === 'string' && typeof value.message === 'string';
}

function describeDetails(error: GatewayError): string[] {
  const details = error.details;
  if (details === undefined || details === null) return [];
  if (Array.isArray(details) && details.length > 0 && details.every(isInputIssue)) {
    const lines = details.slice(0, maxIssueLines).map((issue) => `- ${issue.path === '' ? '(input)' : issue.path}: ${issue.message}`);
    if (details.length > maxIssueLines) lines.push(`- … and ${details.length - maxIssueLines} more`);
    return lines;
  }
  if (isJsonObject(details) && Array.isArray(details.rule)) {
    const { rule, ...rest } = details;
    const lines = rule.length > 0 ? [`Rules: ${rule.map(String).join(', ')}`] : [];
    if (Object.keys(rest).length > 0) lines.push(detailsLine(rest));
    return lines;
  }
  return [detailsLine(details)];
}

function detailsLine(details: unknown): string {
  let json: string;
  try {
    json = JSON.stringify(details) ?? String(details);
  } catch {
    return 'Details: (not serialisable)';
  }
  return `Details: ${json.length > maxDetailsLength ? `${json.slice(0, maxDetailsLength)}…` : json}`;
}
