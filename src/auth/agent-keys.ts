import { createHash, randomBytes } from 'node:crypto';
import { sha256Hex } from '../util/canonical-json.js';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ID_LENGTH = 16;
const SECRET_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
/** How every agent key starts. */
export const KEY_PREFIX = 'atg_';
const KEY_PATTERN = new RegExp(`^${KEY_PREFIX}[0-9A-Za-z]{${ID_LENGTH}}_[0-9A-Za-z]{${SECRET_LENGTH + CHECKSUM_LENGTH}}$`);

/** A random base62 string (rejection sampling, so every character is uniform). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** A new agent id: 16 base62 characters. */
export function newAgentId(): string {
  return randomBase62(ID_LENGTH);
}

function checksum(body: string): string {
  const digest = createHash('sha256').update(body).digest();
  let out = '';
  for (let index = 0; index < CHECKSUM_LENGTH; index++) out += BASE62[(digest[index] as number) % 62];
  return out;
}

/**
 * A new key for an agent: `atg_<agentId>_<secret><checksum>`. The checksum lets secret
 * scanners and {@link parseAgentKey} tell a real key from a look-alike or a mistyped one
 * without asking the store.
 */
export function newAgentKey(agentId: string): string {
  const body = `${KEY_PREFIX}${agentId}_${randomBase62(SECRET_LENGTH)}`;
  return body + checksum(body);
}

/** The agent id inside a well-formed key with a valid checksum; undefined otherwise. */
export function parseAgentKey(key: string): string | undefined {
  const agentId = agentIdOfKey(key);
  if (agentId === undefined) return undefined;
  const split = key.length - CHECKSUM_LENGTH;
  return checksum(key.slice(0, split)) === key.slice(split) ? agentId : undefined;
}

/**
 * The agent id inside a key of the right shape, its checksum not checked: what
 * authentication looks the agent up by, before the stored hash decides. The checksum needs
 * no secret to compute, so checking it there would keep typing mistakes away from the
 * store, not an attacker, at the price of one more SHA-256 on every valid call.
 */
export function agentIdOfKey(key: string): string | undefined {
  return KEY_PATTERN.test(key) ? key.slice(KEY_PREFIX.length, KEY_PREFIX.length + ID_LENGTH) : undefined;
}

/** SHA-256 (hex) of a key: the only form in which keys are stored. */
export function hashAgentKey(key: string): string {
  return sha256Hex(key);
}

/**
 * Constant-time comparison of two hex SHA-256 digests as written by {@link hashAgentKey}
 * (lower case): every character is compared, whatever differs first.
 */
export function digestsEqual(a: string, b: string): boolean {
  if (a.length !== 64 || b.length !== 64) return false;
  let difference = 0;
  for (let index = 0; index < 64; index++) difference |= a.charCodeAt(index) ^ b.charCodeAt(index);
  return difference === 0;
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | null): string | undefined {
  if (header === null) return undefined;
  const match = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(header);
  return match?.[1];
}
