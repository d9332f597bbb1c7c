/**
 * Pools GPU buffers by size class so that a training loop, which frees and allocates the same
 * sizes every step, stops creating buffers after its first step.
 */

/** A pooled GPU buffer. `size` is what the caller asked for; the GPU buffer may be larger. */
export class GpuBuffer {
  /** Id of the last batch of commands that referenced this buffer (see Runtime). */
  lastBatch = -1;
  /** Label of the last kernel that wrote this buffer, for error messages. */
  producer = 'upload';
  released = false;

  constructor(
    readonly gpu: GPUBuffer,
    readonly size: number,
    readonly sizeClass: number,
    readonly usage: GPUBufferUsageFlags,
  ) {}
}

/**
 * Size classes: powers of two up to 1 MiB, then steps of 1/8 of the enclosing power of two, so
 * reuse is likely and the waste stays under 12.5% for large tensors.
 */
export function sizeClassOf(bytes: number): number {
  const minimum = 256;
  if (bytes <= minimum) return minimum;
  const pow2 = 2 ** Math.ceil(Math.log2(bytes));
  if (pow2 <= 1 << 20) return pow2;
  const step = pow2 / 16;
  return Math.ceil(bytes / step) * step;
}

export interface PoolStats {
  /** GPU buffers ever created by this pool. */
  buffersCreated: number;
  /** Buffers handed out and not yet released. */
  buffersInUse: number;
  /** Bytes of the buffers handed out (by size class). */
  bytesInUse: number;
  /** Buffers waiting in the pool for reuse. */
  buffersPooled: number;
  bytesPooled: number;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private stats: PoolStats = { buffersCreated: 0, buffersInUse: 0, bytesInUse: 0, buffersPooled: 0, bytesPooled: 0 };

  constructor(
    private readonly device: GPUDevice,
    /** Bytes the pool may keep for reuse; a buffer released beyond that is destroyed. */
    private capacityBytes: number,
  ) {}

  acquire(size: number, usage: GPUBufferUsageFlags, label: string): GpuBuffer {
    const sizeClass = sizeClassOf(size);
    const list = this.free.get(`${usage}:${sizeClass}`);
    let gpu = list?.pop();
    if (gpu) {
      this.stats.buffersPooled--;
      this.stats.bytesPooled -= sizeClass;
    } else {
      gpu = this.device.createBuffer({ size: sizeClass, usage, label });
      this.stats.buffersCreated++;
    }
    this.stats.buffersInUse++;
    this.stats.bytesInUse += sizeClass;
    return new GpuBuffer(gpu, size, sizeClass, usage);
  }

  release(buffer: GpuBuffer): void {
    this.stats.buffersInUse--;
    this.stats.bytesInUse -= buffer.sizeClass;
    if (this.stats.bytesPooled + buffer.sizeClass > this.capacityBytes) {
      buffer.gpu.destroy();
      return;
    }
    const key = `${buffer.usage}:${buffer.sizeClass}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(buffer.gpu);
    this.stats.buffersPooled++;
    this.stats.bytesPooled += buffer.sizeClass;
  }

  /** Destroys pooled buffers until at most `keepBytes` stay pooled. */
  trim(keepBytes = 0): void {
    for (const [key, list] of this.free) {
      while (list.length > 0 && this.stats.bytesPooled > keepBytes) {
        const gpu = list.pop()!;
        this.stats.buffersPooled--;
        this.stats.bytesPooled -= gpu.size;
        gpu.destroy();
      }
      if (list.length === 0) this.free.delete(key);
    }
  }

  setCapacity(bytes: number): void {
    this.capacityBytes = bytes;
    this.trim(bytes);
  }

  snapshot(): PoolStats {
    return { ...this.stats };
  }
}
