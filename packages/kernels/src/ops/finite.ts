/**
 * Non-finite detection on the GPU. A training loop marks each step's losses and gradients into a
 * small flag buffer and reads that buffer only now and then (at its logging interval), instead of
 * reading every loss back every step: a readback waits for the GPU, a mark does not.
 *
 * The flag is int32 [2]: [0] the smallest step number marked (NON_FINITE_CLEAR while nothing is),
 * [1] the bitwise OR of the `what` codes marked, so the reader learns when and what went wrong.
 */
import type { Runtime } from '../runtime/runtime';
import type { KernelProgram } from '../runtime/program';
import { grid1d } from '../wgsl/grid';
import { formatShape, fromArray, sizeOf, type DeviceArray, guarded } from './array';

export const NON_FINITE_CLEAR = 0x7fffffff;
const WORKGROUP = 256;

export interface NonFiniteReport {
  /** The first step marked non-finite. */
  step: number;
  /** OR of the `what` codes of every mark since the flag was cleared. */
  what: number;
}

/** A cleared flag buffer (int32 [2]); the caller releases it. */
export function nonFiniteFlag(runtime: Runtime): DeviceArray {
  return fromArray(runtime, new Int32Array([NON_FINITE_CLEAR, 0]), [2], 'int32');
}

export function clearNonFiniteFlag(runtime: Runtime, flag: DeviceArray): void {
  checkFlag('clearNonFiniteFlag', flag);
  runtime.write(flag.buffer, new Int32Array([NON_FINITE_CLEAR, 0]));
}

/** Reads the flag: null when nothing was marked since it was cleared. */
export async function readNonFiniteFlag(runtime: Runtime, flag: DeviceArray): Promise<NonFiniteReport | null> {
  checkFlag('readNonFiniteFlag', flag);
  const [step, what] = await runtime.readInt32(flag.buffer, 2);
  return step === NON_FINITE_CLEAR ? null : { step, what };
}

/** A mark to make when a value is not finite: lower flag[0] to `step`, OR `what` into flag[1]. */
export interface NonFiniteMark {
  flag: DeviceArray;
  step: number;
  what: number;
}

/**
 * WGSL test that the f32 expression (with `vec4`: any component of the vec4f expression) is NaN
 * or ±Inf: an exponent of all ones. Testing the bits, not \`x != x\`, because a shader compiler
 * may assume floats are never NaN and fold that away.
 */
export const NON_FINITE_TEST = (x: string, vec4 = false): string =>
  vec4 ? `any((bitcast<vec4u>(${x}) & vec4u(0x7f800000u)) == vec4u(0x7f800000u))` : `(bitcast<u32>(${x}) & 0x7f800000u) == 0x7f800000u`;

/** Throws naming the op when a mark's flag, step or code is invalid. */
export function checkNonFiniteMark(op: string, mark: NonFiniteMark): void {
  checkFlag(op, mark.flag);
  if (!Number.isInteger(mark.step) || mark.step < 0 || mark.step >= NON_FINITE_CLEAR) throw new Error(`${op}: step must be an integer in [0, ${NON_FINITE_CLEAR}), got ${mark.step}`);
  if (!Number.isInteger(mark.what) || mark.what <= 0 || mark.what > 0x7fffffff) throw new Error(`${op}: what must be a positive 31-bit code, got ${mark.what}`);
}

function checkFlag(op: string, flag: DeviceArray): void {
  if (flag.dtype !== 'int32' || sizeOf(flag.shape) !== 2) throw new Error(`${op}: flag must be int32 [2], got ${flag.dtype ?? 'float32'} ${formatShape(flag.shape)}`);
}

/**
 * If any of `count` elements of `input` from `offset` (default: all) is NaN or ±Inf, lowers
 * flag[0] to `step` and ORs `what` into flag[1]. One dispatch; nothing is read back.
 */
export const markNonFinite = guarded(function markNonFinite(
  runtime: Runtime,
  input: DeviceArray,
  flag: DeviceArray,
  step: number,
  what: number,
  range?: { offset: number; count: number },
): void {
  checkNonFiniteMark('markNonFinite', { flag, step, what });
  if ((input.dtype ?? 'float32') !== 'float32') throw new Error(`markNonFinite: input must be float32, got ${input.dtype}`);
  const n = sizeOf(input.shape);
  const r = range ?? { offset: 0, count: n };
  if (!Number.isInteger(r.offset) || !Number.isInteger(r.count) || r.offset < 0 || r.count < 0 || r.offset + r.count > n) {
    throw new Error(`markNonFinite: range offset ${r.offset} count ${r.count} is outside input ${formatShape(input.shape)}`);
  }
  if (r.count === 0) return;
  const grid = grid1d(r.count, WORKGROUP);
  const program: KernelProgram = {
    name: 'mark-non-finite',
    key: `mark-non-finite|${grid.rowStride}`,
    bindings: ['read', 'read_write'],
    uniformBytes: 16,
    source: () => `
struct Params { offset: u32, count: u32, step: i32, what: i32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> flag: array<atomic<i32>>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let k = gid.x + gid.y * ${grid.rowStride}u;
  if (k >= params.count) { return; }
  if (${NON_FINITE_TEST('x[params.offset + k]')}) {
    atomicMin(&flag[0], params.step);
    atomicOr(&flag[1], params.what);
  }
}`,
  };
  const uniforms = new Int32Array([r.offset, r.count, step, what]);
  runtime.dispatch(program, [input.buffer, flag.buffer], grid.workgroups, uniforms);
});
