import {
  type AuditSigningKey,
  type AuditVerificationKey,
  type PreparedSigningKey,
  prepareSigningKey,
  prepareVerificationKeys,
  signCompact,
  verifyCompact,
} from '../audit/keys.js';
import type { ApprovalView } from './coordinator.js';
import { failedAnswer, retryableStatus } from '../util/webhook-answer.js';
import { MAX_TIMER_MS, requestSignal, sleep } from '../util/timers.js';
import { numberOption } from '../util/number-option.js';
import { webhookHeaders, webhookUrl } from '../util/webhook-target.js';

/** What an approver is told about a new approval: the approval as approvers see it, and who asked. */
export interface ApprovalNotice extends ApprovalView {
  agentName: string;
}

/**
 * Who is told about pending approvals. `notify` is called once per new approval, off the
 * call path: a slow or failing approver never delays or fails the agent's call. Decisions
 * come back through the admin API or `gateway.admin.decide()`.
 *
 * The gateway's `close()` waits for notifications under way (within its `timeoutMs`), then
 * calls `close`, which should give up on what is still being delivered. An approver given to
 * several gateways in one process is closed by the last of them to close.
 */
export interface Approver {
  notify(approval: ApprovalNotice): void | Promise<void>;
  /** Optional: stops deliveries still under way or waiting for a retry; called by the gateway's `close()`. */
  close?(): void | Promise<void>;
}

/**
 * An approver that calls a function in this process (post to chat, page someone, queue a
 * task in your own system).
 *
 * @example
 * ```ts
 * import { callbackApprover, createGateway } from 'agent-tool-gateway';
 *
 * const gateway = createGateway({
 *   approver: callbackApprover(async (approval) => {
 *     await slack.post(`#approvals`, `${approval.agentName} wants ${approval.tool}: ${JSON.stringify(approval.input)}`);
 *   }),
 * });
 * ```
 */
export function callbackApprover(callback: (approval: ApprovalNotice) => void | Promise<void>): Approver {
  if (typeof callback !== 'function') throw new TypeError('callbackApprover: callback must be a function');
  return { notify: callback };
}

/** The JWS `typ` of an approval webhook. */
export const approvalWebhookType = 'atg-approval+jws';

/** Options of {@link webhookApprover}. */
export interface WebhookApproverOptions {
  /** Where each approval is POSTed: an absolute http(s) URL without user info (credentials go in `headers`). */
  url: string | URL;
  /** Ed25519 private key (CryptoKey, KeyObject or private JWK) that signs every body. */
  signingKey: AuditSigningKey;
  /** `kid` of the signatures. Default: the JWK's `kid`, else the RFC 7638 thumbprint. */
  keyId?: string;
  /** Retries of a failed POST (network error, 408, 429, 5xx): an integer, 0 or more. Default 5. */
  retries?: number;
  /** First retry delay in ms (0 or more); doubles each time, with jitter, up to 30 s. Default 500. */
  retryBaseMs?: number;
  /** Deadline of one POST in ms, from 1 to 2,147,483,647. Default 10 000. */
  timeoutMs?: number;
  /** Extra request headers (the receiver's own API key, for example). */
  headers?: Record<string, string>;
  fetch?: typeof globalThis.fetch;
  /**
   * Told when an approval could not be delivered: after every retry, on an answer not worth
   * retrying, or because the approver was closed. The error names the approval
   * (`approval webhook: approval <id> not delivered: <why>`), its `cause` is what failed.
   */
  onError?: (error: unknown) => void;
}

/**
 * An approver that POSTs every new approval to a URL as a compact JWS (EdDSA,
 * `Content-Type: application/jose`), so the receiver can prove the gateway sent it. Delivery
 * is retried with exponential backoff in the background; it never blocks a call. Verify
 * with {@link verifyApprovalWebhook} and the public JWK of the key. Its `close()`, which the
 * gateway's `close()` calls, aborts the POST under way and any wait for a retry, and nothing
 * is sent after it: give each gateway its own approver. Options are checked when it is created:
 * a `url` that is not an absolute http(s) URL or carries user info, a header `fetch` would
 * refuse, or a count or duration that is not a usable number (`retries: NaN`, `timeoutMs: 0`),
 * throws a `TypeError` naming it (never a credential).
 *
 * @example
 * ```ts
 * import { generateAuditSigningKey, webhookApprover } from 'agent-tool-gateway';
 *
 * const { privateKey, publicJwk } = await generateAuditSigningKey();
 * const approver = webhookApprover({ url: 'https://approvals.example.com/hook', signingKey: privateKey });
 * // give publicJwk to the receiver
 * ```
 */
export function webhookApprover(options: WebhookApproverOptions): Approver {
  const url = webhookUrl('webhookApprover', options.url);
  // Checked here, as webhookSink checks them: `retries: NaN` would retry for ever, and a
  // deadline of 0, NaN or past the longest timer would end every POST at once.
  const retries = numberOption('webhookApprover', 'retries', options.retries, 5, { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true });
  const retryBaseMs = numberOption('webhookApprover', 'retryBaseMs', options.retryBaseMs, 500, {
    min: 0,
    max: MAX_TIMER_MS,
    integer: false,
  });
  const timeoutMs = Math.ceil(
    numberOption('webhookApprover', 'timeoutMs', options.timeoutMs, 10_000, { min: 1, max: MAX_TIMER_MS, integer: false }),
  );
  const extraHeaders = webhookHeaders('webhookApprover', options.headers);
  const send = options.fetch ?? globalThis.fetch;
  let prepared: Promise<PreparedSigningKey> | undefined;
  // Aborted by close(): the POST under way and the waits between retries end at once.
  const closing = new AbortController();

  const post = async (body: string): Promise<Response> => {
    // Closed while the notice was being signed, or between tries: nothing more is sent.
    if (closing.signal.aborted) throw undelivered();
    const request = requestSignal(closing.signal, timeoutMs, 'The approval webhook POST');
    try {
      const response = await send(url, {
        method: 'POST',
        headers: { ...extraHeaders, 'content-type': 'application/jose' },
        body,
        redirect: 'manual',
        signal: request.signal,
      });
      await response.body?.cancel();
      return response;
    } finally {
      request.done();
    }
  };

  const deliver = async (body: string): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      let retryable = true;
      try {
        const response = await post(body);
        if (response.ok) return;
        retryable = retryableStatus(response.status);
        if (!retryable || attempt >= retries) throw new Error(failedAnswer('the receiver', response));
      } catch (error) {
        if (closing.signal.aborted) throw undelivered();
        if (!retryable || attempt >= retries) throw error;
      }
      await sleep(Math.min(30_000, retryBaseMs * 2 ** attempt) * (0.5 + Math.random() / 2), closing.signal);
      if (closing.signal.aborted) throw undelivered();
    }
  };

  return {
    async notify(approval) {
      try {
        if (closing.signal.aborted) throw undelivered();
        prepared ??= prepareSigningKey(options.signingKey, options.keyId);
        const payload = JSON.stringify({ type: 'approval.requested', sentAt: new Date().toISOString(), approval });
        const jws = await signCompact(payload, await prepared, approvalWebhookType);
        await deliver(jws);
      } catch (error) {
        // Named, whatever the reason, so that whoever hears of it knows which approval to deliver by hand.
        const reason = error instanceof Error ? error.message : String(error);
        const reported = new Error(
          `approval webhook: approval ${approval.id} not delivered: ${reason}`,
          error instanceof ClosedError ? {} : { cause: error },
        );
        options.onError?.(reported);
        throw reported;
      }
    },
    close() {
      closing.abort(new DOMException('The approver was closed', 'AbortError'));
    },
  };
}

/** A delivery given up because the approver was closed. */
class ClosedError extends Error {}
const undelivered = () => new ClosedError('the approver was closed');

/**
 * Checks an approval webhook body with the gateway's public key and returns what it
 * carries, or undefined when the signature does not verify (tampered, wrong key).
 *
 * @example
 * ```ts
 * const message = await verifyApprovalWebhook(await request.text(), publicJwk);
 * if (!message) return new Response('bad signature', { status: 401 });
 * ```
 */
export async function verifyApprovalWebhook(
  body: string,
  publicKey: AuditVerificationKey | readonly AuditVerificationKey[],
): Promise<{ type: 'approval.requested'; sentAt: string; approval: ApprovalNotice } | undefined> {
  const keys = await prepareVerificationKeys(publicKey);
  const payload = await verifyCompact(body.trim(), keys);
  if (payload === undefined) return undefined;
  const message = JSON.parse(payload) as { type: 'approval.requested'; sentAt: string; approval: ApprovalNotice };
  // The same key may sign audit batches: only an approval message counts as one.
  return message.type === 'approval.requested' ? message : undefined;
}
