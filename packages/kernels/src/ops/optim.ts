/**
 * Fused optimizer updates: one launch updates every parameter of a model, held in flat buffers
 * (the optimizer packs parameters, gradients and moments side by side). Hyper-parameters, the
 * step count and the element range are uniforms, so each pipeline compiles once per process.
 */
import type { Runtime } from '../runtime/runtime';
import type { KernelProgram } from '../runtime/program';
import { grid1d } from '../wgsl/grid';
import { formatShape, sizeOf, type DeviceArray, guarded } from './array';
import { checkNonFiniteMark, NON_FINITE_TEST, type NonFiniteMark } from './finite';

const OPTIM_WORKGROUP = 256;

/** Elements [offset, offset + count) of the flat buffers; by default all of them. */
export interface OptimRange {
  offset: number;
  count: number;
}

/**
 * What every update takes besides its buffers: the element range, and optionally a non-finite
 * flag to mark (as markNonFinite does) when a gradient in the range is NaN or ±Inf. The update
 * reads each gradient anyway, so the check costs no extra pass over them.
 */
export interface OptimOptions {
  range?: OptimRange;
  nonFinite?: NonFiniteMark;
}

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW: weight decay applied to the parameters directly instead of added to the gradient. */
  decoupled: boolean;
  /** 1-based step number, already incremented for this update. */
  step: number;
}

export interface SgdHyper {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  /** The first step initialises the momentum buffer with the gradient (PyTorch's rule). */
  firstStep: boolean;
}

export interface RmspropHyper {
  lr: number;
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  /** Centered RMSprop: divides by an estimate of the gradient's variance instead of its second moment. */
  centered: boolean;
}

function checkRange(op: string, n: number, arrays: [string, DeviceArray | undefined][], range?: OptimRange): OptimRange {
  for (const [name, a] of arrays) {
    if (a && sizeOf(a.shape) !== n) throw new Error(`${op}: ${name} ${formatShape(a.shape)} does not match params (${n} elements)`);
  }
  const r = range ?? { offset: 0, count: n };
  if (!Number.isInteger(r.offset) || !Number.isInteger(r.count) || r.offset < 0 || r.count < 0 || r.offset + r.count > n) {
    throw new Error(`${op}: range offset ${r.offset} count ${r.count} is outside the ${n} parameters`);
  }
  return r;
}

/** Words of the uniform block before the float hyper-parameters: offset, count, mark step, mark code. */
const HEADER_WORDS = 4;

/**
 * Uniform block: offset, count (u32) and the non-finite mark's step and code (i32) first, then
 * the float hyper-parameters. Float64 values such as 1 − β are computed here, not on the GPU:
 * 1 − f32(0.999) is 1.3e-5 (relative) away from PyTorch's 1 − 0.999.
 */
function uniformBlock(range: OptimRange, mark: NonFiniteMark | undefined, floats: readonly number[]): ArrayBuffer {
  const words = Math.ceil((HEADER_WORDS + floats.length) / 4) * 4;
  const data = new ArrayBuffer(words * 4);
  new Uint32Array(data, 0, 2).set([range.offset, range.count]);
  new Int32Array(data, 8, 2).set([mark?.step ?? 0, mark?.what ?? 0]);
  new Float32Array(data, HEADER_WORDS * 4, floats.length).set(floats);
  return data;
}

/**
 * One update kernel: `body` runs per element i with `h` (the uniforms) and, when there is a `grad`
 * binding, `gi` = grad[i] in scope (loaded once: on lavapipe every storage load is a per-lane
 * loop). With `marks`, the flag is bound after the update's buffers and a non-finite gi marks it.
 *
 * With `vec4`, every array is array<vec4f>, i counts vec4s and the body runs on four elements at
 * once (its arithmetic is written so that it reads the same for f32 and vec4f). On lavapipe that
 * halves the update's time: a vec4 access costs one per-lane loop iteration for four values.
 */
function optimProgram(name: string, bindings: KernelProgram['bindings'], fields: readonly string[], rowStride: number, bindingDecls: string, body: string, marks: boolean, vec4: boolean): KernelProgram {
  const hasGrad = /\bgrad: array<f32>/.test(bindingDecls);
  const words = Math.ceil((HEADER_WORDS + fields.length) / 4) * 4;
  const pads = Array.from({ length: words - HEADER_WORDS - fields.length }, (_, i) => `_pad${i}: f32`);
  const all: KernelProgram['bindings'] = marks ? [...bindings, 'read_write'] : bindings;
  return {
    name: marks ? `${name}+mark-non-finite` : name,
    key: `${name}|${rowStride}|${marks}|${vec4}`,
    bindings: all,
    uniformBytes: words * 4,
    source: () => `
struct Hyper { offset: u32, count: u32, mark_step: i32, mark_what: i32, ${[...fields.map((f) => `${f}: f32`), ...pads].join(', ')} }
${vec4 ? bindingDecls.replaceAll('array<f32>', 'array<vec4f>') : bindingDecls}${marks ? `\n@group(0) @binding(${bindings.length}) var<storage, read_write> flag: array<atomic<i32>>;` : ''}
@group(0) @binding(${all.length}) var<uniform> h: Hyper;
@compute @workgroup_size(${OPTIM_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let k = gid.x + gid.y * ${rowStride}u;
  if (k >= h.count) { return; }
  let i = h.offset + k;
${hasGrad ? '  let gi = grad[i];\n' : ''}${marks ? `  if (${NON_FINITE_TEST('gi', vec4)}) {
    atomicMin(&flag[0], h.mark_step);
    atomicOr(&flag[1], h.mark_what);
  }\n` : ''}${body}
}`,
  };
}

/** Runs an update over `range`, four elements per invocation when the range is aligned to four. */
function launch(runtime: Runtime, program: (rowStride: number, marks: boolean, vec4: boolean) => KernelProgram, buffers: DeviceArray[], options: OptimOptions, range: OptimRange, floats: number[]): void {
  if (range.count === 0) return;
  const mark = options.nonFinite;
  const vec4 = range.offset % 4 === 0 && range.count % 4 === 0;
  const units = vec4 ? { offset: range.offset / 4, count: range.count / 4 } : range;
  const grid = grid1d(units.count, OPTIM_WORKGROUP);
  const kernel = program(grid.rowStride, mark !== undefined, vec4);
  if (mark) checkNonFiniteMark(kernel.name, mark);
  const bound = mark ? [...buffers, mark.flag] : buffers;
  runtime.dispatch(kernel, bound.map((b) => b.buffer), grid.workgroups, new Uint8Array(uniformBlock(units, mark, floats)));
}

const ADAM_FIELDS = ['lr', 'beta1', 'beta2', 'eps', 'weight_decay', 'decoupled', 'bias1', 'bias2_sqrt', 'one_minus_beta1', 'one_minus_beta2'];

/**
 * PyTorch's Adam / AdamW update, in place on params, m and v (and maxV for AMSGrad):
 *   Adam:  g ← g + wd·p        AdamW: p ← p − lr·wd·p
 *   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²,  AMSGrad: v̂ ← max(v̂, v) used in place of v
 *   p ← p − lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + ε)
 */
export const adamUpdate = guarded(function adamUpdate(
  runtime: Runtime,
  params: DeviceArray,
  grads: DeviceArray,
  m: DeviceArray,
  v: DeviceArray,
  h: AdamHyper,
  options: OptimOptions & { maxV?: DeviceArray } = {},
): void {
  const n = sizeOf(params.shape);
  const range = checkRange('adamUpdate', n, [['grads', grads], ['m', m], ['v', v], ['maxV', options.maxV]], options.range);
  if (!(h.step >= 1)) throw new Error(`adamUpdate: step must be >= 1, got ${h.step}`);
  const amsgrad = options.maxV !== undefined;
  const program = (rowStride: number, marks: boolean, vec4: boolean): KernelProgram => optimProgram(
    amsgrad ? 'adam-amsgrad-update' : 'adam-update',
    amsgrad ? ['read_write', 'read', 'read_write', 'read_write', 'read_write'] : ['read_write', 'read', 'read_write', 'read_write'],
    ADAM_FIELDS,
    rowStride,
    `@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;${amsgrad ? '\n@group(0) @binding(4) var<storage, read_write> v_max: array<f32>;' : ''}`,
    `  var param = p[i];
  var g = gi;
  if (h.decoupled != 0.0) { param = param - h.lr * h.weight_decay * param; }
  else { g = g + h.weight_decay * param; }
  let m_new = h.beta1 * m[i] + h.one_minus_beta1 * g;
  let v_new = h.beta2 * v[i] + h.one_minus_beta2 * g * g;
  m[i] = m_new;
  v[i] = v_new;
  ${amsgrad ? 'let v_use = max(v_max[i], v_new);\n  v_max[i] = v_use;' : 'let v_use = v_new;'}
  p[i] = param - h.lr * (m_new / h.bias1) / (sqrt(v_use) / h.bias2_sqrt + h.eps);`,
    marks,
    vec4,
  );
  const buffers = [params, grads, m, v, ...(options.maxV ? [options.maxV] : [])];
  launch(runtime, program, buffers, options, range, [
    h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.decoupled ? 1 : 0,
    1 - h.beta1 ** h.step, Math.sqrt(1 - h.beta2 ** h.step), 1 - h.beta1, 1 - h.beta2,
  ]);
});

/**
 * PyTorch's SGD, in place on params and the momentum buffer:
 *   g ← g + wd·p;  with momentum μ: b ← g on the first step, else b ← μ·b + (1−dampening)·g;
 *   then g ← g + μ·b (Nesterov) or g ← b;  p ← p − lr·g.
 * Without momentum the buffer is not touched (pass params again as a placeholder).
 */
export const sgdUpdate = guarded(function sgdUpdate(runtime: Runtime, params: DeviceArray, grads: DeviceArray, momentumBuffer: DeviceArray, h: SgdHyper, options: OptimOptions = {}): void {
  const n = sizeOf(params.shape);
  const usesMomentum = h.momentum !== 0;
  const range = checkRange('sgdUpdate', n, [['grads', grads], ['momentumBuffer', usesMomentum ? momentumBuffer : undefined]], options.range);
  if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) throw new Error(`sgdUpdate: Nesterov momentum needs momentum > 0 and dampening 0, got momentum ${h.momentum}, dampening ${h.dampening}`);
  const program = (rowStride: number, marks: boolean, vec4: boolean): KernelProgram => optimProgram(
    usesMomentum ? 'sgd-momentum-update' : 'sgd-update',
    usesMomentum ? ['read_write', 'read', 'read_write'] : ['read_write', 'read'],
    ['lr', 'momentum', 'one_minus_dampening', 'weight_decay', 'nesterov', 'first_step'],
    rowStride,
    `@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;${usesMomentum ? '\n@group(0) @binding(2) var<storage, read_write> buf: array<f32>;' : ''}`,
    `  let param = p[i];
  var g = gi + h.weight_decay * param;
  ${usesMomentum ? `var b = g;
  if (h.first_step == 0.0) { b = h.momentum * buf[i] + h.one_minus_dampening * g; }
  buf[i] = b;
  if (h.nesterov != 0.0) { g = g + h.momentum * b; } else { g = b; }` : ''}
  p[i] = param - h.lr * g;`,
    marks,
    vec4,
  );
  launch(runtime, program, usesMomentum ? [params, grads, momentumBuffer] : [params, grads], options, range, [
    h.lr, h.momentum, 1 - h.dampening, h.weightDecay, h.nesterov ? 1 : 0, h.firstStep ? 1 : 0,
  ]);
});

/**
 * PyTorch's RMSprop, in place:
 *   g ← g + wd·p;  s ← α·s + (1−α)·g²;  centered: a ← α·a + (1−α)·g, d = √(s − a²) + ε, else d = √s + ε;
 *   with momentum μ: b ← μ·b + g/d, p ← p − lr·b;  else p ← p − lr·g/d.
 * gradAverage is used only when centered and momentumBuffer only with momentum (pass params as
 * placeholders otherwise).
 */
export const rmspropUpdate = guarded(function rmspropUpdate(
  runtime: Runtime,
  params: DeviceArray,
  grads: DeviceArray,
  squareAverage: DeviceArray,
  gradAverage: DeviceArray,
  momentumBuffer: DeviceArray,
  h: RmspropHyper,
  options: OptimOptions = {},
): void {
  const n = sizeOf(params.shape);
  const usesMomentum = h.momentum !== 0;
  const range = checkRange('rmspropUpdate', n, [
    ['grads', grads],
    ['squareAverage', squareAverage],
    ['gradAverage', h.centered ? gradAverage : undefined],
    ['momentumBuffer', usesMomentum ? momentumBuffer : undefined],
  ], options.range);
  const variant = `${h.centered ? 'centered-' : ''}${usesMomentum ? 'momentum-' : ''}`;
  const program = (rowStride: number, marks: boolean, vec4: boolean): KernelProgram => optimProgram(
    `rmsprop-${variant}update`,
    ['read_write', 'read', 'read_write', 'read_write', 'read_write'],
    ['lr', 'alpha', 'one_minus_alpha', 'eps', 'weight_decay', 'momentum'],
    rowStride,
    `@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> square_avg: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> buf: array<f32>;`,
    `  let param = p[i];
  let g = gi + h.weight_decay * param;
  let s = h.alpha * square_avg[i] + h.one_minus_alpha * g * g;
  square_avg[i] = s;
  ${h.centered ? `let a = h.alpha * grad_avg[i] + h.one_minus_alpha * g;
  grad_avg[i] = a;
  let d = sqrt(s - a * a) + h.eps;` : 'let d = sqrt(s) + h.eps;'}
  ${usesMomentum ? `let b = h.momentum * buf[i] + g / d;
  buf[i] = b;
  p[i] = param - h.lr * b;` : 'p[i] = param - h.lr * g / d;'}`,
    marks,
    vec4,
  );
  // Placeholders may alias params; WebGPU forbids binding one buffer twice writable, so distinct
  // buffers are required for every binding of this kernel.
  const bound = [params, grads, squareAverage, gradAverage, momentumBuffer];
  const distinct = new Set(bound.map((b) => b.buffer));
  if (distinct.size !== bound.length) throw new Error('rmspropUpdate: params, grads, squareAverage, gradAverage and momentumBuffer must be distinct buffers (allocate 1-element placeholders for unused ones)');
  launch(runtime, program, bound, options, range, [h.lr, h.alpha, 1 - h.alpha, h.eps, h.weightDecay, h.momentum]);
});

/**
 * Exponential moving average in place: average ← decay·average + (1 − decay)·value (a GAN
 * generator's weight EMA), over flat buffers of equal size.
 */
export const emaUpdate = guarded(function emaUpdate(runtime: Runtime, average: DeviceArray, value: DeviceArray, decay: number, options: { range?: OptimRange } = {}): void {
  const n = sizeOf(average.shape);
  const range = checkRange('emaUpdate', n, [['value', value]], options.range);
  if (!(decay >= 0 && decay <= 1)) throw new Error(`emaUpdate: decay must be in [0, 1], got ${decay}`);
  const program = (rowStride: number, marks: boolean, vec4: boolean): KernelProgram => optimProgram(
    'ema-update',
    ['read_write', 'read'],
    ['decay', 'one_minus_decay'],
    rowStride,
    `@group(0) @binding(0) var<storage, read_write> avg: array<f32>;
@group(0) @binding(1) var<storage, read> value: array<f32>;`,
    '  avg[i] = h.decay * avg[i] + h.one_minus_decay * value[i];',
    marks,
    vec4,
  );
  launch(runtime, program, [average, value], {}, range, [decay, 1 - decay]);
});
