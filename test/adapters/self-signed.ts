/**
 * A throwaway self-signed certificate for a loopback `node:https` server, made in memory
 * with `node:crypto` alone (a fresh P-256 key, a minimal X.509 v3 certificate, CN=localhost).
 * Only for tests: clients connect with `rejectUnauthorized: false`.
 */
import { generateKeyPairSync, sign } from 'node:crypto';

function length(size: number): Buffer {
  if (size < 0x80) return Buffer.from([size]);
  if (size < 0x100) return Buffer.from([0x81, size]);
  return Buffer.from([0x82, size >> 8, size & 0xff]);
}

function element(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

const sequence = (...content: Buffer[]) => element(0x30, ...content);
// ecdsa-with-SHA256 (1.2.840.10045.4.3.2), no parameters.
const ECDSA_WITH_SHA256 = sequence(Buffer.from('06082a8648ce3d040302', 'hex'));
// Name: CN (2.5.4.3) = localhost.
const LOCALHOST = sequence(element(0x31, sequence(Buffer.from('0603550403', 'hex'), element(0x0c, Buffer.from('localhost')))));

/** A PEM key and certificate pair for `https.createServer({ key, cert })`. */
export function selfSignedCertificate(): { key: string; cert: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const tbs = sequence(
    element(0xa0, element(0x02, Buffer.from([2]))), // version: v3
    element(0x02, Buffer.from([1])), // serial number
    ECDSA_WITH_SHA256,
    LOCALHOST, // issuer
    sequence(element(0x17, Buffer.from('200101000000Z')), element(0x17, Buffer.from('491231235959Z'))), // validity
    LOCALHOST, // subject
    publicKey.export({ type: 'spki', format: 'der' }),
  );
  const signature = sign('sha256', tbs, privateKey);
  const certificate = sequence(tbs, ECDSA_WITH_SHA256, element(0x03, Buffer.from([0]), signature));
  const lines = certificate.toString('base64').match(/.{1,64}/g) ?? [];
  return {
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    cert: `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`,
  };
}
