import { type Dispatcher, Pool } from 'undici';
import { GatewayError } from '../errors.js';
import { createGuardedConnector, type HostResolver } from './guarded-connector.js';
import type { NetworkPolicy } from './network-policy.js';

/** Options of {@link createUpstreamClient}. */
export interface UpstreamClientOptions {
  /** Most open connections per origin (default 64). */
  connectionsPerOrigin?: number;
  /** How long an idle keep-alive connection stays open, in milliseconds (default 4 000; upstream hints may lower it). */
  keepAliveTimeoutMs?: number;
  /**
   * Resolves host names (default: the system resolver). Every address it returns still
   * passes the SSRF guard; useful for custom DNS and tests.
   */
  resolveHost?: HostResolver;
}

/** How one tool reaches its origin: the SSRF decision and the connect deadline. */
export interface UpstreamRoute {
  policy: NetworkPolicy;
  connectTimeoutMs: number;
}

/** Keep-alive connection pools to upstream origins. Create one per gateway; close it with the gateway. */
export interface UpstreamClient {
  /** True once {@link UpstreamClient.close} was called. */
  readonly closed: boolean;
  /**
   * The pool for an origin and route. Pools are created on first use and shared by every
   * tool with the same origin, network policy and connect deadline.
   */
  pool(origin: string, route: UpstreamRoute): Dispatcher;
  /** Closes every pool: waits for calls in flight, then releases connections. */
  close(): Promise<void>;
  /**
   * Closes every pool at once: calls still in flight (even under {@link UpstreamClient.close})
   * fail with `UPSTREAM_ERROR` and their connections are cut.
   */
  destroy(): Promise<void>;
}

const DEFAULT_CONNECTIONS_PER_ORIGIN = 64;
const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 4_000;

/**
 * Creates the upstream client: undici pools with keep-alive, one per origin (and network
 * policy), each connecting through the SSRF guard.
 *
 * @example
 * ```ts
 * import { createHttpExecutor, createUpstreamClient, createVault } from 'agent-tool-gateway';
 *
 * const client = createUpstreamClient();
 * const execute = createHttpExecutor(listOrders, { client, vault: createVault({ encryptionKey }) });
 * const { output } = await execute({ id: 'c-42' }, { signal: AbortSignal.timeout(10_000) });
 * await client.close();
 * ```
 */
export function createUpstreamClient(options: UpstreamClientOptions = {}): UpstreamClient {
  const connections = options.connectionsPerOrigin ?? DEFAULT_CONNECTIONS_PER_ORIGIN;
  const keepAliveTimeout = options.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS;
  if (!Number.isInteger(connections) || connections < 1) throw new TypeError('connectionsPerOrigin must be a positive integer');
  if (!Number.isInteger(keepAliveTimeout) || keepAliveTimeout < 1) throw new TypeError('keepAliveTimeoutMs must be a positive integer');
  const pools = new Map<string, Pool>();
  let closed = false;

  return {
    get closed() {
      return closed;
    },
    pool(origin, route) {
      if (closed) throw new GatewayError({ code: 'UPSTREAM_ERROR', message: 'upstream client is closed' });
      const key = `${origin} ${route.policy.key} ${route.connectTimeoutMs}`;
      let pool = pools.get(key);
      if (pool === undefined) {
        pool = new Pool(origin, {
          connections,
          keepAliveTimeout,
          // An upstream's `Keep-Alive: timeout=N` may shorten the idle time, never lengthen it
          // (undici would keep an idle connection for up to ten minutes on its word).
          keepAliveMaxTimeout: keepAliveTimeout,
          connect: createGuardedConnector({
            policy: route.policy,
            connectTimeoutMs: route.connectTimeoutMs,
            ...(options.resolveHost === undefined ? {} : { resolve: options.resolveHost }),
          }),
        });
        pools.set(key, pool);
      }
      return pool;
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...pools.values()].map((pool) => pool.close()));
    },
    async destroy() {
      closed = true;
      await Promise.all([...pools.values()].map((pool) => pool.destroy()));
    },
  };
}
