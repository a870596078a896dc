import { describe, expect, it } from 'vitest';
import { createAdminAuthenticator } from '../../src/auth/admin-auth.js';

const request = () => new Request('http://gateway.test/admin/agents', { headers: { authorization: 'Bearer host-session' } });

describe('createAdminAuthenticator with a hook', () => {
  it('reports each malformed principal once, saying what is wrong without any of its values', async () => {
    const reports: TypeError[] = [];
    const answers: unknown[] = [
      { id: 'u', roles: 'secret-role-string' },
      { id: 'secret-id', roles: ['admin', 'secret-role'] },
      { id: '', roles: ['admin'] },
      { roles: ['admin'] },
      'secret-token-as-principal',
      true,
    ];
    let next = 0;
    const authenticate = createAdminAuthenticator({ authenticate: () => answers[next++] as never }, (error) => reports.push(error));
    for (let index = 0; index < answers.length; index++) expect(await authenticate(request())).toBeNull();

    expect(reports.map((error) => [error instanceof TypeError, error.message])).toEqual(
      [
        'its roles are a string, not an array',
        "its roles[1] is not one of 'admin', 'approver', 'auditor'",
        'its id is an empty string, not a non-empty string',
        'its id is undefined, not a non-empty string',
        'it is a string, not an object',
        'it is a boolean, not an object',
      ].map((problem) => [true, `admin.authenticate returned a malformed principal, refused with 401: ${problem}`]),
    );
    expect(JSON.stringify(reports.map((error) => error.message))).not.toContain('secret');
  });

  it('reports nothing for a refusal or a good principal, and returns a copy of the good one', async () => {
    const reports: TypeError[] = [];
    const roles = ['approver'];
    const answers: unknown[] = [null, undefined, { id: 'u', roles, extra: 'x' }];
    let next = 0;
    const authenticate = createAdminAuthenticator({ authenticate: async () => answers[next++] as never }, (error) => reports.push(error));
    expect(await authenticate(request())).toBeNull();
    expect(await authenticate(request())).toBeNull();
    const principal = await authenticate(request());
    expect(principal).toEqual({ id: 'u', roles: ['approver'] });
    roles.push('admin');
    expect(principal?.roles).toEqual(['approver']);
    expect(reports).toEqual([]);
  });
});
