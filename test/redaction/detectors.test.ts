import { describe, expect, it } from 'vitest';
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
    ] as const
  ).map((name) => [name, { detectors: [name] }]),
) as Record<DetectorName, { detectors: DetectorName[] }>;

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

  it('finds several findings of several kinds in one string', () => {
    const text = 'Ada <ada@example.com>, +44 20 7946 0958, card 5555 5555 5555 4444, SSN 123-45-6789.';
    expect(everyDetector.text(text)).toBe('Ada <***>, ***, card ***, SSN ***.');
  });
});
