/**
 * Float64 CPU references for the kernel tests, written as direct loops from the math definitions.
 * Each op has its own reference, not built from the others (conv backward is not "conv forward with
 * a flipped kernel", conv-transpose is not "conv backward-data"), so a test of one kernel family
 * checks it against an independent statement of what it computes. The references also return,
 * for every output element, the sum of |products| that went into it, which the tests turn into a
 * float32 rounding tolerance.
 *
 * Plain JS numbers and Float64Arrays only: no GPU, no imports from the engine.
 */

// ------------------------------------------------------------------------------------- random

/** mulberry32: a tiny seeded PRNG giving floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    return this.next();
  }
  /** Uniform in [lo, hi). */
  float(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** Uniform integer in [lo, hi], both ends included. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  bool(pTrue = 0.5): boolean {
    return this.next() < pTrue;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

/** Sizes that are not multiples of any tile: primes, one off powers of two, and 1. */
export const AWKWARD_SIZES = [1, 2, 3, 5, 7, 13, 17, 31, 33, 63, 65, 127, 129] as const;

/** A dimension: an awkward size up to `max` most of the time, otherwise any size in [1, max]. */
export function randomDim(rng: Rng, max: number): number {
  const awkward = AWKWARD_SIZES.filter((s) => s <= max);
  return rng.bool(0.7) && awkward.length > 0 ? rng.pick(awkward) : rng.int(1, max);
}

/** `n` float32 values uniform in [lo, hi). */
export function randomData(rng: Rng, n: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.float(lo, hi);
  return out;
}

/** `n` float32 values from offset + scale * N(0, 1). */
export function randomNormalData(rng: Rng, n: number, offset = 0, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = offset + scale * rng.normal();
  return out;
}

/** The float32 values exactly, as float64: the references see what the GPU sees. */
export function f64(a: Float32Array | number[]): Float64Array {
  return Float64Array.from(a);
}

export function product(shape: readonly number[]): number {
  let p = 1;
  for (const d of shape) p *= d;
  return p;
}

export const fmtShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

// ------------------------------------------------------------------------------------ compare

/**
 * Checks |got[i] - ref[i]| <= tol[i] for every element (NaN or Inf in `got` fails unless `ref` has
 * the same value). On failure the message names `label`, the number of bad elements, and the worst
 * one (by error / tolerance) with its index (and multi-index if `shape` is given), both values and
 * its tolerance.
 */
export function expectClose(
  got: Float32Array | Float64Array,
  ref: Float64Array,
  tolPerElement: Float64Array | number,
  label: string,
  shape?: readonly number[],
): void {
  if (got.length !== ref.length) {
    throw new Error(`${label}: length ${got.length} differs from the reference's ${ref.length}`);
  }
  let worst = 0;
  let worstRatio = -1;
  let bad = 0;
  for (let i = 0; i < ref.length; i++) {
    const tol = typeof tolPerElement === 'number' ? tolPerElement : tolPerElement[i];
    const g = got[i];
    // NaN / Inf in the output only passes when the reference has exactly that value.
    let ratio = Number.isFinite(g) ? Math.abs(g - ref[i]) / tol : Object.is(g, ref[i]) ? 0 : Infinity;
    if (Number.isNaN(ratio)) ratio = Infinity;
    if (ratio > 1) bad++;
    if (ratio > worstRatio) {
      worst = i;
      worstRatio = ratio;
    }
  }
  if (bad > 0) {
    const tol = typeof tolPerElement === 'number' ? tolPerElement : tolPerElement[worst];
    const where = shape ? ` (index ${fmtShape(unravel(worst, shape))} of ${fmtShape(shape)})` : '';
    throw new Error(
      `${label}: ${bad} of ${ref.length} elements out of tolerance; worst at flat index ${worst}${where}: ` +
        `got ${got[worst]}, expected ${ref[worst]}, |diff| ${Math.abs(got[worst] - ref[worst]).toExponential(3)} > tol ${tol.toExponential(3)}`,
    );
  }
}

export function unravel(index: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = index % shape[d];
    index = Math.floor(index / shape[d]);
  }
  return out;
}

/** Per element tolerance rel * absSum[i] + abs. */
export function tolFromAbsSum(absSum: Float64Array, rel: number, abs: number): Float64Array {
  const out = new Float64Array(absSum.length);
  for (let i = 0; i < absSum.length; i++) out[i] = rel * absSum[i] + abs;
  return out;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

// -------------------------------------------------------------------------------- activations

export type Act = 'none' | 'relu' | 'leaky_relu' | 'tanh' | 'sigmoid';
export const ACTIVATIONS: readonly Act[] = ['none', 'relu', 'leaky_relu', 'tanh', 'sigmoid'];

/** PyTorch's definitions; leaky_relu's default negative slope is 0.01. */
export function activate(v: number, act: Act | undefined, slope = 0.01): number {
  switch (act ?? 'none') {
    case 'none':
      return v;
    case 'relu':
      return v > 0 ? v : 0;
    case 'leaky_relu':
      return v > 0 ? v : slope * v;
    case 'tanh':
      return Math.tanh(v);
    case 'sigmoid':
      return 1 / (1 + Math.exp(-v));
  }
  throw new Error(`unknown activation ${act}`);
}

export interface EpilogueRef {
  bias?: Float64Array;
  activation?: Act;
  slope?: number;
}

/** A reference result: values, the sum of |terms| behind each value, and the output shape. */
export interface RefResult {
  out: Float64Array;
  absSum: Float64Array;
  shape: number[];
}

// ------------------------------------------------------------------------------------- matmul

export interface MatmulRefOptions extends EpilogueRef {
  transposeA?: boolean;
  transposeB?: boolean;
}

/**
 * out[b, m, n] = act(sum_k A[b, m, k] * B[b, k, n] + bias[n]) with A = a or a^T per matrix (a
 * stored [.., K, M] when transposeA), B = b or b^T (b stored [.., N, K] when transposeB). A 2-D
 * operand or one with batch 1 is broadcast over the other's batch. Both 2-D gives [M, N].
 */
export function matmulRef(
  a: Float64Array,
  aShape: readonly number[],
  b: Float64Array,
  bShape: readonly number[],
  opts: MatmulRefOptions = {},
): RefResult {
  if (aShape.length < 2 || aShape.length > 3 || bShape.length < 2 || bShape.length > 3) {
    throw new Error(`matmulRef: ranks ${fmtShape(aShape)} ${fmtShape(bShape)}`);
  }
  const aB = aShape.length === 3 ? aShape[0] : 1;
  const bB = bShape.length === 3 ? bShape[0] : 1;
  const [ar, ac] = aShape.slice(-2);
  const [br, bc] = bShape.slice(-2);
  const M = opts.transposeA ? ac : ar;
  const K = opts.transposeA ? ar : ac;
  const Kb = opts.transposeB ? bc : br;
  const N = opts.transposeB ? br : bc;
  if (K !== Kb) throw new Error(`matmulRef: inner dims ${K} vs ${Kb}`);
  if (aB !== bB && aB !== 1 && bB !== 1) throw new Error(`matmulRef: batch ${aB} vs ${bB}`);
  const batch = Math.max(aB, bB);
  const shape = aShape.length === 2 && bShape.length === 2 ? [M, N] : [batch, M, N];
  const out = new Float64Array(batch * M * N);
  const absSum = new Float64Array(batch * M * N);
  for (let bi = 0; bi < batch; bi++) {
    const aOff = (aB === 1 ? 0 : bi) * M * K;
    const bOff = (bB === 1 ? 0 : bi) * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        let sa = 0;
        for (let k = 0; k < K; k++) {
          const av = opts.transposeA ? a[aOff + k * M + m] : a[aOff + m * K + k];
          const bv = opts.transposeB ? b[bOff + n * K + k] : b[bOff + k * N + n];
          s += av * bv;
          sa += Math.abs(av * bv);
        }
        if (opts.bias) {
          s += opts.bias[n];
          sa += Math.abs(opts.bias[n]);
        }
        const o = (bi * M + m) * N + n;
        out[o] = activate(s, opts.activation, opts.slope);
        absSum[o] = sa;
      }
    }
  }
  return { out, absSum, shape };
}

// --------------------------------------------------------------------------------------- conv

export interface ConvGeom {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
}
export interface ConvTGeom extends ConvGeom {
  outputPadding?: number | [number, number];
}

export function pair(v: number | [number, number] | undefined, dflt: number): [number, number] {
  if (v === undefined) return [dflt, dflt];
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/** floor((H + 2p - d(K-1) - 1) / s) + 1 */
export function convOutSize(h: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((h + 2 * p - d * (k - 1) - 1) / s) + 1;
}

/** PyTorch ConvTranspose2d: (H-1)s - 2p + d(K-1) + op + 1 */
export function convTOutSize(h: number, k: number, s: number, p: number, d: number, op: number): number {
  return (h - 1) * s - 2 * p + d * (k - 1) + op + 1;
}

/**
 * conv2d forward, NCHW, weight [O, C, KH, KW]:
 * y[n,o,i,j] = act(bias[o] + sum_{c,kh,kw} x[n,c, i*sh - ph + kh*dh, j*sw - pw + kw*dw] * w[o,c,kh,kw])
 * (out-of-range input positions are zero).
 */
export function conv2dRef(
  x: Float64Array,
  xShape: readonly number[],
  w: Float64Array,
  wShape: readonly number[],
  g: ConvGeom & EpilogueRef = {},
): RefResult {
  const [N, C, H, W] = xShape;
  const [O, Cw, KH, KW] = wShape;
  if (C !== Cw) throw new Error(`conv2dRef: channels ${C} vs ${Cw}`);
  const [sh, sw] = pair(g.stride, 1);
  const [ph, pw] = pair(g.padding, 0);
  const [dh, dw] = pair(g.dilation, 1);
  const OH = convOutSize(H, KH, sh, ph, dh);
  const OW = convOutSize(W, KW, sw, pw, dw);
  const out = new Float64Array(N * O * OH * OW);
  const absSum = new Float64Array(out.length);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < OH; i++)
        for (let j = 0; j < OW; j++) {
          let s = 0;
          let sa = 0;
          for (let c = 0; c < C; c++)
            for (let kh = 0; kh < KH; kh++) {
              const ih = i * sh - ph + kh * dh;
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < KW; kw++) {
                const iw = j * sw - pw + kw * dw;
                if (iw < 0 || iw >= W) continue;
                const t = x[((n * C + c) * H + ih) * W + iw] * w[((o * C + c) * KH + kh) * KW + kw];
                s += t;
                sa += Math.abs(t);
              }
            }
          if (g.bias) {
            s += g.bias[o];
            sa += Math.abs(g.bias[o]);
          }
          const idx = ((n * O + o) * OH + i) * OW + j;
          out[idx] = activate(s, g.activation, g.slope);
          absSum[idx] = sa;
        }
  return { out, absSum, shape: [N, O, OH, OW] };
}

/**
 * conv2d backward-data: dx = d(sum dy * conv2d(x, w)) / dx. Written as the scatter of every
 * forward product's coefficient: each (n,o,i,j,c,kh,kw) with an in-range input position adds
 * dy[n,o,i,j] * w[o,c,kh,kw] to dx at that position.
 */
export function conv2dBackwardDataRef(
  dy: Float64Array,
  dyShape: readonly number[],
  w: Float64Array,
  wShape: readonly number[],
  inputShape: readonly number[],
  g: ConvGeom = {},
): RefResult {
  const [N, O, OH, OW] = dyShape;
  const [, C, KH, KW] = wShape;
  const [, , H, W] = inputShape;
  const [sh, sw] = pair(g.stride, 1);
  const [ph, pw] = pair(g.padding, 0);
  const [dh, dw] = pair(g.dilation, 1);
  const out = new Float64Array(N * C * H * W);
  const absSum = new Float64Array(out.length);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < OH; i++)
        for (let j = 0; j < OW; j++) {
          const g0 = dy[((n * O + o) * OH + i) * OW + j];
          for (let c = 0; c < C; c++)
            for (let kh = 0; kh < KH; kh++) {
              const ih = i * sh - ph + kh * dh;
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < KW; kw++) {
                const iw = j * sw - pw + kw * dw;
                if (iw < 0 || iw >= W) continue;
                const t = g0 * w[((o * C + c) * KH + kh) * KW + kw];
                const idx = ((n * C + c) * H + ih) * W + iw;
                out[idx] += t;
                absSum[idx] += Math.abs(t);
              }
            }
        }
  return { out, absSum, shape: [N, C, H, W] };
}

/** conv2d backward-filter: dw[o,c,kh,kw] = sum_{n,i,j} dy[n,o,i,j] * x[n,c, i*sh-ph+kh*dh, j*sw-pw+kw*dw]. */
export function conv2dBackwardFilterRef(
  x: Float64Array,
  xShape: readonly number[],
  dy: Float64Array,
  dyShape: readonly number[],
  wShape: readonly number[],
  g: ConvGeom = {},
): RefResult {
  const [N, C, H, W] = xShape;
  const [, O, OH, OW] = dyShape;
  const [, , KH, KW] = wShape;
  const [sh, sw] = pair(g.stride, 1);
  const [ph, pw] = pair(g.padding, 0);
  const [dh, dw] = pair(g.dilation, 1);
  const out = new Float64Array(O * C * KH * KW);
  const absSum = new Float64Array(out.length);
  for (let o = 0; o < O; o++)
    for (let c = 0; c < C; c++)
      for (let kh = 0; kh < KH; kh++)
        for (let kw = 0; kw < KW; kw++) {
          let s = 0;
          let sa = 0;
          for (let n = 0; n < N; n++)
            for (let i = 0; i < OH; i++) {
              const ih = i * sh - ph + kh * dh;
              if (ih < 0 || ih >= H) continue;
              for (let j = 0; j < OW; j++) {
                const iw = j * sw - pw + kw * dw;
                if (iw < 0 || iw >= W) continue;
                const t = dy[((n * O + o) * OH + i) * OW + j] * x[((n * C + c) * H + ih) * W + iw];
                s += t;
                sa += Math.abs(t);
              }
            }
          const idx = ((o * C + c) * KH + kh) * KW + kw;
          out[idx] = s;
          absSum[idx] = sa;
        }
  return { out, absSum, shape: [O, C, KH, KW] };
}

/** db[o] = sum_{n,i,j} dy[n,o,i,j]. */
export function conv2dBackwardBiasRef(dy: Float64Array, dyShape: readonly number[]): RefResult {
  const [N, O, OH, OW] = dyShape;
  const out = new Float64Array(O);
  const absSum = new Float64Array(O);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let p = 0; p < OH * OW; p++) {
        const v = dy[(n * O + o) * OH * OW + p];
        out[o] += v;
        absSum[o] += Math.abs(v);
      }
  return { out, absSum, shape: [O] };
}

// ------------------------------------------------------------------------------ conv transpose

/**
 * ConvTranspose2d forward, PyTorch semantics, weight [Cin, Cout, KH, KW]: every input element
 * scatters x[n,ci,h,w] * w[ci,co,kh,kw] to output position (h*sh - ph + kh*dh, w*sw - pw + kw*dw)
 * when that lies inside the [OH, OW] output; OH = (H-1)sh - 2ph + dh(KH-1) + oph + 1. Then bias
 * and activation.
 */
export function convTranspose2dRef(
  x: Float64Array,
  xShape: readonly number[],
  w: Float64Array,
  wShape: readonly number[],
  g: ConvTGeom & EpilogueRef = {},
): RefResult {
  const [N, Cin, H, W] = xShape;
  const [Cw, Cout, KH, KW] = wShape;
  if (Cin !== Cw) throw new Error(`convTranspose2dRef: channels ${Cin} vs ${Cw}`);
  const [sh, sw] = pair(g.stride, 1);
  const [ph, pw] = pair(g.padding, 0);
  const [dh, dw] = pair(g.dilation, 1);
  const [oph, opw] = pair(g.outputPadding, 0);
  const OH = convTOutSize(H, KH, sh, ph, dh, oph);
  const OW = convTOutSize(W, KW, sw, pw, dw, opw);
  const pre = new Float64Array(N * Cout * OH * OW);
  const absSum = new Float64Array(pre.length);
  for (let n = 0; n < N; n++)
    for (let ci = 0; ci < Cin; ci++)
      for (let h = 0; h < H; h++)
        for (let ww = 0; ww < W; ww++) {
          const xv = x[((n * Cin + ci) * H + h) * W + ww];
          for (let co = 0; co < Cout; co++)
            for (let kh = 0; kh < KH; kh++) {
              const oh = h * sh - ph + kh * dh;
              if (oh < 0 || oh >= OH) continue;
              for (let kw = 0; kw < KW; kw++) {
                const ow = ww * sw - pw + kw * dw;
                if (ow < 0 || ow >= OW) continue;
                const t = xv * w[((ci * Cout + co) * KH + kh) * KW + kw];
                const idx = ((n * Cout + co) * OH + oh) * OW + ow;
                pre[idx] += t;
                absSum[idx] += Math.abs(t);
              }
            }
        }
  const out = new Float64Array(pre.length);
  for (let idx = 0; idx < pre.length; idx++) {
    const co = Math.floor(idx / (OH * OW)) % Cout;
    let s = pre[idx];
    if (g.bias) {
      s += g.bias[co];
      absSum[idx] += Math.abs(g.bias[co]);
    }
    out[idx] = activate(s, g.activation, g.slope);
  }
  return { out, absSum, shape: [N, Cout, OH, OW] };
}

/**
 * ConvTranspose2d backward-data: dx[n,ci,h,w] = sum_{co,kh,kw} dy[n,co, h*sh-ph+kh*dh, w*sw-pw+kw*dw] * w[ci,co,kh,kw]
 * (positions outside dy's [OH, OW] contribute nothing). Input size from dy: H = the largest H
 * whose forward output is OH, i.e. the caller passes the forward input shape.
 */
export function convTranspose2dBackwardDataRef(
  dy: Float64Array,
  dyShape: readonly number[],
  w: Float64Array,
  wShape: readonly number[],
  inputShape: readonly number[],
  g: ConvTGeom = {},
): RefResult {
  const [N, Cout, OH, OW] = dyShape;
  const [Cin, , KH, KW] = wShape;
  const [, , H, W] = inputShape;
  const [sh, sw] = pair(g.stride, 1);
  const [ph, pw] = pair(g.padding, 0);
  const [dh, dw] = pair(g.dilation, 1);
  const out = new Float64Array(N * Cin * H * W);
  const absSum = new Float64Array(out.length);
  for (let n = 0; n < N; n++)
    for (let ci = 0; ci < Cin; ci++)
      for (let h = 0; h < H; h++)
        for (let ww = 0; ww < W; ww++) {
          let s = 0;
          let sa = 0;
          for (let co = 0; co < Cout; co++)
            for (let kh = 0; kh < KH; kh++) {
              const oh = h * sh - ph + kh * dh;
              if (oh < 0 || oh >= OH) continue;
              for (let kw = 0; kw < KW; kw++) {
                const ow = ww * sw - pw + kw * dw;
                if (ow < 0 || ow >= OW) continue;
                const t = dy[((n * Cout + co) * OH + oh) * OW + ow] * w[((ci * Cout + co) * KH + kh) * KW + kw];
                s += t;
                sa += Math.abs(t);
              }
            }
          const idx = ((n * Cin + ci) * H + h) * W + ww;
          out[idx] = s;
          absSum[idx] = sa;
        }
  return { out, absSum, shape: [N, Cin, H, W] };
}

/** ConvTranspose2d backward-filter: dw[ci,co,kh,kw] = sum_{n,h,w} x[n,ci,h,w] * dy[n,co, h*sh-ph+kh*dh, w*sw-pw+kw*dw]. */
export function convTranspose2dBackwardFilterRef(
  x: Float64Array,
  xShape: readonly number[],
  dy: Float64Array,
  dyShape: readonly number[],
  wShape: readonly number[],
  g: ConvTGeom = {},
): RefResult {
  const [N, Cin, H, W] = xShape;
  const [, Cout, OH, OW] = dyShape;
  const [, , KH, KW] = wShape;
  const [sh, sw] = pair(g.stride, 1);
  const [ph, pw] = pair(g.padding, 0);
  const [dh, dw] = pair(g.dilation, 1);
  const out = new Float64Array(Cin * Cout * KH * KW);
  const absSum = new Float64Array(out.length);
  for (let ci = 0; ci < Cin; ci++)
    for (let co = 0; co < Cout; co++)
      for (let kh = 0; kh < KH; kh++)
        for (let kw = 0; kw < KW; kw++) {
          let s = 0;
          let sa = 0;
          for (let n = 0; n < N; n++)
            for (let h = 0; h < H; h++) {
              const oh = h * sh - ph + kh * dh;
              if (oh < 0 || oh >= OH) continue;
              for (let ww = 0; ww < W; ww++) {
                const ow = ww * sw - pw + kw * dw;
                if (ow < 0 || ow >= OW) continue;
                const t = x[((n * Cin + ci) * H + h) * W + ww] * dy[((n * Cout + co) * OH + oh) * OW + ow];
                s += t;
                sa += Math.abs(t);
              }
            }
          const idx = ((ci * Cout + co) * KH + kh) * KW + kw;
          out[idx] = s;
          absSum[idx] = sa;
        }
  return { out, absSum, shape: [Cin, Cout, KH, KW] };
}

// ---------------------------------------------------------------------------------- batchnorm

/** [N, C] or [N, C, H, W] as (N, C, HW). */
function bnDims(shape: readonly number[]): [number, number, number] {
  if (shape.length === 2) return [shape[0], shape[1], 1];
  if (shape.length === 4) return [shape[0], shape[1], shape[2] * shape[3]];
  throw new Error(`batchnorm reference: rank ${shape.length}`);
}

export interface BatchNormTrainRef {
  y: Float64Array;
  mean: Float64Array;
  /** biased (population) variance, used to normalise */
  varBiased: Float64Array;
  invstd: Float64Array;
  runningMean: Float64Array;
  runningVar: Float64Array;
}

/**
 * Training-mode batchnorm, per channel c over m = N*H*W values:
 * mean = sum x / m; var = sum (x - mean)^2 / m; invstd = 1/sqrt(var + eps);
 * y = gamma * (x - mean) * invstd + beta;
 * runningMean' = (1-momentum) runningMean + momentum * mean;
 * runningVar'  = (1-momentum) runningVar  + momentum * var * m/(m-1).
 */
export function batchNormTrainRef(
  x: Float64Array,
  shape: readonly number[],
  gamma: Float64Array,
  beta: Float64Array,
  runningMean: Float64Array,
  runningVar: Float64Array,
  momentum = 0.1,
  eps = 1e-5,
): BatchNormTrainRef {
  const [N, C, HW] = bnDims(shape);
  const m = N * HW;
  const mean = new Float64Array(C);
  const varBiased = new Float64Array(C);
  const invstd = new Float64Array(C);
  const rm = new Float64Array(C);
  const rv = new Float64Array(C);
  const y = new Float64Array(x.length);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let n = 0; n < N; n++) for (let p = 0; p < HW; p++) s += x[(n * C + c) * HW + p];
    const mu = s / m;
    let v = 0;
    for (let n = 0; n < N; n++)
      for (let p = 0; p < HW; p++) {
        const d = x[(n * C + c) * HW + p] - mu;
        v += d * d;
      }
    v /= m;
    mean[c] = mu;
    varBiased[c] = v;
    invstd[c] = 1 / Math.sqrt(v + eps);
    rm[c] = (1 - momentum) * runningMean[c] + momentum * mu;
    rv[c] = (1 - momentum) * runningVar[c] + momentum * (v * m) / (m - 1);
    for (let n = 0; n < N; n++)
      for (let p = 0; p < HW; p++) {
        const i = (n * C + c) * HW + p;
        y[i] = gamma[c] * (x[i] - mu) * invstd[c] + beta[c];
      }
  }
  return { y, mean, varBiased, invstd, runningMean: rm, runningVar: rv };
}

/** Eval-mode batchnorm: y = gamma * (x - runningMean) / sqrt(runningVar + eps) + beta. */
export function batchNormEvalRef(
  x: Float64Array,
  shape: readonly number[],
  gamma: Float64Array,
  beta: Float64Array,
  runningMean: Float64Array,
  runningVar: Float64Array,
  eps = 1e-5,
): Float64Array {
  const [N, C, HW] = bnDims(shape);
  const y = new Float64Array(x.length);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let p = 0; p < HW; p++) {
        const i = (n * C + c) * HW + p;
        y[i] = (gamma[c] * (x[i] - runningMean[c])) / Math.sqrt(runningVar[c] + eps) + beta[c];
      }
  return y;
}

export interface BatchNormBackwardRef {
  dx: Float64Array;
  dgamma: Float64Array;
  dbeta: Float64Array;
  /** per element of dx: |gamma*invstd|*(|dy| + mean|dy| + |xhat| mean|dy xhat|), the size of its terms */
  dxScale: Float64Array;
  /** per channel: sum |dy * xhat| (terms of dgamma) and sum |dy| (terms of dbeta) */
  dgammaAbs: Float64Array;
  dbetaAbs: Float64Array;
}

/**
 * Batchnorm backward through the batch statistics, given the forward's mean and invstd:
 * xhat = (x - mean) * invstd; dbeta = sum dy; dgamma = sum dy * xhat;
 * dx = gamma * invstd * (dy - dbeta/m - xhat * dgamma/m).
 */
export function batchNormBackwardRef(
  dy: Float64Array,
  x: Float64Array,
  shape: readonly number[],
  gamma: Float64Array,
  mean: Float64Array,
  invstd: Float64Array,
): BatchNormBackwardRef {
  const [N, C, HW] = bnDims(shape);
  const m = N * HW;
  const dgamma = new Float64Array(C);
  const dbeta = new Float64Array(C);
  const dx = new Float64Array(x.length);
  const dxScale = new Float64Array(x.length);
  const dgammaAbs = new Float64Array(C);
  const dbetaAbs = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let sdy = 0;
    let sdyx = 0;
    let sAbsDy = 0;
    let sAbsDyx = 0;
    for (let n = 0; n < N; n++)
      for (let p = 0; p < HW; p++) {
        const i = (n * C + c) * HW + p;
        const xhat = (x[i] - mean[c]) * invstd[c];
        sdy += dy[i];
        sdyx += dy[i] * xhat;
        sAbsDy += Math.abs(dy[i]);
        sAbsDyx += Math.abs(dy[i] * xhat);
      }
    dbeta[c] = sdy;
    dgamma[c] = sdyx;
    dbetaAbs[c] = sAbsDy;
    dgammaAbs[c] = sAbsDyx;
    const k = gamma[c] * invstd[c];
    for (let n = 0; n < N; n++)
      for (let p = 0; p < HW; p++) {
        const i = (n * C + c) * HW + p;
        const xhat = (x[i] - mean[c]) * invstd[c];
        dx[i] = k * (dy[i] - sdy / m - (xhat * sdyx) / m);
        dxScale[i] = Math.abs(k) * (Math.abs(dy[i]) + sAbsDy / m + (Math.abs(xhat) * sAbsDyx) / m);
      }
  }
  return { dx, dgamma, dbeta, dxScale, dgammaAbs, dbetaAbs };
}

// ------------------------------------------------------------------------------------ helpers

/** <a, b> in float64. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
