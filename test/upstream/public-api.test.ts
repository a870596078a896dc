import { describe, expect, it } from 'vitest';
import { createHttpExecutor, createUpstreamClient, createVault, generateEncryptionKey, httpTool, secret } from '../../src/index.js';
import { listen } from '../helpers.js';

describe('the lower-level HTTP tool API (docs/http-tools.md)', () => {
  it('runs an HTTP tool without a gateway, from the package entry point', async () => {
    const seen: Array<string | undefined> = [];
    const upstream = await listen((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: req.url, echoed: req.headers.authorization }));
    });
    const listOrders = httpTool({
      name: 'orders.get',
      description: 'Get an order',
      method: 'GET',
      url: `${upstream.url}/orders/{id}`,
      inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      secretHeaders: { authorization: secret('Bearer orders-token-5b8d1f4a6c0e') },
      allowPrivateNetwork: true,
    });
    const client = createUpstreamClient();
    const vault = createVault({ encryptionKey: generateEncryptionKey() });
    try {
      const execute = createHttpExecutor(listOrders, { client, vault, scrub: (text) => text });
      const { output, upstreamStatus } = await execute({ id: 'c-42' }, { signal: AbortSignal.timeout(10_000) });
      expect(upstreamStatus).toBe(200);
      expect(seen).toEqual(['Bearer orders-token-5b8d1f4a6c0e']);
      // The upstream echoed the credential: the executor removes it from the output.
      expect(output).toEqual({ id: '/orders/c-42', echoed: '***' });
    } finally {
      await client.close();
      await upstream.close();
    }
  });
});
