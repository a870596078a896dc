import { describe, expect, it } from 'vitest';
import {
  agentIdOfKey,
  bearerToken,
  digestsEqual,
  hashAgentKey,
  newAgentId,
  newAgentKey,
  parseAgentKey,
} from '../../src/auth/agent-keys.js';

describe('agent keys', () => {
  it('carry the agent id and a checksum that catches any single-character change', () => {
    const id = newAgentId();
    const key = newAgentKey(id);
    expect(parseAgentKey(key)).toBe(id);
    const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    let caught = 0;
    const start = `atg_${id}_`.length;
    for (let index = start; index < key.length; index++) {
      const replacement = alphabet[(alphabet.indexOf(key[index] as string) + 1) % 62] as string;
      const mutated = key.slice(0, index) + replacement + key.slice(index + 1);
      if (parseAgentKey(mutated) === undefined) caught++;
    }
    // A 6-character base62 checksum misses a random change with probability ~1/62^6.
    expect(caught).toBe(key.length - start);
  });

  it('refuses malformed keys', () => {
    for (const key of ['', 'atg_', 'atg_x_y', `atg_${'a'.repeat(16)}_${'b'.repeat(10)}`, `xyz_${'a'.repeat(16)}_${'b'.repeat(38)}`]) {
      expect(parseAgentKey(key)).toBeUndefined();
    }
  });

  it('give authentication their agent id by shape alone, a wrong checksum included', () => {
    const id = newAgentId();
    const key = newAgentKey(id);
    expect(agentIdOfKey(key)).toBe(id);
    const mistyped = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    expect(parseAgentKey(mistyped)).toBeUndefined();
    expect(agentIdOfKey(mistyped)).toBe(id);
    for (const malformed of [
      '',
      'atg_',
      'atg_x_y',
      `atg_${'a'.repeat(16)}_${'b'.repeat(37)}`,
      `atg_${'a'.repeat(16)}-${'b'.repeat(38)}`,
      ` ${key}`,
    ]) {
      expect(agentIdOfKey(malformed)).toBeUndefined();
    }
  });

  it('are stored as SHA-256 and compared in constant time', () => {
    const key = newAgentKey(newAgentId());
    const hash = hashAgentKey(key);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(digestsEqual(hash, hashAgentKey(key))).toBe(true);
    expect(digestsEqual(hash, hashAgentKey(`${key}x`))).toBe(false);
    expect(digestsEqual(hash, 'short')).toBe(false);
    // Every position counts, the first and the last alike.
    const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === '0' ? '1' : '0') + text.slice(at + 1);
    expect(digestsEqual(hash, flip(hash, 0))).toBe(false);
    expect(digestsEqual(hash, flip(hash, 63))).toBe(false);
    expect(digestsEqual(flip(hash, 31), hash)).toBe(false);
  });

  it('are read only from a Bearer authorization header', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer abc')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(null)).toBeUndefined();
  });
});
