import { GatewayError } from '../errors.js';
import { digestJson } from '../util/canonical-json.js';
import type { PipelineDependencies } from './dependencies.js';
import { assertSafeInput } from './input-guard.js';
import type { Step } from './types.js';

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
      throw new GatewayError({ code: 'INVALID_INPUT', message: 'Input does not match the tool schema', details: issues });
    }
    context.input = input;
    context.inputDigest = digestJson(input);
    return next();
  };
}
