/**
 * Scenarios 4–7 and 9: the governed gateway (see gateway-setup.ts) served over node:http
 * with the package's node adapter. Reports the agent key with its address; a store that is
 * not available is reported as `{ type: 'unavailable', reason }` and the process exits.
 * Asked `statements`, it answers how many SQL statements and transactions its store sent.
 *
 *   args: --upstream=http://127.0.0.1:PORT --store=memory|pglite|postgres
 */
import { createNodeHandler } from 'agent-tool-gateway/node';
import { readArguments, sendToParent } from '../child-process.js';
import { type BenchStoreKind, StoreUnavailableError, createBenchGateway } from '../gateway-setup.js';
import { serveOnLoopback } from './loopback.js';

const args = readArguments();
const upstreamUrl = args.get('upstream');
if (upstreamUrl === undefined) throw new Error('gateway: --upstream is required');
const store = (args.get('store') ?? 'memory') as BenchStoreKind;

let bench: Awaited<ReturnType<typeof createBenchGateway>>;
try {
  bench = await createBenchGateway({ upstreamUrl, store });
} catch (error) {
  if (!(error instanceof StoreUnavailableError)) throw error;
  await sendToParent({ type: 'unavailable', reason: error.message });
  process.exit(0);
}

const handler = createNodeHandler(bench.gateway);
await serveOnLoopback(
  (req, res) => {
    void handler(req, res);
  },
  {
    onClose: () => bench.close(),
    readyFields: { agentKey: bench.agentKey },
    onMessage: async (message) => {
      if (message.type === 'statements') await sendToParent({ type: 'statements', ...bench.statements() });
    },
  },
);
