/**
 * The example apps, run as shipped: Express, Fastify and Koa in-process through their
 * exported `start()`, and the Next.js app built with `next build` and served by `next start`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start as startExpressExample } from '../../../examples/express/server.js';
import { start as startFastifyExample } from '../../../examples/fastify/server.js';
import { start as startKoaExample } from '../../../examples/koa/server.js';
import { adminTokens } from '../../fixtures.js';
import type { FrameworkTarget, ServedGateway } from './spec.js';

/** The calls every example's demo tools answer the same way. */
const exampleCalls: ServedGateway['calls'] = {
  allowed: { tool: 'refunds.create', input: { orderId: 'O-1', amount: 20 } },
  invalid: { tool: 'refunds.create', input: { orderId: 'O-1', amount: 'twenty' } },
  needsApproval: { tool: 'refunds.create', input: { orderId: 'O-2', amount: 500 } },
  hangs: { tool: 'reports.export', input: { seconds: 600 } },
};

type ExampleStart = typeof startExpressExample;

function inProcessExample(name: string, start: ExampleStart): FrameworkTarget {
  return {
    name: `${name} (as shipped)`,
    async start() {
      const app = await start({ port: 0, adminToken: adminTokens.admin, approverToken: adminTokens.approver });
      const origin = new URL(app.url).origin;
      return {
        url: app.url,
        agentKey: app.apiKey,
        approverToken: adminTokens.approver,
        auditorToken: adminTokens.admin,
        calls: exampleCalls,
        hostRoutes: { health: `${origin}/health` },
        close: app.close,
      };
    },
  };
}

const nextAppDirectory = fileURLToPath(new URL('../../../examples/nextjs', import.meta.url));
/** The build output: made fresh for each run and removed afterwards, so it never lands in the work tree for long. */
const nextBuildDirectory = join(nextAppDirectory, '.next');
const nextBin = createRequire(import.meta.url).resolve('next/dist/bin/next');

/** Env for `next`: offline, no telemetry, never an automatic package install (CI), production. */
function nextEnvironment(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_ENV: 'production',
    CI: '1',
    NEXT_TELEMETRY_DISABLED: '1',
    ATG_ADMIN_TOKEN: adminTokens.admin,
    ATG_APPROVER_TOKEN: adminTokens.approver,
  };
}

function runToCompletion(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [nextBin, ...args], { env: nextEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`next ${args[0]} exited with ${code}:\n${output.slice(-4000)}`));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  return exited;
}

/** Starts `next start` on a port the OS picks and resolves with its URL once it is ready. */
function startNextServer(): Promise<{ origin: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [nextBin, 'start', nextAppDirectory, '--port', '0', '--hostname', '127.0.0.1'], {
      env: nextEnvironment(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Never leave a server behind, whatever happens to this test process.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    child.once('exit', () => process.off('exit', killOnExit));
    // A deadline for a server that never gets ready, so it cannot outlive a failed hook.
    const deadline = setTimeout(() => {
      child.kill('SIGTERM');
    }, 120_000);
    child.once('exit', () => clearTimeout(deadline));
    let output = '';
    let origin: string | undefined;
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      origin ??= /Local:\s+(http:\/\/[^\s]+)/.exec(output)?.[1];
      if (origin !== undefined && /Ready in/.test(output)) {
        clearTimeout(deadline);
        child.stdout?.off('data', onOutput);
        child.stdout?.resume();
        child.stderr?.resume();
        resolve({ origin, child });
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`next start exited with ${code}:\n${output.slice(-4000)}`)));
  });
}

function nextExample(): FrameworkTarget {
  return {
    name: 'Next.js App Router (examples/nextjs as shipped: next build, next start)',
    startTimeoutMs: 300_000,
    async start() {
      await rm(nextBuildDirectory, { recursive: true, force: true });
      let started: Awaited<ReturnType<typeof startNextServer>>;
      try {
        await runToCompletion(['build', nextAppDirectory]);
        started = await startNextServer();
      } catch (error) {
        await rm(nextBuildDirectory, { recursive: true, force: true });
        throw error;
      }
      const { origin, child } = started;
      const url = `${origin}/api/atg`;
      const close = async () => {
        await stopChild(child);
        await rm(nextBuildDirectory, { recursive: true, force: true });
      };
      const created = await fetch(`${url}/admin/agents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminTokens.admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'matrix-agent' }),
      });
      if (created.status !== 201) {
        await close();
        throw new Error(`creating an agent answered ${created.status}`);
      }
      const { apiKey } = (await created.json()) as { apiKey: string };
      return {
        url,
        agentKey: apiKey,
        approverToken: adminTokens.approver,
        auditorToken: adminTokens.admin,
        calls: exampleCalls,
        hostRoutes: { health: `${origin}/api/health` },
        close,
      };
    },
  };
}

/** The shipped examples. */
export const exampleTargets: FrameworkTarget[] = [
  inProcessExample('examples/express', startExpressExample),
  inProcessExample('examples/fastify', startFastifyExample),
  inProcessExample('examples/koa', startKoaExample),
  nextExample(),
];
