import { describe, expect, it } from 'vitest';
import { generateAuditSigningKey, webhookApprover } from '../../src/index.js';

const { privateKey } = await generateAuditSigningKey();

describe('webhookApprover url', () => {
  it('refuses a URL with user info when created, without spelling the password out', () => {
    for (const url of ['https://hook-user:s3cr3t-pw@approvals.example.com/hook', 'https://hook-user@approvals.example.com/hook']) {
      let thrown: unknown;
      try {
        webhookApprover({ url, signingKey: privateKey });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect((thrown as Error).message).toMatch(/^webhookApprover: url must not contain user info/);
      expect((thrown as Error).message).not.toContain('s3cr3t-pw');
    }
  });

  it('refuses a URL that is not absolute http(s)', () => {
    for (const url of ['/relative', 'not a url', 'ftp://approvals.example.com/hook']) {
      expect(() => webhookApprover({ url, signingKey: privateKey })).toThrow(
        /^webhookApprover: url must be an absolute http or https URL$/,
      );
    }
  });
});

describe('webhookApprover options', () => {
  it.each<[string, unknown]>([
    ['retries', Number.NaN],
    ['retries', -1],
    ['retries', 1.5],
    ['retries', Number.POSITIVE_INFINITY],
    ['retries', '5'],
    ['retryBaseMs', Number.NaN],
    ['retryBaseMs', -1],
    ['timeoutMs', Number.NaN],
    ['timeoutMs', 0],
    ['timeoutMs', 2 ** 31],
  ])('refuses %s: %s with a TypeError naming it', (name, value) => {
    const create = () => webhookApprover({ url: 'https://approvals.example.com/hook', signingKey: privateKey, [name]: value });
    expect(create).toThrow(TypeError);
    expect(create).toThrow(new RegExp(`^webhookApprover: ${name} must be`));
  });

  it('takes the documented values, the bounds included', () => {
    const url = 'https://approvals.example.com/hook';
    expect(() => webhookApprover({ url, signingKey: privateKey })).not.toThrow();
    expect(() => webhookApprover({ url: new URL(url), signingKey: privateKey, retries: 0, retryBaseMs: 0, timeoutMs: 1 })).not.toThrow();
    expect(() => webhookApprover({ url, signingKey: privateKey, timeoutMs: 2 ** 31 - 1 })).not.toThrow();
  });
});

describe('webhookApprover headers', () => {
  it('refuses a header fetch would refuse on every POST, naming it and never its value', () => {
    const url = 'https://approvals.example.com/hook';
    for (const headers of [{ 'x-api-key': 'rcv-key-123\nrcv-key-456' }, { 'bad header': 'rcv-key-123' }, { 'x-api-key': 7 }]) {
      let thrown: unknown;
      try {
        webhookApprover({ url, signingKey: privateKey, headers: headers as unknown as Record<string, string> });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect((thrown as Error).message).toMatch(/^webhookApprover: headers\["(x-api-key|bad header)"\] is not a valid header/);
      expect((thrown as Error).message).not.toContain('rcv-key');
    }
    expect(() => webhookApprover({ url, signingKey: privateKey, headers: { 'x-api-key': 'rcv-key-123' } })).not.toThrow();
  });
});
