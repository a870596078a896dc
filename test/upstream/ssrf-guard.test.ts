import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUpstreamClient } from '../../src/upstream/client.js';
import { createHttpExecutor } from '../../src/upstream/executor.js';
import { isAddressRefused } from '../../src/upstream/guarded-connector.js';
import { compileNetworkPolicy } from '../../src/upstream/network-policy.js';
import { callContext, loopbackTool, rejection } from './harness.js';
import { type LoopbackServer, sendJson, startLoopbackServer } from './loopback-server.js';

let server: LoopbackServer;
// A resolver standing in for DNS: names that resolve to loopback, as a rebinding attack would.
const client = createUpstreamClient({
  resolveHost: async (hostname) => {
    if (hostname === 'rebound.example.com') return [{ address: '127.0.0.1', family: 4 }];
    if (hostname === 'mixed.example.com')
      return [
        { address: '::ffff:127.0.0.1', family: 6 },
        { address: '127.0.0.1', family: 4 },
      ];
    if (hostname === 'metadata.example.com') return [{ address: '169.254.169.254', family: 4 }];
    if (hostname === 'metadata6.example.com') return [{ address: 'fd00:ec2::254', family: 6 }];
    if (hostname === 'localhost')
      return [
        { address: '127.0.0.1', family: 4 },
        { address: '::1', family: 6 },
      ];
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  },
});
const systemDnsClient = createUpstreamClient();

beforeAll(async () => {
  server = await startLoopbackServer((_request, response) => sendJson(response, 200, { reached: true }));
});
afterAll(async () => {
  await Promise.all([client.close(), systemDnsClient.close()]);
  await server.close();
});

function refusedTool(url: string) {
  return loopbackTool(server.origin, { url, allowPrivateNetwork: undefined, timeoutMs: 10_000 });
}

describe('SSRF guard: refused before any byte is sent', () => {
  const spellings = () => [
    `http://127.0.0.1:${server.port}/api`,
    `http://[::1]:${server.port}/api`,
    `http://[::ffff:127.0.0.1]:${server.port}/api`,
    `http://[::ffff:7f00:1]:${server.port}/api`,
    `http://2130706433:${server.port}/api`,
    `http://0x7f.1:${server.port}/api`,
    `http://0177.0.0.1:${server.port}/api`,
    `http://127.1:${server.port}/api`,
    `http://[64:ff9b::7f00:1]:${server.port}/api`,
    `http://[2002:7f00:1::]:${server.port}/api`,
    `http://169.254.169.254/latest/meta-data/`,
    `http://[fd00:ec2::254]/latest/meta-data/`,
    `http://100.100.100.200/latest/meta-data/`,
    `http://10.0.0.1:${server.port}/api`,
    `http://rebound.example.com:${server.port}/api`,
    `http://mixed.example.com:${server.port}/api`,
    `http://localhost:${server.port}/api`,
  ];

  it('refuses every loopback, private and metadata spelling', async () => {
    for (const url of spellings()) {
      const before = server.connections();
      const error = await rejection(createHttpExecutor(refusedTool(url), { client })({}, callContext()), 'UPSTREAM_ERROR');
      expect(error.message, url).toMatch(/^upstream address not allowed/);
      expect(error.status).toBe(502);
      expect(server.connections(), url).toBe(before);
    }
    expect(server.requests).toHaveLength(0);
  });

  it('refuses localhost through the system resolver too', async () => {
    const before = server.connections();
    const error = await rejection(
      createHttpExecutor(refusedTool(`http://localhost:${server.port}/api`), { client: systemDnsClient })({}, callContext()),
      'UPSTREAM_ERROR',
    );
    expect(error.message).toMatch(/^upstream address not allowed/);
    expect(server.connections()).toBe(before);
  });

  it('refuses at connect time, below the executor, for an IP-literal origin', async () => {
    const pool = client.pool(server.origin, { policy: compileNetworkPolicy(), connectTimeoutMs: 5_000 });
    const before = server.connections();
    const failure = await pool.request({ method: 'GET', path: '/direct' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isAddressRefused(failure)).toBe(true);
    expect(server.connections()).toBe(before);
  });

  it('keeps cloud metadata refused under a private range that holds it, as the docs allow fd00::/8', async () => {
    for (const [url, allowPrivateNetwork] of [
      ['http://metadata.example.com/computeMetadata/v1/', ['169.254.0.0/16']],
      ['http://metadata6.example.com/latest/meta-data/', ['10.0.0.0/8', 'fd00::/8']],
    ] as const) {
      const tool = loopbackTool(server.origin, { url, allowPrivateNetwork, connectTimeoutMs: 500, timeoutMs: 10_000 });
      const error = await rejection(createHttpExecutor(tool, { client })({}, callContext()), 'UPSTREAM_ERROR');
      expect(error.message, url).toMatch(/^upstream address not allowed/);
    }
  });

  it('keeps cloud metadata refused under allowPrivateNetwork: true', async () => {
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://metadata.example.com/computeMetadata/v1/']) {
      const tool = loopbackTool(server.origin, { url, allowPrivateNetwork: true, timeoutMs: 10_000 });
      const error = await rejection(createHttpExecutor(tool, { client })({}, callContext()), 'UPSTREAM_ERROR');
      expect(error.message).toMatch(/^upstream address not allowed/);
    }
  });
});

describe('SSRF guard: allowing is deliberate', () => {
  it('connects when the tool allows private networks', async () => {
    const tool = loopbackTool(server.origin, { url: `http://127.0.0.1:${server.port}/api`, allowPrivateNetwork: true });
    expect((await createHttpExecutor(tool, { client })({}, callContext())).output).toEqual({ reached: true });
  });

  it('connects when the tool lists the CIDR', async () => {
    const tool = loopbackTool(server.origin, {
      url: `http://rebound.example.com:${server.port}/api`,
      allowPrivateNetwork: ['127.0.0.0/8'],
    });
    expect((await createHttpExecutor(tool, { client })({}, callContext())).upstreamStatus).toBe(200);
  });

  it('connects when the gateway-wide option allows it', async () => {
    const tool = refusedTool(`http://localhost:${server.port}/api`);
    const viaBoolean = createHttpExecutor(tool, { client, allowPrivateNetwork: true });
    expect((await viaBoolean({}, callContext())).output).toEqual({ reached: true });
    const viaCidr = createHttpExecutor(tool, { client, allowPrivateNetwork: ['127.0.0.1/32'] });
    expect((await viaCidr({}, callContext())).output).toEqual({ reached: true });
  });

  it('a CIDR for one range does not open another', async () => {
    const tool = loopbackTool(server.origin, { url: `http://127.0.0.1:${server.port}/api`, allowPrivateNetwork: ['10.0.0.0/8'] });
    await rejection(createHttpExecutor(tool, { client })({}, callContext()), 'UPSTREAM_ERROR');
  });
});

describe('unreachable upstreams', () => {
  it('report a generic message naming only the tool origin', async () => {
    const tool = loopbackTool('http://127.0.0.1:1', { url: 'http://127.0.0.1:1/api' });
    const error = await rejection(createHttpExecutor(tool, { client })({}, callContext()), 'UPSTREAM_ERROR');
    expect(error.message).toBe('upstream http://127.0.0.1:1 could not be reached');

    const unknownHost = loopbackTool(server.origin, { url: 'http://no-such-host.invalid/api', allowPrivateNetwork: undefined });
    const dnsError = await rejection(createHttpExecutor(unknownHost, { client })({}, callContext()), 'UPSTREAM_ERROR');
    expect(dnsError.message).toBe('upstream http://no-such-host.invalid could not be reached');
  });
});
