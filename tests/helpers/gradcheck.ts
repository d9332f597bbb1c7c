/**
 * Finite-difference gradient checking for @webgan/core.
 *
 * gradCheck(fn, inputs) checks the analytic gradient of
 *     L(inputs) = sum(fn(...inputs) * R)        (R: a fixed seeded random tensor of fn's output shape)
 * against central differences: for each element j of each checked input k,
 *     num_j = (L(x + h e_j) - L(x - h e_j)) / ((x_j + h) - (x_j - h))
 * where both losses are evaluated on the GPU (float32) and read back, and the difference and the
 * division are done in float64 on the host. The denominator uses the float32-rounded perturbed
 * values the GPU actually saw, not 2h.
 *
 * Tolerance rule (per element j of input k):
 *     |num_j - ana_j| <= rtol * max(|num_j|, |ana_j|) + atol * scale_k
 *     scale_k = max(max_j |num_j|, max_j |ana_j|, minScale)
 * with rtol = 2e-2, atol = 2e-3, minScale = 5e-2 by default and h = 1e-2 for O(1) inputs.
 * Rationale: the central-difference truncation error is h²/6·|f'''| (~2e-5·|f'''|) and the float32
 * noise of the loss difference is ~u·Σ|fn·R| / 2h (u = 2^-24: ~1e-4 for the ~60-term losses used
 * here); both stay well under the bound, while a gradient off by a few percent (or one wrong
 * element, or a missing contribution) does not (see tests/core/gradcheck-meta.test.ts).
 * Inputs must be away from kinks (|x| > h for relu/abs, no ties for max/min) so that L is smooth
 * on [x - h, x + h].
 */
import { add, grad, memory, mul, noGrad, sum, tensor, tidy, type Tensor } from '@webgan/core';
import { Rng } from './reference';

export type GradFn = (...inputs: Tensor[]) => Tensor;

export interface GradCheckOptions {
  /** Printed in failure messages. */
  label?: string;
  /** Perturbation h (absolute; inputs are O(1)). Default 1e-2. */
  eps?: number;
  /** Default 2e-2. */
  rtol?: number;
  /** Default 2e-3. */
  atol?: number;
  /** Lower bound of scale_k (see the tolerance rule). Default 5e-2. */
  minScale?: number;
  /** Indices of the inputs to check. Default: every float32 input with requiresGrad. */
  wrt?: number[];
  /** Seed of R. */
  seed?: number;
  /** 'grad' (default): analytic gradients from grad(); 'backward': from loss.backward() and .grad. */
  mode?: 'grad' | 'backward';
  /**
   * Evaluate the perturbed losses with recording on and the perturbed copies requiring grad like
   * the originals (needed when fn itself calls grad(), e.g. a gradient penalty). Default false:
   * perturbed losses are evaluated under noGrad.
   */
  numericWithGrad?: boolean;
  /**
   * Accept a null gradient (grad() → null, or .grad left null by backward()) as zeros: for an
   * input the loss does not depend on differentiably. The numeric gradient must then be ~0.
   */
  nullIsZero?: boolean;
  /** Turns the analytic gradients into something else before the comparison (meta-tests only). */
  tamper?: (k: number, analytic: Float64Array) => Float64Array;
}

export interface GradMismatch {
  input: number;
  index: number;
  analytic: number;
  numeric: number;
  tol: number;
}

export interface GradCheckReport {
  label: string;
  /** Number of loss evaluations used for the numeric gradients. */
  evaluations: number;
  /** max over elements of |num - ana| / tol (< 1 when the check passes). */
  worstRatio: number;
  analytic: Float64Array[];
  numeric: Float64Array[];
  mismatches: GradMismatch[];
}

const fmt = (shape: readonly number[]) => `[${shape.join(',')}]`;

/** A seeded float32 tensor with values uniform in [lo, hi). */
export function randTensor(rng: Rng, shape: readonly number[], lo = -1, hi = 1, requiresGrad = true): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.float(lo, hi);
  return tensor(data, shape, { requiresGrad });
}

/**
 * Seeded values in [lo, hi) whose magnitude is at least `margin` (keeps relu/abs/leakyRelu
 * away from their kink at 0).
 */
export function awayFromZero(rng: Rng, shape: readonly number[], lo = -1, hi = 1, margin = 0.1, requiresGrad = true): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = 0;
    do v = rng.float(lo, hi);
    while (Math.abs(v) < margin);
    data[i] = v;
  }
  return tensor(data, shape, { requiresGrad });
}

/**
 * Distinct values spaced at least `gap` apart, randomly permuted (no ties, so max/min/maximum and
 * sorting-like ops are differentiable with a margin larger than the perturbation).
 */
export function distinctTensor(rng: Rng, shape: readonly number[], gap = 0.05, requiresGrad = true): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = Array.from({ length: n }, (_, i) => (i - (n - 1) / 2) * gap + rng.float(0, gap / 4));
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [values[i], values[j]] = [values[j], values[i]];
  }
  return tensor(Float32Array.from(values), shape, { requiresGrad });
}

/** Gradient check of fn at `inputs` (see the file comment). Throws on a mismatch; returns the report. */
export async function gradCheck(fn: GradFn, inputs: Tensor[], options: GradCheckOptions = {}): Promise<GradCheckReport> {
  const label = options.label ?? 'gradCheck';
  const eps = options.eps ?? 1e-2;
  const rtol = options.rtol ?? 2e-2;
  const atol = options.atol ?? 2e-3;
  const minScale = options.minScale ?? 5e-2;
  const wrt = options.wrt ?? inputs.flatMap((t, k) => (t.requiresGrad && t.dtype === 'float32' ? [k] : []));
  if (wrt.length === 0) throw new Error(`${label}: no input to check (none requires grad)`);
  for (const k of wrt) {
    if (!inputs[k].requiresGrad) throw new Error(`${label}: input ${k} does not require grad`);
  }
  const host = await Promise.all(inputs.map((t) => t.data()));

  // R: fixed and seeded, in (-1, 1) but away from 0 so that every output element matters.
  const shapeOf = () => tidy(() => [...fn(...inputs).shape]);
  const outShape = options.numericWithGrad ? shapeOf() : noGrad(shapeOf);
  const rng = new Rng(options.seed ?? 0x9eed);
  const rSize = outShape.reduce((a, b) => a * b, 1);
  const rData = new Float32Array(rSize);
  for (let i = 0; i < rSize; i++) rData[i] = (rng.bool() ? 1 : -1) * rng.float(0.25, 1);
  const R = tensor(rData, outShape);

  const lossOf = (xs: Tensor[]): Tensor => {
    const out = fn(...xs);
    if (out.shape.join() !== outShape.join()) throw new Error(`${label}: fn gave shape ${fmt(out.shape)}, first call gave ${fmt(outShape)}`);
    return sum(mul(out, R));
  };

  try {
    // ---- analytic
    const analytic: Float64Array[] = [];
    if ((options.mode ?? 'grad') === 'grad') {
      const grads = tidy(() => grad(lossOf(inputs), wrt.map((k) => inputs[k])));
      for (let i = 0; i < wrt.length; i++) {
        const g = grads[i];
        const x = inputs[wrt[i]];
        if (!g && options.nullIsZero) {
          analytic.push(new Float64Array(x.size));
          continue;
        }
        if (!g) throw new Error(`${label}: grad() returned null for input ${wrt[i]} ${fmt(x.shape)}`);
        if (g.shape.join() !== x.shape.join()) throw new Error(`${label}: gradient of input ${wrt[i]} has shape ${fmt(g.shape)}, input has ${fmt(x.shape)}`);
        analytic.push(Float64Array.from(await g.data()));
        g.dispose();
      }
    } else {
      for (const k of wrt) {
        inputs[k].grad?.dispose();
        inputs[k].grad = null;
      }
      tidy(() => lossOf(inputs).backward());
      for (const k of wrt) {
        const g = inputs[k].grad;
        if (!g && options.nullIsZero) {
          analytic.push(new Float64Array(inputs[k].size));
          continue;
        }
        if (!g) throw new Error(`${label}: backward() left .grad null for input ${k} ${fmt(inputs[k].shape)}`);
        if (g.shape.join() !== inputs[k].shape.join()) throw new Error(`${label}: .grad of input ${k} has shape ${fmt(g.shape)}, input has ${fmt(inputs[k].shape)}`);
        analytic.push(Float64Array.from(await g.data()));
        g.dispose();
        inputs[k].grad = null;
      }
    }
    if (options.tamper) wrt.forEach((k, i) => (analytic[i] = options.tamper!(k, analytic[i])));

    // ---- numeric
    let evaluations = 0;
    const numeric: Float64Array[] = [];
    const evaluate = (k: number, data: Float32Array): Tensor => {
      const body = () =>
        tidy(() => {
          const perturbed = tensor(data, inputs[k].shape, { requiresGrad: options.numericWithGrad ? inputs[k].requiresGrad : false });
          return lossOf(inputs.map((t, i) => (i === k ? perturbed : t)));
        });
      evaluations++;
      return options.numericWithGrad ? body() : noGrad(body);
    };
    for (const k of wrt) {
      const x = host[k] as Float32Array;
      const num = new Float64Array(x.length);
      // Queue every evaluation of this input, then read all losses back (one submit per read, no
      // pipeline stalls in between).
      const pending: { plus: Tensor; minus: Tensor; h: number }[] = [];
      for (let j = 0; j < x.length; j++) {
        const xp = Float32Array.from(x);
        const xm = Float32Array.from(x);
        xp[j] = Math.fround(x[j] + eps);
        xm[j] = Math.fround(x[j] - eps);
        pending.push({ plus: evaluate(k, xp), minus: evaluate(k, xm), h: xp[j] - xm[j] });
      }
      const values = await Promise.all(pending.map(async ({ plus, minus }) => [(await plus.data())[0], (await minus.data())[0]]));
      pending.forEach(({ plus, minus, h }, j) => {
        num[j] = (values[j][0] - values[j][1]) / h;
        plus.dispose();
        minus.dispose();
      });
      numeric.push(num);
    }

    // ---- compare
    const mismatches: GradMismatch[] = [];
    let worstRatio = 0;
    wrt.forEach((k, i) => {
      const ana = analytic[i];
      const num = numeric[i];
      let scale = minScale;
      for (let j = 0; j < ana.length; j++) scale = Math.max(scale, Math.abs(ana[j]), Math.abs(num[j]));
      for (let j = 0; j < ana.length; j++) {
        const tol = rtol * Math.max(Math.abs(num[j]), Math.abs(ana[j])) + atol * scale;
        const diff = Math.abs(num[j] - ana[j]);
        const ratio = Number.isFinite(diff) ? diff / tol : Infinity;
        worstRatio = Math.max(worstRatio, ratio);
        if (!(ratio <= 1)) mismatches.push({ input: k, index: j, analytic: ana[j], numeric: num[j], tol });
      }
    });
    if (mismatches.length > 0) {
      const shown = mismatches
        .slice(0, 6)
        .map((m) => `input ${m.input} ${fmt(inputs[m.input].shape)}[${m.index}]: analytic ${m.analytic.toPrecision(6)}, numeric ${m.numeric.toPrecision(6)} (tol ${m.tol.toExponential(2)})`)
        .join('; ');
      throw new Error(`${label}: gradient mismatch in ${mismatches.length} element(s): ${shown}`);
    }
    return { label, evaluations, worstRatio, analytic, numeric, mismatches };
  } finally {
    R.dispose();
  }
}

/**
 * Runs fn and a backward pass OUTSIDE any tidy scope, disposes what the caller can see (output,
 * loss, gradients), and returns how many tensors are still alive beyond `inputs`: a backward rule
 * that forgets to dispose a temporary shows up here (inside tidy it would be cleaned up silently).
 */
export function leakCheck(fn: GradFn, inputs: Tensor[]): number {
  const before = memory().liveTensors;
  const wrt = inputs.filter((t) => t.requiresGrad && t.dtype === 'float32');
  const out = fn(...inputs);
  const loss = sum(out);
  const grads = grad(loss, wrt);
  out.dispose();
  loss.dispose();
  for (const g of grads) g?.dispose();
  return memory().liveTensors - before;
}

// ------------------------------------------------------------------------------- case tables

export interface GradCase {
  name: string;
  /** Builds the inputs from a seeded Rng (float inputs to check require grad). */
  make: (rng: Rng) => Tensor[];
  fn: GradFn;
  /** false when fn is more than one public op call (then leaks of fn's own temporaries are not the op's). */
  single?: boolean;
  options?: GradCheckOptions;
}

/** Dims that are not multiples of any tile. */
const DIMS = [2, 3, 5, 7];

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** A seeded random shape of `rank` with between `min` and `max` elements. */
export function drawShape(rng: Rng, rank: number, max = 60, min = 2): number[] {
  for (;;) {
    const shape = Array.from({ length: rank }, () => rng.pick(DIMS));
    if (numel(shape) <= max && numel(shape) >= min) return shape;
  }
}

/** A different shape that broadcasts against `shape`: some leading dims dropped, some set to 1. */
export function broadcastPartner(rng: Rng, shape: readonly number[]): number[] {
  for (;;) {
    const drop = rng.int(0, shape.length - 1);
    const partner = shape.slice(drop).map((d) => (rng.bool(0.4) ? 1 : d));
    if (partner.join() !== shape.join()) return partner;
  }
}

/** Seed of a case: a hash of its name, so adding a case does not change the others' data. */
export function seedOf(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** gradCheck of one case on fresh inputs (disposed afterwards). */
export async function runGradCase(c: GradCase): Promise<GradCheckReport> {
  const inputs = c.make(new Rng(seedOf(c.name)));
  try {
    return await gradCheck(c.fn, inputs, { label: c.name, seed: seedOf(c.name) ^ 0x5a5a, ...c.options });
  } finally {
    for (const t of inputs) t.dispose();
  }
}

/** leakCheck of one case on fresh inputs (disposed afterwards). */
export function runLeakCase(c: GradCase): number {
  const inputs = c.make(new Rng(seedOf(c.name)));
  try {
    return leakCheck(c.fn, inputs);
  } finally {
    for (const t of inputs) t.dispose();
  }
}

/**
 * Second-order check: gradCheck of h(x) = Σ_i sum(∂L/∂x_i · S_i), L = sum(fn(x)·R1), where the
 * inner gradients come from grad(..., { createGraph: true }) and R1, S_i are fixed seeded random
 * tensors. h's analytic gradient is a double backward; its numeric one re-evaluates h (itself via
 * grad with createGraph) on perturbed inputs. fn must be non-linear in its checked inputs.
 */
export async function gradGradCheck(fn: GradFn, inputs: Tensor[], options: GradCheckOptions = {}): Promise<GradCheckReport> {
  const rng = new Rng((options.seed ?? 0x6e6e) ^ 0x1234);
  const wrt = options.wrt ?? inputs.flatMap((t, k) => (t.requiresGrad && t.dtype === 'float32' ? [k] : []));
  const outShape = noGrad(() => {
    const out = fn(...inputs);
    const shape = [...out.shape];
    out.dispose();
    return shape;
  });
  const R1 = randTensor(rng, outShape, -1, 1, false);
  const S = wrt.map((k) => randTensor(rng, inputs[k].shape, -1, 1, false));
  const h = (...xs: Tensor[]): Tensor => {
    const inner = sum(mul(fn(...xs), R1));
    const grads = grad(inner, wrt.map((k) => xs[k]), { createGraph: true });
    let total: Tensor | null = null;
    grads.forEach((g, i) => {
      if (!g) throw new Error(`${options.label ?? 'gradGradCheck'}: first-order gradient of input ${wrt[i]} is null`);
      const term = sum(mul(g, S[i]));
      total = total ? add(total, term) : term;
    });
    return total!;
  };
  try {
    return await gradCheck(h, inputs, { ...options, wrt, numericWithGrad: true });
  } finally {
    R1.dispose();
    for (const s of S) s.dispose();
  }
}
