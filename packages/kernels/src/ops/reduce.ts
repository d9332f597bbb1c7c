/**
 * Reductions (sum, mean, max, min) over any set of axes. Adjacent axes of the same kind are
 * merged; small reductions run one invocation per output, large ones one workgroup per output
 * with a tree in workgroup memory.
 */
import type { KernelProgram } from '../runtime/program';
import type { Runtime } from '../runtime/runtime';
import { SPECIAL_FLOATS, f32Literal } from '../wgsl/activation';
import { allocArray, assertFloat, formatShape, normalizeAxis, sizeOf, stridesOf, type DeviceArray, guarded } from './array';

export type ReduceOp = 'sum' | 'mean' | 'max' | 'min';

/**
 * Reductions at most SERIAL_LIMIT long, or at most SERIAL_LIMIT_MANY_OUTPUTS long when there are
 * at least MANY_OUTPUTS outputs, run one invocation per output: a workgroup per output costs more
 * than it saves when there are thousands of short rows.
 */
const SERIAL_LIMIT = 64;
const SERIAL_LIMIT_MANY_OUTPUTS = 4096;
const MANY_OUTPUTS = 2048;
/**
 * On CPU adapters (lavapipe) workgroup barriers are expensive — a workgroup runs as one thread
 * that switches between its invocations at every barrier — so reductions up to this long run one
 * invocation per output, eight outputs (one AVX2 vector of lanes) to a workgroup: a bias gradient
 * (sum over 256 rows of [256, 128]) went from ~1 ms to a few µs.
 */
export const SERIAL_LIMIT_CPU = 4096;
export const SERIAL_WORKGROUP_CPU = 8;
const SERIAL_WORKGROUP = 64;
const TREE_WORKGROUP = 256;
const MAX_GROUPS = 65535;

const INIT: Record<ReduceOp, string> = {
  sum: '0.0',
  mean: '0.0',
  max: 'negative_inf()',
  min: 'positive_inf()',
};
const COMBINE: Record<ReduceOp, (acc: string, v: string) => string> = {
  sum: (acc, v) => `${acc} + ${v}`,
  mean: (acc, v) => `${acc} + ${v}`,
  max: (acc, v) => `max(${acc}, ${v})`,
  min: (acc, v) => `min(${acc}, ${v})`,
};

interface Dim {
  size: number;
  stride: number;
}

/** Reduces `x` over `axes` (default: all). Without keepDims, reduced axes are dropped. */
export const reduce = guarded(function reduce(runtime: Runtime, op: ReduceOp, x: DeviceArray, axes?: readonly number[], keepDims: boolean = false): DeviceArray {
  if (!INIT[op]) throw new Error(`reduce: unknown op '${op}' (known: sum, mean, max, min)`);
  assertFloat(`reduce.${op}`, 'x', x);
  const rank = x.shape.length;
  const reduced = new Set((axes ?? x.shape.map((_, i) => i)).map((a) => normalizeAxis(`reduce.${op}`, a, rank, x.shape)));
  if (axes && reduced.size !== axes.length) throw new Error(`reduce.${op}: repeated axis in [${axes}] for shape ${formatShape(x.shape)}`);
  const outShape = keepDims ? x.shape.map((d, i) => (reduced.has(i) ? 1 : d)) : x.shape.filter((_, i) => !reduced.has(i));
  const reduceCount = [...reduced].reduce((p, a) => p * x.shape[a], 1);
  if ((op === 'max' || op === 'min') && reduceCount === 0) {
    throw new Error(`reduce.${op}: cannot reduce an empty axis of shape ${formatShape(x.shape)}`);
  }
  const out = allocArray(runtime, outShape, 'float32', `reduce.${op}`);
  const outCount = sizeOf(outShape);
  if (outCount === 0) return out;

  const strides = stridesOf(x.shape);
  const kept: Dim[] = [];
  const red: Dim[] = [];
  for (let d = 0; d < rank; d++) {
    if (x.shape[d] === 1) continue;
    const list = reduced.has(d) ? red : kept;
    const last = list[list.length - 1];
    // Merge with the previous dim of the same kind when they are adjacent in memory.
    if (last && last.stride === x.shape[d] * strides[d]) {
      last.size *= x.shape[d];
      last.stride = strides[d];
    } else list.push({ size: x.shape[d], stride: strides[d] });
  }
  const cpu = runtime.adapter.isFallbackAdapter;
  const serial = reduceCount <= SERIAL_LIMIT || (outCount >= MANY_OUTPUTS && reduceCount <= SERIAL_LIMIT_MANY_OUTPUTS) || (cpu && reduceCount <= SERIAL_LIMIT_CPU);
  const threads = serial ? 1 : TREE_WORKGROUP;
  const { program, workgroups } = reduceProgram(op, kept, red, outCount, reduceCount, threads, cpu ? SERIAL_WORKGROUP_CPU : SERIAL_WORKGROUP);
  runtime.dispatch(program, [x.buffer, out.buffer], workgroups);
  return out;
});

/** WGSL computing `name` = sum of coord·stride of `index` decomposed over `dims` (row-major). */
function offsetOf(dims: readonly Dim[], index: string, name: string): string {
  if (dims.length === 0) return `let ${name} = 0u;`;
  if (dims.length === 1) return `let ${name} = ${index} * ${dims[0].stride}u;`;
  const lines = [`var ${name} = 0u;`, `var ${name}_rest = ${index};`];
  for (let d = dims.length - 1; d >= 0; d--) {
    if (d === 0) lines.push(`${name} += ${name}_rest * ${dims[d].stride}u;`);
    else lines.push(`${name} += (${name}_rest % ${dims[d].size}u) * ${dims[d].stride}u; ${name}_rest = ${name}_rest / ${dims[d].size}u;`);
  }
  return lines.join('\n  ');
}

function reduceProgram(op: ReduceOp, kept: Dim[], red: Dim[], outCount: number, reduceCount: number, threads: number, serialWorkgroup: number) {
  const cols = Math.min(outCount, MAX_GROUPS);
  const rows = Math.ceil(outCount / cols);
  const finish = op === 'mean' ? ` * ${f32Literal(1 / reduceCount)}` : '';
  const serialBlock = Math.max(1, Math.ceil(Math.sqrt(reduceCount)));
  const key = `reduce.${op}|${JSON.stringify(kept)}|${JSON.stringify(red)}|${threads === 1 ? `serial${serialWorkgroup}` : threads}`;
  const program: KernelProgram = {
    name: `reduce.${op}`,
    key,
    bindings: ['read', 'read_write'],
    uniformBytes: 0,
    source: () =>
      threads === 1
        ? `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${SPECIAL_FLOATS}
@compute @workgroup_size(${serialWorkgroup})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let o = gid.x + gid.y * ${Math.ceil(cols / serialWorkgroup) * serialWorkgroup}u;
  if (o >= ${outCount}u) { return; }
  ${offsetOf(kept, 'o', 'base')}
  var acc = ${INIT[op]};
  // Blocks of ~√n: rounding error grows with √n rather than n, close to a tree's.
  for (var start = 0u; start < ${reduceCount}u; start += ${serialBlock}u) {
    var block = ${INIT[op]};
    for (var r = start; r < min(start + ${serialBlock}u, ${reduceCount}u); r++) {
      ${offsetOf(red, 'r', 'offset')}
      block = ${COMBINE[op]('block', 'x[base + offset]')};
    }
    acc = ${COMBINE[op]('acc', 'block')};
  }
  out[o] = acc${finish};
}`
        : `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${SPECIAL_FLOATS}
var<workgroup> partial: array<f32, ${threads}>;
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = wid.x + wid.y * ${cols}u;
  let live = o < ${outCount}u;
  ${offsetOf(kept, 'min(o, ' + (outCount - 1) + 'u)', 'base')}
  var acc = ${INIT[op]};
  for (var r = lid; r < ${reduceCount}u; r += ${threads}u) {
    ${offsetOf(red, 'r', 'offset')}
    acc = ${COMBINE[op]('acc', 'x[base + offset]')};
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var width = ${threads / 2}u; width > 0u; width = width / 2u) {
    if (lid < width) { partial[lid] = ${COMBINE[op]('partial[lid]', 'partial[lid + width]')}; }
    workgroupBarrier();
  }
  if (lid == 0u && live) { out[o] = partial[0]${finish}; }
}`,
  };
  const workgroups: [number, number] = threads === 1 ? [Math.ceil(cols / serialWorkgroup), rows] : [cols, rows];
  return { program, workgroups };
}
