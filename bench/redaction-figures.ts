/**
 * The redaction micro-benchmark (bench/redaction.ts, ~2 KiB and ~200 KiB payloads) run in a
 * child process, its printed lines read back as figures.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** One line of the redaction micro-benchmark. */
export interface RedactionFigure {
  label: string;
  operationsPerSecond: number;
  microsecondsPerOperation: number;
  mebibytesPerSecond: number;
}

const script = fileURLToPath(new URL('./redaction.ts', import.meta.url));
const line = /^(.+?)\s+(\d+) ops\/s\s+([\d.]+) µs\/op\s+([\d.]+) MiB\/s\s*$/;

/** Runs bench/redaction.ts and returns its figures (and the header line it prints first). */
export function measureRedaction(): Promise<{ header: string; figures: RedactionFigure[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      output += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) {
        reject(new Error(`bench/redaction.ts exited with code ${code}`));
        return;
      }
      const lines = output.split('\n').filter((text) => text.trim() !== '');
      const figures: RedactionFigure[] = [];
      for (const text of lines) {
        const match = line.exec(text);
        if (match === null) continue;
        figures.push({
          label: (match[1] as string).trim(),
          operationsPerSecond: Number(match[2]),
          microsecondsPerOperation: Number(match[3]),
          mebibytesPerSecond: Number(match[4]),
        });
      }
      resolve({ header: lines[0] ?? '', figures });
    });
  });
}
