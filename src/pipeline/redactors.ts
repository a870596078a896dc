import { type CompiledRedaction, type Redactor, mergeProfiles } from '../redaction/index.js';
import type { ResolvedTool } from '../tools/registry.js';
import type { ToolRedaction } from '../tools/types.js';

/**
 * Compiled redaction per tool version (and per policy-added profile), built on first use
 * and reused: no per-call compilation.
 */
export class RedactorCache {
  private readonly byTool = new WeakMap<ResolvedTool, Map<ToolRedaction | undefined, CompiledRedaction>>();
  private readonly defaultRedaction: CompiledRedaction;

  constructor(private readonly redactor: Redactor) {
    this.defaultRedaction = redactor.compile({});
  }

  /** The gateway-wide defaults, for data that belongs to no tool. */
  fallback(): CompiledRedaction {
    return this.defaultRedaction;
  }

  /** What a tool returned, redacted (a copy) for the caller, the records and the audit. */
  output(tool: ResolvedTool, extra: ToolRedaction | undefined, output: unknown): unknown {
    return this.forTool(tool, extra).value(output);
  }

  /** The redaction of one tool, with what the matching policy rules add. */
  forTool(tool: ResolvedTool, extra: ToolRedaction | undefined): CompiledRedaction {
    let perTool = this.byTool.get(tool);
    if (perTool === undefined) {
      perTool = new Map();
      this.byTool.set(tool, perTool);
    }
    let compiled = perTool.get(extra);
    if (compiled === undefined) {
      const own = { ...(tool.redaction ?? {}), secrets: [...tool.secretValues()] };
      compiled = this.redactor.compile((extra === undefined ? own : mergeProfiles(own, extra)) as never);
      // Policy decisions build a fresh profile object per evaluation only when rules carry
      // one; keep the map small by bounding distinct entries.
      if (perTool.size > 64) perTool.clear();
      perTool.set(extra, compiled);
    }
    return compiled;
  }
}
