/**
 * Scenario 3, the SDK baseline: what a user builds without the gateway. The official
 * `@modelcontextprotocol/server` v2 `createMcpHandler` (a fresh `McpServer` per request,
 * stateless, both eras) with one tool that fetches the same record from the upstream over
 * the same kind of undici pool as the ceiling, and returns it as JSON text. No
 * authentication, no validation beyond the SDK's own, no policy, no redaction, no records.
 * Node requests are bridged with the package's own `toWebRequest`/`writeWebResponse`, the
 * same bridge the gateway uses.
 *
 *   args: --upstream=http://127.0.0.1:PORT
 */
import { McpServer, createMcpHandler } from '@modelcontextprotocol/server';
import { Pool } from 'undici';
import { z } from 'zod';
import { toWebRequest, writeWebResponse } from 'agent-tool-gateway/node';
import { readArguments } from '../child-process.js';
import { customerToolName, upstreamAuthorization } from '../fixtures.js';
import { serveOnLoopback } from './loopback.js';

const upstream = readArguments().get('upstream');
if (upstream === undefined) throw new Error('sdk-baseline: --upstream is required');
const pool = new Pool(upstream, { connections: 64, keepAliveTimeout: 4_000 });
const upstreamHeaders = { authorization: upstreamAuthorization, accept: 'application/json' };

const handler = createMcpHandler(() => {
  const server = new McpServer({ name: 'sdk-baseline', version: '1.0.0' });
  server.registerTool(
    customerToolName,
    { description: 'Get one customer record', inputSchema: z.object({ id: z.string().regex(/^cus_[0-9a-z]{1,32}$/) }) },
    async ({ id }) => {
      const answer = await pool.request({ method: 'GET', path: `/customers/${encodeURIComponent(id)}`, headers: upstreamHeaders });
      const record = await answer.body.json();
      return { content: [{ type: 'text', text: JSON.stringify(record) }] };
    },
  );
  return server;
});

await serveOnLoopback(
  async (req, res) => {
    const request = await toWebRequest(req, res, {
      url: `http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`,
      maxBodyBytes: 1024 * 1024,
    });
    await writeWebResponse(res, await handler.fetch(request));
  },
  {
    onClose: async () => {
      await handler.close();
      await pool.close();
    },
  },
);
