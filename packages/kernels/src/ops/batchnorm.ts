/**
 * Batch normalisation over x[N,C] or x[N,C,H,W], statistics per channel: training forward (batch
 * statistics, running statistics updated in place with PyTorch's momentum rule, mean and 1/std
 * saved for backward), eval forward, and a fused backward giving dx, dgamma and dbeta.
 * Each pass is a per-channel reduction kernel (two-pass mean/variance so a large mean does not
 * swamp the variance; see channelReduction for how it is split) followed by an elementwise kernel.
 */
import type { KernelProgram } from '../runtime/program';
import type { Runtime } from '../runtime/runtime';
import { ACTIVATION_HELPERS, activationExpr, f32Literal, type Activation } from '../wgsl/activation';
import { elementwiseProgram } from '../wgsl/elementwise-program';
import { allocArray, assertFloat, formatShape, type DeviceArray, guarded } from './array';
import { SERIAL_LIMIT_CPU, SERIAL_WORKGROUP_CPU } from './reduce';

const WORKGROUP = 256;

interface Layout {
  N: number;
  C: number;
  /** Elements per channel per sample (H·W, or 1 for [N, C]). */
  spatial: number;
  /** Elements per channel: N · spatial. */
  count: number;
}

function layoutOf(op: string, x: DeviceArray, perChannel: [string, DeviceArray | undefined][]): Layout {
  assertFloat(op, 'x', x);
  if (x.shape.length !== 2 && x.shape.length !== 4) throw new Error(`${op}: x ${formatShape(x.shape)} must be [N,C] or [N,C,H,W]`);
  const [N, C] = x.shape;
  const spatial = x.shape.length === 4 ? x.shape[2] * x.shape[3] : 1;
  for (const [name, a] of perChannel) {
    if (a && (a.shape.length !== 1 || a.shape[0] !== C)) throw new Error(`${op}: ${name} ${formatShape(a.shape)} must be [${C}] for x ${formatShape(x.shape)}`);
  }
  return { N, C, spatial, count: N * spatial };
}

/** WGSL: the flat index of element e (0 ≤ e < count) of channel c. */
const channelElement = (l: Layout, e: string, c: string) =>
  l.spatial === 1 ? `(${e}) * ${l.C}u + ${c}` : `((${e}) / ${l.spatial}u * ${l.C}u + ${c}) * ${l.spatial}u + (${e}) % ${l.spatial}u`;

/** WGSL: the channel of flat element i. */
const channelOf = (l: Layout) => (l.spatial === 1 ? `i % ${l.C}u` : `(i / ${l.spatial}u) % ${l.C}u`);

/**
 * How a per-channel reduction is split. On GPUs, one workgroup per channel with a tree in
 * workgroup memory. On CPU adapters (lavapipe) workgroup barriers are expensive — a workgroup runs
 * as one thread that switches between its invocations at every barrier — so channels of up to
 * SERIAL_LIMIT_CPU values are summed by one invocation each, eight channels to a workgroup
 * (one AVX2 vector of lanes): for a [256, 128] activation this is ~100× faster there.
 */

interface ChannelReduction {
  serial: boolean;
  /** Kernel entry: binds c (the channel) and lid (0 when serial). */
  entry: string;
  /** Sums `value` over the channel's invocations into a new `let total`. */
  total: (total: string, value: string) => string;
  /** First element index and stride of this invocation's loop over the channel. */
  first: string;
  stride: number;
  workgroups: number;
}

function channelReduction(runtime: Runtime, l: Layout): ChannelReduction {
  if (runtime.adapter.isFallbackAdapter && l.count <= SERIAL_LIMIT_CPU) {
    return {
      serial: true,
      entry: `@compute @workgroup_size(${SERIAL_WORKGROUP_CPU})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= ${l.C}u) { return; }
  let lid = 0u;`,
      total: (total, value) => `let ${total} = ${value};`,
      first: '0u',
      stride: 1,
      workgroups: Math.ceil(l.C / SERIAL_WORKGROUP_CPU),
    };
  }
  return {
    serial: false,
    entry: `var<workgroup> partial: array<f32, ${WORKGROUP}>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x;`,
    // Tree sum across the workgroup; the barrier after reading keeps partial free for the next sum.
    total: (total, value) => `partial[lid] = ${value};
  workgroupBarrier();
  for (var width = ${WORKGROUP / 2}u; width > 0u; width = width / 2u) {
    if (lid < width) { partial[lid] = partial[lid] + partial[lid + width]; }
    workgroupBarrier();
  }
  let ${total} = partial[0];
  workgroupBarrier();`,
    first: 'lid',
    stride: WORKGROUP,
    workgroups: l.C,
  };
}

export interface BatchNormOptions {
  momentum?: number;
  eps?: number;
  /** Activation fused into the normalised output. */
  activation?: Activation;
  slope?: number;
}

function normalizeProgram(name: string, l: Layout, stats: 'batch' | 'running', eps: number, activation: Activation, slope: number | undefined) {
  // Batch statistics arrive as mean and 1/std; running statistics as mean and variance.
  const scale = stats === 'batch' ? 's[c]' : `inverseSqrt(s[c] + ${f32Literal(eps)})`;
  return elementwiseProgram({
    name,
    key: `${l.N}|${l.C}|${l.spatial}|${stats}|${eps}|${activation}|${slope}`,
    count: l.N * l.C * l.spatial,
    inputs: ['x', 'mean', 's', 'gamma', 'beta'],
    prelude: `let c = ${channelOf(l)};`,
    value: activationExpr(activation, `((x[i] - mean[c]) * ${scale} * gamma[c] + beta[c])`, slope),
    helpers: ACTIVATION_HELPERS,
  });
}

/**
 * Training forward. Updates runningMean and runningVar in place:
 * running = (1 − momentum)·running + momentum·batch, with the unbiased batch variance.
 * Returns y, the batch mean and invstd = 1/√(biased variance + eps) for the backward pass.
 */
export const batchNormTrain = guarded(function batchNormTrain(
  runtime: Runtime,
  x: DeviceArray,
  gamma: DeviceArray,
  beta: DeviceArray,
  runningMean: DeviceArray,
  runningVar: DeviceArray,
  options: BatchNormOptions = {},
): { y: DeviceArray; mean: DeviceArray; invstd: DeviceArray } {
  const op = 'batchNormTrain';
  const l = layoutOf(op, x, [['gamma', gamma], ['beta', beta], ['runningMean', runningMean], ['runningVar', runningVar]]);
  if (l.count < 2) throw new Error(`${op}: expected more than 1 value per channel when training, got x ${formatShape(x.shape)}`);
  const momentum = options.momentum ?? 0.1;
  const eps = options.eps ?? 1e-5;
  const r = channelReduction(runtime, l);
  const stats: KernelProgram = {
    name: 'batchnorm.statistics',
    key: `batchnorm.statistics|${l.N}|${l.C}|${l.spatial}|${momentum}|${eps}|${r.serial}`,
    bindings: ['read', 'read_write', 'read_write', 'read_write', 'read_write'],
    uniformBytes: 0,
    source: () => `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> invstd_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_var: array<f32>;
${r.entry}
  var sum = 0.0;
  for (var e = ${r.first}; e < ${l.count}u; e += ${r.stride}u) { sum += x[${channelElement(l, 'e', 'c')}]; }
  ${r.total('total', 'sum')}
  let mean = total / ${l.count}.0;
  var squares = 0.0;
  for (var e = ${r.first}; e < ${l.count}u; e += ${r.stride}u) {
    let d = x[${channelElement(l, 'e', 'c')}] - mean;
    squares += d * d;
  }
  ${r.total('totalSquares', 'squares')}
  if (lid == 0u) {
    let biased = totalSquares / ${l.count}.0;
    mean_out[c] = mean;
    invstd_out[c] = inverseSqrt(biased + ${f32Literal(eps)});
    let unbiased = totalSquares / ${l.count - 1}.0;
    running_mean[c] = ${f32Literal(1 - momentum)} * running_mean[c] + ${f32Literal(momentum)} * mean;
    running_var[c] = ${f32Literal(1 - momentum)} * running_var[c] + ${f32Literal(momentum)} * unbiased;
  }
}`,
  };
  const mean = allocArray(runtime, [l.C], 'float32', 'batchnorm.mean');
  const invstd = allocArray(runtime, [l.C], 'float32', 'batchnorm.invstd');
  runtime.dispatch(stats, [x.buffer, mean.buffer, invstd.buffer, runningMean.buffer, runningVar.buffer], [r.workgroups]);
  const { program, grid } = normalizeProgram('batchnorm.normalize', l, 'batch', eps, options.activation ?? 'none', options.slope);
  const y = allocArray(runtime, x.shape, 'float32', program.name);
  runtime.dispatch(program, [x.buffer, mean.buffer, invstd.buffer, gamma.buffer, beta.buffer, y.buffer], grid.workgroups);
  return { y, mean, invstd };
});

/** Eval forward with the running statistics. */
export const batchNormEval = guarded(function batchNormEval(
  runtime: Runtime,
  x: DeviceArray,
  gamma: DeviceArray,
  beta: DeviceArray,
  runningMean: DeviceArray,
  runningVar: DeviceArray,
  options: Omit<BatchNormOptions, 'momentum'> = {},
): DeviceArray {
  const l = layoutOf('batchNormEval', x, [['gamma', gamma], ['beta', beta], ['runningMean', runningMean], ['runningVar', runningVar]]);
  const { program, grid } = normalizeProgram('batchnorm.eval', l, 'running', options.eps ?? 1e-5, options.activation ?? 'none', options.slope);
  const y = allocArray(runtime, x.shape, 'float32', program.name);
  runtime.dispatch(program, [x.buffer, runningMean.buffer, runningVar.buffer, gamma.buffer, beta.buffer, y.buffer], grid.workgroups);
  return y;
});

/**
 * Backward of the training forward, with x̂ = (x − mean)·invstd and n elements per channel:
 *   dbeta = Σ dy,  dgamma = Σ dy·x̂,  dx = gamma·invstd/n · (n·dy − dbeta − x̂·dgamma)
 */
export const batchNormBackward = guarded(function batchNormBackward(
  runtime: Runtime,
  dy: DeviceArray,
  x: DeviceArray,
  gamma: DeviceArray,
  mean: DeviceArray,
  invstd: DeviceArray,
): { dx: DeviceArray; dgamma: DeviceArray; dbeta: DeviceArray } {
  const op = 'batchNormBackward';
  const l = layoutOf(op, x, [['gamma', gamma], ['mean', mean], ['invstd', invstd]]);
  if (formatShape(dy.shape) !== formatShape(x.shape)) throw new Error(`${op}: dy ${formatShape(dy.shape)} and x ${formatShape(x.shape)} differ`);
  const r = channelReduction(runtime, l);
  const sums: KernelProgram = {
    name: 'batchnorm.backward-sums',
    key: `batchnorm.backward-sums|${l.N}|${l.C}|${l.spatial}|${r.serial}`,
    bindings: ['read', 'read', 'read', 'read', 'read_write', 'read_write'],
    uniformBytes: 0,
    source: () => `
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> invstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(5) var<storage, read_write> dbeta: array<f32>;
${r.entry}
  let m = mean[c];
  let s = invstd[c];
  var sum_dy = 0.0;
  var sum_dy_xhat = 0.0;
  for (var e = ${r.first}; e < ${l.count}u; e += ${r.stride}u) {
    let index = ${channelElement(l, 'e', 'c')};
    sum_dy += dy[index];
    sum_dy_xhat += dy[index] * (x[index] - m) * s;
  }
  ${r.total('totalDy', 'sum_dy')}
  ${r.total('totalDyXhat', 'sum_dy_xhat')}
  if (lid == 0u) {
    dbeta[c] = totalDy;
    dgamma[c] = totalDyXhat;
  }
}`,
  };
  const dgamma = allocArray(runtime, [l.C], 'float32', 'batchnorm.dgamma');
  const dbeta = allocArray(runtime, [l.C], 'float32', 'batchnorm.dbeta');
  runtime.dispatch(sums, [dy.buffer, x.buffer, mean.buffer, invstd.buffer, dgamma.buffer, dbeta.buffer], [r.workgroups]);
  const { program, grid } = elementwiseProgram({
    name: 'batchnorm.backward-dx',
    key: `${l.N}|${l.C}|${l.spatial}`,
    count: l.N * l.C * l.spatial,
    inputs: ['dy', 'x', 'gamma', 'mean', 'invstd', 'dgamma', 'dbeta'],
    prelude: `let c = ${channelOf(l)};
  let xhat = (x[i] - mean[c]) * invstd[c];`,
    value: `gamma[c] * invstd[c] * ${f32Literal(1 / l.count)} * (${l.count}.0 * dy[i] - dbeta[c] - xhat * dgamma[c])`,
  });
  const dx = allocArray(runtime, x.shape, 'float32', program.name);
  runtime.dispatch(program, [dy.buffer, x.buffer, gamma.buffer, mean.buffer, invstd.buffer, dgamma.buffer, dbeta.buffer, dx.buffer], grid.workgroups);
  return { dx, dgamma, dbeta };
});
