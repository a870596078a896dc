import { randomBytes } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { GatewayError } from '../errors.js';
import { canonicalJson } from '../util/canonical-json.js';
import { KEY_GENERATION_COMMAND, type Keyring, type LoadedKeyring, loadKeyring } from './keyring.js';

/**
 * What a sealed value is bound to (the associated data). A value sealed for one context
 * opens only for the same context: `{ toolId, header }` for secret headers (see
 * {@link secretHeaderContext}); other users of the vault pick their own fields.
 */
export type SealingContext = Readonly<Record<string, string>>;

/** Options of {@link createVault}. */
export interface VaultOptions {
  /** One base64 key of 32 bytes (key id `default`), or a {@link Keyring}. */
  encryptionKey?: string | Keyring;
  /**
   * Without `encryptionKey`: make an ephemeral key for this process only (secrets sealed
   * with it cannot be opened after a restart). Warns once. For local development only.
   */
  dev?: boolean;
  /** Where the dev-mode warning goes. Default: `console.warn`. */
  warn?: (message: string) => void;
}

/** The result of {@link Vault.reseal}. */
export interface ResealResult {
  sealed: string;
  /** False when the value was already sealed with the active key (returned unchanged). */
  changed: boolean;
}

/** Seals and opens credentials with XChaCha20-Poly1305. Create one with {@link createVault}. */
export interface Vault {
  /** True when a key is available (configured, or ephemeral in dev mode). */
  readonly hasKey: boolean;
  /** Id of the key that seals now, or undefined without a key. */
  readonly activeKeyId: string | undefined;
  /** Encrypts `plaintext` with the active key, bound to `context`. */
  seal(plaintext: string, context: SealingContext): string;
  /** Decrypts a sealed value; throws `SECRET_UNAVAILABLE` for a wrong key, wrong context or corrupted value. */
  open(sealed: string, context: SealingContext): string;
  /** Re-seals under the active key; values already under it are returned unchanged. */
  reseal(sealed: string, context: SealingContext): ResealResult;
  /** The key id a sealed value names, or undefined when it is not a sealed value of a known format. */
  keyIdOf(sealed: string): string | undefined;
  /**
   * Replaces the keys (rotation). Keep the old key in the keyring until every stored secret
   * has been re-sealed. Calls in flight are not disturbed.
   */
  setEncryptionKey(encryptionKey: string | Keyring): void;
}

const FORMAT = 'atg.v1';
const NONCE_BYTES = 24;
// Poly1305 tag length: the smallest ciphertext (empty plaintext) is 16 bytes.
const TAG_BYTES = 16;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The context that binds a secret header value to its tool and header (name case-folded).
 *
 * @example
 * ```ts
 * import { secretHeaderContext } from './secrets/vault.js';
 *
 * const sealed = vault.seal('Bearer abc', secretHeaderContext('crm.orders', 'Authorization'));
 * vault.open(sealed, secretHeaderContext('crm.orders', 'authorization')); // 'Bearer abc'
 * ```
 */
export function secretHeaderContext(toolId: string, header: string): SealingContext {
  return { toolId, header: header.toLowerCase() };
}

function describe(context: SealingContext): string {
  const { toolId, header, ...rest } = context;
  if (toolId !== undefined && header !== undefined && Object.keys(rest).length === 0) {
    return `secret header "${header}" of tool "${toolId}"`;
  }
  const parts = Object.keys(context)
    .sort()
    .map((key) => `${key} "${context[key]}"`);
  return `sealed value (${parts.join(', ')})`;
}

function associatedData(context: SealingContext): Uint8Array {
  return new TextEncoder().encode(canonicalJson([FORMAT, context]));
}

/** Whether `error` says a sealed value could not be opened (wrong or missing key, other context, damaged). */
export function isSecretUnavailable(error: unknown): error is GatewayError {
  return error instanceof GatewayError && error.code === 'SECRET_UNAVAILABLE';
}

function unavailable(context: SealingContext, reason: string, cause?: unknown): GatewayError {
  return new GatewayError({ code: 'SECRET_UNAVAILABLE', message: `${describe(context)} ${reason}`, cause });
}

interface ParsedSealed {
  keyId: string;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

function parseSealed(sealed: string): ParsedSealed | undefined {
  if (typeof sealed !== 'string') return undefined;
  const parts = sealed.split('.');
  if (parts.length !== 5 || `${parts[0]}.${parts[1]}` !== FORMAT) return undefined;
  const [, , keyId, nonceText, ciphertextText] = parts as [string, string, string, string, string];
  if (keyId.length === 0 || !BASE64URL.test(nonceText) || !BASE64URL.test(ciphertextText)) return undefined;
  const nonce = Buffer.from(nonceText, 'base64url');
  const ciphertext = Buffer.from(ciphertextText, 'base64url');
  if (nonce.length !== NONCE_BYTES || ciphertext.length < TAG_BYTES) return undefined;
  return { keyId, nonce: new Uint8Array(nonce), ciphertext: new Uint8Array(ciphertext) };
}

/**
 * Creates the credential vault. Secrets are sealed with XChaCha20-Poly1305 under a random
 * 24-byte nonce; the sealed form `atg.v1.<keyId>.<nonce>.<ciphertext>` names its key, and the
 * associated data binds it to its context (tool and header), so a value copied to another
 * tool or header does not open. There is no built-in key and never a plaintext fallback.
 *
 * @example
 * ```ts
 * import { createVault } from 'agent-tool-gateway';
 * import { secretHeaderContext } from './secrets/vault.js';
 *
 * const vault = createVault({ encryptionKey: process.env.ATG_ENCRYPTION_KEY });
 * const context = secretHeaderContext('crm.orders', 'authorization');
 * const sealed = vault.seal('Bearer abc', context);
 * vault.open(sealed, context); // 'Bearer abc'
 *
 * // Rotation: a new active key, the old one kept until everything is re-sealed.
 * vault.setEncryptionKey({ active: 'k2', keys: { default: process.env.ATG_ENCRYPTION_KEY!, k2: process.env.ATG_KEY_2! } });
 * vault.reseal(sealed, context); // { sealed: 'atg.v1.k2.…', changed: true }
 * ```
 */
export function createVault(options: VaultOptions = {}): Vault {
  let keyring: LoadedKeyring | undefined;
  if (options.encryptionKey !== undefined) {
    keyring = loadKeyring(options.encryptionKey);
  } else if (options.dev === true) {
    keyring = { activeKeyId: 'dev-ephemeral', keys: new Map([['dev-ephemeral', new Uint8Array(randomBytes(32))]]) };
    const warn = options.warn ?? ((message: string) => console.warn(message));
    warn(
      'agent-tool-gateway: WARNING: dev mode credential vault uses an EPHEMERAL encryption key. ' +
        'Secrets sealed now cannot be opened after this process exits. ' +
        `Never use dev mode in production; set encryptionKey (create one with: ${KEY_GENERATION_COMMAND}).`,
    );
  }

  function requireKeyring(context: SealingContext, action: string): LoadedKeyring {
    if (keyring === undefined) {
      throw new GatewayError({
        code: 'SECRET_UNAVAILABLE',
        message:
          `cannot ${action} ${describe(context)}: no encryptionKey is configured. ` +
          `Create a key with: ${KEY_GENERATION_COMMAND} (or: npx atg keys generate) and pass it as encryptionKey.`,
      });
    }
    return keyring;
  }

  function seal(plaintext: string, context: SealingContext): string {
    const current = requireKeyring(context, 'seal');
    const key = current.keys.get(current.activeKeyId) as Uint8Array;
    const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
    const ciphertext = xchacha20poly1305(key, nonce, associatedData(context)).encrypt(new TextEncoder().encode(plaintext));
    return `${FORMAT}.${current.activeKeyId}.${Buffer.from(nonce).toString('base64url')}.${Buffer.from(ciphertext).toString('base64url')}`;
  }

  function openParsed(parsed: ParsedSealed | undefined, context: SealingContext): string {
    const current = requireKeyring(context, 'open');
    if (parsed === undefined) throw unavailable(context, 'is not a sealed value of a known format');
    const key = current.keys.get(parsed.keyId);
    if (key === undefined) {
      throw unavailable(context, `was sealed with key "${parsed.keyId}", which is not in the keyring`);
    }
    let plaintext: Uint8Array;
    try {
      plaintext = xchacha20poly1305(key, parsed.nonce, associatedData(context)).decrypt(parsed.ciphertext);
    } catch (error) {
      throw unavailable(
        context,
        `could not be opened with key "${parsed.keyId}": the key is wrong, the value was sealed for another tool or header, or it is corrupted`,
        error,
      );
    }
    return new TextDecoder().decode(plaintext);
  }

  return {
    get hasKey() {
      return keyring !== undefined;
    },
    get activeKeyId() {
      return keyring?.activeKeyId;
    },
    seal,
    open(sealed, context) {
      return openParsed(parseSealed(sealed), context);
    },
    reseal(sealed, context) {
      const parsed = parseSealed(sealed);
      const plaintext = openParsed(parsed, context);
      if (parsed?.keyId === keyring?.activeKeyId) return { sealed, changed: false };
      return { sealed: seal(plaintext, context), changed: true };
    },
    keyIdOf(sealed) {
      return parseSealed(sealed)?.keyId;
    },
    setEncryptionKey(encryptionKey) {
      keyring = loadKeyring(encryptionKey);
    },
  };
}
