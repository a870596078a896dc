import { randomBytes } from 'node:crypto';

/**
 * Encryption keys of the credential vault. `active` names the key new secrets are sealed
 * with; every key in `keys` can still open what it sealed, so adding a new active key and
 * keeping the old one is a rotation without downtime.
 */
export interface Keyring {
  /** Id of the key that seals. Must be a key of `keys`. */
  active: string;
  /**
   * Key id → base64 (or base64url) of exactly 32 random bytes; whitespace around it is ignored.
   * Ids: 1-64 of `A-Z a-z 0-9 _ -`, not 43 of them (a key's form).
   */
  keys: Record<string, string>;
}

/** A validated keyring: decoded key bytes by id. */
export interface LoadedKeyring {
  readonly activeKeyId: string;
  readonly keys: ReadonlyMap<string, Uint8Array>;
}

/** The id a plain-string `encryptionKey` gets. */
export const DEFAULT_KEY_ID = 'default';

/** The documented one-liner that prints a fresh key. */
export const KEY_GENERATION_COMMAND = `node -e "console.log(require('crypto').randomBytes(32).toString('base64'))"`;

const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;
// Standard or URL-safe alphabet, optional padding: 32 bytes are 43 characters plus one '='.
const BASE64_32_BYTES = /^[A-Za-z0-9+/_-]{43}=?$/;
const BASE64_TEXT = /^[A-Za-z0-9+/_-]+={0,2}$/;
const HEX_32_BYTES = /^[0-9A-Fa-f]{64}$/;
const KEYRING_MEMBERS = new Set(['active', 'keys']);

/**
 * A fresh random encryption key: base64 of 32 bytes, ready for `encryptionKey`.
 *
 * @example
 * ```ts
 * import { generateEncryptionKey } from 'agent-tool-gateway';
 *
 * console.log(generateEncryptionKey()); // store it in your secret manager, e.g. ATG_ENCRYPTION_KEY
 * ```
 */
export function generateEncryptionKey(): string {
  return randomBytes(32).toString('base64');
}

/** The bytes of base64 text in either alphabet (standard or URL-safe). */
function base64Bytes(text: string): Buffer {
  return Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/** What is wrong with a key that is not base64 of 32 bytes, without any of its characters. */
function keyProblem(text: string): string {
  if (text.length === 0) return 'it is empty';
  if (HEX_32_BYTES.test(text)) return 'it is 64 hex digits: give the same 32 bytes in base64';
  if (BASE64_TEXT.test(text)) {
    const length = base64Bytes(text).length;
    return length === 32 ? 'its "=" padding is wrong' : `it decodes to ${length} bytes`;
  }
  if (/\s/.test(text)) return 'it has whitespace inside';
  return `it has ${text.length} characters, not all of them base64`;
}

function decodeKey(keyId: string, encoded: unknown): Uint8Array {
  // A key read from a file or a secret manager often ends in a line break: it is not part of the key.
  const text = typeof encoded === 'string' ? encoded.trim() : undefined;
  if (text === undefined || !BASE64_32_BYTES.test(text)) {
    const problem = text === undefined ? `it is ${encoded === null ? 'null' : typeof encoded}, not a string` : keyProblem(text);
    throw new TypeError(
      `encryption key "${keyId}" must be base64 of exactly 32 bytes (${problem}); create one with: ${KEY_GENERATION_COMMAND}`,
    );
  }
  return new Uint8Array(base64Bytes(text));
}

/**
 * Validates an `encryptionKey` option (one base64 key, or a {@link Keyring}) and decodes it.
 * Throws a TypeError naming the faulty key id where it is a valid id; the key material never
 * appears in a message (an id with a key's form is refused without being printed).
 */
export function loadKeyring(encryptionKey: string | Keyring): LoadedKeyring {
  if (typeof encryptionKey === 'string') {
    return { activeKeyId: DEFAULT_KEY_ID, keys: new Map([[DEFAULT_KEY_ID, decodeKey(DEFAULT_KEY_ID, encryptionKey)]]) };
  }
  if (typeof encryptionKey !== 'object' || encryptionKey === null || Array.isArray(encryptionKey) || ArrayBuffer.isView(encryptionKey)) {
    throw new TypeError('encryptionKey must be a base64 string or a keyring { active, keys }');
  }
  const unknown = Object.keys(encryptionKey).filter((member) => !KEYRING_MEMBERS.has(member));
  if (unknown.length > 0) {
    // Named only where a name cannot be a key put in the wrong place.
    const named = unknown.filter((member) => KEY_ID.test(member) && !BASE64_32_BYTES.test(member)).map((member) => `"${member}"`);
    throw new TypeError(
      `a keyring has only "active" and "keys"${named.length > 0 ? `, not ${named.join(', ')}` : ''}: { active: "<key id>", keys: { "<key id>": "<base64 key>" } }`,
    );
  }
  const { active, keys } = encryptionKey;
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) {
    throw new TypeError('keyring.keys must be an object of key id → base64 key');
  }
  const decoded = new Map<string, Uint8Array>();
  for (const [keyId, encoded] of Object.entries(keys)) {
    // Neither a faulty id nor `active` is echoed: a key put in its place would be printed.
    // Ids are named in other messages, so one with a key's form is refused unprinted.
    if (!KEY_ID.test(keyId)) {
      throw new TypeError(`a keyring key id (${keyId.length} characters) is invalid: use 1-64 of A-Z a-z 0-9 _ -`);
    }
    if (BASE64_32_BYTES.test(keyId)) {
      throw new TypeError(
        'a keyring key id has the form of an encryption key (43 base64 characters): ids name keys; put the key as its value',
      );
    }
    decoded.set(keyId, decodeKey(keyId, encoded));
  }
  if (typeof active !== 'string' || !decoded.has(active)) {
    throw new TypeError(`keyring.active must name one of the keys in keyring.keys (${[...decoded.keys()].join(', ') || 'none'})`);
  }
  return { activeKeyId: active, keys: decoded };
}
