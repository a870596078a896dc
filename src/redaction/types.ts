import type { ToolRedaction } from '../tools/types.js';

/**
 * What happens to a value or a piece of text that a rule selects.
 *
 * - `mask`: replaced by `***`.
 * - `partial`: `***` followed by the last 4 characters (values shorter than 8 characters are fully masked).
 * - `remove`: object members and array elements are dropped; inside text the match is deleted.
 * - `hash`: replaced by `hmac:` and 16 hex digits of a keyed HMAC-SHA-256, so equal values correlate
 *   without being revealed.
 */
export type RedactionMode = 'mask' | 'partial' | 'remove' | 'hash';

/** The content detectors of layer 4. `ipv4` and `ipv6` are off unless turned on. */
export type DetectorName =
  | 'email'
  | 'phone'
  | 'card'
  | 'iban'
  | 'ssn'
  | 'ipv4'
  | 'ipv6'
  | 'jwt'
  | 'pem_private_key'
  | 'aws_access_key'
  | 'github_token'
  | 'slack_token'
  | 'stripe_live_key'
  | 'openai_key'
  | 'anthropic_key'
  | 'google_api_key'
  | 'agent_key';

/** One detector's setting: `false` turns it off, `true` turns it on with the default mode, a mode turns it on with that mode. */
export type DetectorSetting = boolean | RedactionMode;

/**
 * Which detectors run. A list enables exactly the detectors named (every other one is off);
 * a record changes only the detectors it names and keeps the rest as they were.
 */
export type DetectorSelection = readonly DetectorName[] | Readonly<Partial<Record<DetectorName, DetectorSetting>>>;

/** A JSONPath-style field rule with its own mode. */
export interface PathRule {
  /** `$.customer.email`, `$..card`, `$.items[*].ssn`, `$['odd key'][0]`. */
  path: string;
  /** Mode for the selected fields; default: the profile's mode. */
  mode?: RedactionMode;
}

/**
 * The redaction rules of one tool (or of one policy rule), compiled once by {@link Redactor.compile}.
 * Layers 1 (secrets) and 2 (key names) always run; `paths` adds layer 3, `detectors` tunes layer 4.
 */
export interface RedactionProfile {
  /** Exact strings to scrub wherever they appear, also base64, base64url, hex and URL-encoded. */
  secrets?: readonly string[];
  /** Field rules (layer 3). */
  paths?: ReadonlyArray<string | PathRule>;
  /** Detector selection on top of the redactor's defaults (layer 4). */
  detectors?: DetectorSelection;
  /** Default mode for this profile's key-name masking, path rules and detectors. */
  mode?: RedactionMode;
}

/**
 * What {@link Redactor.compile} and {@link mergeProfiles} accept: a {@link RedactionProfile} or a tool
 * definition's `redact` block, whose loosely typed strings are checked when compiled.
 */
export type RedactionProfileInput = RedactionProfile | ToolRedaction;

/** How the key-name list of layer 2 is built from the built-in list ({@link defaultKeyNames}). */
export interface KeyNameOptions {
  /** Names to use instead of the built-in list. */
  replace?: readonly string[];
  /** Names to add. */
  add?: readonly string[];
  /** Names to drop (compared in their normalised form, so `api_key` drops `apiKey`). */
  remove?: readonly string[];
}

/** Gateway-wide settings of a {@link Redactor}. */
export interface RedactorConfig {
  /** Layer 2 key names; default {@link defaultKeyNames}. */
  keyNames?: KeyNameOptions;
  /** Gateway-wide detector defaults; default every detector except `ipv4` and `ipv6`. */
  detectors?: DetectorSelection;
  /** Default mode; default `mask`. */
  mode?: RedactionMode;
  /** HMAC key for `hash` mode; default a random key made once per process. */
  hashKey?: string | Uint8Array;
}

/** A profile compiled for repeated use: patterns, path automaton and detector plan are built once. */
export interface CompiledRedaction {
  /**
   * Returns a redacted deep copy of a JSON-shaped value (as `JSON.stringify` would see it: `toJSON` is
   * honoured, functions and `undefined` members are dropped). The input is never mutated. Returns
   * `undefined` when the whole value is selected in `remove` mode.
   */
  value(value: unknown): unknown;
  /** Redacts free text: upstream error excerpts, log lines. Returns the same string when nothing matched. */
  text(text: string): string;
  /** The detectors this compiled profile runs, in scan order. */
  readonly detectors: readonly DetectorName[];
}

/** The redaction engine: gateway-wide settings plus profile compilation. */
export interface Redactor {
  /** Compiles a profile once (per tool version); throws a `TypeError` naming any bad entry. */
  compile(profile?: RedactionProfileInput): CompiledRedaction;
  /** Redacts a value with a cached compile of `profile` (or of the empty profile). */
  value(value: unknown, profile?: RedactionProfileInput): unknown;
  /** Redacts text with a cached compile of `profile` (or of the empty profile). */
  text(text: string, profile?: RedactionProfileInput): string;
  /** The key names of layer 2 in effect. */
  readonly keyNames: readonly string[];
}
