/**
 * Host apps built the way users build them, one per framework and mounting style, each
 * serving a test gateway beside its own routes, its own body parser and its own error handling.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import express5 from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import Fastify4 from 'fastify4';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { createExpressMiddleware } from '../../../adapters/express.js';
import { fastifyGatewayPlugin } from '../../../adapters/fastify.js';
import { createKoaMiddleware } from '../../../adapters/koa.js';
import { createNodeHandler } from '../../../adapters/node.js';
import { type Gateway, createGateway, defineTool } from '../../../src/index.js';
import { adminTokens, echo, refund } from '../../fixtures.js';
import type { FrameworkTarget, ServedGateway } from './spec.js';

/** A tool that runs until its call is aborted, and says when it started and saw the abort. */
function hangingTool() {
  let markStarted: () => void = () => undefined;
  let markAborted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  const aborted = new Promise<void>((resolve) => {
    markAborted = resolve;
  });
  const tool = defineTool({
    name: 'hang',
    description: 'Runs until its call is aborted',
    inputSchema: { type: 'object' } as const,
    handler: (_input, { signal }) =>
      new Promise((resolve) => {
        markStarted();
        signal.addEventListener(
          'abort',
          () => {
            markAborted();
            resolve({ aborted: true });
          },
          { once: true },
        );
      }),
  });
  return { tool, started, aborted };
}

/** Resolves when the abandoned upload reaches the host app, and with the error its error handling saw. */
function hostErrorProbe() {
  let markArrived: () => void = () => undefined;
  let markHandled: (error: unknown) => void = () => undefined;
  const arrived = new Promise<void>((resolve) => {
    markArrived = resolve;
  });
  const handled = new Promise<unknown>((resolve) => {
    markHandled = resolve;
  });
  return {
    /** Call from a host middleware that runs before the gateway. */
    seen(headers: Record<string, string | string[] | undefined>): void {
      if (headers['x-matrix-probe'] === 'abandon') markArrived();
    },
    handle: (error: unknown) => markHandled(error),
    probe: { arrived: () => arrived, handled: () => handled },
  };
}

async function matrixGateway(basePath: string) {
  const hanging = hangingTool();
  const gateway = createGateway({
    basePath,
    tools: [echo, refund, hanging.tool],
    policy: [
      { id: 'echo-all', effect: 'allow', tools: ['echo', 'hang'] },
      { id: 'refunds-small', effect: 'allow', tools: ['refunds.*'], when: [{ path: '$.amount', op: 'lte', value: 100 }] },
      { id: 'refunds-big', effect: 'require_approval', tools: ['refunds.*'], when: [{ path: '$.amount', op: 'gt', value: 100 }] },
    ],
    admin: {
      tokens: [
        { token: adminTokens.admin, id: 'alice', roles: ['admin'] },
        { token: adminTokens.approver, id: 'bob', roles: ['approver'] },
      ],
    },
  });
  const { apiKey } = await gateway.admin.createAgent({ name: 'matrix-agent' });
  return { gateway, apiKey, hanging };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closer(server: Server, gateway: Gateway) {
  return async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await gateway.close();
  };
}

function served(
  origin: string,
  mount: string,
  setup: Awaited<ReturnType<typeof matrixGateway>>,
  probe: ReturnType<typeof hostErrorProbe>,
  close: () => Promise<void>,
): ServedGateway {
  return {
    url: origin + mount,
    agentKey: setup.apiKey,
    approverToken: adminTokens.approver,
    auditorToken: adminTokens.admin,
    calls: {
      allowed: { tool: 'echo', input: { text: 'through the framework' } },
      invalid: { tool: 'echo', input: { text: 42 } },
      needsApproval: { tool: 'refunds.create', input: { orderId: 'O-7', amount: 500 } },
      hangs: { tool: 'hang', input: {} },
    },
    hangingTool: setup.hanging,
    hostRoutes: { health: `${origin}/health`, echoJson: `${origin}/host/echo` },
    hostErrors: probe.probe,
    close,
  };
}

function nodeHttp(): FrameworkTarget {
  return {
    name: 'node:http (createNodeHandler, gateway basePath /atg)',
    hasErrorHandling: true,
    async start() {
      const setup = await matrixGateway('/atg');
      const probe = hostErrorProbe();
      const handler = createNodeHandler(setup.gateway);
      const server = createServer((req, res) => {
        probe.seen(req.headers);
        void handler(req, res, (error) => {
          if (error !== undefined) {
            probe.handle(error);
            if (!res.headersSent) res.writeHead(500).end();
            return;
          }
          if (req.url === '/health') {
            res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
            return;
          }
          if (req.url === '/host/echo' && req.method === 'POST') {
            const chunks: Buffer[] = [];
            req.on('data', (chunk: Buffer) => chunks.push(chunk));
            req.on('end', () => {
              const received = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
              res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ received }));
            });
            return;
          }
          res.writeHead(404).end();
        });
      });
      const origin = await listen(server);
      return served(origin, '/atg', setup, probe, closer(server, setup.gateway));
    },
  };
}

type ExpressFactory = typeof express5;

/**
 * Express 4 or 5. `parseJsonFirst`: express.json() (with a limit above the gateway's) runs
 * before the gateway for every request. `mount`: where `app.use` mounts the middleware
 * (`''` mounts it without a path, leaving the routing to the gateway's basePath).
 */
function expressApp(version: 4 | 5, options: { parseJsonFirst: boolean; mount: string; basePath: string }): FrameworkTarget {
  const express: ExpressFactory = version === 4 ? (express4 as ExpressFactory) : express5;
  const described = `${options.parseJsonFirst ? 'after express.json()' : 'no body parser'}, ${
    options.mount === '' ? 'app.use(middleware)' : `app.use('${options.mount}', middleware)`
  }, gateway basePath '${options.basePath}'`;
  return {
    name: `Express ${version} (${described})`,
    hasErrorHandling: true,
    async start() {
      const setup = await matrixGateway(options.basePath);
      const probe = hostErrorProbe();
      const app = express();
      app.use((req, _res, next) => {
        probe.seen(req.headers);
        next();
      });
      if (options.parseJsonFirst) app.use(express.json({ limit: '10mb' }));
      app.get('/health', (_req, res) => {
        res.json({ ok: true });
      });
      app.post('/host/echo', express.json(), (req, res) => {
        res.json({ received: req.body });
      });
      const middleware = createExpressMiddleware(setup.gateway);
      if (options.mount === '') app.use(middleware);
      else app.use(options.mount, middleware);
      app.use((error: unknown, _req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
        probe.handle(error);
        if (!res.headersSent) res.status(500).end();
      });
      const server = createServer(app);
      const origin = await listen(server);
      const mount = options.mount === '' ? options.basePath : options.mount;
      return served(origin, mount, setup, probe, closer(server, setup.gateway));
    },
  };
}

/** `createNodeHandler` used Connect-style in Express 5, after `express.json()`, at `app.use('/atg', …)`. */
function connectStyle(): FrameworkTarget {
  return {
    name: "createNodeHandler Connect-style (Express 5 after express.json(), app.use('/atg', handler), gateway basePath '')",
    hasErrorHandling: true,
    async start() {
      const setup = await matrixGateway('');
      const probe = hostErrorProbe();
      const app = express5();
      app.use((req, _res, next) => {
        probe.seen(req.headers);
        next();
      });
      app.use(express5.json({ limit: '10mb' }));
      app.get('/health', (_req, res) => {
        res.json({ ok: true });
      });
      app.post('/host/echo', (req, res) => {
        res.json({ received: req.body });
      });
      app.use('/atg', createNodeHandler(setup.gateway));
      app.use((error: unknown, _req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
        probe.handle(error);
        if (!res.headersSent) res.status(500).end();
      });
      const server = createServer(app);
      const origin = await listen(server);
      return served(origin, '/atg', setup, probe, closer(server, setup.gateway));
    },
  };
}

/** Fastify 4 or 5, the plugin registered with or without a prefix. */
function fastifyApp(version: 4 | 5, options: { prefix: string; basePath: string }): FrameworkTarget {
  const create = version === 4 ? (Fastify4 as unknown as typeof Fastify) : Fastify;
  return {
    name: `Fastify ${version} (${options.prefix === '' ? 'no prefix' : `prefix '${options.prefix}'`}, gateway basePath '${options.basePath}')`,
    hasErrorHandling: true,
    async start() {
      const setup = await matrixGateway(options.basePath);
      const probe = hostErrorProbe();
      const app = create();
      app.addHook('onRequest', async (request) => {
        probe.seen(request.headers);
      });
      app.setErrorHandler(async (error, _request, reply) => {
        probe.handle(error);
        return reply.code(500).send({ failed: true });
      });
      await app.register(fastifyGatewayPlugin, { gateway: setup.gateway, ...(options.prefix === '' ? {} : { prefix: options.prefix }) });
      app.get('/health', async () => ({ ok: true }));
      app.post('/host/echo', async (request) => ({ received: request.body }));
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as AddressInfo;
      const origin = `http://127.0.0.1:${port}`;
      return served(origin, options.prefix === '' ? options.basePath : options.prefix, setup, probe, async () => {
        await app.close();
        await setup.gateway.close();
      });
    },
  };
}

/**
 * Koa 2 or 3. `withRouter`: @koa/bodyparser runs first for every request and the gateway
 * is a @koa/router route; otherwise the middleware is `app.use`d and only the host's own
 * route parses bodies.
 */
function koaApp(version: 2 | 3, options: { withRouter: boolean }): FrameworkTarget {
  const KoaClass = version === 2 ? Koa2 : Koa3;
  return {
    name: `Koa ${version} (${options.withRouter ? 'after @koa/bodyparser, as a @koa/router route' : 'app.use(middleware)'}, gateway basePath '')`,
    hasErrorHandling: true,
    async start() {
      const setup = await matrixGateway('');
      const probe = hostErrorProbe();
      const app = new KoaClass();
      app.silent = true;
      app.use(async (ctx, next) => {
        probe.seen(ctx.headers);
        try {
          await next();
        } catch (error) {
          probe.handle(error);
          ctx.status = 500;
        }
      });
      const middleware = createKoaMiddleware(setup.gateway, { basePath: '/atg' });
      const router = new Router();
      router.get('/health', (ctx) => {
        ctx.body = { ok: true };
      });
      if (options.withRouter) {
        app.use(bodyParser({ jsonLimit: '10mb' }));
        router.post('/host/echo', (ctx) => {
          ctx.body = { received: ctx.request.body };
        });
        router.all('/atg{/*path}', middleware);
      } else {
        router.post('/host/echo', bodyParser(), (ctx) => {
          ctx.body = { received: ctx.request.body };
        });
        app.use(middleware);
      }
      app.use(router.routes());
      const server = createServer(app.callback());
      const origin = await listen(server);
      return served(origin, '/atg', setup, probe, closer(server, setup.gateway));
    },
  };
}

/** Every host-app target, in-process. */
export const appTargets: FrameworkTarget[] = [
  nodeHttp(),
  expressApp(4, { parseJsonFirst: false, mount: '', basePath: '/atg' }),
  expressApp(4, { parseJsonFirst: true, mount: '/atg', basePath: '' }),
  expressApp(5, { parseJsonFirst: false, mount: '/atg', basePath: '' }),
  expressApp(5, { parseJsonFirst: true, mount: '/atg', basePath: '/gateway' }),
  connectStyle(),
  fastifyApp(4, { prefix: '/atg', basePath: '' }),
  fastifyApp(5, { prefix: '/atg', basePath: '' }),
  fastifyApp(5, { prefix: '', basePath: '/atg' }),
  koaApp(2, { withRouter: false }),
  koaApp(2, { withRouter: true }),
  koaApp(3, { withRouter: false }),
  koaApp(3, { withRouter: true }),
];
