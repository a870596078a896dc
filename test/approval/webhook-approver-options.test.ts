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
