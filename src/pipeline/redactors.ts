import { type CompiledRedaction, type Redactor, mergeProfiles } from '../redaction/index.js';
import { redactFresh, withRedactorDefaults } from '../redaction/redactor.js';
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

  /**
   * What a tool returned, redacted for the caller, the records and the audit: a copy, except
   * that the parts of a tool's fresh output (see {@link ResolvedTool.outputIsFresh}) that the
   * redaction leaves unchanged are kept rather than copied.
   */
  output(tool: ResolvedTool, extra: ToolRedaction | undefined, output: unknown): unknown {
    const compiled = this.forTool(tool, extra);
    return tool.outputIsFresh ? redactFresh(compiled, output) : compiled.value(output);
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
      const secrets = tool.secretValues();
      const own = { ...(tool.redaction ?? {}), secrets: [...(secrets ?? [])] };
      // What policy adds merges with the tool's redaction as it runs, defaults written out:
      // a rule's profile makes it stricter, never looser (a rule naming one detector must
      // not turn the others off).
      compiled = this.redactor.compile(
        (extra === undefined ? own : mergeProfiles(withRedactorDefaults(this.redactor, own as never), extra)) as never,
      );
      // A tool whose secrets cannot be opened yet is compiled again on its next call: once
      // the key is fixed (rotateSecrets), its secrets are masked too.
      if (secrets === undefined) return compiled;
      // Policy decisions build a fresh profile object per evaluation only when rules carry
      // one; keep the map small by bounding distinct entries.
      if (perTool.size > 64) perTool.clear();
      perTool.set(extra, compiled);
    }
    return compiled;
  }
}
