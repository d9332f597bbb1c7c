/**
 * Selection of the k largest values of a vector: their indices, in descending order of value.
 *
 * Each invocation ranks one element by counting the elements that come before it in the order
 * (larger values first; among equal values, lower indices first) and, when its rank is below k,
 * writes its own index at that rank. Ranks are distinct, so no two invocations write the same
 * slot and no sort or barrier is needed. That is O(n²) comparisons: meant for batch-sized vectors
 * (a GAN's per-sample scores, n in the hundreds), where one launch beats any multi-pass sort.
 */
import type { KernelProgram } from '../runtime/program';
import type { Runtime } from '../runtime/runtime';
import { flatIndex, grid1d } from '../wgsl/grid';
import { allocArray, formatShape, guarded, sizeOf, type DeviceArray } from './array';

const WORKGROUP = 64;

/** int32 [k]: indices of the k largest elements of float32 `x` (any shape, read flat), largest first. */
export const topKIndices = guarded(function topKIndices(runtime: Runtime, x: DeviceArray, k: number): DeviceArray {
  if ((x.dtype ?? 'float32') !== 'float32') throw new Error(`topKIndices: x must be float32, got ${x.dtype}`);
  const n = sizeOf(x.shape);
  if (!Number.isInteger(k) || k < 0 || k > n) throw new Error(`topKIndices: k must be an integer in [0, ${n}] for x ${formatShape(x.shape)}, got ${k}`);
  const out = allocArray(runtime, [k], 'int32', 'topk-indices');
  if (k === 0) return out;
  const grid = grid1d(n, WORKGROUP);
  const program: KernelProgram = {
    name: 'topk-indices',
    key: `topk-indices|${n}|${k}|${grid.rowStride}`,
    bindings: ['read', 'read_write'],
    uniformBytes: 0,
    // NaN compares false both ways, so a NaN would share a rank with another element; the
    // trainer's non-finite check catches NaN scores, so no ordering is defined for them here.
    source: () => `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<i32>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(grid)}
  if (i >= ${n}u) { return; }
  let v = x[i];
  var rank = 0u;
  for (var j = 0u; j < ${n}u; j++) {
    let w = x[j];
    if (w > v || (w == v && j < i)) { rank++; }
  }
  if (rank < ${k}u) { out[rank] = i32(i); }
}`,
  };
  runtime.dispatch(program, [x.buffer, out.buffer], grid.workgroups);
  return out;
});
