/**
 * Scenario 2, the ceiling: the least a Node gateway can do per call. It reads the request,
 * asks the upstream for the record over a keep-alive undici pool (as many connections as the
 * gateway's default pool), and sends the answer back. No parsing, no checks, no records: the
 * fastest any Node gateway could be on this machine.
 *
 * With `--bridge` (scenario 2b) the same proxy goes through the package's Node ⇄ Web bridge
 * (`toWebRequest`, a Web `Response`, `writeWebResponse`), as a host's own Web handler would:
 * the difference to 2 is what that round trip costs. The gateway's own JSON answers skip the
 * Web `Response`, so it pays less than this for the bridge.
 *
 * With `--bridge=request` (scenario 2c) the request goes through `toWebRequest` and its body
 * is read from the Web `Request`, and the answer is written as the Node bridge writes the
 * gateway's own JSON answers: one string, its byte length as `content-length`, `writeHead`
 * and `end`. The difference to 2 is what the bridge costs a governed call.
 *
 *   args: --upstream=http://127.0.0.1:PORT [--bridge[=request]]
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool } from 'undici';
import { toWebRequest, writeWebResponse } from 'agent-tool-gateway/node';
import { readArguments } from '../child-process.js';
import { customerId, upstreamAuthorization } from '../fixtures.js';
import { serveOnLoopback } from './loopback.js';

const args = readArguments();
const upstream = args.get('upstream');
if (upstream === undefined) throw new Error('ceiling: --upstream is required');
const pool = new Pool(upstream, { connections: 64, keepAliveTimeout: 4_000 });
const upstreamPath = `/customers/${customerId}`;
const upstreamHeaders = { authorization: upstreamAuthorization, accept: 'application/json' };

async function fetchRecord(): Promise<{ status: number; body: Buffer }> {
  const answer = await pool.request({ method: 'GET', path: upstreamPath, headers: upstreamHeaders });
  const chunks: Buffer[] = [];
  for await (const chunk of answer.body) chunks.push(chunk as Buffer);
  return { status: answer.statusCode, body: Buffer.concat(chunks) };
}

function direct(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  req.on('end', async () => {
    try {
      const { status, body } = await fetchRecord();
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(body.byteLength) });
      res.end(body);
    } catch {
      res.writeHead(502);
      res.end();
    }
  });
}

async function bridged(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const request = await toWebRequest(req, res, { url: `http://127.0.0.1${req.url ?? '/'}`, maxBodyBytes: 1024 * 1024 });
  await request.text();
  try {
    const { status, body } = await fetchRecord();
    await writeWebResponse(res, new Response(body.toString('utf8'), { status, headers: { 'content-type': 'application/json' } }));
  } catch {
    await writeWebResponse(res, new Response(null, { status: 502 }));
  }
}

async function requestBridged(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const request = await toWebRequest(req, res, { url: `http://127.0.0.1${req.url ?? '/'}`, maxBodyBytes: 1024 * 1024 });
  await request.text();
  try {
    const { status, body } = await fetchRecord();
    // The gateway's JSON answers are strings; the bridge writes them like this (adapters/node.ts).
    const text = body.toString('utf8');
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
    res.end(text);
  } catch {
    res.writeHead(502);
    res.end();
  }
}

const bridge = args.get('bridge');
const handler =
  bridge === 'request'
    ? (req: IncomingMessage, res: ServerResponse) => void requestBridged(req, res)
    : args.has('bridge')
      ? (req: IncomingMessage, res: ServerResponse) => void bridged(req, res)
      : direct;
await serveOnLoopback(handler, { onClose: () => pool.close() });
