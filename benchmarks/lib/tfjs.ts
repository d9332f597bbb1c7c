/**
 * TensorFlow.js in the benchmark process: tfjs-core with its webgpu, wasm and cpu backends.
 *
 * - webgpu: tfjs-backend-webgpu registers itself at load time only if `navigator.gpu` exists, so
 *   Dawn's GPU object (the `webgpu` package, the same Dawn and adapter our runtime uses) is put on
 *   `globalThis.navigator` first. tfjs's own factory then requests the adapter and a device of its
 *   own; 4.22 reads `adapter.info`, which Dawn 0.6.2 has, so no shim is needed.
 * - wasm: the .wasm binaries are read from the package's dist/ folder by file path. Node has no
 *   threaded build for it (the pthread build needs browser Workers), so it runs single-threaded
 *   with SIMD.
 * - cpu: plain JavaScript kernels.
 *
 * Gradients: tfjs-core's CommonJS build registers no gradient functions (the `@tensorflow/tfjs`
 * union package bundles them in, along with layers, converter, data and webgl). Their registration
 * module, an ES module with extensionless imports that Node cannot load as is, is bundled here
 * with esbuild into .cache/bench/ (well under a second), the way the union package does it: the
 * copy registers into tfjs's global gradient registry and runs on the global engine, so tf.grads
 * sees the gradients.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { build } from 'esbuild';
import { renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { create, globals } from 'webgpu';
import { benchRequire, WORKSPACE_ROOT } from './paths';

export type Tf = typeof TfCore;
export type TfjsBackendName = 'webgpu' | 'wasm' | 'cpu';

export interface Tfjs {
  tf: Tf;
  /** The reason each backend (or the gradient registration) that failed to load did so. */
  loadErrors: Partial<Record<TfjsBackendName | 'gradients', string>>;
}

/** Puts Dawn's GPU on `navigator.gpu`, for libraries that look for WebGPU there. */
export function exposeDawnAsNavigatorGpu(): GPU {
  Object.assign(globalThis, globals);
  const gpu = create([]);
  const holder = globalThis as { navigator?: object };
  if (holder.navigator) {
    // Node 21+ has a navigator of its own; add gpu to it rather than replace it.
    Object.defineProperty(holder.navigator, 'gpu', { value: gpu, configurable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  }
  return gpu;
}

/** Loads tfjs-core, its gradients and the three backends; what fails to load is reported, not thrown. */
export async function loadTfjs(): Promise<Tfjs> {
  exposeDawnAsNavigatorGpu();
  const tf = benchRequire('@tensorflow/tfjs-core') as Tf;
  // Production mode drops tfjs's debug-time checks; this is what an application would ship.
  tf.enableProdMode();
  const loadErrors: Tfjs['loadErrors'] = {};
  const load = async (name: keyof Tfjs['loadErrors'], setup: () => unknown) => {
    try {
      await setup();
    } catch (error) {
      loadErrors[name] = errorMessage(error);
    }
  };
  await load('gradients', registerGradients);
  await load('cpu', () => benchRequire('@tensorflow/tfjs-backend-cpu'));
  await load('webgpu', () => {
    benchRequire('@tensorflow/tfjs-backend-webgpu');
    if (!tf.findBackendFactory('webgpu')) throw new Error('tfjs-backend-webgpu did not register (no navigator.gpu)');
  });
  await load('wasm', () => {
    const wasm = benchRequire('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(`${dirname(benchRequire.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
  });
  return { tf, loadErrors };
}

async function registerGradients(): Promise<void> {
  const outfile = join(WORKSPACE_ROOT, '.cache', 'bench', 'tfjs-gradients.cjs');
  // Unique temp name + rename: a concurrent run never loads a half-written bundle.
  const tempFile = `${outfile}.${process.pid}.tmp.cjs`;
  await build({
    entryPoints: [benchRequire.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js')],
    outfile: tempFile,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    logLevel: 'error',
  });
  renameSync(tempFile, outfile);
  benchRequire(outfile);
}

/** Makes `name` the active tfjs backend; throws with tfjs's reason if it cannot start. */
export async function useTfjsBackend(tfjs: Tfjs, name: TfjsBackendName): Promise<void> {
  const loadError = tfjs.loadErrors[name];
  if (loadError) throw new Error(`tfjs-${name} did not load: ${loadError}`);
  const ok = await tfjs.tf.setBackend(name);
  await tfjs.tf.ready();
  if (!ok || tfjs.tf.getBackend() !== name) throw new Error(`tf.setBackend('${name}') failed (see the warning above)`);
}

/**
 * Waits until everything the active tfjs backend was asked to do has finished.
 *
 * tfjs-webgpu records dispatches into a pending command encoder and submits on its own only every
 * WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE (15) dispatches or on a readback. So: end its open compute pass,
 * submit the pending encoder (both public methods of WebGPUBackend), then wait for the queue.
 * wasm and cpu run each kernel synchronously inside the op call, so there is nothing to wait for.
 */
export function tfjsCompletion(tf: Tf): (() => Promise<void>) | undefined {
  if (tf.getBackend() !== 'webgpu') return undefined;
  const backend = tf.backend() as unknown as WebGPUBackend;
  return async () => {
    backend.ensureCommandEncoderReady();
    backend.endComputePassEncoder();
    backend.submitQueue();
    await backend.device.queue.onSubmittedWorkDone();
  };
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0] : String(error);
}
