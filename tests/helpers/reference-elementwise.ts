/**
 * Float64 CPU references for the element-wise, binary, reduction, layout, loss, optimizer and RNG
 * kernels, plus the small test harness they share (seeded random numbers and shapes, tolerance
 * checks, buffer bookkeeping).
 *
 * References take float32 inputs (as Float32Array / Int32Array, so every value is exactly what the
 * GPU sees) and compute in float64; the tests compare the GPU's float32 results against them with
 * per-op tolerances.
 */
import {
  fromArray,
  toArray,
  type DeviceArray,
  type DType,
  type Runtime,
} from '@webgan/kernels';

// ---------------------------------------------------------------------------------------------
// Seeded randomness and shapes
// ---------------------------------------------------------------------------------------------

/** Mulberry32: small, fast, seeded; good enough to pick shapes and test values reproducibly. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [xs[i], xs[j]] = [xs[j], xs[i]];
    }
    return xs;
  }
}

/** Dimension sizes that are not multiples of any plausible tile (primes, 1, and a few odds). */
export const ODD_DIMS = [1, 1, 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 53, 67, 97, 127, 131, 257];

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
export const fmtShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

/** A random shape of the given rank whose element count stays at or under maxElements. */
export function randomShape(rng: Rng, rank: number, maxElements = 20_000): number[] {
  for (;;) {
    const shape = Array.from({ length: rank }, () => rng.pick(ODD_DIMS));
    if (numel(shape) <= maxElements) return shape;
  }
}

/**
 * `count` random shapes with ranks cycling from `rankOffset` through 0..5 (prime / 1-sized dims),
 * preceded by `large` large 1-D shapes (100003, then 65537 elements).
 */
export function shapeSuite(rng: Rng, count: number, opts: { maxElements?: number; large?: number; rankOffset?: number } = {}): number[][] {
  const shapes: number[][] = [[100_003], [65_537]].slice(0, opts.large ?? 0);
  const offset = opts.rankOffset ?? 0;
  for (let i = 0; i < count; i++) shapes.push(randomShape(rng, (offset + i) % 6, opts.maxElements));
  return shapes;
}

export function randomArray(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform(lo, hi);
  return out;
}

export function randomNormalArray(rng: Rng, n: number, std = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Index helpers
// ---------------------------------------------------------------------------------------------

export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

/** Calls f(flatIndex, multiIndex) for every element of shape, in row-major order. */
export function forEachIndex(shape: readonly number[], f: (flat: number, idx: number[]) => void): void {
  const n = numel(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    f(flat, idx);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Unary, activation backward, scalar ops, clamp
// ---------------------------------------------------------------------------------------------

export type UnaryOpName =
  | 'neg' | 'abs' | 'sign' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'square' | 'reciprocal' | 'sin' | 'cos'
  | 'relu' | 'leaky_relu' | 'tanh' | 'sigmoid' | 'softplus' | 'log_sigmoid' | 'floor' | 'step';

export function sigmoid64(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}
export function softplus64(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

export function unaryRef(op: UnaryOpName, x: ArrayLike<number>, slope = 0.01): Float64Array {
  const f: (v: number) => number = (() => {
    switch (op) {
      case 'neg': return (v: number) => -v;
      case 'abs': return Math.abs;
      case 'sign': return (v: number) => (v > 0 ? 1 : v < 0 ? -1 : 0);
      case 'exp': return Math.exp;
      case 'log': return Math.log;
      case 'sqrt': return Math.sqrt;
      case 'rsqrt': return (v: number) => 1 / Math.sqrt(v);
      case 'square': return (v: number) => v * v;
      case 'reciprocal': return (v: number) => 1 / v;
      case 'sin': return Math.sin;
      case 'cos': return Math.cos;
      case 'relu': return (v: number) => Math.max(v, 0);
      case 'leaky_relu': return (v: number) => (v > 0 ? v : slope * v);
      case 'tanh': return Math.tanh;
      case 'sigmoid': return sigmoid64;
      case 'softplus': return softplus64;
      case 'log_sigmoid': return (v: number) => -softplus64(-v);
      case 'floor': return Math.floor;
      case 'step': return (v: number) => (v > 0 ? 1 : 0);
    }
  })();
  return Float64Array.from(x, f);
}

export type ActivationName = 'relu' | 'leaky_relu' | 'tanh' | 'sigmoid';

/** PyTorch's backward: relu/leaky_relu from the input x (x > 0 ? 1 : 0|slope), tanh/sigmoid from the output y. */
export function activationBackwardRef(op: ActivationName, dy: ArrayLike<number>, xOrY: ArrayLike<number>, slope = 0.01): Float64Array {
  const out = new Float64Array(dy.length);
  for (let i = 0; i < dy.length; i++) {
    const g = dy[i];
    const v = xOrY[i];
    switch (op) {
      case 'relu': out[i] = v > 0 ? g : 0; break;
      case 'leaky_relu': out[i] = v > 0 ? g : g * slope; break;
      case 'tanh': out[i] = g * (1 - v * v); break;
      case 'sigmoid': out[i] = g * v * (1 - v); break;
    }
  }
  return out;
}

export type ScalarOpName = 'add' | 'mul' | 'pow' | 'max' | 'min' | 'rsub' | 'div' | 'rdiv';

export function scalarRef(op: ScalarOpName, x: ArrayLike<number>, s: number): Float64Array {
  const f: (v: number) => number = (() => {
    switch (op) {
      case 'add': return (v: number) => v + s;
      case 'mul': return (v: number) => v * s;
      case 'pow': return (v: number) => Math.pow(v, s);
      case 'max': return (v: number) => Math.max(v, s);
      case 'min': return (v: number) => Math.min(v, s);
      case 'rsub': return (v: number) => s - v;
      case 'div': return (v: number) => v / s;
      case 'rdiv': return (v: number) => s / v;
    }
  })();
  return Float64Array.from(x, f);
}

export function clampRef(x: ArrayLike<number>, lo: number, hi: number): Float64Array {
  return Float64Array.from(x, (v) => Math.min(Math.max(v, lo), hi));
}

// ---------------------------------------------------------------------------------------------
// Broadcasting binary ops and where
// ---------------------------------------------------------------------------------------------

export type BinaryOpName = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min' | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

/** NumPy broadcast shape, or null when incompatible. */
export function broadcastShapes(...shapes: (readonly number[])[]): number[] | null {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const d = rank - s.length + i;
      const v = s[i];
      if (v === out[d] || v === 1) continue;
      if (out[d] === 1) out[d] = v;
      else return null;
    }
  }
  return out;
}

/** Flat index into `shape` (right-aligned against outShape, size-1 dims broadcast) for each output element. */
export function broadcastIndexMap(shape: readonly number[], outShape: readonly number[]): Int32Array {
  const n = numel(outShape);
  const map = new Int32Array(n);
  const strides = stridesOf(shape);
  const off = outShape.length - shape.length;
  forEachIndex(outShape, (flat, idx) => {
    let k = 0;
    for (let i = 0; i < shape.length; i++) if (shape[i] !== 1) k += idx[off + i] * strides[i];
    map[flat] = k;
  });
  return map;
}

export function binaryScalar64(op: BinaryOpName, a: number, b: number): number {
  switch (op) {
    case 'add': return a + b;
    case 'sub': return a - b;
    case 'mul': return a * b;
    case 'div': return a / b;
    case 'pow': return Math.pow(a, b);
    case 'max': return Math.max(a, b);
    case 'min': return Math.min(a, b);
    case 'eq': return a === b ? 1 : 0;
    case 'ne': return a !== b ? 1 : 0;
    case 'lt': return a < b ? 1 : 0;
    case 'le': return a <= b ? 1 : 0;
    case 'gt': return a > b ? 1 : 0;
    case 'ge': return a >= b ? 1 : 0;
  }
}

export function binaryRef(op: BinaryOpName, a: ArrayLike<number>, aShape: readonly number[], b: ArrayLike<number>, bShape: readonly number[]): { data: Float64Array; shape: number[] } {
  const shape = broadcastShapes(aShape, bShape);
  if (!shape) throw new Error(`reference: shapes ${fmtShape(aShape)} and ${fmtShape(bShape)} do not broadcast`);
  const ia = broadcastIndexMap(aShape, shape);
  const ib = broadcastIndexMap(bShape, shape);
  const data = new Float64Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = binaryScalar64(op, a[ia[i]], b[ib[i]]);
  return { data, shape };
}

export function whereRef(
  c: ArrayLike<number>, cShape: readonly number[],
  a: ArrayLike<number>, aShape: readonly number[],
  b: ArrayLike<number>, bShape: readonly number[],
): { data: Float64Array; shape: number[] } {
  const shape = broadcastShapes(cShape, aShape, bShape);
  if (!shape) throw new Error('reference: where shapes do not broadcast');
  const ic = broadcastIndexMap(cShape, shape);
  const ia = broadcastIndexMap(aShape, shape);
  const ib = broadcastIndexMap(bShape, shape);
  const data = new Float64Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = c[ic[i]] !== 0 ? a[ia[i]] : b[ib[i]];
  return { data, shape };
}

// ---------------------------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------------------------

export type ReduceOpName = 'sum' | 'mean' | 'max' | 'min';

export function normalizeAxes(axes: readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  return [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((p, q) => p - q);
}

/**
 * Reduction reference. Returns the result, its shape, and for each output element the sum of
 * |x| over the reduced elements (the scale the summation tolerance is relative to) and the count.
 */
export function reduceRef(op: ReduceOpName, x: ArrayLike<number>, shape: readonly number[], axes?: readonly number[], keepDims = false): { data: Float64Array; shape: number[]; absSum: Float64Array; count: number } {
  const ax = normalizeAxes(axes, shape.length);
  const reduced = new Set(ax);
  const keptShape = shape.map((d, i) => (reduced.has(i) ? 1 : d));
  const outShape = keepDims ? keptShape : shape.filter((_, i) => !reduced.has(i));
  const outN = numel(keptShape);
  const count = numel(shape) / outN;
  const outStrides = stridesOf(keptShape);
  const acc = new Float64Array(outN).fill(op === 'max' ? -Infinity : op === 'min' ? Infinity : 0);
  const absSum = new Float64Array(outN);
  // Walk x in row-major order, keeping the output offset o incrementally (reduced dims step 0).
  const rank = shape.length;
  const os = shape.map((_, d) => (reduced.has(d) ? 0 : outStrides[d]));
  const idx = new Array<number>(rank).fill(0);
  const n = numel(shape);
  let o = 0;
  for (let flat = 0; flat < n; flat++) {
    const v = x[flat];
    absSum[o] += Math.abs(v);
    if (op === 'max') acc[o] = Math.max(acc[o], v);
    else if (op === 'min') acc[o] = Math.min(acc[o], v);
    else acc[o] += v;
    for (let d = rank - 1; d >= 0; d--) {
      o += os[d];
      if (++idx[d] < shape[d]) break;
      o -= os[d] * shape[d];
      idx[d] = 0;
    }
  }
  if (op === 'mean') for (let i = 0; i < outN; i++) acc[i] /= count;
  return { data: acc, shape: outShape, absSum, count };
}

// ---------------------------------------------------------------------------------------------
// Layout: permute, slice, concat, pad, gather, gatherBackward, cast, fill
// ---------------------------------------------------------------------------------------------

export function permuteRef(x: ArrayLike<number>, shape: readonly number[], perm: readonly number[]): { data: Float64Array; shape: number[] } {
  const outShape = perm.map((p) => shape[p]);
  const inStrides = stridesOf(shape);
  const data = new Float64Array(numel(outShape));
  forEachIndex(outShape, (flat, idx) => {
    let k = 0;
    for (let d = 0; d < perm.length; d++) k += idx[d] * inStrides[perm[d]];
    data[flat] = x[k];
  });
  return { data, shape: outShape };
}

export function sliceRef(x: ArrayLike<number>, shape: readonly number[], begin: readonly number[], size: readonly number[]): { data: Float64Array; shape: number[] } {
  const outShape = size.map((s, d) => (s === -1 ? shape[d] - begin[d] : s));
  const inStrides = stridesOf(shape);
  const data = new Float64Array(numel(outShape));
  forEachIndex(outShape, (flat, idx) => {
    let k = 0;
    for (let d = 0; d < shape.length; d++) k += (idx[d] + begin[d]) * inStrides[d];
    data[flat] = x[k];
  });
  return { data, shape: outShape };
}

export function concatRef(xs: { data: ArrayLike<number>; shape: readonly number[] }[], axis: number): { data: Float64Array; shape: number[] } {
  const outShape = [...xs[0].shape];
  outShape[axis] = xs.reduce((s, x) => s + x.shape[axis], 0);
  const outer = numel(outShape.slice(0, axis));
  const inner = numel(outShape.slice(axis + 1));
  const data = new Float64Array(numel(outShape));
  let o = 0;
  for (let i = 0; i < outer; i++) {
    for (const x of xs) {
      const chunk = x.shape[axis] * inner;
      for (let j = 0; j < chunk; j++) data[o++] = x.data[i * chunk + j];
    }
  }
  return { data, shape: outShape };
}

export function padRef(x: ArrayLike<number>, shape: readonly number[], padding: readonly (readonly [number, number])[], value = 0): { data: Float64Array; shape: number[] } {
  const outShape = shape.map((d, i) => d + padding[i][0] + padding[i][1]);
  const inStrides = stridesOf(shape);
  const data = new Float64Array(numel(outShape));
  forEachIndex(outShape, (flat, idx) => {
    let k = 0;
    for (let d = 0; d < shape.length; d++) {
      const j = idx[d] - padding[d][0];
      if (j < 0 || j >= shape[d]) {
        k = -1;
        break;
      }
      k += j * inStrides[d];
    }
    data[flat] = k < 0 ? value : x[k];
  });
  return { data, shape: outShape };
}

export function gatherRef(x: ArrayLike<number>, shape: readonly number[], indices: ArrayLike<number>, indexShape: readonly number[], axis: number): { data: Float64Array; shape: number[] } {
  const outer = numel(shape.slice(0, axis));
  const inner = numel(shape.slice(axis + 1));
  const dim = shape[axis];
  const nIdx = numel(indexShape);
  const outShape = [...shape.slice(0, axis), ...indexShape, ...shape.slice(axis + 1)];
  const data = new Float64Array(numel(outShape));
  let o = 0;
  for (let i = 0; i < outer; i++)
    for (let j = 0; j < nIdx; j++)
      for (let k = 0; k < inner; k++) data[o++] = x[(i * dim + indices[j]) * inner + k];
  return { data, shape: outShape };
}

/** Scatter-add of dy (shape = gather's output) into zeros(inputShape). */
export function gatherBackwardRef(dy: ArrayLike<number>, indices: ArrayLike<number>, indexShape: readonly number[], axis: number, inputShape: readonly number[]): Float64Array {
  const outer = numel(inputShape.slice(0, axis));
  const inner = numel(inputShape.slice(axis + 1));
  const dim = inputShape[axis];
  const nIdx = numel(indexShape);
  const dx = new Float64Array(numel(inputShape));
  let o = 0;
  for (let i = 0; i < outer; i++)
    for (let j = 0; j < nIdx; j++)
      for (let k = 0; k < inner; k++) dx[(i * dim + indices[j]) * inner + k] += dy[o++];
  return dx;
}

export function castRef(x: ArrayLike<number>, dtype: DType): Float64Array {
  return dtype === 'int32' ? Float64Array.from(x, (v) => Math.trunc(v)) : Float64Array.from(x, (v) => Math.fround(v));
}

export function fillRef(shape: readonly number[], value: number, dtype: DType = 'float32'): Float64Array {
  return new Float64Array(numel(shape)).fill(dtype === 'int32' ? Math.trunc(value) : Math.fround(value));
}

// ---------------------------------------------------------------------------------------------
// BCE with logits
// ---------------------------------------------------------------------------------------------

/** max(x,0) - x*t + log(1 + exp(-|x|)), in float64. */
export function bceWithLogitsRef(x: ArrayLike<number>, t: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v, i) => Math.max(v, 0) - v * t[i] + Math.log1p(Math.exp(-Math.abs(v))));
}

/** dy * (sigmoid(x) - t), in float64. */
export function bceWithLogitsBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, t: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v, i) => dy[i] * (sigmoid64(v) - t[i]));
}

// ---------------------------------------------------------------------------------------------
// Adam / AdamW (torch.optim.Adam / AdamW documented update, float64)
// ---------------------------------------------------------------------------------------------

export interface AdamHyperRef {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupled: boolean;
  step: number;
}

/**
 * Magnitudes that flowed into each state element (the scale float32 rounding errors are relative
 * to): |p0| plus every step's |lr*wd*p| and |lr*update|; m and v accumulate |g_eff| and g_eff^2
 * with G = |g| + wd*|p| in place of |g + wd*p| (cancellation in the L2 term).
 */
export interface AdamScales {
  p: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

export function adamScales(p0: ArrayLike<number>): AdamScales {
  return { p: Float64Array.from(p0, Math.abs), m: new Float64Array(p0.length), v: new Float64Array(p0.length) };
}

/** One Adam(W) step in place on float64 state, PyTorch semantics (amsgrad off, maximize off). */
export function adamStepRef(p: Float64Array, g: ArrayLike<number>, m: Float64Array, v: Float64Array, h: AdamHyperRef, scales?: AdamScales): void {
  const bc1 = 1 - Math.pow(h.beta1, h.step);
  const bc2 = 1 - Math.pow(h.beta2, h.step);
  for (let i = 0; i < p.length; i++) {
    let grad = g[i];
    let gScale = Math.abs(grad);
    if (h.weightDecay !== 0) {
      if (h.decoupled) {
        if (scales) scales.p[i] += Math.abs(h.lr * h.weightDecay * p[i]);
        p[i] -= h.lr * h.weightDecay * p[i];
      } else {
        gScale += Math.abs(h.weightDecay * p[i]);
        grad += h.weightDecay * p[i];
      }
    }
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * grad;
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * grad * grad;
    const denom = Math.sqrt(v[i] / bc2) + h.eps;
    const update = (h.lr * (m[i] / bc1)) / denom;
    if (scales) {
      scales.m[i] = h.beta1 * scales.m[i] + (1 - h.beta1) * gScale;
      scales.v[i] = h.beta2 * scales.v[i] + (1 - h.beta2) * gScale * gScale;
      scales.p[i] += (h.lr * (scales.m[i] / bc1)) / denom;
    }
    p[i] -= update;
  }
}

// ---------------------------------------------------------------------------------------------
// Philox4x32-10 (Random123), exact uint32 arithmetic
// ---------------------------------------------------------------------------------------------

const PHILOX_M0 = 0xd2511f53;
const PHILOX_M1 = 0xcd9e8d57;
const PHILOX_W0 = 0x9e3779b9;
const PHILOX_W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32s, by 16-bit splitting (every step exact in a double). */
export function mulhi32(a: number, b: number): number {
  const aH = a >>> 16;
  const aL = a & 0xffff;
  const bH = b >>> 16;
  const bL = b & 0xffff;
  const lowLow = aL * bL; // < 2^32
  const mid = aH * bL + aL * bH + Math.floor(lowLow / 65536); // < 2^34
  return (aH * bH + Math.floor(mid / 65536)) >>> 0;
}

/** Philox4x32 with `rounds` rounds (10 for Philox4x32-10): rounds-1 key bumps between rounds. */
export function philox4x32(ctr: readonly number[], key: readonly number[], rounds = 10): [number, number, number, number] {
  let [c0, c1, c2, c3] = ctr.map((v) => v >>> 0);
  let [k0, k1] = key.map((v) => v >>> 0);
  for (let r = 0; r < rounds; r++) {
    if (r > 0) {
      k0 = (k0 + PHILOX_W0) >>> 0;
      k1 = (k1 + PHILOX_W1) >>> 0;
    }
    const hi0 = mulhi32(PHILOX_M0, c0);
    const lo0 = Math.imul(PHILOX_M0, c0) >>> 0;
    const hi1 = mulhi32(PHILOX_M1, c2);
    const lo1 = Math.imul(PHILOX_M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  return [c0, c1, c2, c3];
}

/** The raw uint32 stream of a draw: element i uses counter (offset + floor(i/4)) as a 64-bit value, word i % 4. */
export function philoxStream(n: number, seed: number, offset: number): Uint32Array {
  const key = [seed % 2 ** 32 >>> 0, Math.floor(seed / 2 ** 32) >>> 0];
  const out = new Uint32Array(n);
  for (let base = 0; base < n; base += 4) {
    const c = offset + base / 4; // exact below 2^53
    const words = philox4x32([c % 2 ** 32, Math.floor(c / 2 ** 32), 0, 0], key);
    for (let w = 0; w < 4 && base + w < n; w++) out[base + w] = words[w];
  }
  return out;
}

/** Element i of a randomUniform(seed, offset) draw alone (for spot checks of huge draws). */
export function philoxUniformAt(i: number, seed: number, offset: number): number {
  const key = [seed % 2 ** 32 >>> 0, Math.floor(seed / 2 ** 32) >>> 0];
  const c = offset + Math.floor(i / 4);
  const words = philox4x32([c % 2 ** 32, Math.floor(c / 2 ** 32), 0, 0], key);
  return (words[i % 4] >>> 8) * 2 ** -24;
}

/** randomUniform's reference: (u32 >>> 8) * 2^-24, exact in float32. */
export function philoxUniformRef(n: number, seed: number, offset: number): Float32Array {
  const bits = philoxStream(n, seed, offset);
  return Float32Array.from(bits, (u) => (u >>> 8) * 2 ** -24);
}

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

export interface Tol {
  /** relative tolerance, against |ref| (or against `scale` when given) */
  rtol: number;
  /** absolute tolerance */
  atol: number;
}

/**
 * Throws a descriptive Error unless every element satisfies |got - ref| <= rtol*scale_i + atol,
 * where scale_i = scale[i] when given, else |ref[i]|. NaN must match NaN; infinities must match
 * exactly. Reports the first few mismatches with the label (op and shape).
 */
export function assertClose(got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tol, label: string, scale?: ArrayLike<number>): void {
  if (got.length !== ref.length) throw new Error(`${label}: length ${got.length}, expected ${ref.length}`);
  const bad: string[] = [];
  let nBad = 0;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const g = got[i];
    const r = ref[i];
    let ok: boolean;
    let err = 0;
    if (Number.isNaN(r)) ok = Number.isNaN(g);
    else if (!Number.isFinite(r)) ok = g === r;
    else {
      err = Math.abs(g - r);
      const allowed = tol.rtol * (scale ? scale[i] : Math.abs(r)) + tol.atol;
      ok = err <= allowed; // false for NaN
      if (allowed > 0) worst = Math.max(worst, err / allowed);
      else if (err > 0) worst = Infinity;
    }
    if (!ok) {
      nBad++;
      if (bad.length < 5) bad.push(`[${i}] got ${g}, expected ${r}`);
    }
  }
  // WEBGAN_TOL_REPORT=1 prints how much of each tolerance was used (to keep them tight).
  if (process.env.WEBGAN_TOL_REPORT) console.log(`tol-used ${worst.toPrecision(3)} ${label}`);
  if (nBad > 0) {
    throw new Error(
      `${label}: ${nBad}/${ref.length} elements out of tolerance (rtol ${tol.rtol}, atol ${tol.atol}` +
        `${worst ? `, worst ${worst.toPrecision(3)}x allowed` : ''}): ${bad.join('; ')}`,
    );
  }
}

/** Exact equality (e.g. data movement, max/min, comparisons, integer results). */
export function assertExact(got: ArrayLike<number>, ref: ArrayLike<number>, label: string): void {
  assertClose(got, ref, { rtol: 0, atol: 0 }, label);
}

export function assertShape(got: readonly number[], ref: readonly number[], label: string): void {
  if (got.length !== ref.length || got.some((d, i) => d !== ref[i])) {
    throw new Error(`${label}: shape ${fmtShape(got)}, expected ${fmtShape(ref)}`);
  }
}

/** A regex matching a shape printed as [a,b,c] (optional spaces). */
export function shapeRe(shape: readonly number[]): string {
  return `\\[\\s*${shape.join('\\s*,\\s*')}\\s*\\]`;
}

/** A regex requiring one of the op names and every given shape, anywhere in the message. */
export function errorRe(ops: readonly string[], ...shapes: (readonly number[])[]): RegExp {
  const parts = [`(?=[\\s\\S]*(?:${ops.join('|')}))`, ...shapes.map((s) => `(?=[\\s\\S]*${shapeRe(s)})`)];
  return new RegExp(`^${parts.join('')}`, 'i');
}

// ---------------------------------------------------------------------------------------------
// Device bookkeeping
// ---------------------------------------------------------------------------------------------

/** Tracks every DeviceArray a test case uploads or gets back, and releases them all at the end. */
export class Scope {
  private readonly arrays: DeviceArray[] = [];
  constructor(private readonly rt: Runtime) {}
  keep<T extends DeviceArray>(a: T): T {
    this.arrays.push(a);
    return a;
  }
  up(data: Float32Array | Int32Array | number[], shape: readonly number[], dtype?: DType): DeviceArray {
    return this.keep(fromArray(this.rt, data, [...shape], dtype));
  }
  upInt(data: Int32Array | number[], shape: readonly number[]): DeviceArray {
    return this.up(data instanceof Int32Array ? data : Int32Array.from(data), shape, 'int32');
  }
  async read(a: DeviceArray): Promise<Float32Array | Int32Array> {
    return toArray(this.rt, a);
  }
  release(): void {
    for (const a of this.arrays.splice(0)) this.rt.release(a.buffer);
  }
}

/** Runs `body` with a fresh Scope and always releases what it tracked. */
export async function withScope<T>(rt: Runtime, body: (s: Scope) => Promise<T>): Promise<T> {
  const s = new Scope(rt);
  try {
    return await body(s);
  } finally {
    s.release();
  }
}
