/**
 * Counter-based random numbers (Philox4x32-10, as in Random123): element i of a draw is a pure
 * function of (seed, offset + ⌊i/4⌋, i mod 4), so any draw can be reproduced from its seed and
 * offset alone — which is all a checkpoint needs to store to resume a run exactly.
 */
import type { KernelProgram } from '../runtime/program';
import type { Runtime } from '../runtime/runtime';
import { grid1d } from '../wgsl/grid';
import { allocArray, assertValidShape, sizeOf, type DeviceArray, guarded } from './array';

const WORKGROUP = 64;
const TWO_32 = 2 ** 32;

const PHILOX = /* wgsl */ `
// High and low words of the 64-bit product a·b, from 16-bit halves (WGSL has no 64-bit integers).
fn mulhilo(a: u32, b: u32) -> vec2u {
  let a_lo = a & 0xffffu;
  let a_hi = a >> 16u;
  let b_lo = b & 0xffffu;
  let b_hi = b >> 16u;
  let lo_lo = a_lo * b_lo;
  let hi_lo = a_hi * b_lo;
  let lo_hi = a_lo * b_hi;
  let cross = (lo_lo >> 16u) + (hi_lo & 0xffffu) + (lo_hi & 0xffffu);
  let hi = a_hi * b_hi + (hi_lo >> 16u) + (lo_hi >> 16u) + (cross >> 16u);
  return vec2u(hi, a * b);
}

fn philox4x32_10(counter: vec4u, key: vec2u) -> vec4u {
  var c = counter;
  var k = key;
  for (var round = 0u; round < 10u; round++) {
    if (round > 0u) { k = k + vec2u(0x9E3779B9u, 0xBB67AE85u); }
    let p0 = mulhilo(0xD2511F53u, c.x);
    let p1 = mulhilo(0xCD9E8D57u, c.z);
    c = vec4u(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
  }
  return c;
}

// 24 random bits scaled into [0, 1).
fn to_unit(word: u32) -> f32 { return f32(word >> 8u) * 5.9604644775390625e-8; }
`;

type Distribution = 'uniform' | 'normal';

function randomProgram(distribution: Distribution, count: number): { program: KernelProgram; workgroups: readonly [number, number] } {
  const blocks = Math.ceil(count / 4);
  const grid = grid1d(blocks, WORKGROUP);
  const transform =
    distribution === 'uniform'
      ? 'let values = vec4f(to_unit(bits.x), to_unit(bits.y), to_unit(bits.z), to_unit(bits.w));'
      : `// Box-Muller on two pairs of uniforms; u1 is kept in (0, 1] so log(u1) is finite.
  let r01 = sqrt(-2.0 * log(f32((bits.x >> 8u) + 1u) * 5.9604644775390625e-8));
  let r23 = sqrt(-2.0 * log(f32((bits.z >> 8u) + 1u) * 5.9604644775390625e-8));
  let t01 = 6.283185307179586 * to_unit(bits.y);
  let t23 = 6.283185307179586 * to_unit(bits.w);
  let values = params.mean + params.stddev * vec4f(r01 * cos(t01), r01 * sin(t01), r23 * cos(t23), r23 * sin(t23));`;
  const program: KernelProgram = {
    name: `random.${distribution}`,
    key: `random.${distribution}|${count}`,
    bindings: ['read_write'],
    uniformBytes: 32,
    source: () => `
struct Params { seed_lo: u32, seed_hi: u32, offset_lo: u32, offset_hi: u32, mean: f32, stddev: f32, _pad0: f32, _pad1: f32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;
${PHILOX}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let block = gid.x + gid.y * ${grid.rowStride}u;
  if (block >= ${blocks}u) { return; }
  let lo = params.offset_lo + block;
  let carry = select(0u, 1u, lo < block);
  let bits = philox4x32_10(vec4u(lo, params.offset_hi + carry, 0u, 0u), vec2u(params.seed_lo, params.seed_hi));
  ${transform}
  let first = block * 4u;
  for (var j = 0u; j < 4u; j++) {
    if (first + j < ${count}u) { out[first + j] = values[j]; }
  }
}`,
  };
  return { program, workgroups: grid.workgroups as [number, number] };
}

function checkSeed(op: string, seed: number, offset: number): void {
  for (const [name, v] of [['seed', seed], ['offset', offset]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${op}: ${name} must be a non-negative safe integer, got ${v}`);
  }
}

function draw(runtime: Runtime, distribution: Distribution, shape: readonly number[], seed: number, offset: number, mean: number, std: number): DeviceArray {
  const op = distribution === 'uniform' ? 'randomUniform' : 'randomNormal';
  assertValidShape(op, shape);
  checkSeed(op, seed, offset);
  const out = allocArray(runtime, shape, 'float32', `random.${distribution}`);
  const count = sizeOf(shape);
  if (count === 0) return out;
  const { program, workgroups } = randomProgram(distribution, count);
  const uniforms = new ArrayBuffer(32);
  new Uint32Array(uniforms, 0, 4).set([seed % TWO_32, Math.floor(seed / TWO_32), offset % TWO_32, Math.floor(offset / TWO_32)]);
  new Float32Array(uniforms, 16, 2).set([mean, std]);
  runtime.dispatch(program, [out.buffer], workgroups, new Uint8Array(uniforms));
  return out;
}

/** Uniform [0, 1) floats; element i uses Philox counter offset + ⌊i/4⌋, word i mod 4. */
export const randomUniform = guarded(function randomUniform(runtime: Runtime, shape: readonly number[], seed: number, offset: number): DeviceArray {
  return draw(runtime, 'uniform', shape, seed, offset, 0, 1);
});

/** Normal floats N(mean, std²) by Box-Muller on the same counters as randomUniform. */
export const randomNormal = guarded(function randomNormal(runtime: Runtime, shape: readonly number[], seed: number, offset: number, mean: number = 0, std: number = 1): DeviceArray {
  return draw(runtime, 'normal', shape, seed, offset, mean, std);
});

/** Counters a draw of `count` elements consumes: the next draw should start at offset + this. */
export const randomCountersUsed = (count: number): number => Math.ceil(count / 4);
