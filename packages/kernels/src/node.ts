/**
 * Node entry: creates the GPU from Dawn (the `webgpu` package). The only module that imports it,
 * so browser bundles never see it.
 */
import { create, globals } from 'webgpu';
import { fileTuningStore } from './node-tuning-store';
import { init, type InitOptions } from './runtime/device';
import type { Runtime } from './runtime/runtime';
import { useTuningStore } from './wgsl/tiling';

export interface NodeInitOptions extends Omit<InitOptions, 'gpu'> {
  /** File of tuned GEMM tilings to load and update; false for none. Default: ~/.cache/webgan. */
  tuningFile?: string | false;
}

let dawn: GPU | undefined;

/** Initialises the default runtime on Dawn's first adapter (lavapipe on a machine without a GPU). */
export async function initNode(options: NodeInitOptions = {}): Promise<Runtime> {
  if (!dawn) {
    // Dawn exposes the WebGPU constants (GPUBufferUsage, GPUMapMode, ...) as globals; kernels use them.
    Object.assign(globalThis, globals);
    dawn = create([]);
  }
  const runtime = await init({ ...options, gpu: dawn });
  if (options.tuningFile !== false) useTuningStore(runtime, fileTuningStore(options.tuningFile || undefined));
  return runtime;
}

export * from './index';
export { fileTuningStore, defaultTuningPath } from './node-tuning-store';
