/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and ranks where the time went: the
 * functions with the most self time, and the same grouped by source file or package.
 * Percentages are of the busy time (idle excluded).
 *
 *   npx tsx bench/profile-summary.ts bench/results/profiles/scenario-5.cpuprofile [top] [operations]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** One row of a ranking. */
export interface ProfileEntry {
  name: string;
  selfMs: number;
  /** Share of the busy time, in percent. */
  percent: number;
  /** Self time per request (or call) served while profiling, when that count is known. */
  microsecondsPerOperation?: number;
}

/** Where a profile's time went. */
export interface ProfileSummary {
  file: string;
  totalMs: number;
  idleMs: number;
  busyMs: number;
  garbageCollectionPercent: number;
  /** Requests (or calls) served while profiling, when known. */
  operations?: number;
  /** Busy time per operation. */
  busyMicrosecondsPerOperation?: number;
  functions: ProfileEntry[];
  sources: ProfileEntry[];
  /** The same time by area: a folder of src/, the adapters, Node's internals, a package, or a kind of native work. */
  areas: ProfileEntry[];
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

const nativeAreas: Array<[RegExp, string]> = [
  [/^(writev|writeLatin1String|writeUtf8String|writeBuffer|writeAsciiString|shutdown|close|read)$/, 'native: socket I/O'],
  [/^(Hash|Hmac|digest|oneShotDigest|update|hexWrite|randomUUID|secureBuffer)$/, 'native: crypto'],
  [/^(parse|stringify|serializeJavascriptValueToJSONString)$/, 'native: JSON'],
  [/^RegExp: /, 'native: regular expressions'],
  [/^\(garbage collector\)$/, 'garbage collection'],
  [/^runMicrotasks$/, 'promise jobs (runMicrotasks)'],
  [/^\(program\)$/, '(program)'],
];

/** The area a frame belongs to, for the coarse ranking. */
function areaOf(functionName: string, url: string): string {
  if (url === '') return nativeAreas.find(([pattern]) => pattern.test(functionName))?.[1] ?? 'native: other';
  const source = sourceOf(url);
  if (source.startsWith('node:')) return 'node internals';
  if (source.startsWith('src/')) {
    const parts = source.split('/');
    return parts.length > 2 ? `src/${parts[1]}/` : source;
  }
  if (source.startsWith('adapters/')) return 'adapters/';
  if (source.startsWith('bench/')) return 'bench/';
  if (source.startsWith('wasm://')) return 'WebAssembly';
  return source;
}

/** Native frames named by a whole regular expression get its first characters only. */
function shortName(name: string): string {
  return name.length > 72 ? `${name.slice(0, 72)}…` : name;
}

function ranked(totals: Map<string, number>, busyMs: number, top: number, operations: number | undefined): ProfileEntry[] {
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, micros]) => ({
      name,
      selfMs: Math.round(micros / 100) / 10,
      percent: Math.round((micros / 1000 / busyMs) * 1000) / 10,
      ...(operations ? { microsecondsPerOperation: Math.round((micros / operations) * 10) / 10 } : {}),
    }));
}

/** Summarises one `.cpuprofile` file; `operations` is how many requests or calls it covers. */
export function summarizeProfile(file: string, top = 25, operations?: number): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfByNode = new Map<number, number>();
  for (let index = 0; index < profile.samples.length; index++) {
    const id = profile.samples[index] as number;
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0));
  }
  const byFunction = new Map<string, number>();
  const bySource = new Map<string, number>();
  const byArea = new Map<string, number>();
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
    const source = frame.url === '' ? shortName(frame.functionName) : sourceOf(frame.url);
    // No line numbers: under tsx they are those of the transpiled code.
    const name = frame.url === '' ? shortName(frame.functionName) : `${frame.functionName || '(anonymous)'}  ${source}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
    bySource.set(source, (bySource.get(source) ?? 0) + micros);
    const area = areaOf(frame.functionName, frame.url);
    byArea.set(area, (byArea.get(area) ?? 0) + micros);
  }
  const busyMs = (total - idle) / 1000;
  return {
    file,
    totalMs: Math.round(total / 1000),
    idleMs: Math.round(idle / 1000),
    busyMs: Math.round(busyMs),
    garbageCollectionPercent: Math.round((garbageCollection / 1000 / busyMs) * 1000) / 10,
    ...(operations ? { operations, busyMicrosecondsPerOperation: Math.round(((busyMs * 1000) / operations) * 10) / 10 } : {}),
    functions: ranked(byFunction, busyMs, top, operations),
    sources: ranked(bySource, busyMs, top, operations),
    areas: ranked(byArea, busyMs, top, operations),
  };
}

/** The summary as text. */
export function formatProfileSummary(summary: ProfileSummary): string {
  const perOperation = (entry: ProfileEntry) =>
    entry.microsecondsPerOperation === undefined ? '' : `${entry.microsecondsPerOperation.toFixed(1).padStart(8)}`;
  const row = (entry: ProfileEntry) =>
    `  ${entry.percent.toFixed(1).padStart(6)} ${entry.selfMs.toFixed(1).padStart(9)} ${perOperation(entry)}  ${entry.name}`;
  const unit = summary.operations === undefined ? '' : '  µs/op';
  const lines = [
    `${summary.file}: ${summary.busyMs} ms busy of ${summary.totalMs} ms (GC ${summary.garbageCollectionPercent}% of busy)` +
      (summary.operations === undefined ? '' : `; ${summary.operations} operations, ${summary.busyMicrosecondsPerOperation} µs busy each`),
    `  self %   self ms${unit}  function`,
    ...summary.functions.map(row),
    `  self %   self ms${unit}  source`,
    ...summary.sources.map(row),
    `  self %   self ms${unit}  area`,
    ...summary.areas.map(row),
  ];
  return lines.join('\n');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [file, top, operations] = process.argv.slice(2);
  if (file === undefined) {
    console.error('usage: npx tsx bench/profile-summary.ts <file.cpuprofile> [top] [operations]');
    process.exit(2);
  }
  console.log(
    formatProfileSummary(
      summarizeProfile(file, top === undefined ? 25 : Number(top), operations === undefined ? undefined : Number(operations)),
    ),
  );
}
