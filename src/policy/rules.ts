import { z } from 'zod';
import { mergeProfiles } from '../redaction/index.js';
import { normaliseProfile } from '../redaction/profile.js';
import type { AgentPrincipal, PolicyDecision } from '../pipeline/types.js';
import type { ToolRedaction, ToolRisk } from '../tools/types.js';
import { type CompiledCondition, type ConditionVerdict, FAILS, HOLDS, UNJUDGEABLE, compileCondition } from './conditions.js';
import { type GlobMatcher, compileGlob } from './glob.js';
import type { RateLimitCharge } from './rate-limit.js';
import type { PolicyEngine, PolicyRateLimit, PolicyRequest, PolicyRule } from './types.js';

/** The zod shape of a redaction profile on a rule or a stored tool (`paths`, `detectors`, `mode`). */
export const redactionProfileSchema = z
  .object({
    paths: z
      .array(
        z.union([z.string(), z.object({ path: z.string(), mode: z.string().optional() }).strict()], {
          error: 'must be a path or { path, mode? }',
        }),
      )
      .optional(),
    detectors: z
      .union([z.array(z.string()), z.record(z.string(), z.union([z.boolean(), z.string()]))], {
        error: 'must be a list of detector names or { <name>: true | false | "<mode>" }',
      })
      .optional(),
    mode: z.string().optional(),
  })
  .strict();

/** The zod shape of a {@link PolicyRule}; admin bodies and options are checked with it. */
export const policyRuleSchema = z
  .object({
    id: z.string().min(1).max(200),
    effect: z.enum(['allow', 'deny', 'require_approval']),
    description: z.string().max(2000).optional(),
    agents: z
      .array(z.string().min(1).max(200))
      .min(1, { error: 'an empty list applies to no agent; leave agents out for every agent' })
      .max(1000)
      .optional(),
    tools: z
      .array(z.string().min(1).max(200))
      .min(1, { error: 'an empty list applies to no tool; leave tools out for every tool' })
      .max(1000)
      .optional(),
    when: z
      .array(
        z
          .object({
            path: z.string().min(1).max(500),
            op: z.enum(['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'not_in', 'exists', 'matches']),
            value: z.unknown().optional(),
          })
          .strict(),
      )
      .max(100)
      .optional(),
    approval: z
      .object({
        ttlMs: z
          .number()
          .int()
          .min(1000)
          .max(30 * 24 * 3600 * 1000)
          .optional(),
      })
      .strict()
      .optional(),
    redact: redactionProfileSchema.optional(),
    rateLimit: z
      .object({
        limit: z.number().int().min(1).max(10_000),
        windowMs: z
          .number()
          .int()
          .min(1000)
          .max(30 * 24 * 3600 * 1000),
        per: z.enum(['agent', 'all']).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * The budget a rule's `rateLimit` charges a call of an agent to, built once per rule: one
 * shared budget for `per: 'all'`, else one per agent.
 */
function chargeOf(ruleId: string, rateLimit: PolicyRateLimit): (agentId: string) => RateLimitCharge {
  const { limit, windowMs } = rateLimit;
  if (rateLimit.per === 'all') {
    const shared = Object.freeze({ key: `all ${ruleId}`, limit, windowMs, ruleId });
    return () => shared;
  }
  // The rule id's length keeps "r" of agent "a b" apart from "r a" of agent "b".
  const prefix = `agent ${ruleId.length} ${ruleId} `;
  return (agentId) => ({ key: prefix + agentId, limit, windowMs, ruleId });
}

interface CompiledRule {
  id: string;
  effect: PolicyRule['effect'];
  matchesAgent: (agent: AgentPrincipal) => boolean;
  matchesTool: (tool: { name: string; risk?: ToolRisk }) => boolean;
  conditions: CompiledCondition[];
  ttlMs: number | undefined;
  redact: ToolRedaction | undefined;
  charge: ((agentId: string) => RateLimitCharge) | undefined;
}

/** The risk levels a tool can have, which `risk:<level>` in `tools` names. */
const RISK_LEVELS: ReadonlySet<string> = new Set<ToolRisk>(['low', 'medium', 'high', 'critical']);

/** What a tool name is made of (see `defineTool`), and the wildcards of a glob. */
const TOOL_NAME_OR_GLOB = /^[A-Za-z0-9_./*?-]+$/;

/**
 * Matches agents by id, `tag:<tag>` or `*`. An entry that could never name an agent (an empty
 * tag, or a glob: agents take none) is a TypeError, not a rule that silently applies to no one.
 */
function compileAgentMatcher(agents: string[] | undefined, where: string): (agent: AgentPrincipal) => boolean {
  for (const [index, entry] of (agents ?? []).entries()) {
    if (entry === 'tag:') throw new TypeError(`${where} at agents[${index}]: "tag:" names no tag`);
    if (entry !== '*' && !entry.startsWith('tag:') && /[*?]/.test(entry)) {
      throw new TypeError(`${where} at agents[${index}]: "${entry}" is not an agent id; agents take ids, "tag:<tag>" or "*" (no globs)`);
    }
  }
  if (agents === undefined || agents.includes('*')) return () => true;
  const ids = new Set(agents.filter((entry) => !entry.startsWith('tag:')));
  const tags = agents.filter((entry) => entry.startsWith('tag:')).map((entry) => entry.slice(4));
  return (agent) => ids.has(agent.id) || tags.some((tag) => agent.tags.includes(tag));
}

/**
 * Matches tools by name, glob or `risk:<level>`. An entry that could never match a tool (a
 * risk level tools do not have, characters no tool name has) is a TypeError, not a rule that
 * silently applies to nothing.
 */
function compileToolMatcher(tools: string[] | undefined, where: string): (tool: { name: string; risk?: ToolRisk }) => boolean {
  const names = new Set<string>();
  const globs: GlobMatcher[] = [];
  const risks = new Set<string>();
  for (const [index, entry] of (tools ?? []).entries()) {
    if (entry.startsWith('risk:')) {
      const level = entry.slice(5);
      if (!RISK_LEVELS.has(level)) {
        throw new TypeError(
          `${where} at tools[${index}]: unknown risk level "${level}"; use risk:low, risk:medium, risk:high or risk:critical`,
        );
      }
      risks.add(level);
    } else if (!TOOL_NAME_OR_GLOB.test(entry)) {
      throw new TypeError(
        `${where} at tools[${index}]: "${entry}" can never match a tool: names and globs use letters, digits, "_", "-", ".", "/" and the wildcards "*" and "?"`,
      );
    } else if (/[*?]/.test(entry)) globs.push(compileGlob(entry));
    else names.add(entry);
  }
  if (tools === undefined || tools.includes('*')) return () => true;
  return (tool) => names.has(tool.name) || (tool.risk !== undefined && risks.has(tool.risk)) || globs.some((glob) => glob(tool.name));
}

function compileRule(rule: PolicyRule): CompiledRule {
  const parsed = policyRuleSchema.safeParse(rule);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new TypeError(`policy rule "${String((rule as { id?: unknown }).id)}"${where}: ${issue?.message ?? 'invalid'}`);
  }
  if (rule.effect === 'deny' && rule.rateLimit !== undefined) {
    throw new TypeError(`policy rule "${rule.id}" at rateLimit: a deny rule refuses every call it applies to, so it takes no rateLimit`);
  }
  if (rule.redact !== undefined) {
    // Checked here, not when a call is redacted: a bad profile would fail every call it covers.
    try {
      normaliseProfile(rule.redact);
    } catch (error) {
      throw new TypeError(`policy rule "${rule.id}" at redact: ${(error as Error).message}`);
    }
  }
  return {
    id: rule.id,
    effect: rule.effect,
    matchesAgent: compileAgentMatcher(rule.agents, `policy rule "${rule.id}"`),
    matchesTool: compileToolMatcher(rule.tools, `policy rule "${rule.id}"`),
    conditions: (rule.when ?? []).map((condition, index) => compileCondition(condition, `policy rule "${rule.id}" when[${index}]`)),
    ttlMs: rule.approval?.ttlMs,
    redact: rule.redact,
    charge: rule.rateLimit === undefined ? undefined : chargeOf(rule.id, rule.rateLimit),
  };
}

/**
 * @internal The stored rules as the gateway can enforce them beside `codeRules`, and what is
 * wrong with those it cannot take as they are. A rule that does not compile (stored by another
 * version of the gateway, or written to the store by hand) or whose id another rule has is
 * never left out silently, which for a deny or approval rule would let through calls it was
 * meant to stop. A `deny` or `require_approval` rule that does not compile applies to every
 * call of its agents and tools, without its conditions (to every call at all when those lists
 * are unusable too); one whose id is taken applies under a new id. An `allow` rule is left out,
 * and so is one with an empty `agents` or `tools` list, which applied to no call.
 */
export function enforceableStoredRules(
  records: readonly { id: string; rule: unknown }[],
  codeRules: readonly PolicyRule[],
): { rules: PolicyRule[]; problems: string[] } {
  const taken = new Set(codeRules.map((rule) => rule.id));
  const rules: PolicyRule[] = [];
  const problems: string[] = [];
  for (const record of records) {
    let rule: PolicyRule | undefined;
    let why: string | undefined;
    let how = '';
    const problem = compileProblem(record.rule);
    if (problem === undefined) {
      rule = record.rule as PolicyRule;
    } else {
      why = `does not compile (${problem})`;
      rule = strictRule(record.rule, record.id);
      how = ' for every call it covers, without its conditions';
    }
    if (rule !== undefined && taken.has(rule.id)) {
      why ??= 'has the id of another rule';
      if (rule.effect === 'allow') {
        rule = undefined;
      } else {
        let id = `${record.id} (stored)`;
        for (let suffix = 2; taken.has(id); suffix++) id = `${record.id} (stored ${suffix})`;
        rule = { ...rule, id };
        how += ` under the id "${id}"`;
      }
    }
    if (why !== undefined) {
      problems.push(`Stored policy rule "${record.id}" ${why}; ${rule === undefined ? 'left out' : `enforced as ${rule.effect}${how}`}`);
    }
    if (rule !== undefined) {
      taken.add(rule.id);
      rules.push(rule);
    }
  }
  return { rules, problems };
}

function compileProblem(rule: unknown): string | undefined {
  try {
    compileRule(rule as PolicyRule);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The strict stand-in of a rule that does not compile (see enforceableStoredRules); undefined for an allow rule and for one whose `agents` or `tools` list is empty. */
function strictRule(stored: unknown, id: string): PolicyRule | undefined {
  const { effect, agents, tools } = (typeof stored === 'object' && stored !== null ? stored : {}) as Partial<PolicyRule>;
  if (effect === 'allow') return undefined;
  // An empty list names no agent or tool: such a rule never applied to any call (rules no
  // longer take one), and standing in for it over every call would refuse them all.
  if ((Array.isArray(agents) && agents.length === 0) || (Array.isArray(tools) && tools.length === 0)) return undefined;
  // An effect nobody can read is taken as the strictest.
  const strict: PolicyRule = { id, effect: effect === 'require_approval' ? 'require_approval' : 'deny' };
  const scoped: PolicyRule = { ...strict, ...(agents === undefined ? {} : { agents }), ...(tools === undefined ? {} : { tools }) };
  return compileProblem(scoped) === undefined ? scoped : strict;
}

/** A compiled rule set: a {@link PolicyEngine} whose answers are synchronous. */
export interface CompiledPolicy extends PolicyEngine {
  evaluate(request: PolicyRequest): PolicyDecision;
  canSee(agent: AgentPrincipal, tool: { name: string; risk?: ToolRisk }): boolean;
  redactionFor(agent: AgentPrincipal, tool: { name: string; risk?: ToolRisk }): ToolRedaction | undefined;
}

/** Options of {@link compilePolicy}. */
export interface CompilePolicyOptions {
  /** What happens when no rule applies. Default `'deny'`. */
  defaultEffect?: PolicyRule['effect'];
}

/**
 * Compiles rules into a {@link PolicyEngine}: every glob, path and pattern is compiled
 * once, here; evaluation only reads the input. Throws a TypeError naming the rule and
 * field at fault. Rule ids must be unique.
 *
 * @example
 * ```ts
 * const engine = compilePolicy([{ id: 'all', effect: 'allow' }]);
 * engine.evaluate({ agent, tool: { name: 'echo' }, input: {} }); // { effect: 'allow', ruleIds: ['all'] }
 * ```
 */
export function compilePolicy(rules: readonly PolicyRule[], options: CompilePolicyOptions = {}): CompiledPolicy {
  const defaultEffect = options.defaultEffect ?? 'deny';
  const seen = new Set<string>();
  const compiled = rules.map((rule) => {
    const result = compileRule(rule);
    if (seen.has(result.id)) throw new TypeError(`policy rule id "${result.id}" is used twice`);
    seen.add(result.id);
    return result;
  });

  // Merged redaction profiles by the ids of the rules that carry them, so the same set of
  // rules always yields the same profile object (the gateway caches compiled redaction by it).
  const mergedRedaction = new Map<string, ToolRedaction>();
  const redactionFor = (rulesWithRedaction: CompiledRule[]): ToolRedaction | undefined => {
    if (rulesWithRedaction.length === 0) return undefined;
    if (rulesWithRedaction.length === 1) return rulesWithRedaction[0]?.redact;
    const key = rulesWithRedaction.map((rule) => rule.id).join('\u0000');
    let merged = mergedRedaction.get(key);
    if (merged === undefined) {
      merged = rulesWithRedaction.reduce<ToolRedaction | undefined>(
        (acc, rule) => (acc === undefined ? rule.redact : (mergeProfiles(acc, rule.redact as ToolRedaction) as ToolRedaction)),
        undefined,
      ) as ToolRedaction;
      mergedRedaction.set(key, merged);
    }
    return merged;
  };

  /** What every rule for this agent and tool adds to the redaction, whatever the input. */
  const redactionForCall = (agent: AgentPrincipal, tool: { name: string; risk?: ToolRisk }): ToolRedaction | undefined => {
    let withRedaction: CompiledRule[] | undefined;
    for (const rule of compiled) {
      if (rule.redact !== undefined && rule.matchesAgent(agent) && rule.matchesTool(tool)) (withRedaction ??= []).push(rule);
    }
    return withRedaction === undefined ? undefined : redactionFor(withRedaction);
  };

  return {
    evaluate(request: PolicyRequest): PolicyDecision {
      const deny: string[] = [];
      const approve: string[] = [];
      const allow: string[] = [];
      let ttlMs: number | undefined;
      let withRedaction: CompiledRule[] | undefined;
      let rateLimits: RateLimitCharge[] | undefined;
      for (const rule of compiled) {
        if (!rule.matchesAgent(request.agent) || !rule.matchesTool(request.tool)) continue;
        let verdict: ConditionVerdict = HOLDS;
        for (const condition of rule.conditions) {
          const answer = condition(request.input);
          if (answer === FAILS) {
            verdict = FAILS;
            break;
          }
          if (answer === UNJUDGEABLE) verdict = UNJUDGEABLE;
        }
        if (verdict === FAILS) continue;
        // A field of a type a condition cannot judge (a tool may read "500" as 500) restricts:
        // a deny or require_approval rule applies, and an allow rule allows nothing, while
        // what it restricts (its rate limit, its redaction) still applies to the call.
        if (verdict === UNJUDGEABLE && rule.effect === 'allow') {
          if (rule.redact !== undefined) (withRedaction ??= []).push(rule);
          if (rule.charge !== undefined) (rateLimits ??= []).push(rule.charge(request.agent.id));
          continue;
        }
        if (rule.effect === 'deny') {
          deny.push(rule.id);
          if (rule.redact !== undefined) (withRedaction ??= []).push(rule);
          continue;
        }
        if (rule.effect === 'require_approval') {
          approve.push(rule.id);
          if (rule.ttlMs !== undefined) ttlMs = ttlMs === undefined ? rule.ttlMs : Math.min(ttlMs, rule.ttlMs);
        } else allow.push(rule.id);
        if (rule.redact !== undefined) (withRedaction ??= []).push(rule);
        if (rule.charge !== undefined) (rateLimits ??= []).push(rule.charge(request.agent.id));
      }
      // A denied call's record is redacted with what every matching rule adds.
      if (deny.length > 0) {
        return withRedaction === undefined
          ? { effect: 'deny', ruleIds: deny }
          : { effect: 'deny', ruleIds: deny, redact: redactionFor(withRedaction) as ToolRedaction };
      }
      // Spread into literals: decisions built by mutation cost the 2 KiB call some 4% (callgrind).
      const extra: Pick<PolicyDecision, 'redact' | 'rateLimits'> = {};
      if (withRedaction !== undefined) extra.redact = redactionFor(withRedaction);
      if (rateLimits !== undefined) extra.rateLimits = rateLimits;
      if (approve.length > 0) {
        return ttlMs === undefined
          ? { effect: 'require_approval', ruleIds: approve, ...extra }
          : { effect: 'require_approval', ruleIds: approve, approvalTtlMs: ttlMs, ...extra };
      }
      if (allow.length > 0) return { effect: 'allow', ruleIds: allow, ...extra };
      // No rule allows it: the default decides, with what allow rules that could not judge
      // a field restrict (their rate limits and redaction) when it lets the call go on.
      if (defaultEffect !== 'deny') return { effect: defaultEffect, ruleIds: [], ...extra };
      // A default denial's record is redacted with what every rule for this agent and tool
      // adds, whatever the input: as an invalid call's is, so no shape of it is stored in clear.
      const redact = redactionForCall(request.agent, request.tool);
      return redact === undefined ? { effect: 'deny', ruleIds: [] } : { effect: 'deny', ruleIds: [], redact };
    },
    redactionFor: (agent, tool) => redactionForCall(agent, tool),
    canSee(agent, tool) {
      let reachable = defaultEffect !== 'deny';
      for (const rule of compiled) {
        if (!rule.matchesAgent(agent) || !rule.matchesTool(tool)) continue;
        if (rule.effect === 'deny') {
          if (rule.conditions.length === 0) return false;
        } else {
          reachable = true;
        }
      }
      return reachable;
    },
  };
}
