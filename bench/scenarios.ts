/**
 * The HTTP scenarios of the benchmark (what each sends, to which server, and which answer
 * counts as right), and how their servers are started. Shared by the timed runs
 * (`bench/run.ts`) and the instruction counts (`bench/instructions.ts`).
 */
import { type BenchChild, type StartChildOptions, startChild } from './child-process.js';
import { legacyToolCall, modernToolCall, restInvoke } from './fixtures.js';
import type { ResponseKind } from './response-checks.js';

/** An HTTP scenario: which server (none: the upstream itself), which request, which answer. */
export interface HttpScenario {
  id: string;
  number: string;
  title: string;
  server?: { script: string; args?: string[] };
  path: string;
  request: { body: string; headers: Record<string, string> };
  kind: ResponseKind;
  /** The gateway's agent key goes into `authorization`. */
  agentKey?: boolean;
  skip?: string;
}

const modern = modernToolCall();
const legacy = legacyToolCall();
const rest = restInvoke();
/** The gateway server script with the given store. */
export const gatewayServer = (store: string): { script: string; args: string[] } => ({
  script: 'servers/gateway.ts',
  args: [`--store=${store}`],
});

/** Every HTTP scenario, in report order. */
export const httpScenarios: HttpScenario[] = [
  { id: 'direct', number: '1', title: 'direct (upstream alone)', path: '/customers/cus_1042', request: modern, kind: 'record' },
  {
    id: 'ceiling',
    number: '2',
    title: 'ceiling proxy (no governance)',
    server: { script: 'servers/ceiling.ts' },
    path: '/mcp',
    request: modern,
    kind: 'record',
  },
  {
    id: 'ceiling-bridge',
    number: '2b',
    title: 'ceiling through the Node ⇄ Web bridge',
    server: { script: 'servers/ceiling.ts', args: ['--bridge'] },
    path: '/mcp',
    request: modern,
    kind: 'record',
  },
  {
    id: 'ceiling-bridge-request',
    number: '2c',
    title: 'ceiling through the bridge as the gateway uses it',
    server: { script: 'servers/ceiling.ts', args: ['--bridge=request'] },
    path: '/mcp',
    request: modern,
    kind: 'record',
  },
  {
    id: 'sdk-baseline',
    number: '3',
    title: 'sdk-baseline MCP 2026-07-28',
    server: { script: 'servers/sdk-baseline.ts' },
    path: '/mcp',
    request: modern,
    kind: 'mcp-plain',
  },
  {
    id: 'sdk-baseline-2025',
    number: '3b',
    title: 'sdk-baseline MCP 2025-11-25',
    server: { script: 'servers/sdk-baseline.ts' },
    path: '/mcp',
    request: legacy,
    kind: 'mcp-plain',
  },
  {
    id: 'gateway-rest',
    number: '4',
    title: 'gateway REST invoke',
    server: gatewayServer('memory'),
    path: rest.path,
    request: rest,
    kind: 'rest-governed',
    agentKey: true,
  },
  {
    id: 'gateway-mcp-2026',
    number: '5',
    title: 'gateway MCP 2026-07-28',
    server: gatewayServer('memory'),
    path: '/mcp',
    request: modern,
    kind: 'mcp-governed',
    agentKey: true,
  },
  {
    id: 'gateway-mcp-2025',
    number: '6',
    title: 'gateway MCP 2025-11-25',
    server: gatewayServer('memory'),
    path: '/mcp',
    request: legacy,
    kind: 'mcp-governed',
    agentKey: true,
  },
  {
    id: 'gateway-mcp-2026-pglite',
    number: '7a',
    title: 'gateway MCP 2026, SQL store on PGlite',
    server: gatewayServer('pglite'),
    path: '/mcp',
    request: modern,
    kind: 'mcp-governed',
    agentKey: true,
  },
  {
    id: 'gateway-mcp-2026-postgres',
    number: '7b',
    title: 'gateway MCP 2026, SQL store on Postgres',
    server: gatewayServer('postgres'),
    path: '/mcp',
    request: modern,
    kind: 'mcp-governed',
    agentKey: true,
    ...(process.env.ATG_TEST_POSTGRES_URL ? {} : { skip: 'ATG_TEST_POSTGRES_URL is not set' }),
  },
];

/** A scenario's server, started (none for the upstream itself). */
export interface StartedServer {
  child?: BenchChild;
  url: string;
  agentKey?: string;
  unavailable?: string;
}

/**
 * Starts the server of `scenario` in front of the upstream and waits until it listens.
 * `unavailable` is set when the server cannot run here (its store is missing).
 */
export async function startServer(
  scenario: Pick<HttpScenario, 'server'>,
  upstreamUrl: string,
  options: Pick<StartChildOptions, 'wrapper' | 'nodeFlags'> & { readyTimeoutMs?: number } = {},
): Promise<StartedServer> {
  if (scenario.server === undefined) return { url: upstreamUrl };
  const child = startChild(scenario.server.script, {
    args: [`--upstream=${upstreamUrl}`, ...(scenario.server.args ?? [])],
    ...(options.wrapper === undefined ? {} : { wrapper: options.wrapper }),
    ...(options.nodeFlags === undefined ? {} : { nodeFlags: options.nodeFlags }),
  });
  let first: Awaited<ReturnType<BenchChild['next']>>;
  try {
    first = await Promise.race([child.next('ready', options.readyTimeoutMs), child.next('unavailable', options.readyTimeoutMs)]);
  } catch (error) {
    await child.stop(1_000);
    throw error;
  }
  if (first.type === 'unavailable') {
    await child.stop();
    return { child, url: '', unavailable: String(first.reason) };
  }
  return { child, url: String(first.url), ...(typeof first.agentKey === 'string' ? { agentKey: first.agentKey } : {}) };
}
