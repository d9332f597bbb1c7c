/**
 * A small end-to-end check of the runtime: upload, a dispatch with uniforms, readback, compared
 * against the same arithmetic on the CPU. Used by `webgan doctor`.
 */
import { flatIndex, grid1d } from '../wgsl/grid';
import type { KernelProgram } from './program';
import type { Runtime } from './runtime';

export interface SelfTestResult {
  ok: boolean;
  elements: number;
  maxAbsError: number;
  ms: number;
}

/** y = a·x + b over an odd number of elements (not a multiple of the workgroup size). */
export async function selfTest(runtime: Runtime, elements = 100_003): Promise<SelfTestResult> {
  const started = performance.now();
  const workgroupSize = 64;
  const grid = grid1d(elements, workgroupSize);
  const program: KernelProgram = {
    name: 'self-test.axpb',
    key: `self-test.axpb:${elements}`,
    bindings: ['read', 'read_write'],
    uniformBytes: 8,
    source: () => `
      struct Params { a: f32, b: f32 }
      @group(0) @binding(0) var<storage, read> x: array<f32>;
      @group(0) @binding(1) var<storage, read_write> y: array<f32>;
      @group(0) @binding(2) var<uniform> params: Params;
      @compute @workgroup_size(${workgroupSize})
      fn main(@builtin(global_invocation_id) gid: vec3u) {
        ${flatIndex(grid)}
        if (i >= ${elements}u) { return; }
        y[i] = params.a * x[i] + params.b;
      }`,
  };
  const x = new Float32Array(elements);
  for (let i = 0; i < elements; i++) x[i] = Math.sin(i * 0.37) * 3;
  const a = 1.5;
  const b = -0.25;
  const xBuffer = runtime.upload(x, 'self-test.x');
  const yBuffer = runtime.alloc(elements * 4, 'self-test.y');
  try {
    runtime.dispatch(program, [xBuffer, yBuffer], grid.workgroups, new Float32Array([a, b]));
    const y = await runtime.readFloat32(yBuffer, elements);
    let maxAbsError = 0;
    for (let i = 0; i < elements; i++) maxAbsError = Math.max(maxAbsError, Math.abs(y[i] - Math.fround(Math.fround(a * x[i]) + b)));
    return { ok: maxAbsError <= 1e-6, elements, maxAbsError, ms: performance.now() - started };
  } finally {
    runtime.release(xBuffer);
    runtime.release(yBuffer);
  }
}
