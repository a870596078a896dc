import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import { MAX_TIMER_MS } from '../util/timers.js';
import type { LocalToolDefinition, ToolAnnotations, ToolCallContext, ToolRedaction, ToolRisk } from './types.js';

/** Options of {@link defineTool}. */
export interface DefineToolOptions<Schema extends JSONSchema, Output, Input = FromSchema<Schema>> {
  /** Exact, case-sensitive name: letters, digits, `_`, `-`, `.` and `/`, at most 128. */
  name: string;
  title?: string;
  description: string;
  /** A JSON Schema for an object (`type: 'object'`). With `as const`, `handler`'s input is typed from it. */
  inputSchema: Schema;
  /** When given, outputs must conform to it and MCP clients get `structuredContent`. */
  outputSchema?: Record<string, unknown>;
  annotations?: ToolAnnotations;
  risk?: ToolRisk;
  /** Whole-call deadline in milliseconds (default 30 000, at most 2 147 483 647, the longest timer Node keeps). */
  timeoutMs?: number;
  redact?: ToolRedaction;
  /** `'mcp-content'`: the handler returns `{ content: [...], structuredContent? }` for MCP clients as is. */
  outputFormat?: 'json' | 'mcp-content';
  /**
   * Runs the call with the validated input, typed from `inputSchema` when it is declared
   * `as const` (an annotation on `input` that the schema does not give does not compile);
   * for a schema whose type says nothing, annotate `input` yourself.
   */
  handler: (input: Input, context: ToolCallContext) => Output | Promise<Output>;
}

/**
 * Tool names: what MCP allows, less "." and "..", which URL parsing resolves away as path
 * segments (`/tools/../invoke`, `%2E%2E` too), so that no REST or admin request could name the tool.
 */
const TOOL_NAME = /^(?!\.\.?$)[A-Za-z0-9_./-]{1,128}$/;

/**
 * `value` when it is a whole number from 1 to `max` (or undefined); otherwise throws a
 * TypeError naming `option`. For deadlines, `max` is {@link MAX_TIMER_MS}: a longer Node timer
 * fires at once, and every call would time out.
 */
export function boundedPositiveInteger(value: unknown, option: string, where: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new TypeError(`${where}: ${option} must be a positive integer of at most ${max}`);
  }
  return value;
}

/** Checks the parts of a tool definition every kind of tool shares; throws a TypeError naming the fault. */
export function assertToolBasics(definition: {
  name: unknown;
  description: unknown;
  inputSchema: unknown;
  outputSchema?: unknown;
  timeoutMs?: unknown;
  risk?: unknown;
}): void {
  const { name } = definition;
  if (typeof name !== 'string' || !TOOL_NAME.test(name)) {
    throw new TypeError(
      `tool name ${JSON.stringify(name)} is invalid: use 1-128 ASCII letters, digits, "_", "-", "." or "/" (not "." or ".." alone)`,
    );
  }
  if (typeof definition.description !== 'string') throw new TypeError(`tool "${name}": description must be a string`);
  const schema = definition.inputSchema as { type?: unknown } | null;
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema) || schema.type !== 'object') {
    throw new TypeError(`tool "${name}": inputSchema must be a JSON Schema with type "object"`);
  }
  const output = definition.outputSchema as { type?: unknown } | null | undefined;
  if (output !== undefined && (output === null || typeof output !== 'object' || output.type !== 'object')) {
    throw new TypeError(`tool "${name}": outputSchema must be a JSON Schema with type "object"`);
  }
  const format = (definition as { outputFormat?: unknown }).outputFormat;
  if (format !== undefined && format !== 'json' && format !== 'mcp-content') {
    throw new TypeError(`tool "${name}": outputFormat must be "json" or "mcp-content"`);
  }
  boundedPositiveInteger(definition.timeoutMs, 'timeoutMs', `tool "${name}"`, MAX_TIMER_MS);
  // Policy rules match a tool's risk exactly (`risk:critical`): another spelling would escape them.
  const { risk } = definition;
  if (risk !== undefined && risk !== 'low' && risk !== 'medium' && risk !== 'high' && risk !== 'critical') {
    throw new TypeError(`tool "${name}": risk must be "low", "medium", "high" or "critical"`);
  }
}

/**
 * Defines a tool that runs a function in this process. Declare the input schema `as const`
 * and the handler's `input` is typed from it: reading a field the schema lacks does not
 * compile. The gateway validates every input against the schema before the handler runs.
 *
 * @example
 * ```ts
 * import { defineTool } from 'agent-tool-gateway';
 *
 * const getOrder = defineTool({
 *   name: 'orders.get',
 *   description: 'Look up an order by id',
 *   inputSchema: {
 *     type: 'object',
 *     properties: { orderId: { type: 'string' } },
 *     required: ['orderId'],
 *     additionalProperties: false,
 *   } as const,
 *   handler: async ({ orderId }) => ({ orderId, status: 'shipped' }),
 * });
 * ```
 */
export function defineTool<const Schema extends JSONSchema, Output = unknown, Input = FromSchema<Schema>>(
  options: DefineToolOptions<Schema, Output, HandlerInput<Schema, Input>>,
): LocalToolDefinition<HandlerInput<Schema, Input>, Output> {
  assertToolBasics(options);
  if (typeof options.handler !== 'function') throw new TypeError(`tool "${options.name}": handler must be a function`);
  return Object.freeze({ ...options, kind: 'local' as const }) as LocalToolDefinition<HandlerInput<Schema, Input>, Output>;
}

/**
 * The input `handler` gets: what a schema declared `as const` gives, which an annotation on
 * the handler cannot change; for a schema whose type says nothing (one kept in a variable
 * typed `JsonSchema`, or read from a JSON file), what the handler's annotation says.
 */
type HandlerInput<Schema extends JSONSchema, Input> = unknown extends FromSchema<Schema> ? Input : NoInfer<FromSchema<Schema>>;
