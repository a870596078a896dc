import { GatewayError } from '../errors.js';
import { type HttpToolDefinition, httpTool, type HttpToolOptions } from '../tools/http-tool.js';
import { SAFE_HEADER_VALUE } from '../upstream/request-plan.js';
import { isSealedSecret, isSecretValue, MASKED_SECRET, revealSecret, type SealedSecret } from './secret-value.js';
import { secretHeaderContext, type Vault } from './vault.js';

/** An HTTP tool definition as admin responses show it: every secret header value is `***`. */
export type MaskedHttpToolDefinition = Omit<HttpToolDefinition, 'secretHeaders'> & {
  secretHeaders?: Record<string, typeof MASKED_SECRET>;
};

/** A secret header that could not be opened: the tool it belongs to and the header's name. */
export interface UnopenedSecretHeader {
  toolId: string;
  header: string;
}

/** The errors {@link openSecretHeaders} threw, and the header each is about. */
const unopenedHeaders = new WeakMap<GatewayError, UnopenedSecretHeader>();

/**
 * The tool and header a `SECRET_UNAVAILABLE` error of {@link openSecretHeaders} is about;
 * undefined for any other error. Every call to that tool fails alike until its
 * configuration (the key, the stored value) is fixed, which the gateway tells `onError`.
 */
export function unopenedSecretHeaderOf(error: unknown): UnopenedSecretHeader | undefined {
  return error instanceof GatewayError ? unopenedHeaders.get(error) : undefined;
}

function secretUnavailable(toolId: string, header: string, message: string): GatewayError {
  const error = new GatewayError({ code: 'SECRET_UNAVAILABLE', message });
  unopenedHeaders.set(error, { toolId, header });
  return error;
}

/**
 * The plaintext of every secret header of a tool, opening sealed values with the vault.
 * Throws `SECRET_UNAVAILABLE` naming the tool and header (never the value) when one cannot
 * be opened ({@link unopenedSecretHeaderOf} tells which). For the HTTP executor only.
 */
export function openSecretHeaders(
  definition: HttpToolDefinition,
  vault: Vault | undefined,
  toolId: string = definition.name,
): Array<[name: string, value: string]> {
  const opened: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(definition.secretHeaders ?? {})) {
    let plaintext: string;
    if (isSecretValue(value)) {
      plaintext = revealSecret(value);
    } else {
      if (vault === undefined) {
        throw secretUnavailable(
          toolId,
          name,
          `secret header "${name}" of tool "${toolId}" is sealed, but no credential vault is configured`,
        );
      }
      try {
        plaintext = vault.open(value.sealed, secretHeaderContext(toolId, name));
      } catch (error) {
        if (error instanceof GatewayError) unopenedHeaders.set(error, { toolId, header: name });
        throw error;
      }
      if (!SAFE_HEADER_VALUE.test(plaintext)) {
        throw secretUnavailable(toolId, name, `secret header "${name}" of tool "${toolId}" is not a valid header value`);
      }
    }
    opened.push([name, plaintext]);
  }
  return opened;
}

function rebuild(definition: HttpToolDefinition, secretHeaders: Record<string, SealedSecret>): HttpToolDefinition {
  return httpTool({ ...(definition as unknown as HttpToolOptions), secretHeaders });
}

/**
 * The definition with every `secret(...)` header sealed by the vault, bound to the tool id
 * and header name: the form to store. Already sealed values are kept as they are. Throws
 * `SECRET_UNAVAILABLE` (with the key-generation one-liner) when the vault has no key.
 *
 * @example
 * ```ts
 * import { createVault, httpTool, secret } from 'agent-tool-gateway';
 * import { sealSecretHeaders } from './secrets/tool-secrets.js';
 *
 * const vault = createVault({ encryptionKey: process.env.ATG_ENCRYPTION_KEY });
 * const stored = sealSecretHeaders(httpTool({ ...options, secretHeaders: { authorization: secret('Bearer abc') } }), vault);
 * JSON.stringify(stored); // secretHeaders: { authorization: { sealed: 'atg.v1.default.…' } }
 * ```
 */
export function sealSecretHeaders(definition: HttpToolDefinition, vault: Vault, toolId: string = definition.name): HttpToolDefinition {
  const entries = Object.entries(definition.secretHeaders ?? {});
  if (entries.every(([, value]) => isSealedSecret(value))) return definition;
  const sealed: Record<string, SealedSecret> = {};
  for (const [name, value] of entries) {
    sealed[name] = isSecretValue(value)
      ? { sealed: vault.seal(revealSecret(value), secretHeaderContext(toolId, name)) }
      : (value as SealedSecret);
  }
  return rebuild(definition, sealed);
}

/** The result of {@link resealSecretHeaders}. */
export interface ResealedDefinition<Definition = HttpToolDefinition> {
  definition: Definition;
  /** Secret headers re-sealed under the active key. */
  changed: number;
  /** Secret headers that were already sealed under the active key. */
  unchanged: number;
}

/** A tool definition as {@link resealSecretHeaders} reads it: a built one, or its stored JSON. */
interface DefinitionWithSecrets {
  readonly name: string;
  readonly secretHeaders?: unknown;
}

/**
 * Re-seals every sealed secret header of a stored definition under the vault's active key
 * (key rotation). Only the secret headers are read and rewritten: a definition that this
 * version would refuse in other respects (stored by an earlier one) is re-sealed all the same,
 * so that the old key can leave the keyring. Throws `SECRET_UNAVAILABLE` when a value cannot
 * be opened with any key of the keyring.
 *
 * @example
 * ```ts
 * import { resealSecretHeaders } from './secrets/tool-secrets.js';
 *
 * vault.setEncryptionKey({ active: 'k2', keys: { default: oldKey, k2: newKey } });
 * const { definition, changed } = resealSecretHeaders(storedDefinition, vault);
 * ```
 */
export function resealSecretHeaders<Definition extends DefinitionWithSecrets>(
  definition: Definition,
  vault: Vault,
  toolId: string = definition.name,
): ResealedDefinition<Definition> {
  let changed = 0;
  let unchanged = 0;
  const resealed: Record<string, SealedSecret> = {};
  const headers = definition.secretHeaders;
  for (const [name, value] of Object.entries(typeof headers === 'object' && headers !== null ? headers : {})) {
    const context = secretHeaderContext(toolId, name);
    // A plain string is a secret's value, as httpTool() takes it: sealed now.
    if (isSecretValue(value) || typeof value === 'string') {
      resealed[name] = { sealed: vault.seal(typeof value === 'string' ? value : revealSecret(value), context) };
      changed++;
      continue;
    }
    const result = vault.reseal((value as Partial<SealedSecret> | null)?.sealed as string, context);
    resealed[name] = Object.freeze({ sealed: result.sealed });
    if (result.changed) changed++;
    else unchanged++;
  }
  return {
    definition: changed === 0 ? definition : (Object.freeze({ ...definition, secretHeaders: Object.freeze(resealed) }) as Definition),
    changed,
    unchanged,
  };
}

/**
 * A JSON view of an HTTP tool definition for admin responses: every secret header value is
 * `***`, sealed or not. Everything else is shown as defined.
 *
 * @example
 * ```ts
 * import { maskSecrets } from './secrets/tool-secrets.js';
 *
 * maskSecrets(listOrders).secretHeaders; // { authorization: '***' }
 * ```
 */
export function maskSecrets(definition: HttpToolDefinition): MaskedHttpToolDefinition {
  const { secretHeaders, ...rest } = definition;
  const view: MaskedHttpToolDefinition = { ...rest };
  if (secretHeaders !== undefined) {
    const masked: Record<string, typeof MASKED_SECRET> = {};
    for (const name of Object.keys(secretHeaders)) masked[name] = MASKED_SECRET;
    view.secretHeaders = masked;
  }
  return view;
}

/**
 * Prepares an admin update: every secret header the update sends as `***` takes the stored
 * value (sealed) instead. A `***` for a header that has no stored value is a `BAD_REQUEST`.
 * Header names match case-insensitively.
 *
 * @example
 * ```ts
 * import { httpTool } from 'agent-tool-gateway';
 * import { keepMaskedSecrets } from './secrets/tool-secrets.js';
 *
 * // PATCH body echoed the masked view back with a new description:
 * const next = httpTool(keepMaskedSecrets(patchedOptions, storedDefinition));
 * ```
 */
export function keepMaskedSecrets<Options extends { secretHeaders?: Readonly<Record<string, unknown>> }>(
  update: Options,
  stored: HttpToolDefinition | undefined,
): Options {
  if (update.secretHeaders === undefined) return update;
  const storedByName = new Map(Object.entries(stored?.secretHeaders ?? {}).map(([name, value]) => [name.toLowerCase(), value] as const));
  const merged: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(update.secretHeaders)) {
    if (value !== MASKED_SECRET) {
      merged[name] = value;
      continue;
    }
    const kept = storedByName.get(name.toLowerCase());
    if (kept === undefined) {
      throw new GatewayError({
        code: 'BAD_REQUEST',
        message: `secret header "${name}" is "***" but the tool has no stored value for it: send the real value`,
      });
    }
    merged[name] = kept;
  }
  return { ...update, secretHeaders: merged };
}
