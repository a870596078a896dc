import type { AgentPrincipal, PolicyDecision } from '../pipeline/types.js';
import type { ToolRedaction, ToolRisk } from '../tools/types.js';

/** Comparison operators of a {@link PolicyCondition}. */
export type ConditionOperator = 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte' | 'in' | 'not_in' | 'exists' | 'matches';

/**
 * A test on one field of the call's input. `path` is `$.order.total`, `order.total` or
 * `items[0].sku`, read as a tool in JavaScript reads it (`items[0]` of an object with a key
 * `"0"` too, and `items.length` of an array or a string). A missing field (not there, or
 * `null` on the way) never satisfies `eq`, `gt`…, `in`, `matches` and always satisfies `ne`
 * and `not_in`. A field of a type the operator cannot judge against its operand (a string or
 * a list for `gt`, a number or a list for `eq "x"` or `matches`, a type none of an `in`
 * list's items has), or a path that runs into a string, number, boolean or list (by a name,
 * not an index) before its end (`order.total` of `{ order: [{ total: 500 }] }` or of
 * `{ order: "…" }`, under any operator, `exists` too), satisfies the condition in a `deny` or
 * `require_approval` rule; an `allow` rule then allows nothing, while its `rateLimit` and
 * `redact` still apply to the call. A tool may read `"500"` or `[500]` as 500, or unwrap a
 * list, and reshaping an argument must never get a call past a restriction. `null` is judged
 * by every operator: it equals only `null`, orders against no number and matches no pattern
 * (`eq null`, and a list of only `null`s, judge any type).
 */
export interface PolicyCondition {
  path: string;
  op: ConditionOperator;
  /**
   * The operand, JSON data: any value for `eq`/`ne` (required: `null` to test for null), a
   * finite number for `gt`…, an array for `in`/`not_in`, a boolean for `exists` (default true), a regular
   * expression source for `matches`, which is true when the pattern matches anywhere in a
   * string value. `matches` runs on a linear-time engine (RE2 syntax, as re2js implements it):
   * time grows linearly with the value's length, so every value is tested whatever its length.
   * `\s`, `\S`, `.` and `\uXXXX` / `\u{X}` mean what they mean in JavaScript; `(?i)` makes it
   * case-insensitive. Lookarounds, back-references, the `s` flag (write `[\s\S]`), sources
   * over 512 characters and patterns over 500 compiled instructions (large counted
   * repetitions) are refused when the rule is compiled.
   */
  value?: unknown;
}

/**
 * One policy rule. A rule applies to a call when its `agents`, `tools` and every `when`
 * condition match. Among the rules that apply, deny beats require_approval beats allow;
 * when none applies the gateway's default effect (deny unless configured) decides.
 *
 * @example
 * ```ts
 * const rules: PolicyRule[] = [
 *   { id: 'support-reads', effect: 'allow', agents: ['tag:support'], tools: ['crm.get_*'] },
 *   { id: 'big-refunds', effect: 'require_approval', tools: ['refunds.create'],
 *     when: [{ path: '$.amount', op: 'gt', value: 100 }], approval: { ttlMs: 3_600_000 } },
 *   { id: 'no-deletes', effect: 'deny', tools: ['risk:critical'] },
 * ];
 * ```
 */
export interface PolicyRule {
  id: string;
  effect: 'allow' | 'deny' | 'require_approval';
  description?: string;
  /**
   * Agent ids, `tag:<tag>` or `*` (no other globs). Absent: every agent. An empty list, an
   * empty tag or an id with `*` or `?` is refused when the rule is compiled.
   */
  agents?: string[];
  /**
   * Tool names, globs (`crm.*`, `*`; `?` is one character) or `risk:<level>` (`low`,
   * `medium`, `high`, `critical`). Absent: every tool. An empty list, another risk level or
   * characters no tool name has (a space, a comma) are refused when the rule is compiled.
   */
  tools?: string[];
  /** All must hold. */
  when?: PolicyCondition[];
  /** For `require_approval`: how long the approval stays open (default 15 minutes). */
  approval?: { ttlMs?: number };
  /**
   * Redaction this rule adds to the calls it applies to (e.g. mask emails for these agents):
   * to an allowed call's output and record, and to the record of a call a rule denies. A
   * call whose input fails the tool's schema, which no condition can be tested on, is
   * recorded with the profiles of every rule for its agent and tool. Checked when the rule
   * is compiled: an unknown detector or mode or a path that does not parse is a TypeError
   * naming the rule (400 from the admin API).
   */
  redact?: ToolRedaction;
  /**
   * At most `limit` of the calls this rule applies to in any `windowMs`: per agent (each
   * agent its own budget, the default) or in `all` (one budget for every agent). A call over
   * it is refused with 429 `RATE_LIMITED` and `Retry-After`. Not on `deny` rules.
   */
  rateLimit?: PolicyRateLimit;
}

/** The `rateLimit` of a {@link PolicyRule}. */
export interface PolicyRateLimit {
  /** Calls allowed in any window, 1 to 10,000 (each call in the window is kept to count it exactly). */
  limit: number;
  /** The window in milliseconds, 1 s to 30 days. */
  windowMs: number;
  /** `agent` (default): a budget per agent; `all`: one budget shared by every agent. */
  per?: 'agent' | 'all';
}

/** What a policy engine is asked about one call. */
export interface PolicyRequest {
  agent: AgentPrincipal;
  tool: { name: string; risk?: ToolRisk };
  input: unknown;
}

/**
 * A pluggable policy decision point. `evaluate` decides one call; `canSee` decides whether
 * a tool is listed to an agent at all (default: listed). A decision's `redact` is added to
 * the tool's redaction of the call's output and record, a denied call's record included;
 * it is compiled as soon as the decision is made, and one that does not compile fails the
 * call with 500 `INTERNAL` before the tool runs. So does an answer that is not a decision (an
 * effect other than `allow`, `deny` or `require_approval`, or no `ruleIds` list), here and
 * when an approved call is about to run: it is never taken for an allow.
 */
export interface PolicyEngine {
  evaluate(request: PolicyRequest): PolicyDecision | Promise<PolicyDecision>;
  canSee?(agent: AgentPrincipal, tool: { name: string; risk?: ToolRisk }): boolean;
  /**
   * The redaction the rules add to a call of `tool` by `agent` whatever its input, for the
   * records of calls refused before `evaluate` decides (input that fails the tool's schema):
   * the built-in engine merges the profiles of every rule for this agent and tool, ignoring
   * their conditions. Default: none beyond the tool's own.
   */
  redactionFor?(agent: AgentPrincipal, tool: { name: string; risk?: ToolRisk }): ToolRedaction | undefined;
}
