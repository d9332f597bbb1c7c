/**
 * Node entry: creates the GPU from Dawn (the `webgpu` package). The only module that imports it,
 * so browser bundles never see it.
 */
import { create, globals } from 'webgpu';
import { init, type InitOptions } from './runtime/device';
import type { Runtime } from './runtime/runtime';

let dawn: GPU | undefined;

/** Initialises the default runtime on Dawn's first adapter (lavapipe on a machine without a GPU). */
export async function initNode(options: Omit<InitOptions, 'gpu'> = {}): Promise<Runtime> {
  if (!dawn) {
    // Dawn exposes the WebGPU constants (GPUBufferUsage, GPUMapMode, ...) as globals; kernels use them.
    Object.assign(globalThis, globals);
    dawn = create([]);
  }
  return init({ ...options, gpu: dawn });
}

export * from './index';
