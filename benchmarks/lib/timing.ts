/**
 * Wall-clock timing of one operation, the same way for every backend.
 *
 * One run = enqueue the op, then wait until the device has finished it (`complete`). Readback of
 * the result is never part of a run, and the outputs are disposed after the clock stops. Warm-up
 * runs come first (they compile pipelines, upload inputs and fill buffer pools) and are not timed.
 */

export interface TimingOptions {
  /** Untimed runs first (at most; see `enoughWarmupMs`). */
  warmup: number;
  /**
   * A warm-up run longer than this ends the warm-up: at that length what a further warm-up would
   * settle (pipelines, pools, JIT) is noise, and slow cases stay affordable. Default 1000.
   */
  enoughWarmupMs?: number;
  /** Timed runs wanted. */
  runs: number;
  /**
   * Caps the timed runs of slow cases: when the last warm-up says `runs` would take longer than
   * this many milliseconds, run only as many as fit (at least `minRuns`).
   */
  budgetMs?: number;
  minRuns?: number;
}

export interface Measurement {
  medianMs: number;
  minMs: number;
  maxMs: number;
  runs: number;
  samplesMs: number[];
}

export interface Timed<T> {
  measurement: Measurement;
  /** Outputs of the last timed run, not yet disposed: the caller checks and disposes them. */
  last: T;
}

/**
 * Times `enqueue` + `complete`. `complete` is undefined for synchronous backends (the op call is
 * the whole work); `dispose` releases one run's outputs, outside the timed region.
 */
export async function measure<T>(
  enqueue: () => T,
  complete: (() => Promise<void>) | undefined,
  dispose: (outputs: T) => void,
  options: TimingOptions,
): Promise<Timed<T>> {
  const once = async (): Promise<{ ms: number; out: T }> => {
    const start = performance.now();
    const out = enqueue();
    if (complete) await complete();
    return { ms: performance.now() - start, out };
  };

  let estimateMs = 0;
  for (let i = 0; i < options.warmup; i++) {
    const { ms, out } = await once();
    dispose(out);
    estimateMs = ms;
    if (ms > (options.enoughWarmupMs ?? 1000)) break;
  }
  let runs = Math.max(1, options.runs);
  if (options.budgetMs !== undefined && estimateMs * runs > options.budgetMs) {
    runs = Math.max(options.minRuns ?? 1, Math.floor(options.budgetMs / estimateMs));
  }

  const samplesMs: number[] = [];
  let last: T | undefined;
  for (let i = 0; i < runs; i++) {
    const { ms, out } = await once();
    samplesMs.push(ms);
    if (i < runs - 1) dispose(out);
    else last = out;
  }
  return { measurement: summarize(samplesMs), last: last as T };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function summarize(samplesMs: number[]): Measurement {
  return {
    medianMs: median(samplesMs),
    minMs: Math.min(...samplesMs),
    maxMs: Math.max(...samplesMs),
    runs: samplesMs.length,
    samplesMs,
  };
}
