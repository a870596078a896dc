/** A JSON Schema object (2020-12 or draft-07). */
export type JsonSchema = Record<string, unknown>;

/** MCP tool annotations: hints to clients, never trusted for security decisions. */
export interface ToolAnnotations {
  title?: string;
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

/** How risky a tool is; policy rules can match on it (`tools: ['risk:high']`). */
export type ToolRisk = 'low' | 'medium' | 'high' | 'critical';

/** Redaction rules of one tool (see the redaction engine). */
export interface ToolRedaction {
  /** JSONPath-style field rules: `$.customer.email`, `$..card`, `$.items[*].ssn`. */
  paths?: Array<string | { path: string; mode?: string }>;
  /** Detectors to run on this tool's data; `true` keeps the gateway defaults. */
  detectors?: string[] | Record<string, boolean | string>;
  /** Default mode for this tool's rules. */
  mode?: string;
}

/** What a running tool is told about its call. */
export interface ToolCallContext {
  /**
   * Fires when the caller goes away (its `reason` is the caller's) or when the tool's
   * `timeoutMs` passes (a `TimeoutError` DOMException, as `AbortSignal.timeout` gives).
   * Made on first read and the same afterwards; it is a getter, so a copy of the context
   * made with a spread does not carry it (pass `context` or `context.signal` on instead).
   */
  signal: AbortSignal;
  invocationId: string;
  agent: { id: string; name: string; tags: readonly string[] };
}

/** Fields every tool definition shares. */
export interface ToolDefinitionBase {
  /** 1-128 of `A-Z a-z 0-9 _ - . /`, not `.` or `..` alone (no request path could name those). */
  name: string;
  title?: string;
  description: string;
  inputSchema: JsonSchema;
  outputSchema?: JsonSchema;
  annotations?: ToolAnnotations;
  risk?: ToolRisk;
  /** Whole-call deadline in milliseconds (default 30 000). */
  timeoutMs?: number;
  redact?: ToolRedaction;
  /**
   * `'json'` (default): the output is any JSON value, sent to MCP clients as text (and as
   * `structuredContent` when there is an `outputSchema`). `'mcp-content'`: the output is
   * already an MCP tool result body, `{ content: [...blocks], structuredContent? }` (text,
   * image, audio, resource blocks), passed to MCP clients as it is.
   */
  outputFormat?: 'json' | 'mcp-content';
}

/** A tool that runs a function in this process. */
export interface LocalToolDefinition<Input = unknown, Output = unknown> extends ToolDefinitionBase {
  kind: 'local';
  handler(input: Input, context: ToolCallContext): Output | Promise<Output>;
}

/** What executing a tool produced. */
export interface ToolExecution {
  output: unknown;
  /** HTTP status of the upstream, for HTTP tools. */
  upstreamStatus?: number;
}
