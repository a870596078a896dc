/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and ranks where the time went: the
 * functions with the most self time, and the same grouped by source file or package.
 * Percentages are of the busy time (idle excluded).
 *
 *   npx tsx bench/profile-summary.ts bench/results/profiles/gateway-mcp-2026.cpuprofile [top]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** One row of a ranking. */
export interface ProfileEntry {
  name: string;
  selfMs: number;
  /** Share of the busy time, in percent. */
  percent: number;
}

/** Where a profile's time went. */
export interface ProfileSummary {
  file: string;
  totalMs: number;
  idleMs: number;
  busyMs: number;
  garbageCollectionPercent: number;
  functions: ProfileEntry[];
  sources: ProfileEntry[];
}

const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));

/** `src/pipeline/record.ts`, `undici`, `node:internal/streams`, or `(program)`. */
function sourceOf(url: string): string {
  if (url === '') return '(native)';
  let path = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (path.startsWith('node:')) return path.split('/').slice(0, 2).join('/');
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const [first, second] = path.slice(modules + '/node_modules/'.length).split('/');
    return first?.startsWith('@') ? `${first}/${second}` : (first ?? path);
  }
  if (path.startsWith(repositoryRoot)) path = relative(repositoryRoot, path);
  return path;
}

function ranked(totals: Map<string, number>, busyMs: number, top: number): ProfileEntry[] {
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, micros]) => ({
      name,
      selfMs: Math.round(micros / 100) / 10,
      percent: Math.round((micros / 1000 / busyMs) * 1000) / 10,
    }));
}

/** Summarises one `.cpuprofile` file. */
export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfByNode = new Map<number, number>();
  for (let index = 0; index < profile.samples.length; index++) {
    const id = profile.samples[index] as number;
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0));
  }
  const byFunction = new Map<string, number>();
  const bySource = new Map<string, number>();
  let idle = 0;
  let garbageCollection = 0;
  let total = 0;
  for (const [id, micros] of selfByNode) {
    const frame = (nodes.get(id) as ProfileNode).callFrame;
    total += micros;
    if (frame.functionName === '(idle)') {
      idle += micros;
      continue;
    }
    if (frame.functionName === '(garbage collector)') garbageCollection += micros;
    const source = frame.url === '' ? frame.functionName : sourceOf(frame.url);
    const name =
      frame.url === ''
        ? frame.functionName
        : `${frame.functionName || '(anonymous)'} ${sourceOf(frame.url)}:${frame.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
    bySource.set(source, (bySource.get(source) ?? 0) + micros);
  }
  const busyMs = (total - idle) / 1000;
  return {
    file,
    totalMs: Math.round(total / 1000),
    idleMs: Math.round(idle / 1000),
    busyMs: Math.round(busyMs),
    garbageCollectionPercent: Math.round((garbageCollection / 1000 / busyMs) * 1000) / 10,
    functions: ranked(byFunction, busyMs, top),
    sources: ranked(bySource, busyMs, top),
  };
}

/** The summary as text. */
export function formatProfileSummary(summary: ProfileSummary): string {
  const lines = [
    `${summary.file}: ${summary.busyMs} ms busy of ${summary.totalMs} ms (GC ${summary.garbageCollectionPercent}% of busy)`,
    '  self %   self ms  function',
    ...summary.functions.map((entry) => `  ${entry.percent.toFixed(1).padStart(6)} ${entry.selfMs.toFixed(1).padStart(9)}  ${entry.name}`),
    '  self %   self ms  source',
    ...summary.sources.map((entry) => `  ${entry.percent.toFixed(1).padStart(6)} ${entry.selfMs.toFixed(1).padStart(9)}  ${entry.name}`),
  ];
  return lines.join('\n');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) {
    console.error('usage: npx tsx bench/profile-summary.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  console.log(formatProfileSummary(summarizeProfile(file, top === undefined ? 25 : Number(top))));
}
