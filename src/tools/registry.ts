import { createHash } from 'node:crypto';
import { normaliseProfile } from '../redaction/profile.js';
import { digestJson } from '../util/canonical-json.js';
import type { SchemaCheck } from './schema-validator.js';
import type {
  JsonSchema,
  LocalToolDefinition,
  ToolCallContext,
  ToolDefinitionBase,
  ToolExecution,
  ToolRedaction,
  ToolRisk,
} from './types.js';

/** Any tool definition the registry accepts: local tools and HTTP tools. */
export type AnyToolDefinition = LocalToolDefinition<any, any> | (ToolDefinitionBase & { kind: 'http' });

/** What agents see of a tool (REST `GET /tools`, MCP `tools/list`). */
export interface ToolView {
  name: string;
  title?: string;
  description: string;
  inputSchema: JsonSchema;
  outputSchema?: JsonSchema;
  annotations?: Record<string, unknown>;
  /** Present when the tool returns MCP content blocks itself. */
  outputFormat?: 'mcp-content';
}

/** The runnable form of a tool, built once per tool version. */
export interface ResolvedTool {
  readonly name: string;
  readonly kind: 'local' | 'http';
  readonly source: 'code' | 'store';
  /** Digest of the definition: changes whenever the definition does. */
  readonly version: string;
  readonly risk: ToolRisk | undefined;
  readonly definition: AnyToolDefinition;
  readonly view: ToolView;
  readonly timeoutMs: number;
  readonly redaction: ToolRedaction | undefined;
  readonly validateInput: SchemaCheck;
  readonly validateOutput: SchemaCheck | undefined;
  execute(input: unknown, context: ToolCallContext): Promise<ToolExecution>;
  /**
   * True when every output {@link execute} gives is made for that call and referenced by
   * nothing else, as plain JSON data (an HTTP tool's parsed upstream body). Its redaction may
   * then keep unchanged parts instead of copying them. A local handler's output belongs to
   * its author (it may be a cached object), so it is always copied.
   */
  readonly outputIsFresh: boolean;
  /**
   * Plain values of this tool's secrets, for the redactor's exact-scrubbing layer; undefined
   * while the tool has secrets that cannot be opened (a wrong or missing key), so that a
   * redaction made without them is not kept for when they can.
   */
  secretValues(): readonly string[] | undefined;
}

/**
 * How the registry turns an HTTP tool into something it can run. Every output its `execute`
 * gives must be made for that call and referenced by nothing else (see
 * {@link ResolvedTool.outputIsFresh}), as the gateway's executor's parsed bodies are.
 */
export type HttpExecutorFactory = (definition: AnyToolDefinition & { kind: 'http' }) => {
  execute(input: unknown, context: ToolCallContext): Promise<ToolExecution>;
  secretValues(): readonly string[];
};

export const DEFAULT_TIMEOUT_MS = 30_000;

/** The material a tool version is the digest of. Secret values are left out: rotation must not change versions. */
export function toolVersionMaterial(definition: AnyToolDefinition): unknown {
  const { handler, ...rest } = definition as AnyToolDefinition & { handler?: unknown; secretHeaders?: Record<string, unknown> };
  const material: Record<string, unknown> = { ...rest };
  if (typeof handler === 'function') {
    material.handler = createHash('sha256').update(handler.toString()).digest('hex');
  }
  const secretHeaders = material.secretHeaders as Record<string, unknown> | undefined;
  if (secretHeaders !== undefined) {
    material.secretHeaders = Object.keys(secretHeaders).sort();
  }
  return material;
}

/** The sealed secret header values of a stored definition, in a canonical text. */
function sealedSecretsText(definition: unknown): string {
  const headers = (definition as { secretHeaders?: unknown } | null)?.secretHeaders;
  if (typeof headers !== 'object' || headers === null) return '';
  return Object.entries(headers)
    .map(([name, value]) => `${name}\u0000${String((value as { sealed?: unknown } | null)?.sealed)}`)
    .sort()
    .join('\u0000');
}

/**
 * Whether `tool` is still the compiled form of the stored tool at `version` with
 * `definition`. The version leaves secret values out (a key rotation keeps it), so a
 * replaced credential shows only in the sealed text; the tool must then be compiled again,
 * since its executor holds the plaintext it opened.
 */
export function isCompiledFrom(tool: ResolvedTool, version: string, definition: unknown): boolean {
  return tool.source === 'store' && tool.version === version && sealedSecretsText(tool.definition) === sealedSecretsText(definition);
}

/**
 * Builds the runnable form of one definition. Throws a TypeError naming the tool and the
 * option for a bad schema or a bad `redact` profile (an unknown detector or mode, a path that
 * does not parse), which would otherwise fail every call of the tool after it ran.
 */
export function resolveTool(
  definition: AnyToolDefinition,
  source: 'code' | 'store',
  compile: (schema: JsonSchema, where: string) => SchemaCheck,
  httpExecutor: HttpExecutorFactory,
): ResolvedTool {
  const where = `tool "${definition.name}"`;
  if (definition.redact !== undefined) {
    try {
      normaliseProfile(definition.redact);
    } catch (error) {
      throw new TypeError(`${where} redact: ${(error as Error).message}`);
    }
  }
  const validateInput = compile(definition.inputSchema, `${where} inputSchema`);
  const validateOutput = definition.outputSchema === undefined ? undefined : compile(definition.outputSchema, `${where} outputSchema`);
  const view: ToolView = { name: definition.name, description: definition.description, inputSchema: definition.inputSchema };
  if (definition.title !== undefined) view.title = definition.title;
  if (definition.outputSchema !== undefined) view.outputSchema = definition.outputSchema;
  if (definition.annotations !== undefined) view.annotations = { ...definition.annotations };
  if (definition.outputFormat === 'mcp-content') view.outputFormat = 'mcp-content';
  if (validateOutput !== undefined) {
    // For the MCP door, which sees tools only through their views: it checks a redacted
    // output against the schema before sending it as structuredContent (McpToolView's
    // validateOutput). Non-enumerable, so views serialise and spread without it.
    Object.defineProperty(view, 'validateOutput', { value: validateOutput });
  }

  let execute: ResolvedTool['execute'];
  let secretValues: ResolvedTool['secretValues'];
  if (definition.kind === 'local') {
    const handler = definition.handler;
    execute = async (input, context) => ({ output: await handler(input, context) });
    secretValues = () => [];
  } else {
    const executor = httpExecutor(definition);
    execute = (input, context) => executor.execute(input, context);
    // Every secret header has a non-empty value: none opened means they cannot be, for now.
    const hasSecrets = Object.keys((definition as { secretHeaders?: object }).secretHeaders ?? {}).length > 0;
    secretValues = () => {
      const values = executor.secretValues();
      return hasSecrets && values.length === 0 ? undefined : values;
    };
  }

  return Object.freeze({
    name: definition.name,
    kind: definition.kind,
    source,
    version: digestJson(toolVersionMaterial(definition)),
    risk: definition.risk,
    definition,
    view: Object.freeze(view),
    timeoutMs: definition.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    redaction: definition.redact,
    validateInput,
    validateOutput,
    execute,
    outputIsFresh: definition.kind === 'http',
    secretValues,
  });
}

/**
 * The tools a gateway knows: code-defined ones (fixed at construction) and ones held in the
 * store (managed through the admin API). Lookups are synchronous map reads on the hot path.
 */
export class ToolRegistry {
  private readonly codeTools = new Map<string, ResolvedTool>();
  private storeTools = new Map<string, ResolvedTool>();
  private sorted: ResolvedTool[] = [];

  constructor(codeTools: readonly ResolvedTool[]) {
    for (const tool of codeTools) {
      if (this.codeTools.has(tool.name)) throw new TypeError(`tool "${tool.name}" is defined twice`);
      this.codeTools.set(tool.name, tool);
    }
    this.reindex();
  }

  /** The tool with exactly this name (no case folding, no look-alikes), or undefined. */
  get(name: string): ResolvedTool | undefined {
    return this.codeTools.get(name) ?? this.storeTools.get(name);
  }

  storeToolCount(): number {
    return this.storeTools.size;
  }

  isCodeTool(name: string): boolean {
    return this.codeTools.has(name);
  }

  /** Every tool, ordered by name (code point order, deterministic). */
  all(): readonly ResolvedTool[] {
    return this.sorted;
  }

  /** Replaces the store-held tools. */
  setStoreTools(tools: readonly ResolvedTool[]): void {
    const next = new Map<string, ResolvedTool>();
    for (const tool of tools) if (!this.codeTools.has(tool.name)) next.set(tool.name, tool);
    this.storeTools = next;
    this.reindex();
  }

  private reindex(): void {
    this.sorted = [...this.codeTools.values(), ...this.storeTools.values()].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  }
}
