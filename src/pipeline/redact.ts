import { GatewayError, type InputIssue, isGatewayError } from '../errors.js';
import { redactFresh } from '../redaction/redactor.js';
import type { CompiledRedaction } from '../redaction/types.js';
import { escapePointer } from '../util/json-pointer.js';
import { setOwnMember } from '../util/own-member.js';
import type { ResolvedTool } from '../tools/registry.js';
import type { ToolRedaction } from '../tools/types.js';
import { cutExcerpt, excerptSource } from '../upstream/response-output.js';
import type { PipelineDependencies } from './dependencies.js';
import type { CallOutcome, Step } from './types.js';

/**
 * Redacts what the tool returned before it goes anywhere: the caller, the records, the audit.
 * An error thrown while it ran gets the same redaction as the output would have.
 */
export function redactStep(deps: PipelineDependencies): Step {
  return async (context, next) => {
    let outcome: CallOutcome;
    try {
      outcome = await next();
    } catch (error) {
      // The execute step throws what fails; it returns only a success.
      throw context.tool === undefined ? error : redactToolError(deps, context.tool, context.decision?.redact, error);
    }
    if (outcome.status !== 'succeeded' || context.tool === undefined) return outcome;
    return { ...outcome, output: deps.redactors.output(context.tool, context.decision?.redact, outcome.output) };
  };
}

/**
 * A {@link GatewayError} thrown while a tool ran — the tool's own refusal, or the executor's
 * account of an upstream's answer — with what it says redacted as the tool's output would be:
 * the tool's own `redact` profile plus `extra` (what the deciding policy rules add), on top of
 * the gateway-wide redaction the executor already applied to an upstream's body. The message
 * is redacted as text and the details as a value, but for two members of an `UPSTREAM_ERROR`'s
 * details: the body excerpt, which is text (path rules cannot apply to it; secrets, key names
 * and detectors do; when the executor kept the whole error body behind the excerpt, that is
 * what is redacted before the cut to 512 characters, so a value across the cut is found), and
 * the `issues` of an output that failed the tool's `outputSchema`, whose paths are redacted
 * key by key (a key of the output can be an e-mail address). Anything else is returned as it is.
 *
 * When the redaction changes something, the result is a new {@link GatewayError} with the same
 * code, headers and cause, and the error passed in, which holds the unredacted text, must not
 * be used afterwards; otherwise it is the error passed in. If the redaction fails, the message
 * is `Tool "…" failed`, the excerpt is empty and the other details are left out: never unredacted.
 */
export function redactToolError<E>(
  deps: Pick<PipelineDependencies, 'redactors'>,
  tool: ResolvedTool,
  extra: ToolRedaction | undefined,
  error: E,
): E | GatewayError {
  if (!isGatewayError(error)) return error;
  let message: string;
  try {
    message = deps.redactors.forTool(tool, extra).text(error.message);
  } catch {
    message = `Tool "${tool.name}" failed`;
  }
  const details = redactErrorDetails(deps, tool, extra, error);
  if (message === error.message && details === error.details) return error;
  const replaced = new GatewayError({
    code: error.code,
    message,
    ...(details === undefined ? {} : { details }),
    ...(error.headers === undefined ? {} : { headers: error.headers }),
    ...(error.cause === undefined ? {} : { cause: error.cause }),
  });
  if (error.stack !== undefined) replaced.stack = error.stack;
  return replaced;
}

/** The details of `error` redacted as {@link redactToolError} says: the same value when nothing changed. */
function redactErrorDetails(
  deps: Pick<PipelineDependencies, 'redactors'>,
  tool: ResolvedTool,
  extra: ToolRedaction | undefined,
  error: GatewayError,
): unknown {
  const details = error.details;
  if (details === undefined) return undefined;
  if (error.code !== 'UPSTREAM_ERROR' || typeof details !== 'object' || details === null || Array.isArray(details)) {
    try {
      return redactFresh(deps.redactors.forTool(tool, extra), details);
    } catch {
      return undefined;
    }
  }
  const { excerpt, issues } = details as { excerpt?: unknown; issues?: unknown };
  let changed = false;
  const others: Record<string, unknown> = {};
  let hasOthers = false;
  for (const [name, value] of Object.entries(details)) {
    if ((name === 'excerpt' && typeof excerpt === 'string') || (name === 'issues' && Array.isArray(issues))) continue;
    setOwnMember(others, name, value);
    hasOthers = true;
  }
  let redacted = others;
  if (hasOthers) {
    let walked: unknown;
    try {
      walked = redactFresh(deps.redactors.forTool(tool, extra), others);
    } catch {
      walked = undefined;
    }
    // A rule that selects the whole value (`$`) leaves no members to keep.
    redacted = typeof walked === 'object' && walked !== null && !Array.isArray(walked) ? (walked as Record<string, unknown>) : {};
    changed = redacted !== others;
  }
  if (typeof excerpt === 'string') {
    let redactedExcerpt: string;
    try {
      // The uncut body where the executor kept it: a value across the cut is then seen whole.
      redactedExcerpt = cutExcerpt(deps.redactors.forTool(tool, extra).text(excerptSource(error) ?? excerpt));
    } catch {
      redactedExcerpt = '';
    }
    if (redactedExcerpt !== excerpt) changed = true;
    redacted.excerpt = redactedExcerpt;
  }
  if (Array.isArray(issues)) {
    let redactedIssues: InputIssue[] | undefined;
    try {
      redactedIssues = redactIssuePaths(deps.redactors.forTool(tool, extra), issues as InputIssue[]);
    } catch {
      redactedIssues = undefined;
    }
    if (redactedIssues !== issues) changed = true;
    if (redactedIssues !== undefined) redacted.issues = redactedIssues;
  }
  return changed ? redacted : details;
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
