import { detectorNames, detectorRule, optInDetectors } from './detectors.js';
import { type InlineCredentialKind, keyValueRule, urlCredentialRule } from './inline-credentials.js';
import { KeyNameMatcher, resolveKeyNames } from './key-names.js';
import { ValueHasher } from './modes.js';
import { compilePathRules } from './paths.js';
import { checkMode, normaliseDetectorSelection, normaliseProfile } from './profile.js';
import { compileSecrets } from './secrets.js';
import { CombinedScanner, type ScanRule, timestampKeys } from './text-scanner.js';
import { TextRedaction } from './text-redaction.js';
import type {
  CompiledRedaction,
  DetectorName,
  DetectorSelection,
  DetectorSetting,
  RedactionMode,
  RedactionProfile,
  RedactionProfileInput,
  Redactor,
  RedactorConfig,
} from './types.js';
import { type KeyInfo, redactFreshValue, redactValue, type WalkPlan } from './walk.js';

const KEY_CACHE_LIMIT = 10_000;

/** The fresh walk of each profile this module compiled; kept out of the public objects. */
const freshWalks = new WeakMap<CompiledRedaction, (value: unknown) => unknown>();

/**
 * Redacts a value made for this call that nothing else references (a parsed upstream body)
 * with `compiled`, keeping the parts the redaction leaves unchanged instead of copying them
 * (see {@link redactFreshValue}). For a profile compiled elsewhere, the same as
 * `compiled.value(value)`. The gateway's own entry; not part of the public API.
 */
export function redactFresh(compiled: CompiledRedaction, value: unknown): unknown {
  const walk = freshWalks.get(compiled);
  return walk === undefined ? compiled.value(value) : walk(value);
}

const defaultsFillers = new WeakMap<Redactor, (profile: RedactionProfileInput) => RedactionProfile>();

/**
 * `profile` with what the redactor does where it has no opinion written out: its `mode` (the
 * redactor's default when it names none) and a setting for every detector (the redactor's
 * for those it does not name). Merged with another profile ({@link mergeProfiles}, where no
 * opinion yields to the other side), the result is then never looser than `profile` alone.
 */
export function withRedactorDefaults(redactor: Redactor, profile: RedactionProfileInput): RedactionProfile {
  const fill = defaultsFillers.get(redactor);
  if (fill === undefined) throw new TypeError('withRedactorDefaults takes a redactor made by createRedactor');
  return fill(profile);
}

interface GatewayDetectorSetting {
  readonly enabled: boolean;
  /** A mode the configuration set for this detector explicitly. */
  readonly mode: RedactionMode | undefined;
}

/**
 * Creates the redaction engine. Every layer's patterns are compiled here or in
 * {@link Redactor.compile}; redacting a value is then one walk with no pattern construction.
 * Throws a `TypeError` for an invalid configuration.
 *
 * @example
 * ```ts
 * import { createRedactor } from 'agent-tool-gateway';
 *
 * const redactor = createRedactor({ keyNames: { add: ['member number'] }, detectors: { ipv4: true } });
 * const compiled = redactor.compile({
 *   secrets: [upstreamApiKey],
 *   paths: ['$.customer.email', { path: '$..card', mode: 'partial' }],
 *   detectors: { phone: 'hash' },
 * });
 * compiled.value({ customer: { email: 'ada@example.com' }, token: 'abc' });
 * // → { customer: { email: '***' }, token: '***' }
 * compiled.text(`upstream said: key ${upstreamApiKey} is invalid`);
 * // → 'upstream said: key *** is invalid'
 * ```
 */
export function createRedactor(config: RedactorConfig = {}): Redactor {
  if (config === null || typeof config !== 'object') throw new TypeError('Invalid redactor configuration: expected an object');
  const defaultMode = config.mode === undefined ? 'mask' : checkMode(config.mode, 'the redactor configuration');
  if (
    config.keyNames !== undefined &&
    (config.keyNames === null || typeof config.keyNames !== 'object' || Array.isArray(config.keyNames))
  ) {
    throw new TypeError('Invalid redactor keyNames: expected { add?, replace?, remove? }');
  }
  const keyNames = new KeyNameMatcher(resolveKeyNames(config.keyNames));
  const hasher = new ValueHasher(config.hashKey);
  const configured = normaliseDetectorSelection(config.detectors, 'the redactor configuration');
  const gatewayDetectors = new Map<DetectorName, GatewayDetectorSetting>();
  for (const name of detectorNames) {
    const setting = configured.get(name);
    gatewayDetectors.set(name, {
      enabled: setting === undefined ? !optInDetectors.has(name) : setting !== false,
      mode: typeof setting === 'string' ? setting : undefined,
    });
  }
  const keyValue: ScanRule<InlineCredentialKind> = keyValueRule(keyNames);
  const skipTimestamps = !timestampKeys().some((key) => keyNames.isSensitive(key));
  const scanners = new Map<string, CombinedScanner>();

  function scannerFor(enabled: readonly DetectorName[]): CombinedScanner {
    const cacheKey = enabled.join(',');
    let scanner = scanners.get(cacheKey);
    if (scanner === undefined) {
      // `key=value` goes last: it is refused at most separators, and a refusal then costs no retry.
      scanner = new CombinedScanner<string>([urlCredentialRule, ...enabled.map(detectorRule), keyValue]);
      scanners.set(cacheKey, scanner);
    }
    return scanner;
  }

  function compile(input?: RedactionProfileInput): CompiledRedaction {
    const profile = normaliseProfile(input);
    const profileMode = profile.mode ?? defaultMode;
    const enabled: DetectorName[] = [];
    const modes = new Map<string, RedactionMode>([
      ['key_value', profileMode],
      ['url_credential', profileMode],
    ]);
    for (const name of detectorNames) {
      const own = profile.detectors.get(name);
      const gateway = gatewayDetectors.get(name) as GatewayDetectorSetting;
      if (own === undefined ? !gateway.enabled : own === false) continue;
      enabled.push(name);
      modes.set(name, typeof own === 'string' ? own : (gateway.mode ?? profileMode));
    }
    const secrets = compileSecrets(profile.secrets);
    const text = new TextRedaction(secrets, scannerFor(enabled), modes, hasher, skipTimestamps);
    const keyCache = new Map<string, KeyInfo>();
    const plan: WalkPlan = {
      text,
      keyMode: profileMode,
      paths: compilePathRules(profile.paths.map((entry) => ({ path: entry.path, mode: entry.mode ?? profileMode }))),
      hasher,
      scanAllNumbers: secrets.hasNumericSecret,
      cardMode: modes.get('card'),
      describeKey(key) {
        let info = keyCache.get(key);
        if (info === undefined) {
          info = { sensitive: keyNames.isSensitive(key), outputKey: text.redact(key) };
          if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
          keyCache.set(key, info);
        }
        return info;
      },
    };
    const compiled: CompiledRedaction = Object.freeze({
      detectors: Object.freeze(enabled),
      value: (value: unknown) => redactValue(value, plan),
      text: (source: string) => {
        if (typeof source !== 'string') throw new TypeError('CompiledRedaction.text expects a string');
        return text.redact(source);
      },
    });
    freshWalks.set(compiled, (value: unknown) => redactFreshValue(value, plan));
    return compiled;
  }

  function withDefaults(input: RedactionProfileInput): RedactionProfile {
    const profile = normaliseProfile(input);
    const detectors: Partial<Record<DetectorName, DetectorSetting>> = {};
    for (const name of detectorNames) {
      const gateway = gatewayDetectors.get(name) as GatewayDetectorSetting;
      const own = profile.detectors.get(name);
      // `true` takes the gateway's mode for the detector, as compile() reads it, not the profile's.
      detectors[name] = own === true || (own === undefined && gateway.enabled) ? (gateway.mode ?? true) : (own ?? false);
    }
    return { ...(input as RedactionProfile), mode: profile.mode ?? defaultMode, detectors: detectors as DetectorSelection };
  }

  let defaultCompiled: CompiledRedaction | undefined;
  const compiledProfiles = new WeakMap<object, CompiledRedaction>();
  function compiledFor(profile: RedactionProfileInput | undefined): CompiledRedaction {
    if (profile === undefined) return (defaultCompiled ??= compile());
    let compiled = compiledProfiles.get(profile);
    if (compiled === undefined) {
      compiled = compile(profile);
      compiledProfiles.set(profile, compiled);
    }
    return compiled;
  }

  const redactor: Redactor = Object.freeze({
    keyNames: keyNames.names,
    compile,
    value: (value: unknown, profile?: RedactionProfileInput) => compiledFor(profile).value(value),
    text: (source: string, profile?: RedactionProfileInput) => compiledFor(profile).text(source),
  });
  defaultsFillers.set(redactor, withDefaults);
  return redactor;
}
