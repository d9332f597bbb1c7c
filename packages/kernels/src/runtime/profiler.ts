/**
 * Per-kernel GPU time from timestamp queries, for finding where a training step's time goes.
 *
 * While profiling, the runtime gives every dispatch its own compute pass whose beginning and end
 * write timestamps; each submitted batch resolves its queries into a buffer that is read back
 * after the batch finishes, and the differences are summed per kernel name. One pass per dispatch
 * adds a little overhead of its own, so profile to compare kernels, and time whole steps without
 * the profiler.
 */

/** GPU time spent in one kernel (by program name) while profiling. */
export interface KernelTiming {
  kernel: string;
  dispatches: number;
  totalMs: number;
}

/** One batch's timestamp queries: two per dispatch, named in dispatch order. */
export interface BatchQueries {
  readonly querySet: GPUQuerySet;
  readonly kernels: string[];
}

const QUERY_RESOLVE = 0x200;
const COPY_SRC = 0x04;
const COPY_DST = 0x08;
const MAP_READ = 0x01;

export class KernelProfiler {
  private readonly totals = new Map<string, KernelTiming>();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly device: GPUDevice,
    /** Dispatches a batch can time (the runtime submits before exceeding it). */
    readonly capacity: number,
  ) {}

  newBatch(): BatchQueries {
    return { querySet: this.device.createQuerySet({ type: 'timestamp', count: 2 * this.capacity }), kernels: [] };
  }

  /** The descriptor of the pass that runs `kernel` as the batch's next dispatch. */
  passFor(queries: BatchQueries, kernel: string): GPUComputePassDescriptor {
    const i = queries.kernels.length;
    if (i >= this.capacity) throw new Error(`profiler: more than ${this.capacity} dispatches in one batch`);
    queries.kernels.push(kernel);
    return { timestampWrites: { querySet: queries.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } };
  }

  /** Records the resolve into `encoder` (before finish); call `collect` with the result after submit. */
  resolve(encoder: GPUCommandEncoder, queries: BatchQueries): GPUBuffer | undefined {
    const count = 2 * queries.kernels.length;
    if (count === 0) {
      queries.querySet.destroy();
      return undefined;
    }
    const bytes = count * 8;
    const resolved = this.device.createBuffer({ size: bytes, usage: QUERY_RESOLVE | COPY_SRC });
    const readable = this.device.createBuffer({ size: bytes, usage: MAP_READ | COPY_DST });
    encoder.resolveQuerySet(queries.querySet, 0, count, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, readable, 0, bytes);
    // Destroying waits for submitted work that uses them, so this is safe right after submit.
    queueMicrotask(() => resolved.destroy());
    return readable;
  }

  /** Reads a submitted batch's timestamps once it has run, adding them to the totals. */
  collect(queries: BatchQueries, readable: GPUBuffer): void {
    const done = readable
      .mapAsync(MAP_READ)
      .then(() => {
        const stamps = new BigUint64Array(readable.getMappedRange());
        queries.kernels.forEach((kernel, i) => {
          const ns = Number(stamps[2 * i + 1] - stamps[2 * i]);
          const entry = this.totals.get(kernel) ?? { kernel, dispatches: 0, totalMs: 0 };
          entry.dispatches++;
          // A pass that ran too briefly for the timer can read end < begin after quantisation.
          entry.totalMs += Math.max(0, ns) / 1e6;
          this.totals.set(kernel, entry);
        });
        readable.unmap();
      })
      .finally(() => {
        readable.destroy();
        queries.querySet.destroy();
        this.pending.delete(done);
      });
    this.pending.add(done);
  }

  /** Totals so far, slowest kernel first, once every collected batch has been read. */
  async report(): Promise<KernelTiming[]> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    return [...this.totals.values()].sort((a, b) => b.totalMs - a.totalMs);
  }
}
