import { GatewayError, isGatewayError } from '../errors.js';
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
 * An upstream error with its body excerpt redacted as the tool's output would be: the
 * tool's own `redact` profile plus `extra` (what the deciding policy rules add), on top of
 * the gateway-wide redaction the executor already applied. Path rules select fields of
 * JSON values and cannot apply to the excerpt, which is text; secrets, key names and
 * detectors do. When the executor kept the whole error body behind the excerpt, that is
 * what is redacted before the cut to 512 characters, so a value across the cut is found.
 * Anything else (another error, one without a string `details.excerpt`) is
 * returned as it is.
 *
 * The result is a new {@link GatewayError} with the same code, message, headers and cause;
 * the error passed in, which holds the unredacted excerpt, must not be used afterwards.
 * If the redaction fails, the excerpt is empty: never unredacted.
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
  const excerpt = (details as { excerpt?: unknown }).excerpt;
  if (typeof excerpt !== 'string') return error;
  let redacted: string;
  try {
    // The uncut body where the executor kept it: a value across the cut is then seen whole.
    redacted = cutExcerpt(deps.redactors.forTool(tool, extra).text(excerptSource(error) ?? excerpt));
  } catch {
    redacted = '';
  }
  if (redacted === excerpt) return error;
  const replaced = new GatewayError({
    code: error.code,
    message: error.message,
    details: { ...details, excerpt: redacted },
    ...(error.headers === undefined ? {} : { headers: error.headers }),
    ...(error.cause === undefined ? {} : { cause: error.cause }),
  });
  if (error.stack !== undefined) replaced.stack = error.stack;
  return replaced;
}
