import { GatewayError } from '../errors.js';
import { assertJsonNumbers, assertSafeInput } from '../pipeline/input-guard.js';
import { compilePolicy, policyRuleSchema } from '../policy/rules.js';
import type { PolicyRule } from '../policy/types.js';
import type { Store, StoredPolicyRecord } from '../store/types.js';
import { type AdminChange, notFound, optionalFields, parseBody, patchRemovals, withoutShownFields } from './agents.js';
import { type StoredTable, restoreDeleted, restoreRecord } from './undo.js';

/** What a PATCH may remove with `null`. */
const REMOVABLE_RULE_FIELDS = optionalFields(policyRuleSchema);

/** A rule as management responses show it. */
export type PolicyAdminView = PolicyRule & { source: 'code' | 'store'; readOnly: boolean; createdAt?: string; updatedAt?: string };

/** What the policy administration needs from the gateway. */
export interface PolicyAdministrationHost {
  store: Store;
  now(): number;
  /** Code-defined rules; undefined when the gateway runs a custom PolicyEngine. */
  codeRules: readonly PolicyRule[] | undefined;
  /** Recompiles the gateway's policy from code rules and the store's rules. */
  reload(): Promise<void>;
}

/**
 * Policy rules held in the store, evaluated together with the code-defined ones (which are
 * shown read-only). A change takes effect on the next call.
 */
export class PolicyAdministration {
  constructor(private readonly host: PolicyAdministrationHost) {}

  private codeRules(): readonly PolicyRule[] {
    if (this.host.codeRules === undefined) {
      throw new GatewayError({ code: 'CONFLICT', message: 'This gateway uses a custom PolicyEngine; rules cannot be managed here' });
    }
    return this.host.codeRules;
  }

  async list(): Promise<PolicyAdminView[]> {
    const code = this.codeRules().map((rule) => ({ ...rule, source: 'code' as const, readOnly: true }));
    const stored = (await this.host.store.listPolicies()).map((record) => ({
      ...(record.rule as unknown as PolicyRule),
      source: 'store' as const,
      readOnly: false,
      createdAt: record.createdAt,
      updatedAt: record.updatedAt,
    }));
    return [...code, ...stored];
  }

  async get(id: string): Promise<PolicyAdminView> {
    const found = (await this.list()).find((rule) => rule.id === id);
    if (found === undefined) throw notFound('Policy rule');
    return found;
  }

  async create(body: unknown): Promise<AdminChange<PolicyAdminView>> {
    assertSafeInput(body, 64);
    assertJsonNumbers(body);
    const rule = this.validate(parseBody(policyRuleSchema, body) as PolicyRule);
    const exists = () => new GatewayError({ code: 'CONFLICT', message: `A policy rule with id "${rule.id}" exists` });
    if (this.codeRules().some((existing) => existing.id === rule.id)) throw exists();
    const at = new Date(this.host.now()).toISOString();
    const written: StoredPolicyRecord = { id: rule.id, rule: { ...rule }, createdAt: at, updatedAt: at };
    // Insert only: of racing creates of one id, one wins and the others get 409.
    if (!(await this.host.store.replacePolicy(written, null))) throw exists();
    await this.host.reload();
    return { value: await this.get(rule.id), undo: () => this.restore(undefined, written) };
  }

  async update(id: string, patch: unknown): Promise<AdminChange<PolicyAdminView>> {
    assertSafeInput(patch, 64);
    assertJsonNumbers(patch);
    if (this.codeRules().some((rule) => rule.id === id)) throw readOnly(id);
    const stored = await this.host.store.getPolicy(id);
    if (stored === undefined) throw notFound('Policy rule');
    const shown = withoutShownFields(patch, { source: 'store', readOnly: false, createdAt: stored.createdAt, updatedAt: stored.updatedAt });
    const { patch: members, removed } = patchRemovals(shown, REMOVABLE_RULE_FIELDS);
    const partial = parseBody(policyRuleSchema.partial(), members);
    if (partial.id !== undefined && partial.id !== id) {
      throw new GatewayError({ code: 'BAD_REQUEST', message: 'A rule id cannot change; create a new rule' });
    }
    const merged: Record<string, unknown> = { ...(stored.rule as unknown as PolicyRule), ...(partial as Partial<PolicyRule>), id };
    for (const name of removed) delete merged[name];
    const rule = this.validate(merged as unknown as PolicyRule);
    // Written only over the rule read: a change or a delete made meanwhile is never overwritten or undone.
    const written: StoredPolicyRecord = { ...stored, rule: { ...rule }, updatedAt: new Date(this.host.now()).toISOString() };
    if (!(await this.host.store.replacePolicy(written, stored))) {
      throw new GatewayError({
        code: 'CONFLICT',
        message: `Policy rule "${id}" changed while this update was made; read it again and retry`,
      });
    }
    await this.host.reload();
    return { value: await this.get(id), undo: () => this.restore(stored, written) };
  }

  async remove(id: string): Promise<AdminChange<undefined>> {
    if (this.codeRules().some((rule) => rule.id === id)) throw readOnly(id);
    // Deleted as it was read, so that an undo puts back what was deleted: a rule changed
    // meanwhile (on another instance) is read again.
    for (let attempt = 0; attempt < 5; attempt++) {
      const stored = await this.host.store.getPolicy(id);
      if (stored === undefined) throw notFound('Policy rule');
      if (!(await this.host.store.deletePolicy(id, stored))) continue;
      await this.host.reload();
      return { value: undefined, undo: () => restoreDeleted(this.table(), stored, () => this.host.reload()) };
    }
    throw new GatewayError({
      code: 'CONFLICT',
      message: `Policy rule "${id}" kept changing while it was deleted; read it again and retry`,
    });
  }

  /** Puts `previous` (none: no rule) back in place of `written`, unless another change came since. */
  private restore(previous: StoredPolicyRecord | undefined, written: StoredPolicyRecord): Promise<void> {
    return restoreRecord(this.table(), previous, written, () => this.host.reload());
  }

  private table(): StoredTable<StoredPolicyRecord> {
    const store = this.host.store;
    return {
      get: (id) => store.getPolicy(id),
      replace: (record, expected) => store.replacePolicy(record, expected),
      remove: (record) => store.deletePolicy(record.id, record),
      key: (record) => record.id,
      body: (record) => record.rule,
    };
  }

  /** Compiles the rule alone to surface bad paths or patterns as a 400 before storing it. */
  private validate(rule: PolicyRule): PolicyRule {
    try {
      compilePolicy([rule]);
    } catch (error) {
      throw new GatewayError({ code: 'BAD_REQUEST', message: (error as Error).message });
    }
    return rule;
  }
}

function readOnly(id: string): GatewayError {
  return new GatewayError({ code: 'CONFLICT', message: `Policy rule "${id}" is defined in code and cannot be changed here` });
}
