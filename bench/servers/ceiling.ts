/**
 * Scenario 2, the ceiling: the least a Node gateway can do per call. It reads the request,
 * asks the upstream for the record over a keep-alive undici pool (as many connections as the
 * gateway's default pool), and sends the answer back. No parsing, no checks, no records: the
 * fastest any Node gateway could be on this machine.
 *
 *   args: --upstream=http://127.0.0.1:PORT
 */
import { Pool } from 'undici';
import { readArguments } from '../child-process.js';
import { customerId, upstreamAuthorization } from '../fixtures.js';
import { serveOnLoopback } from './loopback.js';

const upstream = readArguments().get('upstream');
if (upstream === undefined) throw new Error('ceiling: --upstream is required');
const pool = new Pool(upstream, { connections: 64, keepAliveTimeout: 4_000 });
const upstreamPath = `/customers/${customerId}`;
const upstreamHeaders = { authorization: upstreamAuthorization, accept: 'application/json' };

await serveOnLoopback(
  (req, res) => {
    req.resume();
    req.on('end', async () => {
      try {
        const answer = await pool.request({ method: 'GET', path: upstreamPath, headers: upstreamHeaders });
        const chunks: Buffer[] = [];
        for await (const chunk of answer.body) chunks.push(chunk as Buffer);
        const body = Buffer.concat(chunks);
        res.writeHead(answer.statusCode, { 'content-type': 'application/json', 'content-length': String(body.byteLength) });
        res.end(body);
      } catch {
        res.writeHead(502);
        res.end();
      }
    });
  },
  { onClose: () => pool.close() },
);
