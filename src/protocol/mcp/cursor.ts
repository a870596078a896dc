/**
 * Opaque, tamper-proof `tools/list` cursors: a position in one listing, signed with HMAC-SHA256
 * over the position and the listing's fingerprint. A cursor that was altered, forged, or
 * issued for a listing that has changed since does not verify.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const formatVersion = 1;
const macLength = 16;
const encodedLength = Math.ceil(((1 + 4 + macLength) * 4) / 3);
const base64UrlText = /^[A-Za-z0-9_-]+$/;

/** Encodes and verifies cursors with one secret. */
export interface CursorCodec {
  /** The cursor for `offset` in the listing with `fingerprint`. */
  encode(offset: number, fingerprint: Uint8Array): string;
  /** The offset a cursor stands for, or `undefined` when it does not verify for this listing. */
  decode(cursor: string, fingerprint: Uint8Array): number | undefined;
}

/** Creates a cursor codec; the secret must hold at least 16 bytes. */
export function createCursorCodec(secret: Uint8Array): CursorCodec {
  if (!(secret instanceof Uint8Array) || secret.byteLength < 16) {
    throw new TypeError('cursorSecret must be a Uint8Array of at least 16 bytes');
  }
  const key = Buffer.from(secret);

  function mac(header: Uint8Array, fingerprint: Uint8Array): Buffer {
    return createHmac('sha256', key).update(header).update(fingerprint).digest().subarray(0, macLength);
  }

  return {
    encode(offset, fingerprint) {
      const header = Buffer.allocUnsafe(5);
      header.writeUInt8(formatVersion, 0);
      header.writeUInt32BE(offset, 1);
      return Buffer.concat([header, mac(header, fingerprint)]).toString('base64url');
    },
    decode(cursor, fingerprint) {
      if (cursor.length !== encodedLength || !base64UrlText.test(cursor)) return undefined;
      const bytes = Buffer.from(cursor, 'base64url');
      if (bytes.length !== 5 + macLength || bytes.toString('base64url') !== cursor) return undefined;
      if (bytes.readUInt8(0) !== formatVersion) return undefined;
      const header = bytes.subarray(0, 5);
      if (!timingSafeEqual(bytes.subarray(5), mac(header, fingerprint))) return undefined;
      return bytes.readUInt32BE(1);
    },
  };
}
