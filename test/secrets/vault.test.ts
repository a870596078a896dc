import { describe, expect, it, vi } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { createGateway } from '../../src/index.js';
import { generateEncryptionKey, KEY_GENERATION_COMMAND } from '../../src/secrets/keyring.js';
import { createVault, secretHeaderContext } from '../../src/secrets/vault.js';

const keyA = generateEncryptionKey();
const keyB = generateEncryptionKey();
const context = secretHeaderContext('crm.orders', 'Authorization');
const plaintext = 'Bearer s3cr3t-token-value';

function errorOf(action: () => unknown): GatewayError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    return error as GatewayError;
  }
  throw new Error('expected a GatewayError');
}

describe('vault: sealing and opening', () => {
  it('round-trips a value in a compact versioned form that names its key', () => {
    const vault = createVault({ encryptionKey: keyA });
    const sealed = vault.seal(plaintext, context);
    expect(sealed).toMatch(/^atg\.v1\.default\.[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('s3cr3t');
    expect(vault.open(sealed, context)).toBe(plaintext);
    expect(vault.keyIdOf(sealed)).toBe('default');
  });

  it('uses a fresh nonce every time', () => {
    const vault = createVault({ encryptionKey: keyA });
    expect(vault.seal(plaintext, context)).not.toBe(vault.seal(plaintext, context));
  });

  it('binds to the header name case-insensitively', () => {
    const vault = createVault({ encryptionKey: keyA });
    const sealed = vault.seal(plaintext, secretHeaderContext('crm.orders', 'AUTHORIZATION'));
    expect(vault.open(sealed, secretHeaderContext('crm.orders', 'authorization'))).toBe(plaintext);
  });

  it('refuses a wrong key with SECRET_UNAVAILABLE naming tool and header, never the value', () => {
    const sealed = createVault({ encryptionKey: keyA }).seal(plaintext, context);
    const error = errorOf(() => createVault({ encryptionKey: keyB }).open(sealed, context));
    expect(error.code).toBe('SECRET_UNAVAILABLE');
    expect(error.status).toBe(502);
    expect(error.message).toContain('"authorization"');
    expect(error.message).toContain('"crm.orders"');
    expect(error.message).not.toContain('s3cr3t');
    expect(JSON.stringify(error.toJSON())).not.toContain('s3cr3t');
  });

  it('refuses ciphertext moved to another tool or another header', () => {
    const vault = createVault({ encryptionKey: keyA });
    const sealed = vault.seal(plaintext, context);
    expect(errorOf(() => vault.open(sealed, secretHeaderContext('billing', 'authorization'))).code).toBe('SECRET_UNAVAILABLE');
    expect(errorOf(() => vault.open(sealed, secretHeaderContext('crm.orders', 'x-api-key'))).code).toBe('SECRET_UNAVAILABLE');
  });

  it('refuses corrupted, truncated, swapped or unknown-format ciphertext', () => {
    const vault = createVault({ encryptionKey: keyA });
    const sealed = vault.seal(plaintext, context);
    const parts = sealed.split('.');
    const ciphertext = parts[4] as string;
    const flipped = `${ciphertext.slice(0, 5)}${ciphertext[5] === 'A' ? 'B' : 'A'}${ciphertext.slice(6)}`;
    const other = vault.seal('Bearer another', context).split('.');
    const candidates = [
      [...parts.slice(0, 4), flipped].join('.'),
      [...parts.slice(0, 4), ciphertext.slice(0, -4)].join('.'),
      [...parts.slice(0, 3), other[3], parts[4]].join('.'), // nonce of another value
      sealed.replace('atg.v1.', 'atg.v9.'),
      'Bearer plaintext-is-never-accepted',
      '',
    ];
    for (const candidate of candidates) {
      const error = errorOf(() => vault.open(candidate, context));
      expect(error.code).toBe('SECRET_UNAVAILABLE');
      expect(error.message).not.toContain('s3cr3t');
    }
  });

  it('names a key id that is not in the keyring', () => {
    const sealed = createVault({ encryptionKey: { active: 'old', keys: { old: keyA } } }).seal(plaintext, context);
    const error = errorOf(() => createVault({ encryptionKey: keyA }).open(sealed, context));
    expect(error.message).toContain('key "old"');
  });
});

describe('vault: keys', () => {
  it('has no built-in key: sealing without one explains how to create a key', () => {
    const vault = createVault();
    expect(vault.hasKey).toBe(false);
    const error = errorOf(() => vault.seal(plaintext, context));
    expect(error.code).toBe('SECRET_UNAVAILABLE');
    expect(error.message).toContain(KEY_GENERATION_COMMAND);
    expect(KEY_GENERATION_COMMAND).toBe(`node -e "console.log(require('crypto').randomBytes(32).toString('base64'))"`);
    expect(errorOf(() => vault.open('atg.v1.default.x.y', context)).code).toBe('SECRET_UNAVAILABLE');
  });

  it('dev mode makes an ephemeral key and warns exactly once', () => {
    const warn = vi.fn();
    const vault = createVault({ dev: true, warn });
    const sealed = vault.seal(plaintext, context);
    vault.seal(plaintext, context);
    expect(vault.open(sealed, context)).toBe(plaintext);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/EPHEMERAL/);
    // Another process (here: another vault) has another key.
    expect(errorOf(() => createVault({ dev: true, warn: () => {} }).open(sealed, context)).code).toBe('SECRET_UNAVAILABLE');
  });

  it('a configured key wins over dev mode and does not warn', () => {
    const warn = vi.fn();
    createVault({ encryptionKey: keyA, dev: true, warn });
    expect(warn).not.toHaveBeenCalled();
  });

  it('validates keys: base64 of exactly 32 bytes, naming the key id but never the key', () => {
    const short = Buffer.alloc(16, 1).toString('base64');
    const long = Buffer.alloc(33, 1).toString('base64');
    expect(() => createVault({ encryptionKey: short })).toThrow(/"default"/);
    expect(() => createVault({ encryptionKey: long })).toThrow(TypeError);
    expect(() => createVault({ encryptionKey: 'not base64 at all!' })).toThrow(TypeError);
    expect(() => createVault({ encryptionKey: { active: 'k1', keys: { k1: keyA, k2: short } } })).toThrow(/"k2"/);
    try {
      createVault({ encryptionKey: { active: 'k1', keys: { k1: short } } });
    } catch (error) {
      expect((error as Error).message).not.toContain(short);
    }
    expect(() => createVault({ encryptionKey: { active: 'k3', keys: { k1: keyA } } })).toThrow(
      /active must name one of the keys in keyring.keys \(k1\)/,
    );
    expect(() => createVault({ encryptionKey: { active: 'a.b', keys: { 'a.b': keyA } } })).toThrow(/key id/);
    // A key given where an id belongs is not echoed either: as `active`, or as an id.
    const keyB = generateEncryptionKey();
    const messageOf = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        return (error as Error).message;
      }
      return 'no error';
    };
    const urlSafeKey = Buffer.alloc(32, 0x5a).toString('base64url');
    for (const encryptionKey of [
      { active: keyB, keys: { k1: keyA, k2: keyB } },
      { active: 'k1', keys: { k1: keyA, [`${keyB}`]: keyB } },
      // A URL-safe key is a valid id's characters: as an id, swapped with its id, or named by active.
      { active: 'k1', keys: { [urlSafeKey]: 'k1' } },
      { active: 'k1', keys: { [urlSafeKey]: keyA } },
      { active: urlSafeKey, keys: { k1: keyA } },
    ]) {
      const message = messageOf(() => createVault({ encryptionKey }));
      expect(message).toMatch(/keyring/);
      expect(message).not.toContain(keyB);
      expect(message).not.toContain(urlSafeKey);
    }
    // URL-safe alphabet and missing padding are accepted.
    const urlSafe = Buffer.alloc(32, 0xfb).toString('base64url');
    expect(createVault({ encryptionKey: urlSafe }).hasKey).toBe(true);
  });

  it('takes a key with a line break or spaces around it, as a file or secret manager gives it', async () => {
    const sealed = createVault({ encryptionKey: keyA }).seal(plaintext, context);
    for (const encryptionKey of [`${keyA}\n`, `${keyA}\r\n`, `  ${keyA}\t`, { active: 'default', keys: { default: `${keyA}\n` } }]) {
      expect(createVault({ encryptionKey }).open(sealed, context)).toBe(plaintext);
      await createGateway({ encryptionKey }).close();
    }
  });

  it('says what is wrong with a key that is not base64 of 32 bytes, and never prints it', () => {
    const bytes = Buffer.alloc(32, 0xa7);
    const messageOf = (encryptionKey: unknown) => {
      try {
        void createGateway({ encryptionKey: encryptionKey as string }).close();
      } catch (error) {
        expect(error).toBeInstanceOf(TypeError);
        return (error as Error).message;
      }
      return 'no error';
    };
    const cases: Array<[unknown, RegExp]> = [
      ['', /"default" must be base64 of exactly 32 bytes \(it is empty\)/],
      [bytes.toString('hex'), /\(it is 64 hex digits: give the same 32 bytes in base64\)/],
      [Buffer.alloc(16, 0xa7).toString('base64'), /\(it decodes to 16 bytes\)/],
      [Buffer.alloc(33, 0xa7).toString('base64'), /\(it decodes to 33 bytes\)/],
      [`${bytes.toString('base64')}=`, /\(its "=" padding is wrong\)/],
      [`${bytes.toString('base64').slice(0, 20)} ${bytes.toString('base64').slice(20)}`, /\(it has whitespace inside\)/],
      [`${bytes.toString('base64').slice(0, 40)}!!!=`, /\(it has 44 characters, not all of them base64\)/],
      [{ active: 'k1', keys: { k1: 42 } }, /"k1" must be base64 of exactly 32 bytes \(it is number, not a string\)/],
      [{ active: 'k1', keys: { k1: bytes } }, /"k1" must be base64 of exactly 32 bytes \(it is object, not a string\)/],
      [bytes, /encryptionKey must be a base64 string or a keyring/],
      [{ active: 'k1', keys: { k1: bytes.toString('base64') }, previous: 'k0' }, /a keyring has only "active" and "keys", not "previous"/],
      [
        { active: 'k1', keys: { k1: bytes.toString('base64') }, [bytes.toString('base64url')]: 'k1' },
        /a keyring has only "active" and "keys":/,
      ],
    ];
    for (const [encryptionKey, expected] of cases) {
      const message = messageOf(encryptionKey);
      expect(message).toMatch(expected);
      for (const form of [
        bytes.toString('base64'),
        bytes.toString('base64url'),
        bytes.toString('hex'),
        bytes.toString('base64').slice(0, 20),
      ]) {
        expect(message).not.toContain(form);
      }
    }
  });

  it('generateEncryptionKey gives distinct valid keys', () => {
    const first = generateEncryptionKey();
    expect(Buffer.from(first, 'base64')).toHaveLength(32);
    expect(first).not.toBe(generateEncryptionKey());
  });
});

describe('vault: rotation', () => {
  it('keeps old secrets readable under a new active key and re-seals them', () => {
    const vault = createVault({ encryptionKey: { active: 'k1', keys: { k1: keyA } } });
    const old = vault.seal(plaintext, context);

    vault.setEncryptionKey({ active: 'k2', keys: { k1: keyA, k2: keyB } });
    expect(vault.activeKeyId).toBe('k2');
    expect(vault.open(old, context)).toBe(plaintext);
    expect(vault.keyIdOf(vault.seal(plaintext, context))).toBe('k2');

    const resealed = vault.reseal(old, context);
    expect(resealed.changed).toBe(true);
    expect(vault.keyIdOf(resealed.sealed)).toBe('k2');
    expect(vault.reseal(resealed.sealed, context)).toEqual({ sealed: resealed.sealed, changed: false });

    // Once everything is re-sealed the old key can go.
    vault.setEncryptionKey({ active: 'k2', keys: { k2: keyB } });
    expect(vault.open(resealed.sealed, context)).toBe(plaintext);
    expect(errorOf(() => vault.open(old, context)).code).toBe('SECRET_UNAVAILABLE');
  });

  it('reseal refuses what it cannot open', () => {
    const sealed = createVault({ encryptionKey: keyA }).seal(plaintext, context);
    const vault = createVault({ encryptionKey: keyB });
    expect(errorOf(() => vault.reseal(sealed, context)).code).toBe('SECRET_UNAVAILABLE');
  });

  it('describes non-header contexts by their fields', () => {
    const vault = createVault({ encryptionKey: keyA });
    const sealed = vault.seal('held input', { purpose: 'approval', id: 'ap_1' });
    expect(vault.open(sealed, { purpose: 'approval', id: 'ap_1' })).toBe('held input');
    const error = errorOf(() => vault.open(sealed, { purpose: 'approval', id: 'ap_2' }));
    expect(error.message).toContain('id "ap_2"');
  });
});
