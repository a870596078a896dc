import { expect } from 'vitest';
import { type ErrorCode, GatewayError } from '../../src/errors.js';
import { type HttpToolOptions, httpTool } from '../../src/tools/http-tool.js';
import type { HttpCallContext } from '../../src/upstream/executor.js';

/** A call context whose signal never fires. */
export function callContext(): HttpCallContext {
  return { signal: new AbortController().signal };
}

/** An HTTP tool on the given loopback origin, allowed to reach it. */
export function loopbackTool(origin: string, overrides: Partial<HttpToolOptions> = {}) {
  return httpTool({
    name: 'test.tool',
    description: 'A tool under test',
    method: 'GET',
    url: `${origin}/api/items`,
    inputSchema: { type: 'object', properties: {} },
    allowPrivateNetwork: true,
    ...overrides,
  });
}

/** Awaits a rejection and checks it is a GatewayError with this code. */
export async function rejection(promise: Promise<unknown>, code: ErrorCode): Promise<GatewayError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(GatewayError);
  const error = caught as GatewayError;
  expect({ code: error.code, message: error.message }).toMatchObject({ code });
  return error;
}
