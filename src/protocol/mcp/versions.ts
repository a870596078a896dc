/**
 * The MCP protocol revisions this endpoint speaks, and the two eras they belong to.
 *
 * Legacy (2025) revisions open with an `initialize` handshake; the modern revision carries
 * its version, client capabilities and client identity in every request's `_meta`.
 */

/** Revisions served with the `initialize` handshake, oldest first. */
export const legacyProtocolVersions = ['2025-03-26', '2025-06-18', '2025-11-25'] as const;

/** Revisions served statelessly with per-request `_meta`. */
export const modernProtocolVersions = ['2026-07-28'] as const;

/** A legacy revision. */
export type LegacyProtocolVersion = (typeof legacyProtocolVersions)[number];

/** A modern revision. */
export type ModernProtocolVersion = (typeof modernProtocolVersions)[number];

/** Any revision this endpoint speaks. */
export type ProtocolVersion = LegacyProtocolVersion | ModernProtocolVersion;

/** What `initialize` answers when the client asks for a revision we do not speak. */
export const latestLegacyProtocolVersion: LegacyProtocolVersion = '2025-11-25';

/**
 * The version a legacy request is assumed to use when it carries no
 * `MCP-Protocol-Version` header (the 2025-06-18+ transports say so for older clients).
 */
export const headerlessLegacyProtocolVersion: LegacyProtocolVersion = '2025-03-26';

/** Every supported revision, newest first: the `supported` list of version errors and discovery. */
export const supportedProtocolVersions: readonly ProtocolVersion[] = [...modernProtocolVersions, ...[...legacyProtocolVersions].reverse()];

const legacySet: ReadonlySet<string> = new Set(legacyProtocolVersions);
const modernSet: ReadonlySet<string> = new Set(modernProtocolVersions);

/** True for a legacy revision this endpoint speaks. */
export function isLegacyProtocolVersion(version: string): version is LegacyProtocolVersion {
  return legacySet.has(version);
}

/** True for a modern revision this endpoint speaks. */
export function isModernProtocolVersion(version: string): version is ModernProtocolVersion {
  return modernSet.has(version);
}

/**
 * The version `initialize` answers with: the requested one when we speak it (legacy
 * revisions only, since `initialize` does not exist in the modern era), otherwise our
 * latest legacy revision.
 */
export function negotiateLegacyVersion(requested: string): LegacyProtocolVersion {
  return isLegacyProtocolVersion(requested) ? requested : latestLegacyProtocolVersion;
}

/** How a legacy revision shapes tools and tool results. */
export interface LegacyFeatures {
  /** `title` and `outputSchema` on tools, `structuredContent` on results (2025-06-18+). */
  structuredOutput: boolean;
  /** JSON-RPC batches in one POST (2025-03-26 only). */
  batching: boolean;
  /** Task-augmented `tools/call` and the `tasks/*` methods (2025-11-25). */
  tasks: boolean;
}

const featuresByVersion: Readonly<Record<LegacyProtocolVersion, Readonly<LegacyFeatures>>> = {
  '2025-03-26': Object.freeze({ structuredOutput: false, batching: true, tasks: false }),
  '2025-06-18': Object.freeze({ structuredOutput: true, batching: false, tasks: false }),
  '2025-11-25': Object.freeze({ structuredOutput: true, batching: false, tasks: true }),
};

/** The features of one legacy revision. */
export function legacyFeatures(version: LegacyProtocolVersion): Readonly<LegacyFeatures> {
  return featuresByVersion[version];
}
