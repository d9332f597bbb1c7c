/** Small kernels used by the runtime tests, written against the runtime's program header. */
import type { KernelProgram } from '@webgan/kernels';
import { flatIndex, grid1d } from '../../packages/kernels/src/wgsl/grid';

/** out[i] = x[i] * scale + shift, with scale and shift as uniforms. */
export function scaleShift(elements: number): { program: KernelProgram; workgroups: readonly [number, number] } {
  const grid = grid1d(elements, 64);
  return {
    workgroups: grid.workgroups as [number, number],
    program: {
      name: 'test.scale-shift',
      key: `test.scale-shift:${elements}`,
      bindings: ['read', 'read_write'],
      uniformBytes: 8,
      source: () => `
        struct Params { scale: f32, shift: f32 }
        @group(0) @binding(0) var<storage, read> x: array<f32>;
        @group(0) @binding(1) var<storage, read_write> out: array<f32>;
        @group(0) @binding(2) var<uniform> params: Params;
        @compute @workgroup_size(64)
        fn main(@builtin(global_invocation_id) gid: vec3u) {
          ${flatIndex(grid)}
          if (i >= ${elements}u) { return; }
          out[i] = x[i] * params.scale + params.shift;
        }`,
    },
  };
}
