/**
 * Minimal host apps for adapter tests, one per framework, each serving a gateway on
 * 127.0.0.1 (port 0) under `/atg`, with or without a body parser in front of it.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bodyParser } from '@koa/bodyparser';
import express5 from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { createExpressMiddleware } from '../../adapters/express.js';
import { fastifyGatewayPlugin } from '../../adapters/fastify.js';
import { createKoaMiddleware } from '../../adapters/koa.js';
import { createNodeHandler } from '../../adapters/node.js';
import type { Gateway } from '../../src/index.js';

/** A running host: the gateway's URL (`…/atg`) and how to stop it (the gateway is the caller's). */
export interface Host {
  url: string;
  close(): Promise<void>;
}

/** The adapter's own options, as every adapter takes them. */
export interface AdapterOptions {
  maxBodyBytes?: number;
}

/** A body parser in front of the gateway: none, the framework's JSON parser, or one that keeps no raw text. */
export type Parser = 'none' | 'json' | 'json-without-raw-body';

async function listen(server: Server): Promise<Host> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/atg`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `createNodeHandler` on node:http, mounted at `/atg`. */
export function nodeHost(gateway: Gateway, options: AdapterOptions = {}): Promise<Host> {
  return listen(createServer(createNodeHandler(gateway, { basePath: '/atg', ...options })));
}

/** Express 4 or 5: the middleware at `app.use('/atg', …)`, after `express.json()` when `parser` is `'json'`. */
export function expressHost(version: 4 | 5, gateway: Gateway, parser: 'none' | 'json', options: AdapterOptions = {}): Promise<Host> {
  const express = version === 4 ? (express4 as typeof express5) : express5;
  const app = express();
  if (parser === 'json') app.use(express.json({ limit: '10mb' }));
  app.use('/atg', createExpressMiddleware(gateway, options));
  return listen(createServer(app));
}

/**
 * `createNodeHandler` used Connect-style in Express 5 at `app.use('/atg', …)`, after
 * `express.json()`. Its own `basePath` is `''`: Express took `/atg` off the URL already.
 */
export function connectHost(gateway: Gateway, options: AdapterOptions = {}): Promise<Host> {
  const app = express5();
  app.use(express5.json({ limit: '10mb' }));
  app.use('/atg', createNodeHandler(gateway, { basePath: '', ...options }));
  return listen(createServer(app));
}

/** Fastify 5, the plugin registered with `prefix: '/atg'`; `onError` sees what reaches Fastify's error handler. */
export async function fastifyHost(gateway: Gateway, options: AdapterOptions = {}, onError?: (error: unknown) => void): Promise<Host> {
  const app = Fastify();
  app.setErrorHandler(async (error, _request, reply) => {
    onError?.(error);
    return reply.code(500).send({ failed: true });
  });
  await app.register(fastifyGatewayPlugin, { gateway, prefix: '/atg', ...options });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/atg`, close: () => app.close() };
}

/**
 * A JSON body parser that keeps no raw text (as co-body and koa-body by default): an empty
 * body parses to `{}`.
 */
async function jsonWithoutRawBody(ctx: Koa3.Context, next: Koa3.Next): Promise<void> {
  if (ctx.is('application/json')) {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    (ctx.request as { body?: unknown }).body = text === '' ? {} : JSON.parse(text);
  }
  await next();
}

/** Koa 2 or 3: the middleware for `/atg`, after the given body parser. */
export function koaHost(version: 2 | 3, gateway: Gateway, parser: Parser, options: AdapterOptions = {}): Promise<Host> {
  const app = new (version === 2 ? Koa2 : Koa3)();
  app.silent = true;
  if (parser === 'json') app.use(bodyParser({ jsonLimit: '10mb' }));
  if (parser === 'json-without-raw-body') app.use(jsonWithoutRawBody);
  app.use(createKoaMiddleware(gateway, { basePath: '/atg', ...options }));
  return listen(createServer(app.callback()));
}

/** Starts a host app serving `gateway` at `/atg`. */
export type StartHost = (gateway: Gateway, options?: AdapterOptions) => Promise<Host>;

/** Every Node host app, without a body parser unless its name says so: the matrix adapter tests run on. */
export const everyHost: Array<[string, StartHost]> = [
  ['node:http', (gateway, options) => nodeHost(gateway, options)],
  ['createNodeHandler Connect-style in Express 5', (gateway, options) => connectHost(gateway, options)],
  ['Express 5', (gateway, options) => expressHost(5, gateway, 'none', options)],
  ['Express 4', (gateway, options) => expressHost(4, gateway, 'none', options)],
  ['Fastify 5', (gateway, options) => fastifyHost(gateway, options)],
  ['Koa 3', (gateway, options) => koaHost(3, gateway, 'none', options)],
  ['Koa 2', (gateway, options) => koaHost(2, gateway, 'none', options)],
];
