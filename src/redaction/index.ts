/**
 * The redaction engine: a layered redactor applied wherever data leaves the gateway (tool
 * outputs, upstream error excerpts, invocation records, audit events, approval views, logs).
 *
 * 1. secrets the gateway holds for the tool, also base64/base64url/hex/URL-encoded;
 * 2. sensitive key names (`password`, `apiKey`, `Authorization`, …), also `key=value` in text;
 * 3. per-tool JSONPath-style field rules;
 * 4. content detectors (e-mail, phone, card, IBAN, SSN, IPs, JWT, PEM keys, vendor API keys).
 */
import { createRedactor } from './redactor.js';
import type { RedactionProfileInput, Redactor } from './types.js';

export { CIRCULAR } from './walk.js';
export { detectorNames } from './detectors.js';
export { defaultKeyNames } from './key-names.js';
export { MASK, redactionModes } from './modes.js';
export { mergeProfiles } from './profile.js';
export { createRedactor } from './redactor.js';
export { MINIMUM_SECRET_LENGTH } from './secrets.js';
export type {
  CompiledRedaction,
  DetectorName,
  DetectorSelection,
  DetectorSetting,
  KeyNameOptions,
  PathRule,
  RedactionMode,
  RedactionProfile,
  RedactionProfileInput,
  Redactor,
  RedactorConfig,
} from './types.js';

let defaultRedactor: Redactor | undefined;

/** The redactor behind {@link redact} and {@link redactText}: default configuration, made on first use. */
function getDefaultRedactor(): Redactor {
  defaultRedactor ??= createRedactor();
  return defaultRedactor;
}

/**
 * Redacts a value with the default redactor; the profile's compile is cached per profile object.
 * Returns a deep copy; the input is never mutated.
 *
 * @example
 * ```ts
 * import { redact } from 'agent-tool-gateway';
 *
 * redact({ user: 'ada', password: 'hunter2', note: 'card 4111 1111 1111 1111' });
 * // → { user: 'ada', password: '***', note: 'card ***' }
 * ```
 */
export function redact(value: unknown, profile?: RedactionProfileInput): unknown {
  return getDefaultRedactor().value(value, profile);
}

/**
 * Redacts free text (an upstream error excerpt, a log line) with the default redactor.
 *
 * @example
 * ```ts
 * import { redactText } from 'agent-tool-gateway';
 *
 * redactText('401 from CRM: {"api_key":"sk_live_abc123…","email":"ada@example.com"}');
 * // → '401 from CRM: {"api_key":"***","email":"***"}'
 * ```
 */
export function redactText(text: string, profile?: RedactionProfileInput): string {
  return getDefaultRedactor().text(text, profile);
}
