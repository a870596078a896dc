import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newAgentKey } from '../../src/auth/agent-keys.js';
import { createRedactor, type DetectorName } from '../../src/redaction/index.js';

// Fake credentials are assembled at run time so that no literal token sits in the repository.
const alphanumeric = (length: number, seed = 7): string => {
  const alphabet = 'aB3dE5fG7hJ9kL2mN4pQ6rS8tU0vW1xY';
  let out = '';
  for (let index = 0; index < length; index++) out += alphabet[(index * seed + 3) % alphabet.length];
  return out;
};
const base64Url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

const everyDetector = createRedactor({ detectors: { ipv4: true, ipv6: true } });

/** Redacts `text` with only `detector` enabled. */
function only(detector: DetectorName, text: string): string {
  return everyDetector.text(text, profiles[detector]);
}
const profiles = Object.fromEntries(
  (
    [
      'email',
      'phone',
      'card',
      'iban',
      'ssn',
      'ipv4',
      'ipv6',
      'jwt',
      'pem_private_key',
      'aws_access_key',
      'github_token',
      'slack_token',
      'stripe_live_key',
      'openai_key',
      'anthropic_key',
      'google_api_key',
      'agent_key',
    ] as const
  ).map((name) => [name, { detectors: [name] }]),
) as Record<DetectorName, { detectors: DetectorName[] }>;

const realAgentKey = newAgentKey('AgentId000000042');

interface DetectorCase {
  detector: DetectorName;
  found: string[];
  ignored: string[];
}

const cases: DetectorCase[] = [
  {
    detector: 'email',
    found: ['ada@example.com', 'first.last+tag@mail.example.co.uk', 'josé.müller@exämple.de', 'o_brien-99@sub-domain.example.io'],
    ignored: ['@handle', 'user@localhost', 'a@b.c', 'mailto:', 'x @example.com'],
  },
  {
    detector: 'card',
    found: ['4111 1111 1111 1111', '4111-1111-1111-1111', '5555555555554444', '378282246310005', '6011 1111 1111 1117'],
    ignored: ['4111 1111 1111 1112', '1234567890123456', '0000 0000 0000 0000', '4111 1111 111', 'order 12345678901234567'],
  },
  {
    detector: 'iban',
    found: [
      'DE89 3704 0044 0532 0130 00',
      'GB82WEST12345698765432',
      'GB82 WEST 1234 5698 7654 32',
      'FR14 2004 1010 0505 0001 3M02 606',
      'NL91ABNA0417164300',
    ],
    ignored: ['DE89 3704 0044 0532 0130 01', 'GB00WEST12345698765432', 'AB12CDEF', 'XX12 3456 7890 1234 5678'],
  },
  {
    detector: 'ssn',
    found: ['123-45-6789', '123 45 6789', '078-05-1120'],
    ignored: ['000-12-3456', '666-12-3456', '900-12-3456', '123-00-4567', '123-45-0000', '1234-56-789', '12-345-6789'],
  },
  {
    detector: 'phone',
    found: [
      '+1 415 555 2671',
      '+1 (415) 555-2671',
      '+44 20 7946 0958',
      '+4915112345678',
      '(415) 555-2671',
      '415-555-2671',
      '415.555.2671',
      '030 1234 5678',
      '06 12 34 56 78',
    ],
    ignored: ['2024-05-12', 'version 1.2.3', 'order 12345678', '01.02.2024 12', '+12 34', '123-456-7890', 'id 4155552671'],
  },
  {
    detector: 'ipv4',
    found: ['192.168.1.20', '10.0.0.1', '255.255.255.255'],
    ignored: ['256.1.1.1', '1.2.3', 'v1.2.3.4', '1.2.3.4.5', '999.999.999.999'],
  },
  {
    detector: 'ipv6',
    found: ['2001:db8::8a2e:370:7334', '2001:0db8:0000:0000:0000:ff00:0042:8329', 'fe80::1%eth0', '::ffff:192.0.2.1', '::1'],
    ignored: ['12:30:45', '00:1a:2b:3c:4d:5e', 'std::vector', 'a:b', '1:2:3:4:5:6:7:8:9'],
  },
  {
    detector: 'jwt',
    found: [
      `${base64Url({ alg: 'HS256', typ: 'JWT' })}.${base64Url({ sub: '1234567890' })}.${alphanumeric(43)}`,
      `${base64Url({ alg: 'none' })}.${base64Url({ sub: 'x' })}.`,
      `${base64Url({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.${alphanumeric(20)}.${alphanumeric(16)}.${alphanumeric(30)}.${alphanumeric(22)}`,
    ],
    ignored: [`eyJub3RKc29u.${base64Url({ sub: 'x' })}.abc`, `${base64Url({ typ: 'JWT' })}.${base64Url({ sub: 'x' })}.abc`, 'eyJhbGciOi'],
  },
  {
    detector: 'pem_private_key',
    found: [
      `-----BEGIN RSA PRIVATE KEY-----\n${alphanumeric(64)}\n${alphanumeric(64)}\n-----END RSA PRIVATE KEY-----`,
      `-----BEGIN PRIVATE KEY-----\\n${alphanumeric(64)}\\n-----END PRIVATE KEY-----`,
      `-----BEGIN OPENSSH PRIVATE KEY-----\n${alphanumeric(70)}`,
      `-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n${alphanumeric(64)}\n-----END PGP PRIVATE KEY BLOCK-----`,
    ],
    ignored: [
      `-----BEGIN PUBLIC KEY-----\n${alphanumeric(64)}\n-----END PUBLIC KEY-----`,
      `-----BEGIN CERTIFICATE-----\n${alphanumeric(64)}`,
    ],
  },
  {
    detector: 'aws_access_key',
    found: ['AKIAIOSFODNN7EXAMPLE', `ASIA${'Q2W3E4R5T6Y7U8I9'}`],
    ignored: ['AIDAIOSFODNN7EXAMPLE', 'AKIA123', 'XAKIAIOSFODNN7EXAMPLE', 'AKIAIOSFODNN7EXAMPLEX'],
  },
  {
    detector: 'github_token',
    found: [
      `ghp_${alphanumeric(36)}`,
      `gho_${alphanumeric(36, 5)}`,
      `ghs_${alphanumeric(36, 11)}`,
      `github_pat_${alphanumeric(22)}_${alphanumeric(59, 5)}`,
    ],
    ignored: ['ghp_short', `ghx_${alphanumeric(36)}`, `ghp_${alphanumeric(20)}`],
  },
  {
    detector: 'slack_token',
    found: [
      `xoxb-123456789012-1234567890123-${alphanumeric(24)}`,
      `xoxp-${'1234567890'}-${alphanumeric(12)}`,
      `xapp-1-A0123456789-${alphanumeric(30)}`,
      `https://hooks.slack.com/services/T0123ABCD/B0123ABCD/${alphanumeric(24)}`,
    ],
    ignored: ['xoxb-nodigits-here-at-all', 'xoxz-123456789012', 'xoxb-123'],
  },
  {
    detector: 'stripe_live_key',
    found: [`sk_live_${alphanumeric(24)}`, `rk_live_${alphanumeric(99, 5)}`],
    ignored: [`sk_test_${alphanumeric(24)}`, `pk_live_${alphanumeric(24)}`, 'sk_live_short'],
  },
  {
    detector: 'openai_key',
    found: [`sk-${alphanumeric(48)}`, `sk-proj-${alphanumeric(40)}_${alphanumeric(40, 5)}`, `sk-svcacct-${alphanumeric(60)}`],
    ignored: ['sk-learn-is-a-python-library', 'task-1234567890abcdefghijklmnop', 'sk-short1'],
  },
  {
    detector: 'anthropic_key',
    found: [`sk-ant-api03-${alphanumeric(80)}-${alphanumeric(6)}AA`, `sk-ant-admin01-${alphanumeric(80, 5)}`],
    ignored: ['sk-ant-short', 'sk-ant-this-is-only-words-and-dashes'],
  },
  {
    detector: 'agent_key',
    found: [realAgentKey, newAgentKey('0123456789ABCDef')],
    // A look-alike whose checksum does not hold, and keys cut short, run on, or inside a word.
    ignored: [
      `${realAgentKey.slice(0, -1)}${realAgentKey.endsWith('A') ? 'B' : 'A'}`,
      realAgentKey.slice(0, -1),
      `${realAgentKey}0`,
      `x${realAgentKey}`,
    ],
  },
  {
    detector: 'google_api_key',
    found: [`AIza${alphanumeric(35)}`, `AIzaSy${alphanumeric(33, 5)}`],
    ignored: [`AIza${alphanumeric(20)}`, `AIza${alphanumeric(36)}`, `XAIza${alphanumeric(35)}`],
  },
];

describe.each(cases)('detector $detector', ({ detector, found, ignored }) => {
  it.each(found)('finds %s', (value) => {
    expect(only(detector, value)).toBe('***');
    expect(only(detector, `before ${value} after`)).toBe('before *** after');
  });

  it.each(ignored)('leaves %s alone', (value) => {
    expect(only(detector, value)).toBe(value);
    expect(only(detector, `before ${value} after`)).toBe(`before ${value} after`);
  });
});

describe('detector defaults and selection', () => {
  it('runs every detector except ipv4 and ipv6 by default', () => {
    const redactor = createRedactor();
    const compiled = redactor.compile();
    expect([...compiled.detectors].sort()).toEqual(
      [
        'anthropic_key',
        'aws_access_key',
        'card',
        'email',
        'github_token',
        'google_api_key',
        'agent_key',
        'iban',
        'jwt',
        'openai_key',
        'pem_private_key',
        'phone',
        'slack_token',
        'ssn',
        'stripe_live_key',
      ].sort(),
    );
    expect(redactor.text('from 10.0.0.1 and fe80::1')).toBe('from 10.0.0.1 and fe80::1');
    expect(redactor.text('from 10.0.0.1', { detectors: { ipv4: true } })).toBe('from ***');
  });

  it('takes a list as the exact set and a record as overrides', () => {
    const redactor = createRedactor();
    expect(redactor.compile({ detectors: ['email'] }).detectors).toEqual(['email']);
    const overridden = redactor.compile({ detectors: { email: false, ipv6: true } }).detectors;
    expect(overridden).not.toContain('email');
    expect(overridden).toContain('ipv6');
    expect(overridden).toContain('card');
  });

  it('lets the configuration change the gateway-wide defaults', () => {
    const redactor = createRedactor({ detectors: ['card'] });
    expect(redactor.compile().detectors).toEqual(['card']);
    expect(redactor.text('ada@example.com 4111 1111 1111 1111')).toBe('ada@example.com ***');
  });

  it('finds a card followed by more digits, such as an expiry', () => {
    expect(only('card', 'card 4111 1111 1111 1111 12/27')).toBe('card *** 12/27');
  });

  it('finds an IBAN followed by more groups of text', () => {
    expect(only('iban', 'IBAN DE89 3704 0044 0532 0130 00 ABCD')).toBe('IBAN *** ABCD');
  });

  it('ends an e-mail local part at punctuation and keeps URL passwords for the URL rule', () => {
    expect(only('email', 'text—ada@example.com, (bob@example.com) 😀carol@example.com')).toBe('text—***, (***) 😀***');
    expect(only('email', 'postgres://admin:pa55word@db.internal:5432/app')).toBe('postgres://admin:***@db.internal:5432/app');
  });

  it('finds an e-mail address after a colon where the URL rule finds no password', () => {
    // A user name the URL rule does not read (a quote in it, or over 256 characters): the address is the detector's.
    expect(only('email', 'https://us"er:pass@host.example.com')).toBe('https://us"er:***');
    const longUser = `https://${'u'.repeat(300)}:pass@host.example.com`;
    expect(only('email', longUser)).toBe(`https://${'u'.repeat(300)}:***`);
  });

  it('finds several findings of several kinds in one string', () => {
    const text = 'Ada <ada@example.com>, +44 20 7946 0958, card 5555 5555 5555 4444, SSN 123-45-6789.';
    expect(everyDetector.text(text)).toBe('Ada <***>, ***, card ***, SSN ***.');
  });
});

/** `length` pseudo-random bytes, the same for the same `seed` on every run. */
function seededBytes(seed: string, length: number): Buffer {
  const blocks: Buffer[] = [];
  for (let block = 0; blocks.length * 32 < length; block++) blocks.push(createHash('sha256').update(`${seed}/${block}`).digest());
  return Buffer.concat(blocks).subarray(0, length);
}

function seededUuid(index: number): string {
  const bytes = seededBytes(`uuid ${index}`, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

describe('numbers inside longer tokens', () => {
  const redactor = createRedactor();

  it('leaves UUIDs alone', () => {
    for (const uuid of [
      '616dde81-ad5d-4491-8365-97648cea0f75',
      '40178860-9955-4573-acd7-b0a70965c2f0',
      '52a8ae3b-0364-4880-9678-d5826eb0f0f5',
      '1e83d734-1725-4391-8755-6418735e7e64',
      '15a49961-0500-4163-94ff-645750011936',
      '616DDE81-AD5D-4491-8365-97648CEA0F75',
    ]) {
      expect(redactor.text(uuid)).toBe(uuid);
      expect(redactor.text(`order ${uuid} shipped`)).toBe(`order ${uuid} shipped`);
    }
    const changed: string[] = [];
    for (let index = 0; index < 20_000; index++) {
      const uuid = seededUuid(index);
      if (redactor.text(uuid) !== uuid) changed.push(uuid);
    }
    expect(changed).toEqual([]);
  });

  it('leaves hex digests alone', () => {
    for (const digest of ['259556056882136ae9b105ef8273570e8a0ae045', '4659234379583e5756dceae247015c4bc50a9cab']) {
      expect(redactor.text(digest)).toBe(digest);
    }
    const changed: string[] = [];
    for (let index = 0; index < 20_000; index++) {
      const digest = seededBytes(`sha1 ${index}`, 20).toString('hex');
      if (redactor.text(digest) !== digest) changed.push(digest);
    }
    expect(changed).toEqual([]);
  });

  it('leaves base64 and base64url data alone', () => {
    for (const data of [
      'w9L3VSUJSAV2hyhdkrk+ZA525emFw7GCSpNbOiHAdXI=',
      'MumEB0RszJp4MTMcyhixDpkvOS/KR731RM6KJOoHLmo=',
      'IU86hTGSSL0WRZtp4UzF0hDk0HRADjKK/iI1uECd1qA=',
      'd/QI609caI1ULPeSC1Xo2eJUTa0SeISH8Cj/zKV2JGs=',
      'QL49suHTA7kMZLH/t/m9lTR53kMPI0sOE6ytitcgAXY=',
      'apNVS2onY/GJ53tUMZRiew92QzMYD+/+Waq1uFFgaALq/mqjkQ==',
      'MO8-CU53wZ3etFJ4DOPtZF_zCMcodNicSKKfgdDoQbA',
      'QR19uiNwvsDI0re-ewJCtOMnNg_QEswFSbwv8OFenV8',
    ]) {
      expect(redactor.text(data)).toBe(data);
    }
    // An IBAN, a card and a phone number written into encoded data, joined to it on one side.
    // (Between two of base64's `+` or `/` a number reads as a path segment's: see below.)
    const blob = seededBytes('image', 3000).toString('base64');
    for (const number of ['DE89370400440532013000', '4111111111111111', '+14155552671', '030/1234/5678']) {
      for (const data of [`${blob}A${number}/${blob}`, `${number}/${blob}`, `${blob}/${number}==`, `${blob}/${number}0${blob}`]) {
        expect(redactor.text(data)).toBe(data);
      }
    }
    const image = seededBytes('image', 750_000).toString('base64');
    // Compared as a boolean: a failure would otherwise print a megabyte.
    expect(redactor.text(image) === image).toBe(true);
    expect(redactor.value({ content: [{ type: 'image', data: image }] })).toEqual({ content: [{ type: 'image', data: image }] });
  });

  it('does not read digits glued to an identifier as a number', () => {
    for (const text of ['4111111111111111x', 'ID-4111111111111111', 'order_4111111111111111', 'ref 415-555-2671-b', 'ssn_123-45-6789']) {
      expect(redactor.text(text)).toBe(text);
    }
  });

  it.each([
    ['GET /v2/PhoneNumbers/+14155552671', 'GET /v2/PhoneNumbers/***'],
    ['GET /v1/cards/4111111111111111/verify', 'GET /v1/cards/***/verify'],
    ['/accounts/DE89370400440532013000/transactions', '/accounts/***/transactions'],
    ['/people/123-45-6789/ok', '/people/***/ok'],
    ['/accounts/DE89370400440532013000?from=2025', '/accounts/***?from=2025'],
    ['note=card+4111111111111111&x=1', 'note=card+***&x=1'],
    ['card=4111-1111-1111-1111, iban=DE89 3704 0044 0532 0130 00', 'card=***, iban=***'],
    ['(+1 415-555-2671), 415-555-2671.', '(***), ***.'],
  ])('still finds the number in %j (a path segment, form-encoded text, punctuation)', (text, expected) => {
    expect(redactor.text(text)).toBe(expected);
  });
});
