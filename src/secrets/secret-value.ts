import { inspect } from 'node:util';

/** What every secret shows instead of its value: in JSON, `String()`, `console.log` and admin views. */
export const MASKED_SECRET = '***';

// Plaintext lives here, not on the object: spreading, Object.entries, structuredClone or a
// debugger's property view of a SecretValue cannot reach it. One map for every copy of the
// package in the process (its CommonJS and its ESM build, say), so that a secret made by one
// is a secret to a gateway made by the other.
// The map is a fixed, hidden property: not listed by a debugger's view of globalThis, not
// replaced by code that runs later; one already there is taken only if it is a real WeakMap.
const registryKey = Symbol.for('agent-tool-gateway.secretPlaintext');
const plaintextOf: WeakMap<object, string> = sharedPlaintextMap();

function sharedPlaintextMap(): WeakMap<object, string> {
  const existing = (globalThis as Record<symbol, unknown>)[registryKey];
  if (Object.prototype.toString.call(existing) === '[object WeakMap]') return existing as WeakMap<object, string>;
  const map = new WeakMap<object, string>();
  Object.defineProperty(globalThis, registryKey, { value: map, enumerable: false, writable: false, configurable: false });
  return map;
}

/**
 * A header value marked as secret. It holds its plaintext out of sight: `JSON.stringify`,
 * `String()`, template literals and `util.inspect` all show `***`. Only the credential vault
 * and the HTTP executor read the value.
 */
export class SecretValue {
  /** `instanceof SecretValue` holds for a secret made by any copy of this package, and for nothing else. */
  static [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && plaintextOf.has(value);
  }

  /** What kind of value this is, for JSON-friendly checks; recognition goes through `instanceof`. */
  readonly kind = 'secret' as const;

  /** Use {@link secret} to create one. */
  constructor(value: string) {
    if (typeof value !== 'string' || value.length === 0) {
      throw new TypeError('secret(): the value must be a non-empty string');
    }
    plaintextOf.set(this, value);
    Object.freeze(this);
  }

  /** Always `***`. */
  toJSON(): string {
    return MASKED_SECRET;
  }

  /** Always `***`. */
  toString(): string {
    return MASKED_SECRET;
  }

  [Symbol.toPrimitive](): string {
    return MASKED_SECRET;
  }

  [inspect.custom](): string {
    return `Secret(${MASKED_SECRET})`;
  }
}

/**
 * Marks a header value as secret. Use it for credentials in `httpTool({ secretHeaders })`
 * (or directly in `headers`): the value is sent only to the tool's upstream, is removed from
 * every output and error excerpt, and shows as `***` wherever the definition is displayed.
 *
 * @example
 * ```ts
 * import { httpTool, secret } from 'agent-tool-gateway';
 *
 * const listOrders = httpTool({
 *   name: 'crm.orders',
 *   description: 'Orders of a customer',
 *   method: 'GET',
 *   url: 'https://crm.example.com/customers/{id}/orders',
 *   inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
 *   secretHeaders: { authorization: secret(`Bearer ${process.env.CRM_TOKEN}`) },
 * });
 * ```
 */
export function secret(value: string): SecretValue {
  return new SecretValue(value);
}

/**
 * True when `value` was made by {@link secret}.
 *
 * @example
 * ```ts
 * import { isSecretValue, secret } from 'agent-tool-gateway';
 *
 * isSecretValue(secret('Bearer abc')); // true
 * isSecretValue('Bearer abc'); // false
 * ```
 */
export function isSecretValue(value: unknown): value is SecretValue {
  return value instanceof SecretValue;
}

/**
 * The plaintext of a {@link SecretValue}. Internal to the secrets module and the HTTP
 * executor; never re-exported from the package root.
 */
export function revealSecret(value: SecretValue): string {
  const plaintext = plaintextOf.get(value);
  if (plaintext === undefined) throw new TypeError('not a secret value');
  return plaintext;
}

/**
 * A secret sealed by the credential vault, as it is stored (JSON-friendly). The string is the
 * vault's compact sealed form; it opens only with the right key, for the same tool and header.
 */
export interface SealedSecret {
  readonly sealed: string;
}

/**
 * True when `value` is a `{ sealed: string }` object, the stored form of a secret header.
 *
 * @example
 * ```ts
 * import { isSealedSecret } from './secrets/secret-value.js';
 *
 * isSealedSecret({ sealed: 'atg.v1.default.…' }); // true
 * ```
 */
export function isSealedSecret(value: unknown): value is SealedSecret {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as { sealed?: unknown }).sealed === 'string' &&
    Object.keys(value).length === 1
  );
}

/**
 * True when `value` is the mask `***` that admin views show for a secret. An update that
 * sends the mask back means "keep the stored value".
 *
 * @example
 * ```ts
 * import { isMaskedSecret } from './secrets/secret-value.js';
 *
 * isMaskedSecret('***'); // true
 * isMaskedSecret('Bearer abc'); // false
 * ```
 */
export function isMaskedSecret(value: unknown): value is typeof MASKED_SECRET {
  return value === MASKED_SECRET;
}
