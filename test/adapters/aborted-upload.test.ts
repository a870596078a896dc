/**
 * A client that goes away in the middle of its upload: the adapters hand the framework's
 * error handling a client error (400, `expose`), as the frameworks' own body readers do,
 * not an error that reads as a server failure, and the host keeps serving.
 */
import { type Server, createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import express5 from 'express';
import express4 from 'express4';
import Fastify, { type FastifyInstance } from 'fastify';
import Fastify4 from 'fastify4';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { afterEach, describe, expect, it } from 'vitest';
import { createExpressMiddleware } from '../../adapters/express.js';
import { fastifyGatewayPlugin } from '../../adapters/fastify.js';
import { createKoaMiddleware } from '../../adapters/koa.js';
import { createNodeHandler } from '../../adapters/node.js';
import { type Gateway, createGateway } from '../../src/index.js';
import { echo } from '../fixtures.js';
import { deferred } from '../helpers.js';

/** A host serving the gateway at `/atg` that tells when a request reaches it and what its error handling got. */
interface WatchedHost {
  port: number;
  /** Settles when the next request has reached the gateway's adapter. */
  arrived: Promise<void>;
  /** Settles with what the framework's error handling got. */
  failed: Promise<unknown>;
  close(): Promise<void>;
}

type StartWatchedHost = (gateway: Gateway) => Promise<WatchedHost>;

function watch() {
  const arrived = deferred();
  let fail: (error: unknown) => void = () => undefined;
  const failed = new Promise<unknown>((resolve) => {
    fail = resolve;
  });
  return { arrived, failed, fail };
}

async function listening(server: Server, watched: ReturnType<typeof watch>): Promise<WatchedHost> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    arrived: watched.arrived.promise,
    failed: watched.failed,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function expressHost(version: 4 | 5): StartWatchedHost {
  return (gateway) => {
    const watched = watch();
    const express = version === 4 ? (express4 as typeof express5) : express5;
    const app = express();
    app.use((_req, _res, next) => {
      watched.arrived.resolve();
      next();
    });
    app.use('/atg', createExpressMiddleware(gateway));
    app.use((error: unknown, _req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
      watched.fail(error);
      res.end();
    });
    return listening(createServer(app), watched);
  };
}

function koaHost(version: 2 | 3): StartWatchedHost {
  return (gateway) => {
    const watched = watch();
    const app = new (version === 2 ? Koa2 : Koa3)();
    app.silent = true;
    app.use(async (_ctx, next) => {
      watched.arrived.resolve();
      try {
        await next();
      } catch (error) {
        watched.fail(error);
        throw error;
      }
    });
    app.use(createKoaMiddleware(gateway, { basePath: '/atg' }));
    return listening(createServer(app.callback()), watched);
  };
}

function fastifyHost(create: () => FastifyInstance): StartWatchedHost {
  return async (gateway) => {
    const watched = watch();
    const app = create();
    app.addHook('preHandler', async () => {
      watched.arrived.resolve();
    });
    app.setErrorHandler(async (error, _request, reply) => {
      watched.fail(error);
      return reply.send(error);
    });
    await app.register(fastifyGatewayPlugin, { gateway, prefix: '/atg' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return {
      port: (app.server.address() as AddressInfo).port,
      arrived: watched.arrived.promise,
      failed: watched.failed,
      close: () => app.close(),
    };
  };
}

const hosts: Array<[string, StartWatchedHost]> = [
  [
    'createNodeHandler with next',
    (gateway) => {
      const watched = watch();
      const handler = createNodeHandler(gateway, { basePath: '/atg' });
      const server = createServer((req, res) => {
        watched.arrived.resolve();
        void handler(req, res, (error) => {
          watched.fail(error);
          res.destroy();
        });
      });
      return listening(server, watched);
    },
  ],
  ['Express 5', expressHost(5)],
  ['Express 4', expressHost(4)],
  ['Fastify 5', fastifyHost(() => Fastify())],
  ['Fastify 4', fastifyHost(() => Fastify4() as unknown as FastifyInstance)],
  ['Koa 3', koaHost(3)],
  ['Koa 2', koaHost(2)],
];

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

describe.each(hosts)('%s', (_name, start) => {
  it('hands the framework a 400 client error when the upload breaks off, and keeps serving', async () => {
    const gateway = createGateway({ tools: [echo], policy: [{ id: 'all', effect: 'allow' }] });
    const { apiKey } = await gateway.admin.createAgent({ name: 'a' });
    const host = await start(gateway);
    closers.push(async () => {
      await host.close();
      await gateway.close();
    });
    // 1000 bytes announced, a few sent, then the connection is gone.
    const socket = connect(host.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(
      `POST /atg/tools/echo/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${apiKey}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"input":',
    );
    await host.arrived;
    socket.destroy();
    const error = await host.failed;
    expect(error).toMatchObject({ name: 'RequestAbortedError', message: 'request aborted', status: 400, statusCode: 400, expose: true });
    const after = await fetch(`http://127.0.0.1:${host.port}/atg/tools/echo/invoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: '{"input":{"text":"still here"}}',
    });
    expect(after.status).toBe(200);
    expect(await after.json()).toMatchObject({ status: 'succeeded', output: { text: 'still here' } });
  });
});
