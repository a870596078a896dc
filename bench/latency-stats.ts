/** Latency samples and their summary, in milliseconds at microsecond resolution. */

/** The middle element by `key` (the lower middle for an even count). */
export function medianBy<T>(items: readonly T[], key: (item: T) => number): T {
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)] as T;
}

/** Percentiles and mean of a set of latencies, in milliseconds. */
export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Collects latencies without allocating per sample. */
export class LatencyRecorder {
  private values = new Float64Array(1 << 16);
  private length = 0;

  record(milliseconds: number): void {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = milliseconds;
  }

  get count(): number {
    return this.length;
  }

  summary(): LatencySummary {
    return summarize(this.values.subarray(0, this.length));
  }
}

const round = (milliseconds: number) => Math.round(milliseconds * 1000) / 1000;

/** Nearest-rank percentiles of `values` (which it sorts in place). */
export function summarize(values: Float64Array): LatencySummary {
  values.sort();
  const count = values.length;
  if (count === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  const at = (fraction: number) => values[Math.min(count - 1, Math.max(0, Math.ceil(fraction * count) - 1))] as number;
  let total = 0;
  for (const value of values) total += value;
  return {
    count,
    mean: round(total / count),
    p50: round(at(0.5)),
    p90: round(at(0.9)),
    p99: round(at(0.99)),
    p999: round(at(0.999)),
    max: round(values[count - 1] as number),
  };
}
