/**
 * First-order gradient checks (tests/helpers/gradcheck.ts) of the linear-algebra, convolution,
 * normalisation and loss ops of @webgan/core, on small seeded inputs (≤ 60 elements per
 * differentiated input, dims that are not tile multiples).
 *
 * Tolerance rule (gradcheck.ts): |num − ana| ≤ 2e-2·max(|num|, |ana|) + 2e-3·scale, scale = the
 * largest |gradient| of that input (at least 5e-2); central differences with h = 1e-2 on O(1)
 * inputs, the loss sum(op(x)·R) evaluated in float32 on the GPU, differences taken in float64.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initNode } from '@webgan/kernels/node';
import {
  batchNorm, bce, bceWithLogits, conv2d, conv2dBackwardData, conv2dBackwardFilter, convTranspose2d, crossEntropy, layerNorm,
  linear, matmul, mse, tensor, type Tensor,
} from '@webgan/core';
import { randTensor, runGradCase, runLeakCase, type GradCase } from '../helpers/gradcheck';
import { Rng, convTranspose2dRef, f64, product, randomData, type ConvTGeom } from '../helpers/reference';

beforeAll(async () => {
  await initNode({ tuningFile: false });
});

const cases: GradCase[] = [];
const add_ = (c: GradCase) => cases.push(c);
const r1 = (r: Rng, shape: number[], requiresGrad = true) => randTensor(r, shape, -1, 1, requiresGrad);

// ------------------------------------------------------------------------------ matmul
const M = 5;
const K = 3;
const N = 7;
for (const tA of [false, true]) {
  for (const tB of [false, true]) {
    const aMat = tA ? [K, M] : [M, K];
    const bMat = tB ? [N, K] : [K, N];
    const tag = `${tA ? 'Aᵀ' : 'A'}·${tB ? 'Bᵀ' : 'B'}`;
    add_({ name: `matmul ${tag} [${aMat}]·[${bMat}]`, make: (r) => [r1(r, aMat), r1(r, bMat)], fn: (a, b) => matmul(a, b, { transposeA: tA, transposeB: tB }) });
    add_({
      name: `matmul batched ${tag} [2,${aMat}]·[2,${bMat}]`,
      make: (r) => [r1(r, [2, ...aMat]), r1(r, [2, ...bMat])],
      fn: (a, b) => matmul(a, b, { transposeA: tA, transposeB: tB }),
    });
  }
}
add_({ name: 'matmul broadcast batch [3,5,3]·[3,7] (2-D b)', make: (r) => [r1(r, [3, 5, 3]), r1(r, [3, 7])], fn: (a, b) => matmul(a, b) });
add_({ name: 'matmul broadcast batch [5,3]·[2,3,7] (2-D a)', make: (r) => [r1(r, [5, 3]), r1(r, [2, 3, 7])], fn: (a, b) => matmul(a, b) });
add_({ name: 'matmul broadcast batch [1,5,3]·[2,3,7] (batch-1 a)', make: (r) => [r1(r, [1, 5, 3]), r1(r, [2, 3, 7])], fn: (a, b) => matmul(a, b) });
add_({
  name: 'matmul broadcast batch Aᵀ·Bᵀ [2,3,5]·[1,7,3] (batch-1 b)',
  make: (r) => [r1(r, [2, 3, 5]), r1(r, [1, 7, 3])],
  fn: (a, b) => matmul(a, b, { transposeA: true, transposeB: true }),
});
add_({ name: 'matmul, constant b [5,3]·[3,7]', make: (r) => [r1(r, [5, 3]), r1(r, [3, 7], false)], fn: (a, b) => matmul(a, b) });

// ------------------------------------------------------------------------------ linear
add_({ name: 'linear with bias x[5,7] W[3,7] b[3]', make: (r) => [r1(r, [5, 7]), r1(r, [3, 7]), r1(r, [3])], fn: (x, w, b) => linear(x, w, b) });
add_({ name: 'linear without bias x[5,7] W[3,7]', make: (r) => [r1(r, [5, 7]), r1(r, [3, 7])], fn: (x, w) => linear(x, w) });
add_({ name: 'linear, constant x', make: (r) => [r1(r, [5, 7], false), r1(r, [3, 7]), r1(r, [3])], fn: (x, w, b) => linear(x, w, b) });
// The smooth activations fused into the GEMM's epilogue (relu and leaky ReLU are checked against
// the unfused layers in tests/nn/fused-activation.test.ts: central differences need a kink margin).
for (const kind of ['tanh', 'sigmoid'] as const) {
  add_({ name: `linear + fused ${kind} x[5,7] W[3,7] b[3]`, make: (r) => [r1(r, [5, 7]), r1(r, [3, 7]), r1(r, [3])], fn: (x, w, b) => linear(x, w, b, { kind }) });
}

// ------------------------------------------------------------------------------ convolutions
interface ConvCase {
  x: number[];
  w: number[];
  params: { stride?: number | [number, number]; padding?: number | [number, number]; dilation?: number | [number, number] };
}
const CONVS: ConvCase[] = [
  { x: [2, 2, 5, 3], w: [3, 2, 3, 3], params: {} },
  { x: [1, 2, 5, 6], w: [3, 2, 3, 3], params: { stride: 2, padding: 1 } },
  { x: [2, 1, 5, 6], w: [2, 1, 3, 2], params: { stride: [2, 1], padding: [1, 0], dilation: [1, 2] } },
  { x: [1, 2, 5, 5], w: [2, 2, 3, 3], params: { dilation: 2, padding: 2 } },
];
/** Output shape of conv2d (PyTorch's formula). */
function convOut(c: ConvCase): number[] {
  const p = (v: number | [number, number] | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);
  const [sH, sW] = p(c.params.stride, 1);
  const [pH, pW] = p(c.params.padding, 0);
  const [dH, dW] = p(c.params.dilation, 1);
  const o = (i: number, k: number, s: number, pp: number, d: number) => Math.floor((i + 2 * pp - d * (k - 1) - 1) / s) + 1;
  return [c.x[0], c.w[0], o(c.x[2], c.w[2], sH, pH, dH), o(c.x[3], c.w[3], sW, pW, dW)];
}
for (const c of CONVS) {
  const tag = `x[${c.x}] w[${c.w}] ${JSON.stringify(c.params)}`;
  const out = convOut(c);
  add_({ name: `conv2d with bias ${tag}`, make: (r) => [r1(r, c.x), r1(r, c.w), r1(r, [c.w[0]])], fn: (x, w, b) => conv2d(x, w, b, c.params) });
  add_({
    name: `conv2dBackwardData ${tag} (dy [${out}])`,
    make: (r) => [r1(r, out), r1(r, c.w)],
    fn: (dy, w) => conv2dBackwardData(dy, w, c.x, c.params),
  });
  add_({
    name: `conv2dBackwardFilter ${tag} (dy [${out}])`,
    make: (r) => [r1(r, c.x), r1(r, out)],
    fn: (x, dy) => conv2dBackwardFilter(x, dy, c.w, c.params),
  });
}
add_({ name: 'conv2d without bias x[2,2,5,3] w[3,2,3,3]', make: (r) => [r1(r, [2, 2, 5, 3]), r1(r, [3, 2, 3, 3])], fn: (x, w) => conv2d(x, w) });
add_({
  name: 'convTranspose2d with bias x[1,3,3,4] w[3,2,3,3] stride 2 padding 1 outputPadding 1',
  make: (r) => [r1(r, [1, 3, 3, 4]), r1(r, [3, 2, 3, 3]), r1(r, [2])],
  fn: (x, w, b) => convTranspose2d(x, w, b, { stride: 2, padding: 1, outputPadding: 1 }),
});
add_({
  name: 'convTranspose2d with bias x[2,2,3,2] w[2,3,2,3] stride [2,1] outputPadding [1,0] dilation [1,2]',
  make: (r) => [r1(r, [2, 2, 3, 2]), r1(r, [2, 3, 2, 3]), r1(r, [3])],
  fn: (x, w, b) => convTranspose2d(x, w, b, { stride: [2, 1], outputPadding: [1, 0], dilation: [1, 2] }),
});
add_({
  // A 1×1 input takes the matmul path (a generator's first layer); stride does not matter there.
  name: 'convTranspose2d of a 1×1 input with bias x[3,5,1,1] w[5,2,3,4] stride 2',
  make: (r) => [r1(r, [3, 5, 1, 1]), r1(r, [5, 2, 3, 4]), r1(r, [2])],
  fn: (x, w, b) => convTranspose2d(x, w, b, { stride: 2 }),
});
add_({
  name: 'convTranspose2d without bias x[2,2,3,3] w[2,3,3,3]',
  make: (r) => [r1(r, [2, 2, 3, 3]), r1(r, [2, 3, 3, 3])],
  fn: (x, w) => convTranspose2d(x, w),
});

// ------------------------------------------------------------------------------ normalisation
/** batchNorm inputs: x, gamma, beta (checked) and running mean / var (constants). */
function bnInputs(r: Rng, xShape: number[], C: number): Tensor[] {
  return [
    randTensor(r, xShape, -2, 2),
    randTensor(r, [C], 0.5, 1.5),
    r1(r, [C]),
    randTensor(r, [C], -0.5, 0.5, false),
    randTensor(r, [C], 0.5, 2, false),
  ];
}
for (const [xShape, C] of [[[3, 2, 3, 3], 2], [[7, 5], 5]] as [number[], number][]) {
  add_({
    name: `batchNorm training x[${xShape}]`,
    make: (r) => bnInputs(r, xShape, C),
    fn: (x, g, b, m, v) => batchNorm(x, g, b, m, v, { training: true, momentum: 0.1 }),
    options: { wrt: [0, 1, 2] },
  });
  add_({
    name: `batchNorm eval x[${xShape}]`,
    make: (r) => bnInputs(r, xShape, C),
    fn: (x, g, b, m, v) => batchNorm(x, g, b, m, v, { training: false, eps: 1e-3 }),
    options: { wrt: [0, 1, 2] },
  });
}
add_({ name: 'layerNorm [3,4,5] over [5] with weight and bias', make: (r) => [randTensor(r, [3, 4, 5], -2, 2), randTensor(r, [5], 0.5, 1.5), r1(r, [5])], fn: (x, w, b) => layerNorm(x, [5], w, b) });
add_({ name: 'layerNorm [3,4,5] over [4,5] without weight and bias', make: (r) => [randTensor(r, [3, 4, 5], -2, 2)], fn: (x) => layerNorm(x, [4, 5]) });
add_({ name: 'layerNorm [6,7] over [7] with weight only', make: (r) => [randTensor(r, [6, 7], -2, 2), randTensor(r, [7], 0.5, 1.5)], fn: (x, w) => layerNorm(x, [7], w) });

// ------------------------------------------------------------------------------ losses
for (const reduction of ['mean', 'sum', 'none'] as const) {
  add_({
    name: `bceWithLogits (${reduction}), logits and targets`,
    make: (r) => [randTensor(r, [5, 7], -3, 3), randTensor(r, [5, 7], 0, 1)],
    fn: (x, t) => bceWithLogits(x, t, reduction),
  });
  add_({
    name: `bce (${reduction}), probabilities and targets`,
    make: (r) => [randTensor(r, [5, 7], 0.1, 0.9), randTensor(r, [5, 7], 0, 1)],
    fn: (p, t) => bce(p, t, reduction),
  });
  add_({
    name: `mse (${reduction}), input and target`,
    make: (r) => [randTensor(r, [5, 7], -2, 2), randTensor(r, [5, 7], -2, 2)],
    fn: (a, b) => mse(a, b, reduction),
  });
  add_({
    name: `crossEntropy (${reduction}), int32 labels`,
    make: (r) => [randTensor(r, [5, 7], -2, 2), tensor(new Int32Array([3, 0, 6, 3, 1]), [5])],
    fn: (x, l) => crossEntropy(x, l, reduction),
  });
}
add_({ name: 'bceWithLogits (mean), logits only (constant targets)', make: (r) => [randTensor(r, [5, 7], -3, 3), randTensor(r, [5, 7], 0, 1, false)], fn: (x, t) => bceWithLogits(x, t) });

describe('linear algebra, convolution, normalisation and loss ops: analytic gradient = central differences', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const report = await runGradCase(c);
      expect(report.worstRatio).toBeLessThanOrEqual(1);
    });
  }
});

describe('linear algebra, convolution, normalisation and loss ops: one forward + backward outside tidy leaves nothing behind', () => {
  for (const c of cases.filter((c) => c.single !== false)) {
    it(c.name, () => {
      expect(runLeakCase(c), `${c.name}: tensors left alive by one forward + grad()`).toBe(0);
    });
  }
});

describe('convTranspose2d of 1×1 inputs (matmul path) matches the float64 reference', () => {
  // Rule: |got − ref| ≤ 1e-5·Σ|products| + 1e-6 per element (float32 GEMM accumulation).
  const geoms: [string, number[], number[], ConvTGeom][] = [
    ['z64 → 32×7×7 (the 28 px DCGAN generator)', [9, 64, 1, 1], [64, 32, 7, 7], {}],
    ['z10 → 3×4×4, stride 2 (the 32/64 px generators)', [5, 10, 1, 1], [10, 3, 4, 4], { stride: 2 }],
    ['padding 1 (general kernel path)', [4, 6, 1, 1], [6, 2, 3, 3], { padding: 1 }],
    ['dilation 2 (general kernel path)', [3, 4, 1, 1], [4, 2, 3, 3], { dilation: 2 }],
  ];
  for (const [name, xs, ws, geom] of geoms) {
    it(name, async () => {
      const rng = new Rng(777 + xs[1]);
      const xd = randomData(rng, product(xs));
      const wd = randomData(rng, product(ws));
      const x = tensor(xd, xs);
      const w = tensor(wd, ws);
      const y = convTranspose2d(x, w, undefined, geom);
      const ref = convTranspose2dRef(f64(xd), xs, f64(wd), ws, geom);
      expect(y.shape).toEqual(ref.shape);
      const got = await y.data();
      for (let i = 0; i < ref.out.length; i++) expect(Math.abs(got[i] - ref.out[i]), `element ${i}`).toBeLessThanOrEqual(1e-5 * ref.absSum[i] + 1e-6);
      [x, w, y].forEach((t) => t.dispose());
    });
  }
});
