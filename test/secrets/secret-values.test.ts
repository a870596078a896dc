import { inspect } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { createGateway } from '../../src/index.js';
import { listen } from '../helpers.js';
import { GatewayError } from '../../src/errors.js';
import { generateEncryptionKey } from '../../src/secrets/keyring.js';
import { createSecretScrubber } from '../../src/secrets/secret-scrubber.js';
import { SecretValue, isMaskedSecret, isSecretValue, secret } from '../../src/secrets/secret-value.js';
import {
  keepMaskedSecrets,
  maskSecrets,
  openSecretHeaders,
  resealSecretHeaders,
  sealSecretHeaders,
} from '../../src/secrets/tool-secrets.js';
import { createVault } from '../../src/secrets/vault.js';
import { type HttpToolOptions, httpTool } from '../../src/tools/http-tool.js';

const TOKEN = 'Bearer tok_9f8e7d6c5b4a';

function crmOptions(overrides: Partial<HttpToolOptions> = {}): HttpToolOptions {
  return {
    name: 'crm.orders',
    description: 'Orders',
    method: 'GET',
    url: 'https://crm.example.com/customers/{id}/orders',
    inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
    secretHeaders: { Authorization: secret(TOKEN) },
    ...overrides,
  };
}

describe('secret()', () => {
  it('never shows its value', () => {
    const value = secret(TOKEN);
    expect(isSecretValue(value)).toBe(true);
    expect(JSON.stringify({ value })).toBe('{"value":"***"}');
    expect(String(value)).toBe('***');
    expect(`${value}`).toBe('***');
    expect(inspect(value)).not.toContain('tok_');
    expect(inspect({ nested: { value } }, { depth: 5, showHidden: true })).not.toContain('tok_');
    expect(JSON.stringify(Object.entries(value))).not.toContain('tok_');
    expect(JSON.stringify({ ...value })).not.toContain('tok_');
  });

  it('refuses an empty value', () => {
    expect(() => secret('')).toThrow(TypeError);
  });
});

describe('tool definitions with secrets', () => {
  it('shows *** for secret headers in JSON, inspect and the masked view', () => {
    const definition = httpTool(crmOptions());
    expect(JSON.stringify(definition)).not.toContain('tok_');
    expect(inspect(definition, { depth: 10 })).not.toContain('tok_');
    const masked = maskSecrets(definition);
    expect(masked.secretHeaders).toEqual({ authorization: '***' });
    expect(isMaskedSecret(masked.secretHeaders?.authorization)).toBe(true);
    expect(isMaskedSecret('Bearer x')).toBe(false);
  });

  it('moves secret() values given in headers to secretHeaders', () => {
    const definition = httpTool(
      crmOptions({ secretHeaders: undefined, headers: { 'X-Api-Key': secret('key_123456'), accept: 'application/json' } }),
    );
    expect(Object.keys(definition.secretHeaders ?? {})).toEqual(['x-api-key']);
    expect(definition.headers).toEqual({ accept: 'application/json' });
  });

  it('seals for storage, survives a JSON round trip and masks the sealed form too', () => {
    const vault = createVault({ encryptionKey: generateEncryptionKey() });
    const stored = sealSecretHeaders(httpTool(crmOptions()), vault);
    const json = JSON.stringify(stored);
    expect(json).toContain('"sealed":"atg.v1.default.');
    expect(json).not.toContain('tok_');

    const restored = httpTool(JSON.parse(json) as HttpToolOptions);
    expect(openSecretHeaders(restored, vault)).toEqual([['authorization', TOKEN]]);
    expect(JSON.stringify(maskSecrets(restored))).not.toContain('atg.v1');
    expect(maskSecrets(restored).secretHeaders).toEqual({ authorization: '***' });
  });

  it('does not open a sealed header copied to another tool', () => {
    const vault = createVault({ encryptionKey: generateEncryptionKey() });
    const stored = sealSecretHeaders(httpTool(crmOptions()), vault);
    const copy = httpTool({ ...(stored as unknown as HttpToolOptions), name: 'billing.orders' });
    expect(() => openSecretHeaders(copy, vault)).toThrow(GatewayError);
  });

  it('keeps the stored value when an update sends *** back', () => {
    const vault = createVault({ encryptionKey: generateEncryptionKey() });
    const stored = sealSecretHeaders(httpTool(crmOptions()), vault);
    const update = { ...maskSecrets(stored), description: 'Orders, newest first' } as unknown as HttpToolOptions;
    const next = httpTool(keepMaskedSecrets(update, stored));
    expect(next.description).toBe('Orders, newest first');
    expect(openSecretHeaders(next, vault)).toEqual([['authorization', TOKEN]]);

    const replaced = httpTool(keepMaskedSecrets({ ...update, secretHeaders: { authorization: 'Bearer new_value_1' } }, stored));
    expect(openSecretHeaders(replaced, vault)).toEqual([['authorization', 'Bearer new_value_1']]);

    expect(() => keepMaskedSecrets({ ...update, secretHeaders: { 'x-other': '***' } }, stored)).toThrow(/no stored value/);
    expect(() => httpTool(update)).toThrow(/mask/);
  });

  it('re-seals stored secrets under a new active key and reports counts', () => {
    const oldKey = generateEncryptionKey();
    const newKey = generateEncryptionKey();
    const vault = createVault({ encryptionKey: { active: 'old', keys: { old: oldKey } } });
    const stored = sealSecretHeaders(
      httpTool(crmOptions({ secretHeaders: { authorization: secret(TOKEN), 'x-api-key': secret('key_abcdef') } })),
      vault,
    );
    vault.setEncryptionKey({ active: 'new', keys: { old: oldKey, new: newKey } });
    const first = resealSecretHeaders(stored, vault);
    expect(first).toMatchObject({ changed: 2, unchanged: 0 });
    const again = resealSecretHeaders(first.definition, vault);
    expect(again).toMatchObject({ changed: 0, unchanged: 2 });
    expect(again.definition).toBe(first.definition);
    vault.setEncryptionKey({ active: 'new', keys: { new: newKey } });
    expect(openSecretHeaders(first.definition, vault)).toEqual([
      ['authorization', TOKEN],
      ['x-api-key', 'key_abcdef'],
    ]);
  });

  it('refuses secret header values with line breaks', () => {
    expect(() => httpTool(crmOptions({ secretHeaders: { authorization: 'Bearer a\r\nX-Evil: 1' } }))).toThrow(/printable ASCII/);
  });
});

describe('secret scrubber', () => {
  it('removes the value, the credential after the scheme and their JSON and URL spellings', () => {
    const scrubber = createSecretScrubber(['Bearer abc/def+ghi', `Basic ${Buffer.from('svc-user:pa55word!').toString('base64')}`]);
    const text = [
      'Bearer abc/def+ghi',
      'token=abc%2Fdef%2Bghi',
      '{"t":"abc\\/def+ghi"}',
      'abc/def+ghi',
      'user svc-user:pa55word!',
      'password pa55word!',
    ].join(' | ');
    const cleaned = scrubber.text(text);
    expect(cleaned).not.toMatch(/abc|def|pa55word/);
  });

  it('removes every JSON spelling of the value and its parts: characters as themselves, short escapes or \\uXXXX in either case', () => {
    const password = "pa<ss>&w+o'r/d";
    const scrubber = createSecretScrubber([`Basic ${Buffer.from(`svc-user:${password}`).toString('base64')}`, 'Bearer tok"en<1>']);
    const spellings = [
      "pa\\u003css\\u003e\\u0026w+o'r/d", // Go
      'pa\\u003Css\\u003E\\u0026w\\u002Bo\\u0027r/d', // .NET
      "pa<ss>&w+o'r\\/d", // PHP's slash
      Array.from(password, (character) => `\\u${(character.charCodeAt(0) as number).toString(16).padStart(4, '0')}`).join(''),
      'svc-user:pa\\u003Css>&w+o\\u0027r/d',
      'tok\\"en\\u003C1>',
      'tok\\u0022en<1\\u003e',
    ];
    for (const spelling of spellings) {
      expect(scrubber.text(`before ${spelling} after`), spelling).toBe('before *** after');
      expect(scrubber.parseJson(JSON.stringify({ carried: `{"echo":"${spelling}"}` })), spelling).toEqual({ carried: '{"echo":"***"}' });
    }
    // A near miss stays: one character differs.
    expect(scrubber.text("pa\\u003css\\u003e\\u0026w+o'r/D")).toBe("pa\\u003css\\u003e\\u0026w+o'r/D");
  });

  it('counts the longest escaped spelling as its longest form, for text cut at an arbitrary point', () => {
    expect(createSecretScrubber(['tok_123456']).longestForm).toBe(60);
    expect(createSecretScrubber([]).longestForm).toBe(0);
  });

  it('scrubs parsed JSON strings and keys, deep nesting included, and bytes', () => {
    const scrubber = createSecretScrubber(['secret_value_1']);
    const value = { secret_value_1: 'secret_value_1', list: ['a', { b: 'secret_value_1!' }] };
    expect(JSON.stringify(scrubber.json(JSON.parse(JSON.stringify(value))))).not.toContain('secret_value_1');

    // Deeper than any call stack: the walk must be iterative.
    const depth = 200_000;
    let deep = scrubber.json(JSON.parse(`${'['.repeat(depth)}"x secret_value_1 y"${']'.repeat(depth)}`));
    for (let level = 0; level < depth; level++) deep = (deep as unknown[])[0];
    expect(deep).toBe('x *** y');

    const proto = JSON.parse('{"__proto__":"secret_value_1"}') as unknown;
    expect(JSON.stringify(scrubber.json(proto))).toBe('{"__proto__":"***"}');
    expect(scrubber.bytes(Buffer.from('..secret_value_1..secret_value_1')).toString()).toBe('..***..***');
  });

  it('parses JSON text and scrubs it, also where escapes spell the secret', () => {
    const scrubber = createSecretScrubber(['secret_value_1']);
    expect(scrubber.parseJson('{"a":"x secret_value_1","secret_value_1":1}')).toEqual({ a: 'x ***', '***': 1 });
    // \u0073 is "s": the text never shows the secret, the parsed string does.
    expect(scrubber.parseJson('{"a":"\\u0073ecret_value_1"}')).toEqual({ a: '***' });
    const clean = '{"a":"nothing here","n":[1,2,{"b":true}]}';
    expect(scrubber.parseJson(clean)).toEqual(JSON.parse(clean));
    expect(() => scrubber.parseJson('{')).toThrow(SyntaxError);
  });

  it('replaces a number whose digits hold a numeric secret, and leaves other numbers alone', () => {
    const scrubber = createSecretScrubber(['40017321']);
    expect(scrubber.parseJson('{"pin":40017321,"n":[400173210,-40017321,7,1.5],"ok":true,"none":null}')).toEqual({
      pin: '***',
      n: ['***', '***', 7, 1.5],
      ok: true,
      none: null,
    });
    expect(scrubber.json(40017321)).toBe('***');
    expect(scrubber.json(12)).toBe(12);
    // More digits than a double keeps: known by its value, however the JSON text spells it.
    const account = createSecretScrubber(['98765432109876543210']);
    expect(account.parseJson('{"a":98765432109876540000,"b":9.876543210987654e19,"c":98765432109876600000}')).toEqual({
      a: '***',
      b: '***',
      c: 98765432109876600000,
    });
    expect(account.json(Number('98765432109876543210'))).toBe('***');
    // A secret that is not a number never matches one.
    const word = createSecretScrubber(['tok_40017321']);
    expect(word.parseJson('{"n":40017321,"s":"tok_40017321"}')).toEqual({ n: 40017321, s: '***' });
  });

  it('is inactive without secrets', () => {
    const scrubber = createSecretScrubber([]);
    expect(scrubber.active).toBe(false);
    expect(scrubber.text('abc')).toBe('abc');
  });
});

describe('secrets made by another copy of the package (its CommonJS build, say)', () => {
  it('are secrets to this copy: recognised, sealed and sent, never shown', async () => {
    vi.resetModules();
    const other = (await import('../../src/index.js')) as typeof import('../../src/index.js');
    expect(other.secret).not.toBe(secret);
    const made = other.secret('Bearer from-the-other-copy');
    expect(isSecretValue(made)).toBe(true);
    expect(made instanceof SecretValue).toBe(true);
    expect(isSecretValue({ kind: 'secret' })).toBe(false);
    // The shared map is a fixed, hidden property that later code cannot swap for its own.
    const descriptor = Object.getOwnPropertyDescriptor(globalThis, Symbol.for('agent-tool-gateway.secretPlaintext'));
    expect(descriptor).toMatchObject({ enumerable: false, writable: false, configurable: false });
    expect(JSON.stringify({ made })).toBe('{"made":"***"}');

    const seen: Array<string | undefined> = [];
    const upstream = await listen((req, res) => {
      seen.push(req.headers.authorization);
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    });
    const tool = other.httpTool({
      name: 'crm.ping',
      description: 'pings',
      method: 'GET',
      url: `${upstream.url}/ping`,
      inputSchema: { type: 'object' },
      secretHeaders: { authorization: 'Bearer plain-from-the-other-copy' },
      allowPrivateNetwork: true,
    });
    const gateway = createGateway({ tools: [tool], policy: [{ id: 'all', effect: 'allow' }], dev: true, onError: () => undefined });
    try {
      const { agent } = await gateway.admin.createAgent({ name: 'bot' });
      expect(await gateway.invoke({ agentId: agent.id, tool: 'crm.ping', input: {} })).toMatchObject({ status: 'succeeded' });
      expect(seen).toEqual(['Bearer plain-from-the-other-copy']);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});
