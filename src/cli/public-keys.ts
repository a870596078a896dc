import { readFile } from 'node:fs/promises';
import type { JWK } from 'jose';
import { prepareVerificationKeys } from '../audit/keys.js';
import { CommandError, describeError } from './io.js';

/**
 * Reads checkpoint public keys from a file: one JWK, an array of JWKs, or a JWK Set
 * (`{ "keys": [...] }`). Private members are refused: a verifier needs only the public half.
 * Each key is imported here, so a key that is not an Ed25519 public key is refused before
 * any store is opened or any file written, in words that name the key file.
 */
export async function readPublicKeys(path: string): Promise<JWK[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new CommandError(`cannot read the public key file ${path}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CommandError(`the public key file ${path} is not JSON`);
  }
  const keys = Array.isArray(parsed)
    ? parsed
    : typeof parsed === 'object' && parsed !== null && Array.isArray((parsed as { keys?: unknown }).keys)
      ? (parsed as { keys: unknown[] }).keys
      : [parsed];
  if (keys.length === 0) throw new CommandError(`the public key file ${path} holds no key`);
  for (const key of keys) {
    if (typeof key !== 'object' || key === null || typeof (key as JWK).kty !== 'string') {
      throw new CommandError(`the public key file ${path} must hold a JWK, an array of JWKs or a JWK Set`);
    }
    if ((key as JWK).d !== undefined) {
      throw new CommandError(`the public key file ${path} holds a private key; give the public key only`);
    }
  }
  try {
    await prepareVerificationKeys(keys as JWK[]);
  } catch (error) {
    throw new CommandError(`the public key file ${path} does not hold a usable Ed25519 public key: ${describeError(error)}`);
  }
  return keys as JWK[];
}
