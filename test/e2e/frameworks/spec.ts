/**
 * The one spec every framework target runs (the @whatwg-node `runTestsForEachServerImpl`
 * pattern): the official MCP client, REST invoke, an approval round trip, a client that
 * disconnects mid-call, and the host app's own routes beside the gateway.
 */
import { request as httpRequest } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** A tool name and an input for it. */
export interface ToolCall {
  tool: string;
  input: Record<string, unknown>;
}

/** A gateway served by one framework, as the spec sees it from outside. */
export interface ServedGateway {
  /** Where the gateway is mounted, e.g. `http://127.0.0.1:4321/atg`. */
  url: string;
  agentKey: string;
  /** A token of an admin principal with the approver role. */
  approverToken: string;
  /** A token of an admin principal that may read invocations and audit (admin or auditor). */
  auditorToken: string;
  /** Calls with known outcomes on this target's tools. */
  calls: {
    /** Allowed by policy: 200. */
    allowed: ToolCall;
    /** Fails the tool's input schema: 422. */
    invalid: ToolCall;
    /** Needs a human: 202, then 200 once approved. */
    needsApproval: ToolCall;
    /** Runs until its abort signal fires. */
    hangs: ToolCall;
  };
  /** Set when the test can watch the hanging tool's handler directly (in-process targets). */
  hangingTool?: { started: Promise<void>; aborted: Promise<void> };
  /** The host app's own routes, which must keep working beside the gateway. */
  hostRoutes: {
    /** A GET answering 200 with JSON `{ ok: true }`. */
    health: string;
    /** A POST that answers the JSON body it parsed as `{ received: body }` (host body parser). */
    echoJson?: string;
  };
  /** Present when the target's {@link FrameworkTarget.hasErrorHandling} is set. */
  hostErrors?: {
    /** Resolves once the abandoned upload (header `x-matrix-probe: abandon`) reached the host app. */
    arrived(): Promise<void>;
    /** Resolves with the error the host's error handling received. */
    handled(): Promise<unknown>;
  };
  close(): Promise<void>;
}

/** One framework setup the spec runs against. */
export interface FrameworkTarget {
  name: string;
  start(): Promise<ServedGateway>;
  /** For targets that build first (Next.js). */
  startTimeoutMs?: number;
  /** The framework has error handling the adapter reports to (`next(error)` and the like). */
  hasErrorHandling?: boolean;
}

const json = 'application/json';

async function invoke(served: ServedGateway, call: ToolCall, options: { key?: string | null } = {}) {
  const headers: Record<string, string> = { 'content-type': json };
  const key = options.key === undefined ? served.agentKey : options.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  const response = await fetch(`${served.url}/tools/${encodeURIComponent(call.tool)}/invoke`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ input: call.input }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

async function adminGet(served: ServedGateway, path: string): Promise<any> {
  const response = await fetch(`${served.url}/admin${path}`, { headers: { authorization: `Bearer ${served.auditorToken}` } });
  expect(response.status).toBe(200);
  return response.json();
}

/** Polls until `check` returns a value (event-driven waits for out-of-process targets; the test timeout bounds it). */
async function eventually<T>(check: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * POSTs `size` bytes with a declared Content-Length over node:http and resolves with the
 * answer, even when the server answers before reading the whole body (as a 413 does).
 */
function postLarge(url: string, headers: Record<string, string>, size: number): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    let answered = false;
    const request = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: { ...headers, 'content-length': String(size) },
      },
      (response) => {
        answered = true;
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
          request.destroy();
        });
        response.on('error', reject);
      },
    );
    request.on('error', (error) => {
      if (!answered) reject(error);
    });
    const prefix = '{"input":{"text":"';
    const suffix = '"}}';
    request.write(prefix);
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let remaining = size - prefix.length - suffix.length;
    const pump = () => {
      while (remaining > 0 && !answered && !request.destroyed) {
        const piece = remaining >= chunk.length ? chunk : chunk.subarray(0, remaining);
        remaining -= piece.length;
        if (!request.write(piece)) {
          request.once('drain', pump);
          return;
        }
      }
      if (remaining === 0 && !answered && !request.destroyed) request.end(suffix);
    };
    pump();
  });
}

/** POSTs an empty chunked body (no Content-Length) and resolves with the answer. */
function postEmptyChunked(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: { ...headers, 'transfer-encoding': 'chunked' },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end();
  });
}

/** Sends headers and half a body, then drops the connection once the server has the request. */
function abandonUpload(url: string, headers: Record<string, string>, arrived: () => Promise<void>): Promise<void> {
  const target = new URL(url);
  const request = httpRequest({
    host: target.hostname,
    port: target.port,
    path: target.pathname,
    method: 'POST',
    headers: { ...headers, 'content-length': '1000', 'x-matrix-probe': 'abandon' },
  });
  request.on('error', () => undefined);
  request.write('{"input":{"text":"');
  return arrived().then(() => {
    request.destroy();
  });
}

/** Registers the spec for one target. */
export function describeFrameworkSpec(target: FrameworkTarget): void {
  describe(target.name, () => {
    let served: ServedGateway;
    beforeAll(async () => {
      served = await target.start();
    }, target.startTimeoutMs);
    afterAll(async () => {
      await served?.close();
    });

    it('serves the official MCP client (v1) over <base>/mcp with a bearer key', async () => {
      const client = new Client({ name: 'framework-matrix', version: '1.0.0' });
      const transport = new StreamableHTTPClientTransport(new URL(`${served.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${served.agentKey}` } },
      });
      await client.connect(transport);
      try {
        const { tools } = await client.listTools();
        expect(tools.map((tool) => tool.name)).toContain(served.calls.allowed.tool);
        const result = await client.callTool({ name: served.calls.allowed.tool, arguments: served.calls.allowed.input });
        expect(result.isError).toBeFalsy();
        expect(JSON.stringify(result.content)).not.toBe('[]');
        const invalid = await client.callTool({ name: served.calls.invalid.tool, arguments: served.calls.invalid.input });
        expect(invalid.isError).toBe(true);
      } finally {
        await client.close();
      }
    });

    it('answers REST invoke with 200, 401, 413 and 422', async () => {
      const ok = await invoke(served, served.calls.allowed);
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ status: 'succeeded', invocationId: expect.any(String) });

      const anonymous = await invoke(served, served.calls.allowed, { key: null });
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(anonymous.body.error.code).toBe('UNAUTHENTICATED');

      const invalid = await invoke(served, served.calls.invalid);
      expect(invalid.status).toBe(422);
      expect(invalid.body.error.code).toBe('INVALID_INPUT');

      const tooLarge = await postLarge(
        `${served.url}/tools/${encodeURIComponent(served.calls.allowed.tool)}/invoke`,
        { authorization: `Bearer ${served.agentKey}`, 'content-type': json },
        1024 * 1024 + 4096,
      );
      expect(tooLarge.status).toBe(413);
      expect(JSON.parse(tooLarge.body).error.code).toBe('PAYLOAD_TOO_LARGE');
    });

    it('routes every method and media type under the mount to the gateway, and nothing else', async () => {
      const authorization = `Bearer ${served.agentKey}`;
      const invokeUrl = `${served.url}/tools/${encodeURIComponent(served.calls.allowed.tool)}/invoke`;
      for (const method of ['GET', 'DELETE']) {
        const response = await fetch(`${served.url}/mcp`, { method, headers: { authorization } });
        expect(response.status).toBe(405);
        await response.body?.cancel();
      }
      const textBody = await fetch(invokeUrl, {
        method: 'POST',
        headers: { authorization, 'content-type': 'text/plain' },
        body: '{"input":{}}',
      });
      expect(textBody.status).toBe(415);
      expect(((await textBody.json()) as any).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      const untypedBody = await fetch(invokeUrl, {
        method: 'POST',
        headers: { authorization },
        body: new TextEncoder().encode('{"input":{}}'),
      });
      expect(untypedBody.status).toBe(415);
      await untypedBody.body?.cancel();
      const lookalike = await fetch(`${served.url}x/tools`, { headers: { authorization } });
      expect(lookalike.status).toBe(404);
      expect(await lookalike.text()).not.toContain('"code":"NOT_FOUND"');
    });

    it('answers an empty body as the gateway does, also behind a body parser', async () => {
      const empty = await postEmptyChunked(`${served.url}/tools/${encodeURIComponent(served.calls.allowed.tool)}/invoke`, {
        authorization: `Bearer ${served.agentKey}`,
        'content-type': json,
      });
      expect(empty.status).toBe(400);
      expect(JSON.parse(empty.body).error).toEqual({ code: 'BAD_REQUEST', message: 'Malformed JSON body' });
    });

    it('runs an approved call once an approver approves it', async () => {
      const pending = await invoke(served, served.calls.needsApproval);
      expect(pending.status).toBe(202);
      expect(pending.body).toMatchObject({ status: 'pending_approval', approval: { id: expect.any(String) } });

      const approve = await fetch(`${served.url}/admin/approvals/${pending.body.approval.id}/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${served.approverToken}`, 'content-type': json },
        body: '{}',
      });
      expect(approve.status).toBe(200);
      await approve.body?.cancel();

      const repeated = await invoke(served, served.calls.needsApproval);
      expect(repeated.status).toBe(200);
      expect(repeated.body).toMatchObject({ status: 'succeeded' });
    });

    it('aborts the tool when the client disconnects mid-call', async () => {
      const { tool, input } = served.calls.hangs;
      const controller = new AbortController();
      const call = fetch(`${served.url}/tools/${encodeURIComponent(tool)}/invoke`, {
        method: 'POST',
        headers: { authorization: `Bearer ${served.agentKey}`, 'content-type': json },
        body: JSON.stringify({ input }),
        signal: controller.signal,
      }).catch((error: unknown) => error);

      if (served.hangingTool) await served.hangingTool.started;
      else
        await eventually(async () => (await adminGet(served, `/audit?type=invocation.started&tool=${encodeURIComponent(tool)}`)).items[0]);
      controller.abort();
      expect(await call).toBeInstanceOf(Error);

      if (served.hangingTool) await served.hangingTool.aborted;
      const record = await eventually(async () => {
        const { items } = await adminGet(served, `/invocations?tool=${encodeURIComponent(tool)}`);
        return items.find((item: any) => item.error !== null);
      });
      expect(record.error.code).toBe('CANCELLED');
    });

    it("keeps the host app's own routes working beside the gateway", async () => {
      const health = await fetch(served.hostRoutes.health);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ ok: true });
      if (served.hostRoutes.echoJson !== undefined) {
        const echoed = await fetch(served.hostRoutes.echoJson, { method: 'POST', headers: { 'content-type': json }, body: '{"a":[1,2]}' });
        expect(await echoed.json()).toEqual({ received: { a: [1, 2] } });
      }
      const outside = await fetch(new URL('/not-a-route', served.url));
      expect(outside.status).toBe(404);
    });

    if (target.hasErrorHandling) {
      it('hands request-body failures to the host error handling', async () => {
        if (served.hostErrors === undefined) throw new Error(`${target.name} has error handling but no probe`);
        const { arrived, handled } = served.hostErrors;
        await abandonUpload(
          `${served.url}/tools/${encodeURIComponent(served.calls.allowed.tool)}/invoke`,
          { authorization: `Bearer ${served.agentKey}`, 'content-type': 'text/plain' },
          arrived,
        );
        expect(await handled()).toBeInstanceOf(Error);
      });
    }
  });
}
