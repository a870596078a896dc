import { GatewayError } from '../errors.js';
import type { PipelineDependencies } from './dependencies.js';
import type { Step } from './types.js';

/** The one answer for a tool that does not exist and a tool this agent may not see. */
export function toolNotFound(name: string): GatewayError {
  return new GatewayError({ code: 'TOOL_NOT_FOUND', message: `Unknown tool: ${name.slice(0, 128)}` });
}

/**
 * Finds the tool by its exact name. A tool the agent may not see is answered exactly like
 * one that does not exist.
 */
export function resolveToolStep(deps: PipelineDependencies): Step {
  return (context, next) => {
    const tool = deps.tools.get(context.toolName);
    const agent = context.agent;
    if (tool === undefined || agent === undefined) throw toolNotFound(context.toolName);
    const engine = deps.policy();
    if (engine.canSee !== undefined && !engine.canSee(agent, { name: tool.name, risk: tool.risk })) {
      throw toolNotFound(context.toolName);
    }
    context.tool = tool;
    return next();
  };
}
