/**
 * The framework matrix: one spec (official MCP client, REST invoke, approvals, client
 * disconnects, host routes, host error handling) against node:http, Express 4 and 5,
 * Fastify, Koa 2 and 3 — each in several mounting styles — and the shipped examples,
 * including a built Next.js app. Run it alone: the Next.js build is heavy.
 */
import { appTargets } from './frameworks/apps.js';
import { exampleTargets } from './frameworks/examples.js';
import { describeFrameworkSpec } from './frameworks/spec.js';

for (const target of [...appTargets, ...exampleTargets]) describeFrameworkSpec(target);
