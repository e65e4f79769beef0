export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summarize(samples: Float64Array): {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  count: number;
} {
  const sorted = Float64Array.from(samples).sort();
  return {
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    count: sorted.length,
  };
}

/** Keeps at most `capacity` samples, uniformly chosen (reservoir sampling). */
export class Reservoir {
  private readonly samples: Float64Array;
  private seen = 0;

  constructor(private readonly capacity = 200_000) {
    this.samples = new Float64Array(capacity);
  }

  add(value: number): void {
    if (this.seen < this.capacity) this.samples[this.seen] = value;
    else {
      const j = Math.floor(Math.random() * (this.seen + 1));
      if (j < this.capacity) this.samples[j] = value;
    }
    this.seen++;
  }

  values(): Float64Array {
    return this.samples.slice(0, Math.min(this.seen, this.capacity));
  }

  reset(): void {
    this.seen = 0;
  }
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
