/**
 * Compiles each kernel specialisation once. Compilation errors are captured with an error scope
 * and reported under the kernel's name (with the compiler's messages), not as a bare device error.
 */
import type { KernelProgram } from './program';
import { GpuKernelError } from './errors';

export interface CachedPipeline {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly program: KernelProgram;
  /** Set once the compile check finished with an error; dispatching it again throws at once. */
  error?: GpuKernelError;
}

export class PipelineCache {
  private readonly pipelines = new Map<string, CachedPipeline>();
  /** Compile checks still in flight; awaited before results are handed back to the user. */
  private readonly pendingChecks = new Set<Promise<void>>();
  /** Kernels whose pipeline failed to compile, by name. */
  private readonly failed = new Map<string, GpuKernelError>();
  compileMs = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly onError: (error: GpuKernelError) => void,
  ) {}

  get size(): number {
    return this.pipelines.size;
  }

  get(program: KernelProgram): CachedPipeline {
    const cached = this.pipelines.get(program.key);
    if (cached) return cached;
    return this.compile(program);
  }

  private compile(program: KernelProgram): CachedPipeline {
    const started = performance.now();
    const device = this.device;
    const entries: GPUBindGroupLayoutEntry[] = program.bindings.map((access, binding) => ({
      binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: access === 'read' ? 'read-only-storage' : 'storage' },
    }));
    if (program.uniformBytes > 0) {
      entries.push({ binding: program.bindings.length, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
    }
    device.pushErrorScope('validation');
    const code = program.source();
    const module = device.createShaderModule({ code, label: program.name });
    const layout = device.createBindGroupLayout({ entries, label: program.name });
    const pipeline = device.createComputePipeline({
      label: program.name,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout], label: program.name }),
      compute: { module, entryPoint: 'main' },
    });
    const cached: CachedPipeline = { pipeline, layout, program };
    const check = device
      .popErrorScope()
      .then(async (error) => {
        if (!error) return;
        // Recorded at once, so that the failed submit this pipeline causes is traced back to it.
        cached.error = new GpuKernelError(program.name, error.message);
        this.failed.set(program.name, cached.error);
        this.onError(cached.error);
        const info = await module.getCompilationInfo().catch(() => undefined);
        const lines = (info?.messages ?? [])
          .filter((m) => m.type === 'error')
          .map((m) => `  line ${m.lineNum}:${m.linePos}: ${m.message}`);
        if (lines.length > 0) cached.error.message = `GPU kernel '${program.name}' failed: WGSL compilation failed:\n${lines.join('\n')}`;
      })
      .finally(() => this.pendingChecks.delete(check));
    this.pendingChecks.add(check);
    this.pipelines.set(program.key, cached);
    this.compileMs += performance.now() - started;
    return cached;
  }

  /** The compile error of a kernel by name, if it failed to compile. */
  failure(name: string): GpuKernelError | undefined {
    return this.failed.get(name);
  }

  /** Resolves once every compile check so far has finished. */
  async settled(): Promise<void> {
    while (this.pendingChecks.size > 0) await Promise.all([...this.pendingChecks]);
  }
}
