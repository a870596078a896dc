import { detectorNames, isDetectorName } from './detectors.js';
import { isRedactionMode, stricterMode } from './modes.js';
import { parsePath } from './paths.js';
import type {
  DetectorName,
  DetectorSelection,
  DetectorSetting,
  PathRule,
  RedactionMode,
  RedactionProfile,
  RedactionProfileInput,
} from './types.js';

/** A checked profile: every entry validated, detector selections as explicit overrides. */
export interface NormalizedProfile {
  readonly secrets: readonly string[];
  readonly paths: ReadonlyArray<{ readonly path: string; readonly mode: RedactionMode | undefined }>;
  /** Only the detectors the profile has an opinion on. */
  readonly detectors: ReadonlyMap<DetectorName, DetectorSetting>;
  readonly mode: RedactionMode | undefined;
}

const EMPTY_PROFILE: NormalizedProfile = Object.freeze({ secrets: [], paths: [], detectors: new Map(), mode: undefined });

/** Checks a mode; `where` names the entry in the error. */
export function checkMode(value: unknown, where: string): RedactionMode {
  if (!isRedactionMode(value)) {
    throw new TypeError(`Invalid redaction mode ${describe(value)} in ${where}: expected "mask", "partial", "remove" or "hash"`);
  }
  return value;
}

/**
 * Turns a detector selection into explicit settings: a list enables exactly the detectors named
 * (every other one off), a record sets only the detectors it names.
 */
export function normaliseDetectorSelection(selection: unknown, where: string): Map<DetectorName, DetectorSetting> {
  const settings = new Map<DetectorName, DetectorSetting>();
  if (selection === undefined) return settings;
  if (Array.isArray(selection)) {
    for (const name of detectorNames) settings.set(name, false);
    for (const name of selection) {
      if (!isDetectorName(name)) throw new TypeError(`Unknown redaction detector ${describe(name)} in ${where}`);
      settings.set(name, true);
    }
    return settings;
  }
  if (selection === null || typeof selection !== 'object') {
    throw new TypeError(`Invalid redaction detectors in ${where}: expected a list of detector names or a record`);
  }
  for (const [name, setting] of Object.entries(selection as Record<string, unknown>)) {
    if (!isDetectorName(name)) throw new TypeError(`Unknown redaction detector ${describe(name)} in ${where}`);
    if (setting === undefined) continue;
    settings.set(name, typeof setting === 'boolean' ? setting : checkMode(setting, `${where} (detector "${name}")`));
  }
  return settings;
}

/** Validates a profile (a `RedactionProfile` or a tool's `redact` block); throws a `TypeError` naming the bad entry. */
export function normaliseProfile(input: RedactionProfileInput | undefined): NormalizedProfile {
  if (input === undefined) return EMPTY_PROFILE;
  if (input === null || typeof input !== 'object') throw new TypeError('Invalid redaction profile: expected an object');
  const profile = input as { secrets?: unknown; paths?: unknown; detectors?: unknown; mode?: unknown };
  const mode = profile.mode === undefined ? undefined : checkMode(profile.mode, 'the redaction profile');

  let secrets: string[] = [];
  if (profile.secrets !== undefined) {
    if (!Array.isArray(profile.secrets)) throw new TypeError('Invalid redaction secrets: expected a list of strings');
    profile.secrets.forEach((secret, index) => {
      if (typeof secret !== 'string') throw new TypeError(`Invalid redaction secret at index ${index}: expected a string`);
    });
    secrets = profile.secrets as string[];
  }

  const paths: Array<{ path: string; mode: RedactionMode | undefined }> = [];
  if (profile.paths !== undefined) {
    if (!Array.isArray(profile.paths)) throw new TypeError('Invalid redaction paths: expected a list');
    for (const entry of profile.paths as unknown[]) {
      if (typeof entry === 'string') {
        parsePath(entry);
        paths.push({ path: entry, mode: undefined });
      } else if (entry !== null && typeof entry === 'object' && typeof (entry as PathRule).path === 'string') {
        const rule = entry as { path: string; mode?: unknown };
        parsePath(rule.path);
        paths.push({
          path: rule.path,
          mode: rule.mode === undefined ? undefined : checkMode(rule.mode, `redaction path ${JSON.stringify(rule.path)}`),
        });
      } else {
        throw new TypeError(`Invalid redaction path entry ${describe(entry)}: expected a string or { path, mode? }`);
      }
    }
  }

  return { secrets, paths, detectors: normaliseDetectorSelection(profile.detectors, 'the redaction profile'), mode };
}

/**
 * Merges two profiles so that the stricter one wins everywhere: secrets and path rules are
 * united (a path selected by both keeps both rules, and the stricter applies; a path's mode is
 * never looser than any mode the other profile redacts with, its `mode` or a detector's, since
 * it replaces what that profile would find in the value), the stricter mode
 * is kept, and a detector is on when either profile turns it on, with the stricter mode. A
 * profile's `mode` counts as its mode for every detector it does not name, so a detector mode on
 * one side never loosens the other side's `mode`. A profile without an opinion (no `mode`, a
 * detector not named) leaves the other's choice in place.
 *
 * @example
 * ```ts
 * const toolProfile = { paths: ['$.customer.email'], mode: 'partial' as const };
 * const policyProfile = { paths: [{ path: '$.customer.email', mode: 'mask' as const }] };
 * mergeProfiles(toolProfile, policyProfile);
 * // → customer e-mails masked for this agent
 * ```
 */
export function mergeProfiles(left: RedactionProfileInput | undefined, right: RedactionProfileInput | undefined): RedactionProfile {
  const first = normaliseProfile(left);
  const second = normaliseProfile(right);
  const merged: { -readonly [Key in keyof RedactionProfile]: RedactionProfile[Key] } = {};

  const secrets = [...new Set([...first.secrets, ...second.secrets])];
  if (secrets.length > 0) merged.secrets = secrets;

  const mode = stricterMode(first.mode, second.mode);
  if (mode !== undefined) merged.mode = mode;

  const seen = new Set<string>();
  const paths: Array<string | PathRule> = [];
  for (const profile of [first, second]) {
    // A path replaces its whole value in its mode, instead of what the other profile finds in
    // it: never in a mode looser than any the other profile redacts with.
    const otherMode = strictestMode(profile === first ? second : first);
    for (const entry of profile.paths) {
      const entryMode = stricterMode(entry.mode ?? profile.mode, otherMode);
      const identity = `${entryMode ?? ''}\u0000${entry.path}`;
      if (seen.has(identity)) continue;
      seen.add(identity);
      paths.push(entryMode === undefined ? entry.path : { path: entry.path, mode: entryMode });
    }
  }
  if (paths.length > 0) merged.paths = paths;

  const detectors: Partial<Record<DetectorName, DetectorSetting>> = {};
  let anyDetector = false;
  for (const name of detectorNames) {
    const own = first.detectors.get(name);
    const other = second.detectors.get(name);
    let setting = mergeDetectorSetting(resolveOwnMode(own, first.mode), resolveOwnMode(other, second.mode));
    if (setting === undefined) continue;
    // A side that does not name the detector still redacts with its profile-wide mode, which
    // must not be loosened by the other side's mode for this detector.
    if (typeof setting === 'string') {
      if (own === undefined) setting = stricterMode(setting, first.mode) ?? setting;
      if (other === undefined) setting = stricterMode(setting, second.mode) ?? setting;
    }
    detectors[name] = setting;
    anyDetector = true;
  }
  if (anyDetector) merged.detectors = detectors as DetectorSelection;
  return merged;
}

/** The strictest mode a profile redacts with: its `mode`, and the modes it gives detectors it turns on. */
function strictestMode(profile: NormalizedProfile): RedactionMode | undefined {
  let strictest = profile.mode;
  for (const setting of profile.detectors.values()) {
    if (typeof setting === 'string') strictest = stricterMode(strictest, setting);
  }
  return strictest;
}

function resolveOwnMode(setting: DetectorSetting | undefined, profileMode: RedactionMode | undefined): DetectorSetting | undefined {
  return setting === true && profileMode !== undefined ? profileMode : setting;
}

function mergeDetectorSetting(left: DetectorSetting | undefined, right: DetectorSetting | undefined): DetectorSetting | undefined {
  if (left === undefined || left === false) return right ?? left;
  if (right === undefined || right === false) return left;
  if (left === true) return right;
  if (right === true) return left;
  return stricterMode(left, right);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
