import { GatewayError } from '../errors.js';
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

/** The `SECRET_UNAVAILABLE` errors of held inputs that could not be opened, and the tool of each call. */
const unopenedHeldInputs = new WeakMap<GatewayError, string>();

/**
 * Marks `error` (`SECRET_UNAVAILABLE`, from {@link HeldInputSealing.open}) as the held input
 * of an approved call to `tool` that could not be opened, and returns it. Every approved call
 * held under that key fails alike until the keyring is fixed, which the gateway tells
 * `onError` ({@link unopenedHeldInputToolOf} tells which calls).
 */
export function markUnopenedHeldInput(error: GatewayError, tool: string): GatewayError {
  unopenedHeldInputs.set(error, tool);
  return error;
}

/** The tool of the call whose held input `error` says could not be opened; undefined for any other error. */
export function unopenedHeldInputToolOf(error: unknown): string | undefined {
  return error instanceof GatewayError ? unopenedHeldInputs.get(error) : undefined;
}
