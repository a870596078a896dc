import { GatewayError, type InputIssue } from '../errors.js';
import type { PipelineDependencies } from './dependencies.js';
import { assertSafeInput, findNonJsonNumber, jsonPointer } from './input-guard.js';
import { undecidedRedaction } from './record.js';
import { redactIssuePaths } from './redact.js';
import type { CallContext, Step } from './types.js';

/**
 * Refuses hostile shapes (depth, prototype keys), then checks the input against the tool's
 * compiled JSON Schema (no coercion: what is checked is what runs), and takes the input's
 * digest that binds approvals and idempotency keys to this exact input.
 */
export function validateInputStep(deps: PipelineDependencies): Step {
  return (context, next) => {
    const tool = context.tool;
    if (tool === undefined) throw new Error('validate-input runs after resolve-tool');
    const input = context.rawInput === undefined ? {} : context.rawInput;
    assertSafeInput(input, deps.maxDepth);
    const issues = tool.validateInput(input);
    if (issues !== undefined) {
      throw new GatewayError({
        code: 'INVALID_INPUT',
        message: 'Input does not match the tool schema',
        details: redactedIssues(deps, context, issues),
      });
    }
    context.input = input;
    try {
      context.inputDigest = deps.digestInput(input);
    } catch (error) {
      throw unrepresentableInput(input, error);
    }
    return next();
  };
}

/**
 * Why an input has no digest. The digest is canonical JSON, which refuses what JSON cannot
 * carry: `JSON.parse` reads `1e400` as Infinity, which a schema that leaves a value untyped
 * lets through. Looked for only here, once the digest has failed, so a sound input pays
 * for no extra walk. A 400 like the other refusals of the input's form (not a 422: the
 * tool's schema accepted it).
 */
function unrepresentableInput(input: unknown, error: unknown): unknown {
  const found = findNonJsonNumber(input);
  if (found === undefined) return error;
  const path = jsonPointer(found.path);
  return new GatewayError({
    code: 'BAD_REQUEST',
    message: `Input holds a number JSON cannot carry at ${path === '' ? '(input)' : path}`,
    details: [{ path, message: found.message }],
    cause: error,
  });
}

/**
 * The issues with personal data in keys redacted as the stored input is: the tool's profile
 * and what policy adds for this agent and tool. Without their paths if that redaction fails.
 */
function redactedIssues(deps: PipelineDependencies, context: CallContext, issues: InputIssue[]): InputIssue[] {
  const tool = context.tool as NonNullable<CallContext['tool']>;
  try {
    return redactIssuePaths(deps.redactors.forTool(tool, undecidedRedaction(deps, context.agent, tool)), issues);
  } catch {
    return issues.map((issue) => ({ ...issue, path: '' }));
  }
}
