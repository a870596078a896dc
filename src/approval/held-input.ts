import type { Vault } from '../secrets/vault.js';

/**
 * How a call held for approval keeps its input at rest: sealed under the vault's active key
 * when it has one, bound to the approval's id, and plain otherwise.
 */
export interface HeldInputSealing {
  seal(input: unknown, approvalId: string): unknown;
  /** The input as it was held. */
  open(held: unknown, approvalId: string): unknown;
  /** The held input sealed under the active key, or undefined when it already is (or there is no key). */
  reseal(held: unknown, approvalId: string): unknown;
}

/**
 * A tool's input is a JSON object, so a held input that is a string is a sealed one, and one
 * that is not was held while the vault had no key.
 */
export function heldInputSealing(vault: Vault): HeldInputSealing {
  const context = (approvalId: string) => ({ purpose: 'approval-input', approvalId });
  return {
    seal: (input, approvalId) => (vault.hasKey ? vault.seal(JSON.stringify(input), context(approvalId)) : input),
    open: (held, approvalId) => (typeof held === 'string' ? JSON.parse(vault.open(held, context(approvalId))) : held),
    reseal(held, approvalId) {
      if (!vault.hasKey) return undefined;
      if (typeof held !== 'string') return vault.seal(JSON.stringify(held), context(approvalId));
      const result = vault.reseal(held, context(approvalId));
      return result.changed ? result.sealed : undefined;
    },
  };
}
