import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUpstreamClient } from '../../src/upstream/client.js';
import { createHttpExecutor } from '../../src/upstream/executor.js';
import { callContext, loopbackTool } from './harness.js';

// An upstream that keeps idle connections for ten minutes and says so in `Keep-Alive`.
const server = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'application/json', 'keep-alive': 'timeout=600' });
  response.end('{"ok":true}');
});
server.keepAliveTimeout = 600_000;
const closed: Array<Promise<void>> = [];
server.on('connection', (socket: Socket) => closed.push(new Promise((resolve) => socket.on('close', () => resolve()))));
let origin = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('idle upstream connections', () => {
  it('are closed after keepAliveTimeoutMs, whatever longer time the upstream offers', async () => {
    const client = createUpstreamClient({ keepAliveTimeoutMs: 20 });
    try {
      const execute = createHttpExecutor(loopbackTool(origin, { url: `${origin}/items` }), { client });
      expect((await execute({}, callContext())).output).toEqual({ ok: true });
      expect(closed).toHaveLength(1);
      // The gateway's side closes the idle connection; the upstream would keep it for ten minutes.
      await closed[0];
    } finally {
      await client.destroy();
    }
  });
});
