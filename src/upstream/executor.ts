import { isIP } from 'node:net';
import type { Dispatcher } from 'undici';
import { GatewayError, isGatewayError } from '../errors.js';
import { createSecretScrubber, type SecretScrubber } from '../secrets/secret-scrubber.js';
import { openSecretHeaders } from '../secrets/tool-secrets.js';
import type { Vault } from '../secrets/vault.js';
import type { HttpToolDefinition } from '../tools/http-tool.js';
import { AbortSource, type CallAbort, abortOfSignal, callAbortKey } from '../util/call-abort.js';
import { setOwnMember } from '../util/own-member.js';
import type { UpstreamClient, UpstreamRoute } from './client.js';
import { type BodyReading, type IncomingHttpHeaders, dispatchRequest } from './dispatch.js';
import { isAddressRefused } from './guarded-connector.js';
import { compileNetworkPolicy, type PrivateNetworkAllowance } from './network-policy.js';
import { compileRequestPlan, inputNotObject, type PlannedRequest } from './request-plan.js';
import { decodeResponseBody } from './response-body.js';
import { errorBodyText, interpretBody, upstreamStatusError } from './response-output.js';

/** Options of {@link createHttpExecutor}. */
export interface HttpExecutorOptions {
  /** The gateway's upstream client (pools, SSRF guard). */
  client: UpstreamClient;
  /** Opens sealed secret headers; needed only when the definition has `{ sealed }` values. */
  vault?: Vault;
  /** The id secret headers were sealed for (default: the tool name). */
  toolId?: string;
  /** Applied to upstream error excerpts after the tool's own secrets are removed (the gateway passes its redactor). */
  scrub?: (text: string) => string;
  /** Gateway-wide private network allowance, added to the tool's own. */
  allowPrivateNetwork?: PrivateNetworkAllowance;
  /**
   * `true` when every caller aborts the call's `signal` once the definition's `timeoutMs` has
   * passed (with a `TimeoutError` reason), as the gateway's pipeline does: the executor then
   * keeps no deadline timer and no AbortController of its own. Default `false`: the executor
   * enforces `timeoutMs` itself.
   */
  callerEnforcesDeadline?: boolean;
}

/** What the executor is told about a call. */
export interface HttpCallContext {
  /** Aborts the upstream call (client disconnect, gateway deadline). */
  signal: AbortSignal;
}

/** The gateway's tool context may carry its cancellation hook, read instead of `signal`. */
interface InternalCallContext extends HttpCallContext {
  [callAbortKey]?: CallAbort;
}

/** The result of one upstream call. */
export interface HttpExecution {
  output: unknown;
  upstreamStatus: number;
}

/** The output shape when a tool lists `responseHeaders`. */
export interface HttpResponseOutput {
  status: number;
  /** The listed headers the upstream sent (lower-case names); repeated headers as arrays. */
  headers: Record<string, string | string[]>;
  body: unknown;
}

/** Runs one HTTP tool. Callable, and also exposes `execute` for registries that want a method. */
export interface HttpExecutor {
  (input: unknown, context: HttpCallContext): Promise<HttpExecution>;
  execute(input: unknown, context: HttpCallContext): Promise<HttpExecution>;
  /** Plaintext of the tool's secrets and their common encodings, for the redactor. Empty when they cannot be opened. */
  secretValues(): string[];
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
const MAX_REDIRECTS = 5;
/**
 * How much of an error body is read for the excerpt, whatever `maxResponseBytes` is: that cap
 * is for the output, and a small one would leave nothing of the error to show once the end of
 * what was read is dropped (see errorBodyText).
 */
const EXCERPT_READ_BYTES = 64 * 1024;
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function addressNotAllowed(cause?: unknown): GatewayError {
  return new GatewayError({
    code: 'UPSTREAM_ERROR',
    message: 'upstream address not allowed: it is in a private or reserved network (see allowPrivateNetwork)',
    details: { reason: 'address_not_allowed' },
    cause,
  });
}

/** How much of a redirect's body is drained so its connection can be reused. */
const REDIRECT_DRAIN_BYTES = 64 * 1024;

/**
 * The deadline of a call whose caller does not enforce one: aborts at `totalMs` or when the
 * caller does, whichever comes first.
 */
class DeadlineAbort extends AbortSource {
  passed = false;
  private readonly timer: NodeJS.Timeout;
  private readonly stopListening: () => void;

  constructor(totalMs: number, caller: CallAbort) {
    super();
    this.timer = setTimeout(() => {
      this.passed = true;
      this.abort(new Error('upstream deadline passed'));
    }, totalMs);
    this.stopListening = caller.onAbort(() => this.abort(caller.reason));
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.stopListening();
  }
}

/**
 * Builds the executor of one HTTP tool: validates and compiles the definition once, then per
 * call fills the URL template, places input in query, body and headers, adds the secret
 * headers and calls the upstream through the client's pools with three deadlines (connect,
 * first byte, total) and a response size cap. Upstream failures become `UPSTREAM_ERROR` (502)
 * or `UPSTREAM_TIMEOUT` (504); the tool's secrets never appear in an output or an error.
 *
 * @example
 * ```ts
 * import { createHttpExecutor, createUpstreamClient, createVault } from 'agent-tool-gateway';
 *
 * const client = createUpstreamClient();
 * const execute = createHttpExecutor(listOrders, { client, vault: createVault({ encryptionKey }) });
 * const { output, upstreamStatus } = await execute({ id: 'c-42' }, { signal: request.signal });
 * ```
 */
export function createHttpExecutor(definition: HttpToolDefinition, options: HttpExecutorOptions): HttpExecutor {
  const { client, vault, scrub } = options;
  const callerEnforcesDeadline = options.callerEnforcesDeadline === true;
  const toolId = options.toolId ?? definition.name;
  const plan = compileRequestPlan(definition);
  const origin = plan.template.origin;
  const totalMs = definition.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const connectTimeoutMs = Math.min(definition.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, totalMs);
  const firstByteTimeoutMs = Math.min(definition.firstByteTimeoutMs ?? totalMs, totalMs);
  // A first-byte deadline no shorter than the total one adds nothing: it gets no timer of its own.
  const firstByteTimerMs = firstByteTimeoutMs < totalMs ? firstByteTimeoutMs : 0;
  const maxResponseBytes = definition.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const followSameOrigin = definition.followRedirects === 'same-origin';
  const responseHeaders = definition.responseHeaders;
  const route: UpstreamRoute = {
    policy: compileNetworkPolicy(definition.allowPrivateNetwork, options.allowPrivateNetwork),
    connectTimeoutMs,
  };
  // An IP-literal host is known now; refusing it here saves a trip to the pool. Host names
  // are checked at connect time, on the addresses actually connected to.
  const hostname = plan.template.hostname;
  const literalRefused = isIP(hostname) !== 0 && !route.policy.allows(hostname);

  let secrets: { headers: Array<[string, string]>; scrubber: SecretScrubber; values: string[] } | undefined;
  function openSecrets(): NonNullable<typeof secrets> {
    if (secrets !== undefined) return secrets;
    const headers = openSecretHeaders(definition, vault, toolId);
    const values = headers.map(([, value]) => value);
    secrets = { headers, values, scrubber: createSecretScrubber(values) };
    return secrets;
  }

  async function exchange(pool: Dispatcher, request: PlannedRequest, abort: CallAbort, scrubber: SecretScrubber): Promise<HttpExecution> {
    let { method, path, body } = request;
    const headers = request.headers;
    for (let hop = 0; ; hop++) {
      // undici's own header and body timers are off: the first-byte timer and the call's
      // deadline (this executor's, or its caller's) are exact and cover both.
      const answer = await dispatchRequest(
        pool,
        { method, path, headers, body: body ?? null, headersTimeout: 0, bodyTimeout: 0 },
        firstByteTimerMs,
        abort,
        chooseReading,
      );
      const status = answer.status;

      if (status >= 300 && status < 400) {
        if (!followSameOrigin || !REDIRECT_STATUSES.has(status)) {
          throw new GatewayError({
            code: 'UPSTREAM_ERROR',
            message: `upstream answered ${status} (a redirect, which this tool does not follow)`,
            details: { upstreamStatus: status },
          });
        }
        const location = firstHeader(answer.headers.location);
        let target: URL | undefined;
        try {
          target = location === undefined ? undefined : new URL(location, `${origin}${path}`);
        } catch {
          target = undefined;
        }
        if (target === undefined || target.origin !== origin) {
          throw new GatewayError({
            code: 'UPSTREAM_ERROR',
            message: `upstream answered ${status} with a redirect outside its origin, which is not followed`,
            details: { upstreamStatus: status },
          });
        }
        if (hop + 1 > MAX_REDIRECTS) {
          throw new GatewayError({
            code: 'UPSTREAM_ERROR',
            message: `upstream redirected more than ${MAX_REDIRECTS} times`,
            details: { upstreamStatus: status },
          });
        }
        path = `${target.pathname}${target.search}`;
        if ((status === 303 && method !== 'HEAD') || ((status === 301 || status === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
          delete headers['content-type'];
        }
        continue;
      }

      const received = answer.body as NonNullable<typeof answer.body>;
      if (status >= 400) {
        let read = received.read;
        try {
          read = await decodeResponseBody(read, received.plan, received.options);
        } catch {
          read = { data: Buffer.alloc(0), truncated: false };
        }
        throw upstreamStatusError(
          status,
          errorBodyText(read.data, read.truncated, firstHeader(answer.headers['content-type']), scrubber, scrub),
        );
      }

      const read =
        received.plan.codings.length === 0 ? received.read : await decodeResponseBody(received.read, received.plan, received.options);
      const parsed = interpretBody(read.data, firstHeader(answer.headers['content-type']), scrubber, status);
      if (responseHeaders === undefined) return { output: parsed, upstreamStatus: status };
      const picked: Record<string, string | string[]> = {};
      for (const name of responseHeaders) {
        // Own members only: a listed name such as "constructor" must not reach Object.prototype.
        if (!Object.hasOwn(answer.headers, name)) continue;
        const value = answer.headers[name];
        if (value === undefined) continue;
        const scrubbed = Array.isArray(value) ? value.map((item) => scrubber.text(item)) : scrubber.text(value);
        // A header named "__proto__" stays a member instead of replacing the object's prototype.
        setOwnMember(picked, name, scrubbed);
      }
      const output: HttpResponseOutput = { status, headers: picked, body: parsed };
      return { output, upstreamStatus: status };
    }
  }

  /** Redirects are drained, error bodies read for an excerpt, success bodies in full up to the cap. */
  function chooseReading(status: number, headers: IncomingHttpHeaders): BodyReading {
    if (status >= 300 && status < 400) return { mode: 'discard', limit: REDIRECT_DRAIN_BYTES };
    const error = status >= 400;
    return {
      mode: 'read',
      options: {
        limit: error ? EXCERPT_READ_BYTES : maxResponseBytes,
        overflow: error ? 'truncate' : 'fail',
        upstreamStatus: status,
        contentEncoding: headers['content-encoding'],
        contentLength: headers['content-length'],
      },
    };
  }

  function translate(error: unknown, deadlinePassed: boolean, caller: CallAbort): GatewayError {
    if (deadlinePassed) {
      return new GatewayError({ code: 'UPSTREAM_TIMEOUT', message: `upstream did not answer within ${totalMs} ms`, cause: error });
    }
    if (caller.aborted) {
      const reason: unknown = caller.reason;
      if (reason instanceof Error && reason.name === 'TimeoutError') {
        return new GatewayError({
          code: 'UPSTREAM_TIMEOUT',
          message: 'the call deadline passed before the upstream answered',
          cause: error,
        });
      }
      return new GatewayError({ code: 'UPSTREAM_ERROR', message: 'upstream call aborted by the caller', cause: error });
    }
    if (isGatewayError(error)) return error;
    if (isAddressRefused(error)) return addressNotAllowed(error);
    switch ((error as { code?: unknown } | null)?.code) {
      case 'UND_ERR_CONNECT_TIMEOUT':
        return new GatewayError({
          code: 'UPSTREAM_TIMEOUT',
          message: `upstream connection timed out after ${connectTimeoutMs} ms`,
          cause: error,
        });
      case 'UND_ERR_DESTROYED':
        return new GatewayError({
          code: 'UPSTREAM_ERROR',
          message: 'upstream call cut off: the upstream client was closed',
          cause: error,
        });
      case 'UND_ERR_HEADERS_TIMEOUT':
        return new GatewayError({
          code: 'UPSTREAM_TIMEOUT',
          message: `upstream sent no response within ${firstByteTimeoutMs} ms`,
          cause: error,
        });
      default:
        return new GatewayError({ code: 'UPSTREAM_ERROR', message: `upstream ${origin} could not be reached`, cause: error });
    }
  }

  async function run(input: unknown, context: HttpCallContext): Promise<HttpExecution> {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw inputNotObject();
    // The gateway's pipeline hands over its own cancellation hook, so no AbortSignal is made for the call.
    const caller = (context as InternalCallContext)[callAbortKey] ?? abortOfSignal(context.signal);
    if (caller.aborted) throw translate(caller.reason, false, caller);
    if (literalRefused) throw addressNotAllowed();
    const opened = openSecrets();
    const request = plan.build(input as Record<string, unknown>);
    for (const [name, value] of opened.headers) request.headers[name] = value;
    const pool = client.pool(origin, route);

    if (callerEnforcesDeadline) {
      try {
        return await exchange(pool, request, caller, opened.scrubber);
      } catch (error) {
        throw translate(error, false, caller);
      }
    }
    const deadline = new DeadlineAbort(totalMs, caller);
    try {
      return await exchange(pool, request, deadline, opened.scrubber);
    } catch (error) {
      throw translate(error, deadline.passed, caller);
    } finally {
      deadline.dispose();
    }
  }

  const executor = run as HttpExecutor;
  executor.execute = run;
  executor.secretValues = () => {
    try {
      return [...openSecrets().scrubber.forms];
    } catch {
      return [];
    }
  };
  return executor;
}
