/**
 * The GPU runtime: one device, a buffer pool, a pipeline cache and command batching.
 *
 * Dispatches are recorded into one pending command encoder and submitted together: on a readback,
 * on an explicit `flush()`, or once `maxDispatchesPerSubmit` are queued. Errors that WebGPU reports
 * asynchronously (compile errors, validation, device loss) are collected and thrown as Errors that
 * name the kernel, at the next dispatch or readback, so a broken kernel never yields a silent
 * wrong result.
 */
import { BufferPool, GpuBuffer, type PoolStats } from './buffer-pool';
import { GpuDeviceLostError, GpuKernelError, GpuUsageError } from './errors';
import { PipelineCache } from './pipeline-cache';
import { KernelProfiler, type BatchQueries, type KernelTiming } from './profiler';
import type { KernelProgram, Workgroups } from './program';

export interface RuntimeOptions {
  /** Dispatches queued before the batch is submitted without being asked. Default 256. */
  maxDispatchesPerSubmit?: number;
  /** Bytes of released buffers kept for reuse; beyond it released buffers are destroyed. Default 1 GiB. */
  poolCapacityBytes?: number;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for software adapters (lavapipe, SwiftShader) and adapters the browser marks as fallback. */
  isFallbackAdapter: boolean;
  /** Every feature the adapter offers (the device enables only those webgan uses). */
  features: string[];
  /** The smallest subgroup the device may run, when its `subgroups` feature is enabled; 0 otherwise. */
  subgroupMinSize: number;
}

export interface RuntimeStats extends PoolStats {
  pipelines: number;
  /** Milliseconds spent creating pipelines (shader compilation), reported rather than hidden. */
  pipelineCompileMs: number;
  dispatches: number;
  submits: number;
  readbacks: number;
  stagingBuffersCreated: number;
}

/** Storage buffers: bound to kernels, written by uploads, copied out by readbacks. */
const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x04 /* COPY_SRC */ | 0x08; /* COPY_DST */
const UNIFORM_USAGE = 0x40 /* UNIFORM */ | 0x08; /* COPY_DST */
const STAGING_USAGE = 0x01 /* MAP_READ */ | 0x08; /* COPY_DST */
const UNIFORM_ARENA_BYTES = 64 * 1024;

interface Batch {
  readonly id: number;
  readonly encoder: GPUCommandEncoder;
  pass?: GPUComputePassEncoder;
  dispatches: number;
  readonly kernels: Set<string>;
  /** Buffers released while this batch still references them: pooled only after submit. */
  readonly deferredReleases: GpuBuffer[];
  uniformArena?: GpuBuffer;
  uniformBytes: number;
  /** Timestamp queries of this batch's dispatches while profiling. */
  queries?: BatchQueries;
}

const alignUp = (n: number, to: number) => Math.ceil(n / to) * to;

export class Runtime {
  readonly limits: GPUSupportedLimits;
  readonly features: ReadonlySet<string>;
  private readonly pool: BufferPool;
  private readonly stagingPool: BufferPool;
  private readonly pipelines: PipelineCache;
  private readonly maxDispatchesPerSubmit: number;
  private readonly uniformAlignment: number;
  private readonly uniformStaging = new Uint8Array(UNIFORM_ARENA_BYTES);
  private batch?: Batch;
  private nextBatchId = 0;
  private readonly errors: GpuKernelError[] = [];
  /** Completion of each submitted batch not yet known to be finished (see settle). */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly pendingSubmitChecks = new Set<Promise<void>>();
  private lostInfo?: GPUDeviceLostInfo;
  /** Rejecters of awaits in flight (readbacks, syncs), called when the device is lost. */
  private readonly lossWaiters = new Set<(info: GPUDeviceLostInfo) => void>();
  private counters = { dispatches: 0, submits: 0, readbacks: 0 };
  /** Buffers allocated inside each active `guard` call, innermost last. */
  private readonly guardScopes: GpuBuffer[][] = [];
  private profiler?: KernelProfiler;

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary,
    options: RuntimeOptions = {},
  ) {
    this.limits = device.limits;
    this.features = new Set(device.features);
    this.maxDispatchesPerSubmit = options.maxDispatchesPerSubmit ?? 256;
    this.uniformAlignment = device.limits.minUniformBufferOffsetAlignment;
    this.pool = new BufferPool(device, options.poolCapacityBytes ?? 1 << 30);
    this.stagingPool = new BufferPool(device, 256 << 20);
    this.pipelines = new PipelineCache(device, (error) => this.errors.push(error));
    void device.lost.then((info) => {
      this.lostInfo = info;
      for (const reject of this.lossWaiters) reject(info);
    });
    device.addEventListener('uncapturederror', (event) => {
      const message = (event as GPUUncapturedErrorEvent).error.message;
      this.errors.push(new GpuKernelError(this.kernelNamedIn(message, this.batch?.kernels) ?? 'unknown', message));
    });
  }

  // ---------------------------------------------------------------------------------- buffers

  /** A storage buffer of at least `bytes` from the pool. Its contents are undefined. */
  alloc(bytes: number, label = 'tensor'): GpuBuffer {
    this.assertUsable(`while allocating ${bytes} bytes for ${label}`);
    if (!Number.isFinite(bytes) || bytes < 0) throw new GpuUsageError(`alloc: invalid byte size ${bytes} for ${label}`);
    const size = Math.max(4, alignUp(bytes, 4));
    const max = Math.min(this.limits.maxBufferSize, this.limits.maxStorageBufferBindingSize);
    if (size > max) {
      throw new GpuUsageError(
        `alloc: ${label} needs ${size} bytes, more than this adapter's largest storage buffer (${max} bytes)`,
      );
    }
    const buffer = this.pool.acquire(size, STORAGE_USAGE, label);
    this.guardScopes[this.guardScopes.length - 1]?.push(buffer);
    return buffer;
  }

  /**
   * Runs `body`; if it throws, the buffers it allocated and did not release go back to the pool,
   * so an op that fails halfway (a shape error after an allocation, a GPU error surfacing at its
   * dispatch) leaks nothing. Ops wrap themselves with `guarded` (ops/array.ts).
   */
  guard<T>(body: () => T): T {
    const scope: GpuBuffer[] = [];
    this.guardScopes.push(scope);
    try {
      const result = body();
      // The caller's scope inherits them: if it fails later, these are its intermediates too.
      this.guardScopes.pop();
      this.guardScopes[this.guardScopes.length - 1]?.push(...scope);
      return result;
    } catch (error) {
      this.guardScopes.pop();
      for (const buffer of scope) if (!buffer.released) this.release(buffer);
      throw error;
    }
  }

  /** A new storage buffer holding `data`. */
  upload(data: ArrayBufferView, label = 'tensor'): GpuBuffer {
    const buffer = this.alloc(data.byteLength, label);
    this.writeRaw(buffer, data, 0);
    return buffer;
  }

  /** Overwrites part of a buffer. Queued dispatches that read it see the old contents. */
  write(buffer: GpuBuffer, data: ArrayBufferView, byteOffset = 0): void {
    this.assertUsable(`while writing ${buffer.producer === 'upload' ? 'a buffer' : `the output of '${buffer.producer}'`}`);
    this.assertLive(buffer, 'write');
    if (byteOffset % 4 !== 0 || data.byteLength % 4 !== 0 || byteOffset + data.byteLength > buffer.size) {
      throw new GpuUsageError(
        `write: ${data.byteLength} bytes at offset ${byteOffset} do not fit a ${buffer.size}-byte buffer in 4-byte units`,
      );
    }
    // writeBuffer runs on the queue before any command that is not submitted yet, so commands
    // already queued against this buffer must be submitted first to keep program order.
    if (this.batch && buffer.lastBatch === this.batch.id) this.flush();
    this.writeRaw(buffer, data, byteOffset);
  }

  private writeRaw(buffer: GpuBuffer, data: ArrayBufferView, byteOffset: number): void {
    const bytes = alignUp(data.byteLength, 4);
    if (bytes === data.byteLength) {
      this.device.queue.writeBuffer(buffer.gpu, byteOffset, data.buffer, data.byteOffset, data.byteLength);
    } else {
      const padded = new Uint8Array(bytes);
      padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      this.device.queue.writeBuffer(buffer.gpu, byteOffset, padded);
    }
    buffer.producer = 'upload';
  }

  /** Returns a buffer to the pool. Safe while queued dispatches still use it. */
  release(buffer: GpuBuffer): void {
    if (buffer.released) throw new GpuUsageError(`release: buffer (last written by '${buffer.producer}') was already released`);
    buffer.released = true;
    if (this.batch && buffer.lastBatch === this.batch.id) this.batch.deferredReleases.push(buffer);
    else this.pool.release(buffer);
  }

  /** Destroys pooled buffers so that at most `keepBytes` stay pooled. */
  trimPool(keepBytes = 0): void {
    this.pool.trim(keepBytes);
    this.stagingPool.trim(0);
  }

  // ------------------------------------------------------------------------------- dispatches

  /**
   * Queues one dispatch of `program` over `buffers` (in binding order) with optional uniform data.
   * Throws at once, naming the kernel, for a wrong binding count, a released buffer, too many
   * workgroups, a kernel known not to compile, an earlier GPU error or a lost device.
   */
  dispatch(program: KernelProgram, buffers: readonly GpuBuffer[], workgroups: Workgroups, uniforms?: ArrayBufferView): void {
    this.assertUsable(`while dispatching kernel '${program.name}'`);
    if (buffers.length !== program.bindings.length) {
      throw new GpuKernelError(program.name, `expects ${program.bindings.length} buffers, got ${buffers.length}`);
    }
    buffers.forEach((b, i) => {
      if (b.released) throw new GpuKernelError(program.name, `binding ${i} is a released buffer (use after dispose)`);
    });
    const [x, y = 1, z = 1] = workgroups;
    const maxGroups = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxGroups || y > maxGroups || z > maxGroups) {
      throw new GpuKernelError(program.name, `workgroups [${x}, ${y}, ${z}] exceed the limit of ${maxGroups} per dimension`);
    }
    const uniformBytes = uniforms?.byteLength ?? 0;
    if (uniformBytes !== program.uniformBytes) {
      throw new GpuKernelError(program.name, `expects ${program.uniformBytes} bytes of uniforms, got ${uniformBytes}`);
    }
    const cached = this.pipelines.get(program);
    if (cached.error) throw cached.error;
    if (x === 0 || y === 0 || z === 0) return;

    let batch = this.openBatch();
    if (uniforms && batch.uniformBytes + alignUp(uniformBytes, this.uniformAlignment) > UNIFORM_ARENA_BYTES) {
      this.flush();
      batch = this.openBatch();
    }
    const entries: GPUBindGroupEntry[] = buffers.map((b, binding) => ({ binding, resource: { buffer: b.gpu, size: b.size } }));
    if (uniforms) {
      batch.uniformArena ??= this.pool.acquire(UNIFORM_ARENA_BYTES, UNIFORM_USAGE, 'uniforms');
      const offset = batch.uniformBytes;
      this.uniformStaging.set(new Uint8Array(uniforms.buffer, uniforms.byteOffset, uniformBytes), offset);
      entries.push({ binding: buffers.length, resource: { buffer: batch.uniformArena.gpu, offset, size: uniformBytes } });
      batch.uniformBytes = offset + alignUp(uniformBytes, this.uniformAlignment);
    }
    const bindGroup = this.device.createBindGroup({ layout: cached.layout, entries, label: program.name });
    if (batch.queries) {
      // Profiling: a pass of its own, timed at both ends.
      this.endPass(batch);
      batch.pass = batch.encoder.beginComputePass(this.profiler!.passFor(batch.queries, program.name));
    }
    batch.pass ??= batch.encoder.beginComputePass();
    batch.pass.setPipeline(cached.pipeline);
    batch.pass.setBindGroup(0, bindGroup);
    batch.pass.dispatchWorkgroups(x, y, z);
    if (batch.queries) this.endPass(batch);
    buffers.forEach((b, i) => {
      b.lastBatch = batch.id;
      if (program.bindings[i] === 'read_write') b.producer = program.name;
    });
    batch.kernels.add(program.name);
    batch.dispatches++;
    this.counters.dispatches++;
    if (batch.dispatches >= this.maxDispatchesPerSubmit) this.flush();
  }

  /** Copies `bytes` from one buffer to another, in order with queued dispatches. */
  copy(source: GpuBuffer, sourceOffset: number, target: GpuBuffer, targetOffset: number, bytes: number): void {
    this.assertUsable(`while copying the output of '${source.producer}'`);
    this.assertLive(source, 'copy');
    this.assertLive(target, 'copy');
    if (bytes === 0) return;
    if (sourceOffset + bytes > source.size || targetOffset + bytes > target.size || (sourceOffset | targetOffset | bytes) % 4 !== 0) {
      throw new GpuUsageError(
        `copy: ${bytes} bytes from offset ${sourceOffset} of a ${source.size}-byte buffer to offset ${targetOffset} of a ${target.size}-byte buffer (4-byte units)`,
      );
    }
    const batch = this.openBatch();
    this.endPass(batch);
    batch.encoder.copyBufferToBuffer(source.gpu, sourceOffset, target.gpu, targetOffset, bytes);
    source.lastBatch = target.lastBatch = batch.id;
    target.producer = source.producer;
    batch.dispatches++;
  }

  /** Submits everything queued. Cheap when nothing is queued. */
  flush(): void {
    const batch = this.batch;
    if (!batch) return;
    this.batch = undefined;
    this.endPass(batch);
    if (batch.uniformArena) {
      // Ordered before the submit below on the queue, so every dispatch sees its own slot.
      this.device.queue.writeBuffer(batch.uniformArena.gpu, 0, this.uniformStaging, 0, batch.uniformBytes);
    }
    const timestamps = batch.queries && this.profiler?.resolve(batch.encoder, batch.queries);
    this.device.pushErrorScope('validation');
    this.device.queue.submit([batch.encoder.finish()]);
    if (timestamps) this.profiler!.collect(batch.queries!, timestamps);
    const check: Promise<void> = this.device
      .popErrorScope()
      .then((error) => {
        if (error) {
          const named = this.kernelNamedIn(error.message, batch.kernels);
          // A batch that used a pipeline which failed to compile: its compile error says why.
          if (named && this.pipelines.failure(named)) return;
          this.errors.push(new GpuKernelError(named ?? [...batch.kernels].join(', '), error.message));
        }
      })
      .finally(() => this.pendingSubmitChecks.delete(check));
    this.pendingSubmitChecks.add(check);
    const done: Promise<void> = this.device.queue.onSubmittedWorkDone().then(
      () => void this.inFlight.delete(done),
      () => void this.inFlight.delete(done),
    );
    this.inFlight.add(done);
    this.counters.submits++;
    // Commands submitted from now on run after this batch, so its buffers can be reused.
    for (const buffer of batch.deferredReleases) this.pool.release(buffer);
    if (batch.uniformArena) this.pool.release(batch.uniformArena);
  }

  /**
   * Submits what is queued, then waits until at most `maxInFlight` submitted batches are still
   * running. A training loop that never reads a value back calls this once per step: Dawn
   * reclaims per-dispatch resources (bind groups and their descriptor pools) only for finished
   * work and only while it is given a chance to process events, so a loop that just keeps
   * submitting grows without bound (lavapipe crashed in descriptor-pool allocation after ~45,000
   * unsynchronised dispatches). Leaving one batch in flight keeps the CPU encoding the next step
   * while the previous one runs.
   */
  async settle(maxInFlight = 1): Promise<void> {
    this.assertUsable('while waiting for queued kernels');
    this.flush();
    while (this.inFlight.size > maxInFlight) {
      await this.untilDoneOrLost(this.inFlight.values().next().value!, 'while waiting for queued kernels');
    }
  }

  /** Submits everything queued and waits for the GPU to finish it; throws any error it raised. */
  async sync(): Promise<void> {
    this.assertUsable('while synchronising');
    this.flush();
    await this.untilDoneOrLost(this.device.queue.onSubmittedWorkDone(), 'while waiting for queued kernels');
    await this.throwPendingErrors();
  }

  // -------------------------------------------------------------------------------- readbacks

  /** Reads `byteLength` bytes of `buffer` from `byteOffset` (4-byte aligned). Submits queued work. */
  async read(buffer: GpuBuffer, byteOffset = 0, byteLength = buffer.size - byteOffset): Promise<ArrayBuffer> {
    const during = `while reading the output of kernel '${buffer.producer}'`;
    this.assertUsable(during);
    this.assertLive(buffer, 'read');
    if (byteOffset % 4 !== 0 || byteLength < 0 || byteOffset + byteLength > buffer.size) {
      throw new GpuUsageError(`read: ${byteLength} bytes at offset ${byteOffset} of a ${buffer.size}-byte buffer (offset must be a multiple of 4)`);
    }
    if (byteLength === 0) return new ArrayBuffer(0);
    const copyBytes = alignUp(byteLength, 4);
    const staging = this.stagingPool.acquire(copyBytes, STAGING_USAGE, 'readback');
    const batch = this.openBatch();
    this.endPass(batch);
    batch.encoder.copyBufferToBuffer(buffer.gpu, byteOffset, staging.gpu, 0, copyBytes);
    this.flush();
    this.counters.readbacks++;
    try {
      await this.untilDoneOrLost(staging.gpu.mapAsync(GPUMapMode.READ, 0, copyBytes), during);
      const result = staging.gpu.getMappedRange(0, copyBytes).slice(0, byteLength);
      staging.gpu.unmap();
      this.stagingPool.release(staging);
      await this.throwPendingErrors();
      return result;
    } catch (error) {
      if (this.lostInfo && !(error instanceof GpuDeviceLostError)) {
        throw new GpuDeviceLostError(this.lostInfo.reason ?? 'unknown', during);
      }
      throw error;
    }
  }

  async readFloat32(buffer: GpuBuffer, length = buffer.size / 4): Promise<Float32Array> {
    return new Float32Array(await this.read(buffer, 0, length * 4));
  }

  async readInt32(buffer: GpuBuffer, length = buffer.size / 4): Promise<Int32Array> {
    return new Int32Array(await this.read(buffer, 0, length * 4));
  }

  // ------------------------------------------------------------------------------ inspection

  /**
   * Starts timing every dispatch on the GPU (needs the adapter's 'timestamp-query' feature).
   * Work queued before the call is submitted untimed.
   */
  startProfiling(): void {
    if (!this.features.has('timestamp-query')) {
      throw new GpuUsageError(`profiling needs the 'timestamp-query' feature, which this adapter (${this.adapter.description}) does not offer`);
    }
    this.flush();
    this.profiler = new KernelProfiler(this.device, this.maxDispatchesPerSubmit);
  }

  /** Stops profiling; resolves to GPU time per kernel, slowest first, once the timed work has run. */
  async stopProfiling(): Promise<KernelTiming[]> {
    const profiler = this.profiler;
    if (!profiler) throw new GpuUsageError('stopProfiling: profiling was not started');
    this.flush();
    this.profiler = undefined;
    return profiler.report();
  }

  stats(): RuntimeStats {
    return {
      ...this.pool.snapshot(),
      pipelines: this.pipelines.size,
      pipelineCompileMs: this.pipelines.compileMs,
      ...this.counters,
      stagingBuffersCreated: this.stagingPool.snapshot().buffersCreated,
    };
  }

  /** True once the device is lost; every later GPU call throws GpuDeviceLostError. */
  get isLost(): boolean {
    return this.lostInfo !== undefined;
  }

  /** Releases the device. The runtime cannot be used afterwards. */
  destroy(): void {
    this.batch = undefined;
    this.pool.trim(0);
    this.stagingPool.trim(0);
    this.device.destroy();
  }

  // ---------------------------------------------------------------------------------- private

  private openBatch(): Batch {
    this.batch ??= {
      id: this.nextBatchId++,
      encoder: this.device.createCommandEncoder(),
      dispatches: 0,
      kernels: new Set(),
      deferredReleases: [],
      uniformBytes: 0,
      queries: this.profiler?.newBatch(),
    };
    return this.batch;
  }

  private endPass(batch: Batch): void {
    batch.pass?.end();
    batch.pass = undefined;
  }

  private assertUsable(during: string): void {
    if (this.lostInfo) throw new GpuDeviceLostError(this.lostInfo.reason ?? 'unknown', during);
    const error = this.errors.shift();
    if (error) {
      this.errors.length = 0;
      throw error;
    }
  }

  private assertLive(buffer: GpuBuffer, what: string): void {
    if (buffer.released) throw new GpuUsageError(`${what}: the buffer (last written by '${buffer.producer}') was released (use after dispose)`);
  }

  private async throwPendingErrors(): Promise<void> {
    await this.pipelines.settled();
    while (this.pendingSubmitChecks.size > 0) await Promise.all([...this.pendingSubmitChecks]);
    this.assertUsable('after the GPU finished');
  }

  /** Awaits `work`, but turns a device loss during the wait into a GpuDeviceLostError. */
  private untilDoneOrLost<T>(work: Promise<T>, during: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onLost = (info: GPUDeviceLostInfo) => reject(new GpuDeviceLostError(info.reason ?? 'unknown', during));
      this.lossWaiters.add(onLost);
      work.then(resolve, reject).finally(() => this.lossWaiters.delete(onLost));
    });
  }

  private kernelNamedIn(message: string, kernels?: ReadonlySet<string>): string | undefined {
    for (const name of kernels ?? []) if (message.includes(`"${name}"`)) return name;
    return undefined;
  }
}
