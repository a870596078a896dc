import { describe, expect, it } from 'vitest';
import { createRedactor, mergeProfiles, type RedactionProfile } from '../../src/redaction/index.js';
import { RedactorCache } from '../../src/pipeline/redactors.js';
import type { ResolvedTool } from '../../src/tools/registry.js';
import type { ToolRedaction } from '../../src/tools/types.js';

describe('compile-time validation', () => {
  const redactor = createRedactor();

  it.each([
    ['an unknown detector in a list', { detectors: ['emial'] }, /Unknown redaction detector "emial"/],
    ['an unknown detector in a record', { detectors: { creditcard: true } }, /Unknown redaction detector "creditcard"/],
    ['a bad detector setting', { detectors: { email: 'blur' } }, /Invalid redaction mode "blur".*detector "email"/],
    ['a bad profile mode', { mode: 'blur' }, /Invalid redaction mode "blur"/],
    ['a bad path mode', { paths: [{ path: '$.a', mode: 'hide' }] }, /Invalid redaction mode "hide" in redaction path "\$\.a"/],
    ['a path without "$"', { paths: ['customer.email'] }, /Invalid redaction path "customer\.email"/],
    ['an unterminated bracket', { paths: ['$.items['] }, /Invalid redaction path "\$\.items\["/],
    ['an unterminated quoted name', { paths: ["$['name"] }, /unterminated quoted name/],
    ['a filter expression', { paths: ['$.items[?(@.a)]'] }, /Invalid redaction path "\$\.items\[\?\(@\.a\)\]"/],
    ['a trailing dot', { paths: ['$.a.'] }, /Invalid redaction path "\$\.a\."/],
    ['a trailing descent', { paths: ['$..'] }, /Invalid redaction path "\$\.\."/],
    ['a negative index', { paths: ['$.a[-1]'] }, /Invalid redaction path "\$\.a\[-1\]"/],
    ['a path entry of the wrong type', { paths: [42] }, /Invalid redaction path entry 42/],
    ['a secret of the wrong type', { secrets: ['ok', 7] }, /Invalid redaction secret at index 1/],
  ])('throws a TypeError naming %s', (_, profile, message) => {
    expect(() => redactor.compile(profile as RedactionProfile)).toThrow(TypeError);
    expect(() => redactor.compile(profile as RedactionProfile)).toThrow(message);
  });

  it('accepts every documented path form', () => {
    expect(() =>
      redactor.compile({
        paths: [
          '$',
          '$.a',
          '$.a.b',
          '$..a',
          '$.*',
          '$..*',
          '$[0]',
          '$[*]',
          '$..[*]',
          "$['a b']",
          '$["a\\"b"]',
          '$.items[*].ssn',
          '$..items[3].x',
        ],
      }),
    ).not.toThrow();
  });

  it('takes a tool definition redact block', () => {
    const toolRedaction: ToolRedaction = {
      paths: ['$.email', { path: '$.card', mode: 'partial' }],
      detectors: { ipv4: true },
      mode: 'mask',
    };
    expect(redactor.value({ email: 'x', card: '4111111111111111', ip: '10.0.0.1' }, toolRedaction)).toEqual({
      email: '***',
      card: '***1111',
      ip: '***',
    });
  });

  it('throws a TypeError for an invalid configuration', () => {
    expect(() => createRedactor({ mode: 'blur' as never })).toThrow(/Invalid redaction mode "blur"/);
    expect(() => createRedactor({ detectors: ['nope' as never] })).toThrow(/Unknown redaction detector "nope"/);
    expect(() => createRedactor({ keyNames: ['password'] as never })).toThrow(/keyNames/);
    expect(() => createRedactor({ keyNames: { add: ['--'] } })).toThrow(/Invalid redaction key name "--"/);
    expect(() => createRedactor({ hashKey: 42 as never })).toThrow(TypeError);
  });
});

describe('mergeProfiles', () => {
  it('lets the stricter mode win on a field both select', () => {
    const tool = { paths: ['$.customer.email'], mode: 'partial' as const };
    const policy = { paths: [{ path: '$.customer.email', mode: 'mask' as const }] };
    const merged = mergeProfiles(tool, policy);
    expect(merged.mode).toBe('partial');
    expect(createRedactor().value({ customer: { email: 'ada.lovelace@example.com' } }, merged)).toEqual({ customer: { email: '***' } });
  });

  it('unites secrets and paths, keeping each side’s own mode, never looser than the other side’s', () => {
    const merged = mergeProfiles(
      { secrets: ['first-secret'], paths: ['$.a'], mode: 'hash' },
      { secrets: ['second-secret', 'first-secret'], paths: ['$.b', { path: '$.c', mode: 'partial' }, { path: '$.d', mode: 'remove' }] },
    );
    expect(merged).toEqual({
      secrets: ['first-secret', 'second-secret'],
      mode: 'hash',
      paths: [
        { path: '$.a', mode: 'hash' },
        { path: '$.b', mode: 'hash' },
        { path: '$.c', mode: 'hash' },
        { path: '$.d', mode: 'remove' },
      ],
    });
  });

  it('keeps a detector on when either side turns it on, with the stricter mode', () => {
    expect(mergeProfiles({ detectors: { email: false } }, { detectors: { email: 'partial' } }).detectors).toEqual({ email: 'partial' });
    expect(mergeProfiles({ detectors: { email: 'hash' } }, { detectors: { email: 'mask' } }).detectors).toEqual({ email: 'mask' });
    expect(mergeProfiles({ detectors: { email: true }, mode: 'remove' }, { detectors: { email: 'partial' } }).detectors).toEqual({
      email: 'remove',
    });
    expect(mergeProfiles({ detectors: { email: false } }, {}).detectors).toEqual({ email: false });
    expect(mergeProfiles({ detectors: { ipv4: true } }, { detectors: { ipv6: 'hash' } }).detectors).toEqual({ ipv4: true, ipv6: 'hash' });
  });

  it('applies each side’s profile-wide mode to the detectors the other side names, in either order', () => {
    const tool = { mode: 'mask' as const };
    const policy = { detectors: { email: 'partial' as const } };
    const redactor = createRedactor();
    expect(redactor.value({ contact: 'ada@example.com' }, tool)).toEqual({ contact: '***' });
    for (const merged of [mergeProfiles(tool, policy), mergeProfiles(policy, tool)]) {
      expect(merged).toEqual({ mode: 'mask', detectors: { email: 'mask' } });
      expect(redactor.value({ contact: 'ada@example.com' }, merged)).toEqual({ contact: '***' });
      expect(redactor.text('write to ada@example.com', merged)).toBe('write to ***');
    }
  });

  it('keeps a detector mode stricter than the other side’s mode, and a side’s own detector modes', () => {
    const cases: Array<[RedactionProfile, RedactionProfile, RedactionProfile['detectors']]> = [
      [{ mode: 'partial' }, { detectors: { email: 'mask' } }, { email: 'mask' }],
      [{ mode: 'hash' }, { detectors: { email: 'remove', phone: 'partial' } }, { email: 'remove', phone: 'hash' }],
      [{ mode: 'mask' }, { detectors: { ipv4: 'partial' } }, { ipv4: 'mask' }],
      [{ mode: 'mask' }, { detectors: { email: true } }, { email: true }],
      [{ mode: 'mask' }, { detectors: { email: false } }, { email: false }],
      [{ mode: 'mask', detectors: { email: 'partial' } }, {}, { email: 'partial' }],
      [{ mode: 'mask', detectors: { email: 'partial' } }, { mode: 'hash' }, { email: 'hash' }],
      [{ mode: 'partial', detectors: { email: 'hash' } }, { mode: 'remove', detectors: { email: 'partial' } }, { email: 'hash' }],
    ];
    for (const [left, right, detectors] of cases) {
      expect(mergeProfiles(left, right).detectors).toEqual(detectors);
      expect(mergeProfiles(right, left).detectors).toEqual(detectors);
    }
  });

  it('reaches the per-tool compile cache: a policy profile cannot loosen the tool’s mode', () => {
    const tool = { redaction: { mode: 'mask' }, outputIsFresh: false, secretValues: () => [] } as unknown as ResolvedTool;
    const policy: ToolRedaction = { detectors: { email: 'partial', phone: 'hash' } };
    const cache = new RedactorCache(createRedactor({ hashKey: 'k' }));
    const output = { contact: 'ada@example.com', tel: '+1 415 555 2671' };
    expect(cache.output(tool, undefined, output)).toEqual({ contact: '***', tel: '***' });
    expect(cache.output(tool, policy, output)).toEqual({ contact: '***', tel: '***' });
    expect(cache.forTool(tool, policy)).toBe(cache.forTool(tool, policy));
  });

  it('turns a detector list into an exact set before merging', () => {
    const merged = mergeProfiles({ detectors: ['email'] }, { detectors: ['card'] });
    const compiled = createRedactor().compile(merged);
    expect([...compiled.detectors].sort()).toEqual(['card', 'email']);
  });

  it('merges with an absent profile', () => {
    expect(mergeProfiles(undefined, { paths: ['$.a'] })).toEqual({ paths: ['$.a'] });
    expect(mergeProfiles(undefined, undefined)).toEqual({});
  });

  it('validates both sides', () => {
    expect(() => mergeProfiles({ detectors: ['nope' as never] }, {})).toThrow(TypeError);
    expect(() => mergeProfiles({}, { paths: ['$['] })).toThrow(TypeError);
  });
});
