/**
 * Who a verified access token names, from its claims: `iss`, `sub`, `client_id` (RFC 9068;
 * else `azp`) and `jti`, each present only when the token has it as a string (at most 256
 * characters kept). The audit events of the calls it makes carry it as `data.token`, so
 * the trail tells which subject and client acted through an agent. Members in sorted order,
 * as audit event data must be.
 */
export interface TokenIdentity {
  readonly clientId?: string;
  readonly issuer: string;
  readonly subject?: string;
  readonly tokenId?: string;
}

/** @internal Where an agent acting for a token carries the token's {@link TokenIdentity}. */
export const tokenIdentity: unique symbol = Symbol('agent-tool-gateway.tokenIdentity');

/** The identity of the token an agent acts for in this call, if it came with one. */
export function tokenIdentityOf(agent: object | undefined): TokenIdentity | undefined {
  return (agent as { [tokenIdentity]?: TokenIdentity } | undefined)?.[tokenIdentity];
}
