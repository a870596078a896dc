import { describe, expect, it } from 'vitest';
import { createRedactor, defaultKeyNames, MINIMUM_SECRET_LENGTH, redact, redactText } from '../../src/redaction/index.js';

const secret = 'Upstream-S3cret/Key+42';

describe('layer 1: secrets', () => {
  const compiled = createRedactor().compile({ secrets: [secret] });

  const encodings: Array<[string, string]> = [
    ['raw', secret],
    ['base64', Buffer.from(secret).toString('base64')],
    ['base64 without padding', Buffer.from(secret).toString('base64').replace(/=+$/, '')],
    ['base64url', Buffer.from(secret).toString('base64url')],
    ['hex', Buffer.from(secret).toString('hex')],
    ['upper-case hex', Buffer.from(secret).toString('hex').toUpperCase()],
    ['URL-encoded', encodeURIComponent(secret)],
    ['URL-encoded with lower-case escapes', encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (sequence) => sequence.toLowerCase())],
    ['every byte percent-encoded', Array.from(Buffer.from(secret), (byte) => `%${byte.toString(16).padStart(2, '0')}`).join('')],
    ['JSON-escaped', JSON.stringify(secret).slice(1, -1)],
  ];

  it.each(encodings)('scrubs the %s form inside text', (_, encoded) => {
    const output = compiled.text(`upstream said: ${encoded} was rejected`);
    expect(output).toBe('upstream said: *** was rejected');
  });

  it.each(encodings)('masks the %s form as a whole string value, however short', (_, encoded) => {
    expect(compiled.value({ note: encoded })).toEqual({ note: '***' });
  });

  it('finds a base64 core of a secret standing alone, the shortest text a secret can show as', () => {
    const shortSecret = 'k3y!56';
    const short = createRedactor().compile({ secrets: [shortSecret] });
    // One byte before the secret: the characters from bit 8 up to bit 56 depend on it alone.
    const core = Buffer.concat([Buffer.alloc(1), Buffer.from(shortSecret)])
      .toString('base64')
      .slice(Math.ceil(8 / 6), Math.floor(56 / 6));
    expect(core).toHaveLength(7);
    expect(short.text(core)).toBe('***');
  });

  it('scrubs a secret inside a longer base64 stream, whatever its offset', () => {
    // Every 8-character run of the secret's base64 form at byte offsets 0, 1 and 2, minus the
    // characters that mix in bits of the neighbouring bytes.
    const runs: string[] = [];
    for (let shift = 0; shift < 3; shift++) {
      const encoded = Buffer.concat([Buffer.alloc(shift), Buffer.from(secret)]).toString('base64');
      const pure = encoded.slice(3, -3);
      for (let start = 0; start + 8 <= pure.length; start++) runs.push(pure.slice(start, start + 8));
    }
    for (const user of ['a', 'ab', 'abc', 'service-account']) {
      const output = compiled.text(`Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`);
      expect(output).toContain('***');
      for (const run of runs) expect(output).not.toContain(run);
    }
  });

  it('scrubs overlapping secrets completely', () => {
    const overlapping = createRedactor().compile({ secrets: ['abcdef12', 'ef12wxyz'] });
    expect(overlapping.text('xx abcdef12wxyz yy')).toBe('xx *** yy');
  });

  it('scrubs secrets in values, keys and numbers', () => {
    const numeric = createRedactor().compile({ secrets: [secret, '987654321'] });
    expect(numeric.value({ note: `key=${secret}`, [`by ${secret}`]: 1, pin: 987654321, other: 1987654321 })).toEqual({
      note: 'key=***',
      'by ***': 1,
      pin: '***',
      other: '1***',
    });
  });

  it(`does not search secrets shorter than ${MINIMUM_SECRET_LENGTH} characters inside text, but masks equal whole values`, () => {
    const short = createRedactor().compile({ secrets: ['abc', ''] });
    expect(short.text('abcdef and abc')).toBe('abcdef and abc');
    expect(short.value({ value: 'abc', list: ['abc', 'abcd'] })).toEqual({ value: '***', list: ['***', 'abcd'] });
  });

  it('always masks secrets, whatever the mode', () => {
    const partial = createRedactor().compile({ secrets: [secret], mode: 'partial', paths: ['$.token2'] });
    expect(partial.value({ token2: `prefix ${secret}` })).toEqual({ token2: '***' });
    const hashed = createRedactor().compile({ secrets: [secret], mode: 'hash' });
    expect(hashed.text(secret)).toBe('***');
  });
});

describe('layer 2: key names', () => {
  const compiled = createRedactor().compile();

  it.each([
    'password',
    'Password',
    'PASSWORD',
    'passwd',
    'db_password',
    'dbPassword1',
    'secret',
    'client_secret',
    'clientSecret',
    'token',
    'access_token',
    'accessToken',
    'refreshToken',
    'apiKey',
    'api_key',
    'API-KEY',
    'APIKEY',
    'ApiKey',
    'x-api-key',
    'X-Api-Key',
    'authorization',
    'Authorization',
    'proxy-authorization',
    'cookie',
    'set-cookie',
    'session',
    'sessionId',
    'private_key',
    'privateKey',
    'ssh-private-key',
    'ssn',
    'userSSN',
    'social_security_number',
    'credentials',
    'cvv',
    'pin',
    'api_keys',
    'apiKeys',
    'privateKeys',
    'accessTokens',
    'refresh_tokens',
    'social_security_numbers',
  ])('masks the value of %s', (key) => {
    expect(compiled.value({ [key]: 'value-123' })).toEqual({ [key]: '***' });
  });

  it.each([
    'total_tokens',
    'prompt_tokens',
    'token_type',
    'tokenCount',
    'author',
    'className',
    'spinner',
    'keyboard',
    'monkey',
    'passenger',
    'secret_name',
    'api_key_type',
    'access_token_expires',
    'cache_read_input_tokens',
  ])('leaves %s alone', (key) => {
    expect(compiled.value({ [key]: 'value-123' })).toEqual({ [key]: 'value-123' });
  });

  it('masks whole structures under a sensitive key, keeps null and booleans', () => {
    expect(compiled.value({ credentials: { user: 'ada', pass: 'x' }, token: null, secret: false, password: '' })).toEqual({
      credentials: '***',
      token: null,
      secret: false,
      password: '',
    });
  });

  it('masks key=value pairs inside text', () => {
    expect(compiled.text('GET /v1/items?api_key=abc123&page=2')).toBe('GET /v1/items?api_key=***&page=2');
    expect(compiled.text('{"user":"ada","password":"hunter2","apiKey": "k-1"}')).toBe('{"user":"ada","password":"***","apiKey": "***"}');
    expect(compiled.text("config: {'secret': 'abc', 'name': 'x'}")).toBe("config: {'secret': '***', 'name': 'x'}");
    expect(compiled.text('error: {\\"token\\":\\"t0k3n\\"}')).toBe('error: {\\"token\\":\\"***\\"}');
    expect(compiled.text('sent Authorization: Bearer abc.def to upstream')).toBe('sent Authorization: *** to upstream');
    expect(compiled.text('Host: api.example.com\nAuthorization: Bearer abc def\nCookie: a=b; c=d\nAccept: */*')).toBe(
      'Host: api.example.com\nAuthorization: ***\nCookie: ***\nAccept: */*',
    );
    expect(compiled.text('password: two words')).toBe('password: ***');
    expect(compiled.text('if (token == other) return; x => y')).toBe('if (token == other) return; x => y');
  });

  it('keeps null, booleans and empty strings under a key name inside text, so embedded JSON stays JSON', () => {
    expect(compiled.text('{"password":null,"token":true,"secret":false,"apiKey":""}')).toBe(
      '{"password":null,"token":true,"secret":false,"apiKey":""}',
    );
    expect(compiled.text('{\\"password\\": null, \\"token\\": "null"}')).toBe('{\\"password\\": null, \\"token\\": "***"}');
    expect(compiled.text('password: null\ntoken=false&cookie=nullable')).toBe('password: null\ntoken=false&cookie=***');
    expect(compiled.text('password: null or empty')).toBe('password: ***');
  });

  it.each([
    ['API Key: abc123xyz', 'API Key: ***'],
    ['api key = abc123xyz&page=2', 'api key = ***&page=2'],
    ['{"api key": "abc123xyz", "Customer Name": "Ada"}', '{"api key": "***", "Customer Name": "Ada"}'],
    ['{\\"Secret Key\\":\\"abc123xyz\\"}', '{\\"Secret Key\\":\\"***\\"}'],
    ['Session ID: abc123xyz\nSocial Security Number: 078051120\nName: Ada', 'Session ID: ***\nSocial Security Number: ***\nName: Ada'],
    ['note: the secret key: abc123xyz here', 'note: the secret key: *** here'],
  ])('masks the value under a key written as several words in %j', (text, expected) => {
    expect(compiled.text(text)).toBe(expected);
  });

  it.each([
    ['user[password]=hunter2&user[name]=ada', 'user[password]=***&user[name]=ada'],
    ['POST /session user%5Bpassword%5D=hunter2&user%5Bname%5D=ada', 'POST /session user%5Bpassword%5D=***&user%5Bname%5D=ada'],
    ['?filter[status]=open&auth[api_key]=abc123&page=2', '?filter[status]=open&auth[api_key]=***&page=2'],
    ['config["db"]["password"] = "hunter2"', 'config["db"]["password"] = "***"'],
    ["ENV['API_KEY']='abc123'", "ENV['API_KEY']='***'"],
    ['items[0]=4&items[1]=5', 'items[0]=4&items[1]=5'],
  ])('masks the value under a key with subscripts in %j, as under the same key of an object', (text, expected) => {
    expect(compiled.text(text)).toBe(expected);
  });

  it('reads an added key name of several words in text', () => {
    expect(createRedactor({ keyNames: { add: ['member number'] } }).text('Member  Number = 4711')).toBe('Member  Number = ***');
  });

  it('reads a phrase as a key only when a key name ends it, on one line and within four words', () => {
    for (const text of [
      'password reset link: https://example.com/reset',
      'your password was changed at: 10:00',
      'token count: 5',
      'Customer Name: Ada',
      'api\nkey: abc123xyz',
      'the api and the key: abc123xyz',
      'social security card number: 078051120',
      `api${' '.repeat(130)}key: abc123xyz`,
    ]) {
      expect(compiled.text(text)).toBe(text);
    }
  });

  it('masks the password of URLs with credentials', () => {
    expect(compiled.text('connect postgres://admin:pa55word@db.internal:5432/app failed')).toBe(
      'connect postgres://admin:***@db.internal:5432/app failed',
    );
    expect(compiled.text('see https://example.com:8443/path')).toBe('see https://example.com:8443/path');
  });

  it('masks the password of URLs with a password and no user name', () => {
    // Redis and others take `scheme://:password@host`.
    expect(compiled.text('REDIS_URL=redis://:s3cretPass@cache.internal:6379/0')).toBe('REDIS_URL=redis://:***@cache.internal:6379/0');
    expect(compiled.text('REDIS_URL=redis://:s3cretPass@cache:6379/0')).toBe('REDIS_URL=redis://:***@cache:6379/0');
    expect(compiled.value({ url: 'rediss://:s3cretPass@cache.example.com:6380' })).toEqual({ url: 'rediss://:***@cache.example.com:6380' });
  });

  it('takes added, removed and replaced key names', () => {
    const added = createRedactor({ keyNames: { add: ['member number'] } });
    expect(added.value({ memberNumber: '42', MEMBER_NUMBER: '43', password: 'x' })).toEqual({
      memberNumber: '***',
      MEMBER_NUMBER: '***',
      password: '***',
    });
    const removed = createRedactor({ keyNames: { remove: ['session', 'session id'] } });
    expect(removed.value({ session: 'abc', sessionId: 'def', password: 'x' })).toEqual({
      session: 'abc',
      sessionId: 'def',
      password: '***',
    });
    const replaced = createRedactor({ keyNames: { replace: ['pin code'] } });
    expect(replaced.value({ pinCode: '1234', password: 'x' })).toEqual({ pinCode: '***', password: 'x' });
    expect(replaced.keyNames).toEqual(['pin code']);
    expect(createRedactor().keyNames).toEqual(defaultKeyNames);
  });
});

describe('layer 3: path rules', () => {
  const compiled = createRedactor().compile({
    paths: ['$.customer.email', '$..card', '$.items[*].ssn', "$['odd key'][1]", { path: '$.notes', mode: 'partial' }],
    detectors: [],
  });

  it('selects fields by child, descendant, wildcard, index and quoted names', () => {
    const input = {
      customer: { email: 'not-detected-anyway', name: 'Ada', nested: { email: 'kept' } },
      deep: { deeper: [{ card: { number: 1 } }, { card: 'x' }] },
      items: [
        { ssn: 'a', keep: 1 },
        { ssn: 'b', keep: 2 },
      ],
      'odd key': ['zero', 'one', 'two'],
      notes: 'long enough text',
    };
    expect(compiled.value(input)).toEqual({
      customer: { email: '***', name: 'Ada', nested: { email: 'kept' } },
      deep: { deeper: [{ card: '***' }, { card: '***' }] },
      items: [
        { ssn: '***', keep: 1 },
        { ssn: '***', keep: 2 },
      ],
      'odd key': ['zero', '***', 'two'],
      notes: '***text',
    });
  });

  it('matches path names case-insensitively and after folding', () => {
    expect(compiled.value({ Customer: { EMAIL: 'x' }, ｃｕｓｔｏｍｅｒ: { email: 'y' } })).toEqual({
      Customer: { EMAIL: '***' },
      ｃｕｓｔｏｍｅｒ: { email: '***' },
    });
  });

  it('selects the root with "$"', () => {
    expect(createRedactor().value({ a: 1 }, { paths: ['$'] })).toBe('***');
    expect(createRedactor().value({ a: 1 }, { paths: [{ path: '$', mode: 'remove' }] })).toBeUndefined();
  });

  it('applies the stricter rule when several select one field', () => {
    const twice = createRedactor().compile({
      paths: [
        { path: '$.a', mode: 'partial' },
        { path: '$..a', mode: 'remove' },
      ],
    });
    expect(twice.value({ a: 'long value here', b: 1 })).toEqual({ b: 1 });
  });
});

describe('the default redactor', () => {
  it('redacts values and text without a profile', () => {
    expect(redact({ user: 'ada', password: 'hunter2', note: 'card 4111 1111 1111 1111' })).toEqual({
      user: 'ada',
      password: '***',
      note: 'card ***',
    });
    expect(redactText('401: {"api_key":"abc","email":"ada@example.com"}')).toBe('401: {"api_key":"***","email":"***"}');
  });

  it('caches the compile of a profile object', () => {
    const profile = { paths: ['$.a'] };
    expect(redact({ a: 1, b: 2 }, profile)).toEqual({ a: '***', b: 2 });
    expect(redact({ a: 3, b: 4 }, profile)).toEqual({ a: '***', b: 4 });
  });
});
