import { KeyObject, createPublicKey } from 'node:crypto';
import { CompactSign, type CryptoKey, type JWK, calculateJwkThumbprint, compactVerify, exportJWK, generateKeyPair, importJWK } from 'jose';
import { canonicalJson } from '../util/canonical-json.js';
import type { AuditCheckpoint } from '../store/types.js';

/**
 * An Ed25519 private key that signs audit checkpoints and webhook batches: a Web Crypto
 * `CryptoKey`, a Node.js `KeyObject`, or a private JWK (`{ kty: 'OKP', crv: 'Ed25519', d, x }`).
 */
export type AuditSigningKey = CryptoKey | KeyObject | JWK;

/**
 * An Ed25519 public key that verifies checkpoints and webhook batches: a `CryptoKey`, a
 * `KeyObject` or a public JWK. A private key works too (its public half is used).
 */
export type AuditVerificationKey = CryptoKey | KeyObject | JWK;

/** What {@link generateAuditSigningKey} returns. */
export interface GeneratedAuditSigningKey {
  /** The private key, ready for `createAuditLog({ checkpoints: { signingKey } })` and `webhookSink`. */
  privateKey: CryptoKey;
  /** The same private key as a JWK, to store in a secret manager. Never publish it. */
  privateJwk: JWK;
  /** The public key as a JWK (with `kid`), to hand to verifiers. */
  publicJwk: JWK;
  /** RFC 7638 thumbprint of the public key; the default `kid` of signatures. */
  keyId: string;
}

const signingAlgorithm = 'EdDSA';
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/**
 * Generates an Ed25519 key pair for signed audit checkpoints and signed webhook batches.
 * Keep `privateJwk` secret (a secret manager, not the repository); give `publicJwk` to
 * whoever verifies the trail.
 *
 * @example
 * ```ts
 * import { generateAuditSigningKey } from 'agent-tool-gateway';
 *
 * const { privateJwk, publicJwk } = await generateAuditSigningKey();
 * ```
 */
export async function generateAuditSigningKey(): Promise<GeneratedAuditSigningKey> {
  const pair = await generateKeyPair(signingAlgorithm, { crv: 'Ed25519', extractable: true });
  const publicJwk = await exportJWK(pair.publicKey);
  const privateJwk = await exportJWK(pair.privateKey);
  const keyId = await calculateJwkThumbprint(publicJwk);
  return {
    privateKey: pair.privateKey,
    privateJwk: { ...privateJwk, kid: keyId, alg: signingAlgorithm },
    publicJwk: { ...publicJwk, kid: keyId, alg: signingAlgorithm },
    keyId,
  };
}

function isJwk(key: unknown): key is JWK {
  return typeof key === 'object' && key !== null && typeof (key as { kty?: unknown }).kty === 'string';
}

/**
 * The public JWK of a signing (or verification) key, for verifiers. Private material never
 * leaves: only `kty`, `crv`, `x` (and `kid` when the input JWK had one) are returned.
 *
 * @example
 * ```ts
 * import { getAuditPublicJwk } from 'agent-tool-gateway';
 *
 * const publicJwk = await getAuditPublicJwk(JSON.parse(process.env.AUDIT_SIGNING_JWK!));
 * ```
 */
export async function getAuditPublicJwk(key: AuditSigningKey | AuditVerificationKey): Promise<JWK> {
  let jwk: JWK;
  if (isJwk(key)) {
    jwk = key;
  } else if (key instanceof KeyObject) {
    jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' }) as JWK;
  } else {
    const keyObject = KeyObject.from(key as globalThis.CryptoKey);
    jwk = (keyObject.type === 'private' ? createPublicKey(keyObject) : keyObject).export({ format: 'jwk' }) as JWK;
  }
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') {
    throw new TypeError('Audit keys must be Ed25519 (OKP) keys');
  }
  const publicJwk: JWK = { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
  if (typeof jwk.kid === 'string') publicJwk.kid = jwk.kid;
  return publicJwk;
}

/** A signing key made ready once: imported, with its key id decided. */
export interface PreparedSigningKey {
  key: CryptoKey | KeyObject;
  keyId: string;
}

/**
 * Imports a signing key once. The key id is the one given, else the JWK's `kid`, else the
 * RFC 7638 thumbprint of the public key.
 */
export async function prepareSigningKey(key: AuditSigningKey, keyId?: string): Promise<PreparedSigningKey> {
  const imported = isJwk(key) ? ((await importJWK(key, signingAlgorithm)) as CryptoKey | KeyObject) : key;
  if (keyId !== undefined) return { key: imported, keyId };
  if (isJwk(key) && typeof key.kid === 'string') return { key: imported, keyId: key.kid };
  return { key: imported, keyId: await calculateJwkThumbprint(await getAuditPublicJwk(key)) };
}

/** A verification key made ready once. */
export interface PreparedVerificationKey {
  key: CryptoKey | KeyObject;
  /** The key id the key is known by, when any (a JWK's `kid`). */
  keyId: string | undefined;
}

/** Imports one or several verification keys once. Private keys are reduced to their public half. */
export async function prepareVerificationKeys(
  keys: AuditVerificationKey | readonly AuditVerificationKey[],
): Promise<PreparedVerificationKey[]> {
  const list = Array.isArray(keys) ? keys : [keys as AuditVerificationKey];
  return Promise.all(
    list.map(async (key) => {
      const publicJwk = await getAuditPublicJwk(key);
      const imported = (await importJWK(publicJwk, signingAlgorithm)) as CryptoKey | KeyObject;
      return { key: imported, keyId: publicJwk.kid };
    }),
  );
}

/** Signs `payload` (a JSON string) as a compact JWS with EdDSA and the key id in the header. */
export function signCompact(payload: string, signingKey: PreparedSigningKey, type?: string): Promise<string> {
  const header: { alg: string; kid: string; typ?: string } = { alg: signingAlgorithm, kid: signingKey.keyId };
  if (type !== undefined) header.typ = type;
  return new CompactSign(textEncoder.encode(payload)).setProtectedHeader(header).sign(signingKey.key);
}

/**
 * Verifies a compact JWS against the given keys and returns its payload as text, or
 * undefined when no key verifies it. Keys whose id equals the signature's `kid` are tried
 * first, then the others: key ids are hints (a verifier may name a key differently from
 * the signer), and a wrong key simply fails to verify.
 */
export async function verifyCompact(jws: string, keys: readonly PreparedVerificationKey[], keyId?: string): Promise<string | undefined> {
  const candidates =
    keyId === undefined ? keys : [...keys.filter((key) => key.keyId === keyId), ...keys.filter((key) => key.keyId !== keyId)];
  for (const candidate of candidates) {
    try {
      const result = await compactVerify(jws, candidate.key, { algorithms: [signingAlgorithm] });
      return textDecoder.decode(result.payload);
    } catch {
      // Try the next key: a wrong key and a forged signature look the same here.
    }
  }
  return undefined;
}

/** The statement a checkpoint signs: the canonical JSON of `{ seq, hash, at }`. */
export function checkpointPayload(head: { seq: number; hash: string; at: string }): string {
  return canonicalJson({ seq: head.seq, hash: head.hash, at: head.at });
}

/** Signs the chain head into an {@link AuditCheckpoint}. */
export async function signCheckpoint(
  head: { seq: number; hash: string; at: string },
  signingKey: PreparedSigningKey,
): Promise<AuditCheckpoint> {
  const signature = await signCompact(checkpointPayload(head), signingKey);
  return { seq: head.seq, hash: head.hash, at: head.at, signature, keyId: signingKey.keyId };
}

/**
 * True when one of `keys` signed exactly this checkpoint's `{ seq, hash, at }`. A valid
 * signature over another statement (a copied signature) does not count.
 */
export async function checkpointSignatureValid(checkpoint: AuditCheckpoint, keys: readonly PreparedVerificationKey[]): Promise<boolean> {
  if (typeof checkpoint.signature !== 'string') return false;
  const payload = await verifyCompact(checkpoint.signature, keys, checkpoint.keyId);
  if (payload === undefined) return false;
  try {
    return payload === checkpointPayload(checkpoint);
  } catch {
    return false;
  }
}
