import { GatewayError, type InputIssue, isGatewayError } from '../errors.js';
import type { CompiledRedaction } from '../redaction/types.js';
import { escapePointer } from '../util/json-pointer.js';
import type { ResolvedTool } from '../tools/registry.js';
import type { ToolRedaction } from '../tools/types.js';
import { cutExcerpt, excerptSource } from '../upstream/response-output.js';
import type { PipelineDependencies } from './dependencies.js';
import type { CallOutcome, Step } from './types.js';

/**
 * Redacts what the tool returned before it goes anywhere: the caller, the records, the audit.
 * An upstream error's excerpt gets the same redaction as the output would have.
 */
export function redactStep(deps: PipelineDependencies): Step {
  return async (context, next) => {
    let outcome: CallOutcome;
    try {
      outcome = await next();
    } catch (error) {
      // The execute step throws what fails; it returns only a success.
      throw context.tool === undefined ? error : redactUpstreamError(deps, context.tool, context.decision?.redact, error);
    }
    if (outcome.status !== 'succeeded' || context.tool === undefined) return outcome;
    return { ...outcome, output: deps.redactors.output(context.tool, context.decision?.redact, outcome.output) };
  };
}

/**
 * An upstream error with what it says of the upstream's answer redacted as the tool's
 * output would be: the tool's own `redact` profile plus `extra` (what the deciding policy
 * rules add), on top of the gateway-wide redaction the executor already applied. That is
 * the body excerpt, and the paths of an output that failed the tool's `outputSchema` (a key
 * of the output can be an e-mail address). Path rules select fields of JSON values and
 * cannot apply to the excerpt, which is text; secrets, key names and detectors do. When the
 * executor kept the whole error body behind the excerpt, that is what is redacted before the
 * cut to 512 characters, so a value across the cut is found. Anything else is returned as it is.
 *
 * The result is a new {@link GatewayError} with the same code, message, headers and cause;
 * the error passed in, which holds the unredacted excerpt, must not be used afterwards.
 * If the redaction fails, the excerpt is empty and the issues are left out: never unredacted.
 */
export function redactUpstreamError<E>(
  deps: Pick<PipelineDependencies, 'redactors'>,
  tool: ResolvedTool,
  extra: ToolRedaction | undefined,
  error: E,
): E | GatewayError {
  if (!isGatewayError(error) || error.code !== 'UPSTREAM_ERROR') return error;
  const details = error.details;
  if (typeof details !== 'object' || details === null || Array.isArray(details)) return error;
  const { excerpt, issues } = details as { excerpt?: unknown; issues?: unknown };
  const patch: Record<string, unknown> = {};
  if (typeof excerpt === 'string') {
    let redacted: string;
    try {
      // The uncut body where the executor kept it: a value across the cut is then seen whole.
      redacted = cutExcerpt(deps.redactors.forTool(tool, extra).text(excerptSource(error) ?? excerpt));
    } catch {
      redacted = '';
    }
    if (redacted !== excerpt) patch.excerpt = redacted;
  }
  if (Array.isArray(issues)) {
    let redacted: InputIssue[] | undefined;
    try {
      redacted = redactIssuePaths(deps.redactors.forTool(tool, extra), issues as InputIssue[]);
    } catch {
      redacted = undefined;
    }
    if (redacted !== issues) patch.issues = redacted;
  }
  if (Object.keys(patch).length === 0) return error;
  const redactedDetails: Record<string, unknown> = { ...details, ...patch };
  if (redactedDetails.issues === undefined) delete redactedDetails.issues;
  const replaced = new GatewayError({
    code: error.code,
    message: error.message,
    details: redactedDetails,
    ...(error.headers === undefined ? {} : { headers: error.headers }),
    ...(error.cause === undefined ? {} : { cause: error.cause }),
  });
  if (error.stack !== undefined) replaced.stack = error.stack;
  return replaced;
}

/**
 * Schema issues whose paths (JSON Pointers into the checked value) have each key redacted as
 * free text: a key can itself be personal data (`{"ada@example.com": "vip"}`). The same array
 * when nothing changed.
 */
export function redactIssuePaths(redaction: CompiledRedaction, issues: readonly InputIssue[]): InputIssue[] {
  let changed = false;
  const redacted = issues.map((issue) => {
    if (typeof issue?.path !== 'string' || issue.path === '') return issue;
    const path = issue.path
      .split('/')
      .map((token, index) => (index === 0 ? token : escapePointer(redaction.text(token.replace(/~1/g, '/').replace(/~0/g, '~')))))
      .join('/');
    if (path === issue.path) return issue;
    changed = true;
    return { ...issue, path };
  });
  return changed ? redacted : (issues as InputIssue[]);
}
