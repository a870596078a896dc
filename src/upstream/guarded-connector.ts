import { promises as dnsPromises, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP, type LookupFunction, Socket } from 'node:net';
import { buildConnector, errors } from 'undici';
import type { NetworkPolicy } from './network-policy.js';

/** Resolves a host name to its IP addresses (default: the system resolver, `dns.lookup`). */
export type HostResolver = (hostname: string) => Promise<ReadonlyArray<{ address: string; family: number }>>;

/** Thrown at connect time when every address of the upstream is refused by the SSRF guard. */
export class UpstreamAddressRefusedError extends Error {
  override readonly name = 'UpstreamAddressRefusedError';
  readonly code = 'ATG_UPSTREAM_ADDRESS_REFUSED';

  constructor() {
    super('upstream address not allowed');
  }
}

/** True for the error the SSRF guard raises (also when it crossed a module boundary). */
export function isAddressRefused(error: unknown): boolean {
  return (
    error instanceof UpstreamAddressRefusedError ||
    (typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ATG_UPSTREAM_ADDRESS_REFUSED')
  );
}

/** The system resolver: every address of the name, in the order the OS gives them. */
export const systemResolver: HostResolver = (hostname) => dnsPromises.lookup(hostname, { all: true, verbatim: true });

function wantedFamily(options: LookupOptions): number {
  const family = options.family as number | string | undefined;
  if (family === 4 || family === 'IPv4') return 4;
  if (family === 6 || family === 'IPv6') return 6;
  return 0;
}

/**
 * A `lookup` for `net.connect` that resolves the name and keeps only the addresses the policy
 * allows. The addresses checked are the ones connected to, so DNS rebinding cannot slip a
 * private address in after an earlier check.
 */
function guardedLookup(policy: NetworkPolicy, resolve: HostResolver): LookupFunction {
  return (hostname, options, callback) => {
    const all = options.all === true;
    const family = wantedFamily(options);
    resolve(hostname).then(
      (addresses) => {
        const candidates = addresses.filter((entry) => family === 0 || entry.family === family);
        const allowed = candidates.filter((entry) => policy.allows(entry.address));
        if (allowed.length === 0) {
          const error =
            candidates.length === 0
              ? Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' })
              : new UpstreamAddressRefusedError();
          callback(error, all ? [] : '');
          return;
        }
        if (all) {
          callback(
            null,
            allowed.map((entry): LookupAddress => ({ address: entry.address, family: entry.family })),
          );
        } else {
          const first = allowed[0] as { address: string; family: number };
          callback(null, first.address, first.family);
        }
      },
      (error: NodeJS.ErrnoException) => callback(error, all ? [] : ''),
    );
  };
}

/** Options of {@link createGuardedConnector}. */
export interface GuardedConnectorOptions {
  policy: NetworkPolicy;
  connectTimeoutMs: number;
  resolve?: HostResolver;
}

/**
 * An undici connector that refuses disallowed addresses before any byte is sent: IP-literal
 * hosts are checked before connecting, host names through a guarded DNS lookup, and the
 * connected socket's remote address once more as a last line. The connect deadline (DNS
 * lookup included) is a Node timer, as precise as any: undici's own fires on a coarse tick,
 * up to a second or so late, whatever the deadline.
 */
export function createGuardedConnector(options: GuardedConnectorOptions): buildConnector.connector {
  const { policy, connectTimeoutMs } = options;
  const connect = buildConnector({
    timeout: 0,
    lookup: guardedLookup(policy, options.resolve ?? systemResolver),
    keepAlive: true,
    allowH2: false,
  });
  return (connectOptions, callback) => {
    if (isIP(connectOptions.hostname) !== 0 && !policy.allows(connectOptions.hostname)) {
      callback(new UpstreamAddressRefusedError(), null);
      return;
    }
    let settled = false;
    let deadline: NodeJS.Timeout | undefined;
    const connecting: unknown = connect(connectOptions, (error, socket) => {
      if (settled) {
        // The deadline answered already: a connection that made it after all is not used.
        (socket as Socket | null)?.destroy();
        return;
      }
      settled = true;
      clearTimeout(deadline);
      if (error !== null) {
        callback(error, null);
        return;
      }
      const remote = (socket as Socket).remoteAddress;
      if (remote === undefined || !policy.allows(remote)) {
        (socket as Socket).destroy();
        callback(new UpstreamAddressRefusedError(), null);
        return;
      }
      callback(null, socket as Socket);
    });
    if (settled) return;
    deadline = setTimeout(() => {
      settled = true;
      // undici's connector hands back the socket it is opening (a lookup may still be under way).
      if (connecting instanceof Socket) connecting.destroy();
      // The message names no address: a cause can reach logs, and the address may be an internal one.
      callback(new errors.ConnectTimeoutError(`Connect Timeout Error (timeout: ${connectTimeoutMs}ms)`), null);
    }, connectTimeoutMs);
  };
}
