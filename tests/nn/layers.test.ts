/**
 * Forward passes of the @webgan/nn layers against float64 CPU references (conv and batchnorm
 * references from tests/helpers/reference.ts; the others written here from the definitions), with
 * sizes that are not multiples of 4 or 8; BatchNorm's running statistics (momentum 0.1, unbiased
 * variance, momentum=null cumulative average, num_batches_tracked), eval mode, affine=false and
 * trackRunningStats=false; Embedding's gradient scatter; Dropout's statistics and seeding;
 * finite-difference checks of every layer's parameter gradients (tests/helpers/gradcheck.ts,
 * through the registered parameters: the analytic gradient is what backward() leaves in the
 * parameters' .grad); and the error messages for bad inputs and options.
 *
 * Tolerances:
 *  - Linear, Conv2d, ConvTranspose2d (float32 GEMMs): per element 1e-5·Σ|products| + 1e-6, with
 *    Σ|products| (bias included) from the reference: the rounding of a float32 dot product is a
 *    few ulps (6e-8) times the sum of the magnitudes of its terms; 1e-5 leaves room for K ≤ ~150
 *    terms at worst-case accumulation.
 *  - BatchNorm (as tests/kernels/batchnorm.test.ts): |got − ref| ≤ 1e-4·scale, scale = max|ref|
 *    for outputs and running variances, max|ref| + max|x| for running means (a mean near 0 of
 *    values near 2 carries the rounding of the values). Inputs are per-channel offset ± 2 plus
 *    N(0,1)·scale, ≤ 63 values per channel: float32 sums of that length are good to ~1e-6.
 *  - LayerNorm (composed ops: mean, sub, mul, rsqrt): 1e-5·(|w·x̂| + |b| + |w|) + 1e-6 per element:
 *    x̂ is good to a few ulps relative (≤ 8 values per mean) plus a rounding of (x − μ).
 *  - ReLU, LeakyReLU, Flatten, Unflatten, Embedding forward: exact (no or one rounding that the
 *    reference reproduces with Math.fround); tanh and sigmoid: rtol 1e-5, atol 1e-6 (as the
 *    kernel tests).
 *  - Dropout: the zero fraction over n = 104 927 values is within 6 standard deviations
 *    (6·√(p(1−p)/n) ≈ 0.0085 for p = 0.3) of p; survivors equal x/(1−p) to 3e-7 relative (one or
 *    two float32 roundings).
 *  - Gradient checks: the rule of tests/helpers/gradcheck.ts (rtol 2e-2, atol 2e-3·scale).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initNode } from '@webgan/kernels/node';
import { Generator, manualSeed, mul, sum, tensor, type Tensor } from '@webgan/core';
import {
  BatchNorm1d,
  BatchNorm2d,
  Conv2d,
  ConvTranspose2d,
  Dropout,
  Embedding,
  Flatten,
  LayerNorm,
  LeakyReLU,
  Maxout,
  Linear,
  ReLU,
  Sigmoid,
  Tanh,
  Unflatten,
  type Module,
} from '@webgan/nn';
import { distinctTensor, randTensor, runGradCase, type GradCase } from '../helpers/gradcheck';
import {
  Rng,
  batchNormEvalRef,
  batchNormTrainRef,
  conv2dRef,
  convOutSize,
  convTOutSize,
  convTranspose2dRef,
  expectClose,
  f64,
  maxAbs,
  randomData,
  randomNormalData,
  tolFromAbsSum,
  type ConvTGeom,
} from '../helpers/reference';

beforeAll(async () => {
  await initNode({ tuningFile: false });
});

// ------------------------------------------------------------------------------------ helpers

const read = async (t: Tensor): Promise<Float64Array> => f64((await t.data()) as Float32Array);
const host = async (t: Tensor): Promise<Float32Array> => (await t.data()) as Float32Array;
const shapeSize = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Overwrites a registered parameter or buffer of `m` with values from the rng. */
function setRandom(m: Module, name: string, rng: Rng, lo: number, hi: number): Float64Array {
  const t = m.tensor(name);
  const data = randomData(rng, t.size, lo, hi);
  const src = tensor(data, t.shape);
  t.copy_(src);
  src.dispose();
  return f64(data);
}

/** Runs `body` with `values` standing in for `m`'s tensors `names` (how the gradient checks perturb parameters). */
function withTensors<T>(m: Module, names: string[], values: Tensor[], body: () => T): T {
  names.forEach((n, i) => m.setDerived(n, values[i]));
  try {
    return body();
  } finally {
    names.forEach((n) => m.setDerived(n, null));
  }
}

/** Per-channel offsets in [−2, 2] plus scale·N(0,1): [N, C, rest...]. */
function bnInput(rng: Rng, shape: number[]): Float32Array {
  const [N, C] = shape;
  const rest = shapeSize(shape.slice(2));
  const out = new Float32Array(shapeSize(shape));
  const offsets = Array.from({ length: C }, () => rng.float(-2, 2));
  const scales = Array.from({ length: C }, () => rng.float(0.5, 2));
  const noise = randomNormalData(rng, out.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let p = 0; p < rest; p++) {
    const i = (n * C + c) * rest + p;
    out[i] = offsets[c] + scales[c] * noise[i];
  }
  return out;
}

/** Exact equality (0 and −0 equal), reporting the first differing element. */
function expectExact(got: ArrayLike<number>, ref: ArrayLike<number>, label: string): void {
  expect(got.length, `${label}: length`).toBe(ref.length);
  for (let i = 0; i < ref.length; i++) {
    if (!(got[i] === ref[i])) throw new Error(`${label}: element ${i} is ${got[i]}, expected exactly ${ref[i]}`);
  }
}

/** Scalar-times-max tolerance (see the header). */
const scaled = (f: number, ...scales: number[]) => f * scales.reduce((a, b) => a + b, 0);

// ------------------------------------------------------------------------------------- Linear

/** y[n,o] = Σ_i x[n,i]·W[o,i] + b[o] over the flattened leading dims. */
function linearRef(x: Float64Array, inF: number, w: Float64Array, outF: number, b: Float64Array | null) {
  const rows = x.length / inF;
  const out = new Float64Array(rows * outF);
  const absSum = new Float64Array(out.length);
  for (let n = 0; n < rows; n++)
    for (let o = 0; o < outF; o++) {
      let s = b ? b[o] : 0;
      let sa = b ? Math.abs(b[o]) : 0;
      for (let i = 0; i < inF; i++) {
        const t = x[n * inF + i] * w[o * inF + i];
        s += t;
        sa += Math.abs(t);
      }
      out[n * outF + o] = s;
      absSum[n * outF + o] = sa;
    }
  return { out, absSum };
}

describe('Linear', () => {
  const cases: { inF: number; outF: number; x: number[]; bias: boolean }[] = [
    { inF: 7, outF: 3, x: [5, 7], bias: true },
    { inF: 13, outF: 6, x: [9, 13], bias: false },
    { inF: 7, outF: 3, x: [2, 3, 7], bias: true }, // PyTorch's [*, in]
    { inF: 5, outF: 3, x: [5], bias: true },
  ];
  for (const c of cases) {
    it(`Linear(${c.inF}, ${c.outF}, bias=${c.bias}) on x[${c.x}]`, async () => {
      manualSeed(100 + c.inF);
      const lin = new Linear(c.inF, c.outF, { bias: c.bias });
      const xData = randomData(new Rng(c.inF * 31 + c.x.length), shapeSize(c.x), -2, 2);
      const x = tensor(xData, c.x);
      const y = lin.forward(x);
      expect(y.shape).toEqual([...c.x.slice(0, -1), c.outF]);
      const ref = linearRef(f64(xData), c.inF, await read(lin.weight), c.outF, lin.bias ? await read(lin.bias) : null);
      expectClose(await host(y), ref.out, tolFromAbsSum(ref.absSum, 1e-5, 1e-6), `Linear x[${c.x}]`, y.shape);
      x.dispose();
      y.dispose();
      lin.dispose();
    });
  }

  it('bad input and options: the message names the layer, the input shape and the expected size', () => {
    const lin = new Linear(7, 3);
    const x = tensor(new Float32Array(30), [5, 6]);
    expect(() => lin.forward(x)).toThrow(/Linear\(7, 3\): input \[5,6\] has 6 features in its last dimension, expected 7/);
    expect(() => new Linear(0, 3)).toThrow(/Linear: inFeatures must be a positive integer, got 0/);
    expect(() => new Linear(4, 2.5)).toThrow(/Linear: outFeatures must be a positive integer, got 2.5/);
    x.dispose();
    lin.dispose();
  });
});

// ---------------------------------------------------------------------------------------- conv

interface ConvCase {
  cin: number;
  cout: number;
  k: number | [number, number];
  x: number[];
  geom: ConvTGeom;
  bias: boolean;
}

const CONV_CASES: ConvCase[] = [
  { cin: 3, cout: 5, k: 3, x: [2, 3, 7, 5], geom: {}, bias: true },
  { cin: 3, cout: 5, k: 3, x: [2, 3, 9, 6], geom: { stride: 2, padding: 1 }, bias: true },
  { cin: 2, cout: 3, k: [3, 2], x: [3, 2, 7, 6], geom: { stride: [2, 1], padding: [1, 0], dilation: [1, 2] }, bias: true },
  { cin: 3, cout: 2, k: 1, x: [1, 3, 5, 5], geom: {}, bias: false },
];
const CONVT_CASES: ConvCase[] = [
  { cin: 3, cout: 2, k: 4, x: [2, 3, 5, 3], geom: { stride: 2, padding: 1 }, bias: true }, // DCGAN's upsampling block
  { cin: 3, cout: 5, k: 3, x: [1, 3, 3, 4], geom: { stride: 2, padding: 1, outputPadding: 1 }, bias: true },
  { cin: 2, cout: 3, k: [3, 2], x: [2, 2, 3, 5], geom: { stride: [2, 1], padding: [1, 0], outputPadding: [1, 0], dilation: [1, 2] }, bias: true },
  { cin: 3, cout: 2, k: 3, x: [2, 3, 3, 3], geom: {}, bias: false },
];
const kPair = (k: number | [number, number]): [number, number] => (typeof k === 'number' ? [k, k] : k);
const gPair = (v: number | [number, number] | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);

describe('Conv2d', () => {
  for (const c of CONV_CASES) {
    it(`Conv2d(${c.cin}, ${c.cout}, ${c.k}, ${JSON.stringify(c.geom)}, bias=${c.bias}) on x[${c.x}]`, async () => {
      manualSeed(200 + c.x[2]);
      const conv = new Conv2d(c.cin, c.cout, c.k, { ...(c.geom as object), bias: c.bias });
      const [kh, kw] = kPair(c.k);
      expect(conv.weight.shape).toEqual([c.cout, c.cin, kh, kw]);
      const xData = randomData(new Rng(c.x.join('').length * 7 + c.x[3]), shapeSize(c.x), -2, 2);
      const x = tensor(xData, c.x);
      const y = conv.forward(x);
      const [sh, sw] = gPair(c.geom.stride, 1);
      const [ph, pw] = gPair(c.geom.padding, 0);
      const [dh, dw] = gPair(c.geom.dilation, 1);
      expect(y.shape).toEqual([c.x[0], c.cout, convOutSize(c.x[2], kh, sh, ph, dh), convOutSize(c.x[3], kw, sw, pw, dw)]);
      const ref = conv2dRef(f64(xData), c.x, await read(conv.weight), conv.weight.shape, { ...c.geom, bias: conv.bias ? await read(conv.bias) : undefined });
      expect(y.shape).toEqual(ref.shape);
      expectClose(await host(y), ref.out, tolFromAbsSum(ref.absSum, 1e-5, 1e-6), 'Conv2d', y.shape);
      x.dispose();
      y.dispose();
      conv.dispose();
    });
  }

  it('bad input and options', () => {
    const conv = new Conv2d(3, 5, 3);
    const wrongC = tensor(new Float32Array(2 * 4 * 7 * 7), [2, 4, 7, 7]);
    const rank3 = tensor(new Float32Array(3 * 7 * 7), [3, 7, 7]);
    expect(() => conv.forward(wrongC)).toThrow(/Conv2d\(3, 5\): input \[2,4,7,7\] must be \[N, 3, H, W\]/);
    expect(() => conv.forward(rank3)).toThrow(/Conv2d\(3, 5\): input \[3,7,7\] must be \[N, 3, H, W\]/);
    expect(() => new Conv2d(3, 5, 0)).toThrow(/Conv2d: kernelHeight must be a positive integer, got 0/);
    expect(() => new Conv2d(3, 5, [3, 2], { stride: [1, 0] })).toThrow(/Conv2d: strideX must be a positive integer, got 0/);
    expect(() => new Conv2d(3, 5, 3, { padding: -1 })).toThrow(/Conv2d: padding must be non-negative integers/);
    expect(() => new Conv2d(0, 5, 3)).toThrow(/Conv2d: inChannels must be a positive integer, got 0/);
    wrongC.dispose();
    rank3.dispose();
    conv.dispose();
  });
});

describe('ConvTranspose2d', () => {
  for (const c of CONVT_CASES) {
    it(`ConvTranspose2d(${c.cin}, ${c.cout}, ${c.k}, ${JSON.stringify(c.geom)}, bias=${c.bias}) on x[${c.x}]`, async () => {
      manualSeed(300 + c.x[3]);
      const conv = new ConvTranspose2d(c.cin, c.cout, c.k, { ...(c.geom as object), bias: c.bias });
      const [kh, kw] = kPair(c.k);
      expect(conv.weight.shape).toEqual([c.cin, c.cout, kh, kw]); // PyTorch's [in, out, kh, kw]
      const xData = randomData(new Rng(c.x[2] * 13 + c.x[3] + c.cout), shapeSize(c.x), -2, 2);
      const x = tensor(xData, c.x);
      const y = conv.forward(x);
      const [sh, sw] = gPair(c.geom.stride, 1);
      const [ph, pw] = gPair(c.geom.padding, 0);
      const [dh, dw] = gPair(c.geom.dilation, 1);
      const [oph, opw] = gPair(c.geom.outputPadding, 0);
      expect(y.shape).toEqual([c.x[0], c.cout, convTOutSize(c.x[2], kh, sh, ph, dh, oph), convTOutSize(c.x[3], kw, sw, pw, dw, opw)]);
      const ref = convTranspose2dRef(f64(xData), c.x, await read(conv.weight), conv.weight.shape, { ...c.geom, bias: conv.bias ? await read(conv.bias) : undefined });
      expectClose(await host(y), ref.out, tolFromAbsSum(ref.absSum, 1e-5, 1e-6), 'ConvTranspose2d', y.shape);
      x.dispose();
      y.dispose();
      conv.dispose();
    });
  }

  it('stride 2, kernel 4, padding 1 doubles the spatial size (DCGAN)', () => {
    const up = new ConvTranspose2d(4, 2, 4, { stride: 2, padding: 1 });
    const x = tensor(new Float32Array(1 * 4 * 5 * 7), [1, 4, 5, 7]);
    const y = up.forward(x);
    expect(y.shape).toEqual([1, 2, 10, 14]);
    for (const t of [x, y]) t.dispose();
    up.dispose();
  });

  it('bad input and options', () => {
    const conv = new ConvTranspose2d(3, 2, 3, { stride: 2 });
    const wrongC = tensor(new Float32Array(2 * 2 * 4 * 4), [2, 2, 4, 4]);
    expect(() => conv.forward(wrongC)).toThrow(/ConvTranspose2d\(3, 2\): input \[2,2,4,4\] must be \[N, 3, H, W\]/);
    expect(() => new ConvTranspose2d(3, 2, 3, { stride: 2, outputPadding: 2 })).toThrow(/ConvTranspose2d: outputPadding 2,2 must be non-negative and smaller than stride 2,2/);
    expect(() => new ConvTranspose2d(3, 2, 3, { outputPadding: 1 })).toThrow(/outputPadding/);
    expect(() => new ConvTranspose2d(3, 2, 3, { stride: 2, outputPadding: -1 })).toThrow(/outputPadding/);
    wrongC.dispose();
    conv.dispose();
  });
});

// ---------------------------------------------------------------------------------- BatchNorm

/** A BatchNorm layer, its input shape as the reference sees it ([N,C,L] as [N,C,L,1]). */
interface BnCase {
  name: string;
  make: () => BatchNorm1d | BatchNorm2d;
  x: number[];
  momentum: number;
}
const refShape = (x: number[]) => (x.length === 3 ? [...x, 1] : x);

describe('BatchNorm1d / BatchNorm2d', () => {
  const cases: BnCase[] = [
    { name: 'BatchNorm1d(5) on [7,5]', make: () => new BatchNorm1d(5), x: [7, 5], momentum: 0.1 },
    { name: 'BatchNorm1d(3) on [4,3,5] ([N,C,L])', make: () => new BatchNorm1d(3), x: [4, 3, 5], momentum: 0.1 },
    { name: 'BatchNorm2d(5) on [3,5,3,7]', make: () => new BatchNorm2d(5), x: [3, 5, 3, 7], momentum: 0.1 },
    { name: 'BatchNorm2d(3, momentum 0.3, eps 1e-3) on [2,3,5,3]', make: () => new BatchNorm2d(3, { momentum: 0.3, eps: 1e-3 }), x: [2, 3, 5, 3], momentum: 0.3 },
  ];
  for (const c of cases) {
    it(`${c.name}: training uses batch statistics and updates the running ones; eval uses the running ones`, async () => {
      const bn = c.make();
      const rng = new Rng(c.x.reduce((a, b) => a * 7 + b, 1));
      const C = c.x[1];
      const gamma = setRandom(bn, 'weight', rng, 0.5, 1.5);
      const beta = setRandom(bn, 'bias', rng, -1, 1);
      let rm: Float64Array<ArrayBufferLike> = new Float64Array(C); // PyTorch's initial running statistics: mean 0, var 1
      let rv: Float64Array<ArrayBufferLike> = new Float64Array(C).fill(1);
      expect(Array.from(await read(bn.tensor('running_mean')))).toEqual(Array.from(rm));
      expect(Array.from(await read(bn.tensor('running_var')))).toEqual(Array.from(rv));
      expect(bn.numBatchesTracked).toBe(0);
      for (let step = 1; step <= 3; step++) {
        const xData = bnInput(rng, c.x);
        const x = tensor(xData, c.x);
        const y = bn.forward(x);
        expect(y.shape).toEqual(c.x);
        const ref = batchNormTrainRef(f64(xData), refShape(c.x), gamma, beta, rm, rv, c.momentum, bn.eps);
        expectClose(await host(y), ref.y, scaled(1e-4, maxAbs(ref.y)), `${c.name} step ${step} y`, c.x);
        expectClose(await host(bn.tensor('running_mean')), ref.runningMean, scaled(1e-4, maxAbs(ref.runningMean), maxAbs(xData)), `${c.name} step ${step} running_mean`);
        expectClose(await host(bn.tensor('running_var')), ref.runningVar, scaled(1e-4, maxAbs(ref.runningVar)), `${c.name} step ${step} running_var (unbiased)`);
        expect(bn.numBatchesTracked).toBe(step);
        rm = ref.runningMean;
        rv = ref.runningVar;
        x.dispose();
        y.dispose();
      }
      bn.eval();
      const rmBefore = await host(bn.tensor('running_mean'));
      const rvBefore = await host(bn.tensor('running_var'));
      const xData = bnInput(rng, c.x);
      const x = tensor(xData, c.x);
      const y = bn.forward(x);
      const ref = batchNormEvalRef(f64(xData), refShape(c.x), gamma, beta, rm, rv, bn.eps);
      expectClose(await host(y), ref, scaled(1e-4, maxAbs(ref)), `${c.name} eval y`, c.x);
      // Eval changes neither the running statistics nor the counter.
      expect(await host(bn.tensor('running_mean'))).toEqual(rmBefore);
      expect(await host(bn.tensor('running_var'))).toEqual(rvBefore);
      expect(bn.numBatchesTracked).toBe(3);
      x.dispose();
      y.dispose();
      bn.dispose();
    });
  }

  it('momentum null: running statistics are the cumulative average of the batch statistics', async () => {
    const bn = new BatchNorm2d(3, { momentum: null });
    const shape = [4, 3, 2, 3];
    const rng = new Rng(77);
    const means: Float64Array[] = [];
    const vars: Float64Array[] = [];
    for (let step = 1; step <= 4; step++) {
      const xData = bnInput(rng, shape);
      const x = tensor(xData, shape);
      bn.forward(x).dispose();
      x.dispose();
      // Batch mean and unbiased variance per channel, directly.
      const m = 4 * 6;
      const mean = new Float64Array(3);
      const v = new Float64Array(3);
      for (let ch = 0; ch < 3; ch++) {
        const vals: number[] = [];
        for (let n = 0; n < 4; n++) for (let p = 0; p < 6; p++) vals.push(xData[(n * 3 + ch) * 6 + p]);
        mean[ch] = vals.reduce((a, b) => a + b, 0) / m;
        v[ch] = vals.reduce((a, b) => a + (b - mean[ch]) ** 2, 0) / (m - 1);
      }
      means.push(mean);
      vars.push(v);
      const avg = (list: Float64Array[]) => Float64Array.from({ length: 3 }, (_, ch) => list.reduce((a, l) => a + l[ch], 0) / list.length);
      const rmRef = avg(means);
      const rvRef = avg(vars);
      expectClose(await host(bn.tensor('running_mean')), rmRef, scaled(1e-4, maxAbs(rmRef), maxAbs(xData)), `cumulative running_mean after ${step}`);
      expectClose(await host(bn.tensor('running_var')), rvRef, scaled(1e-4, maxAbs(rvRef)), `cumulative running_var after ${step}`);
      expect(bn.numBatchesTracked).toBe(step);
    }
    bn.dispose();
  });

  it('affine=false: no parameters, output is the plain normalisation', async () => {
    const bn = new BatchNorm1d(4, { affine: false });
    expect(bn.parameters()).toHaveLength(0);
    expect([...bn.stateDict().keys()]).toEqual(['running_mean', 'running_var', 'num_batches_tracked']);
    const shape = [6, 4];
    const xData = bnInput(new Rng(5), shape);
    const x = tensor(xData, shape);
    const y = bn.forward(x);
    const ref = batchNormTrainRef(f64(xData), shape, new Float64Array(4).fill(1), new Float64Array(4), new Float64Array(4), new Float64Array(4).fill(1));
    expectClose(await host(y), ref.y, scaled(1e-4, maxAbs(ref.y)), 'BatchNorm1d affine=false', shape);
    expectClose(await host(bn.tensor('running_var')), ref.runningVar, scaled(1e-4, maxAbs(ref.runningVar)), 'affine=false running_var');
    x.dispose();
    y.dispose();
    bn.dispose();
  });

  it('trackRunningStats=false: no buffers or counter; eval mode still normalises with batch statistics', async () => {
    const bn = new BatchNorm2d(3, { trackRunningStats: false });
    expect([...bn.stateDict().keys()]).toEqual(['weight', 'bias']);
    expect(bn.buffersList()).toHaveLength(0);
    const rng = new Rng(6);
    const gamma = setRandom(bn, 'weight', rng, 0.5, 1.5);
    const beta = setRandom(bn, 'bias', rng, -1, 1);
    const shape = [2, 3, 3, 5];
    const xData = bnInput(rng, shape);
    const x = tensor(xData, shape);
    const ref = batchNormTrainRef(f64(xData), shape, gamma, beta, new Float64Array(3), new Float64Array(3).fill(1));
    const yTrain = bn.forward(x);
    bn.eval();
    const yEval = bn.forward(x);
    expectClose(await host(yTrain), ref.y, scaled(1e-4, maxAbs(ref.y)), 'trackRunningStats=false train', shape);
    expectClose(await host(yEval), ref.y, scaled(1e-4, maxAbs(ref.y)), 'trackRunningStats=false eval', shape);
    expect(bn.numBatchesTracked).toBe(0);
    for (const t of [x, yTrain, yEval]) t.dispose();
    bn.dispose();
  });

  it('eval mode accepts a single sample (running statistics), training mode refuses it', async () => {
    const bn = new BatchNorm1d(4);
    const x = tensor(Float32Array.from([1, -2, 3, 0.5]), [1, 4]);
    expect(() => bn.forward(x)).toThrow(/BatchNorm1d: batch statistics need more than 1 value per channel, input \[1,4\] has 1/);
    expect(bn.numBatchesTracked).toBe(0);
    bn.eval();
    const y = bn.forward(x);
    // running mean 0, var 1: y = x / √(1 + 1e-5)
    expectClose(await host(y), Float64Array.from([1, -2, 3, 0.5], (v) => v / Math.sqrt(1 + 1e-5)), 1e-6, 'single-sample eval');
    x.dispose();
    y.dispose();
    bn.dispose();
  });

  it('bad input and options', () => {
    const bn1 = new BatchNorm1d(4);
    const bn2 = new BatchNorm2d(3);
    const x63 = tensor(new Float32Array(18), [6, 3]);
    const x4d = tensor(new Float32Array(2 * 4 * 2 * 2), [2, 4, 2, 2]);
    const x3d = tensor(new Float32Array(2 * 3 * 4), [2, 3, 4]);
    const x2c = tensor(new Float32Array(2 * 2 * 3 * 3), [2, 2, 3, 3]);
    expect(() => bn1.forward(x63)).toThrow(/BatchNorm1d\(4\): input \[6,3\] has 3 channels in dimension 1, expected 4/);
    expect(() => bn1.forward(x4d)).toThrow(/BatchNorm1d\(4\): input \[2,4,2,2\] must be \[N, C\] or \[N, C, L\]/);
    expect(() => bn2.forward(x3d)).toThrow(/BatchNorm2d\(3\): input \[2,3,4\] must be \[N, C, H, W\]/);
    expect(() => bn2.forward(x2c)).toThrow(/BatchNorm2d\(3\): input \[2,2,3,3\] has 2 channels in dimension 1, expected 3/);
    expect(() => new BatchNorm2d(3, { momentum: 1.5 })).toThrow(/BatchNorm2d: momentum must be in \[0, 1\] or null, got 1.5/);
    expect(() => new BatchNorm1d(3, { eps: 0 })).toThrow(/BatchNorm1d: eps must be > 0, got 0/);
    expect(() => new BatchNorm1d(0)).toThrow(/BatchNorm1d: numFeatures must be a positive integer, got 0/);
    for (const t of [x63, x4d, x3d, x2c]) t.dispose();
    bn1.dispose();
    bn2.dispose();
  });
});

// ---------------------------------------------------------------------------------- LayerNorm

/** y = (x − μ)/√(σ² + eps)·w + b over the trailing `k` elements (biased variance). */
function layerNormRef(x: Float64Array, k: number, w: Float64Array | null, b: Float64Array | null, eps: number) {
  const out = new Float64Array(x.length);
  const tol = new Float64Array(x.length);
  for (let r = 0; r < x.length / k; r++) {
    let mu = 0;
    for (let i = 0; i < k; i++) mu += x[r * k + i];
    mu /= k;
    let v = 0;
    for (let i = 0; i < k; i++) v += (x[r * k + i] - mu) ** 2;
    v /= k;
    for (let i = 0; i < k; i++) {
      const xhat = (x[r * k + i] - mu) / Math.sqrt(v + eps);
      const wi = w ? w[i] : 1;
      const bi = b ? b[i] : 0;
      out[r * k + i] = xhat * wi + bi;
      tol[r * k + i] = 1e-5 * (Math.abs(xhat * wi) + Math.abs(bi) + Math.abs(wi)) + 1e-6;
    }
  }
  return { out, tol };
}

describe('LayerNorm', () => {
  const cases: { shape: number[]; normalized: number[]; opts: { elementwiseAffine?: boolean; bias?: boolean; eps?: number }; params: string[] }[] = [
    { shape: [3, 5, 7], normalized: [7], opts: {}, params: ['weight', 'bias'] },
    { shape: [3, 5, 7], normalized: [5, 7], opts: { eps: 1e-3 }, params: ['weight', 'bias'] },
    { shape: [6, 5], normalized: [5], opts: { elementwiseAffine: false }, params: [] },
    { shape: [2, 3, 3], normalized: [3], opts: { bias: false }, params: ['weight'] },
  ];
  for (const c of cases) {
    it(`LayerNorm(${JSON.stringify(c.normalized)}, ${JSON.stringify(c.opts)}) on x[${c.shape}]`, async () => {
      const ln = new LayerNorm(c.normalized, c.opts);
      expect([...ln.namedParameters()].map(([n]) => n)).toEqual(c.params);
      for (const [, p] of ln.namedParameters()) expect(p.shape).toEqual(c.normalized);
      const rng = new Rng(c.shape.length * 100 + c.normalized.length);
      const w = c.params.includes('weight') ? setRandom(ln, 'weight', rng, 0.5, 1.5) : null;
      const b = c.params.includes('bias') ? setRandom(ln, 'bias', rng, -1, 1) : null;
      const xData = randomData(rng, shapeSize(c.shape), -3, 3);
      const x = tensor(xData, c.shape);
      const y = ln.forward(x);
      expect(y.shape).toEqual(c.shape);
      const ref = layerNormRef(f64(xData), shapeSize(c.normalized), w, b, c.opts.eps ?? 1e-5);
      expectClose(await host(y), ref.out, ref.tol, 'LayerNorm', c.shape);
      x.dispose();
      y.dispose();
      ln.dispose();
    });
  }

  it('bad input: the message names both shapes', () => {
    const ln = new LayerNorm([5, 7]);
    const x = tensor(new Float32Array(3 * 7 * 5), [3, 7, 5]);
    const small = tensor(new Float32Array(7), [7]);
    expect(() => ln.forward(x)).toThrow(/LayerNorm\(\[5,7\]\): input \[3,7,5\] does not end with \[5,7\]/);
    expect(() => ln.forward(small)).toThrow(/LayerNorm\(\[5,7\]\): input \[7\] does not end with \[5,7\]/);
    expect(() => new LayerNorm([3, 0])).toThrow(/LayerNorm: normalizedShape\[1\] must be a positive integer, got 0/);
    x.dispose();
    small.dispose();
    ln.dispose();
  });
});

// ---------------------------------------------------------------------------------- Embedding

describe('Embedding', () => {
  for (const idxShape of [[9], [3, 4]]) {
    it(`int32 indices of shape [${idxShape}] pick rows; backward scatters the gradient into the rows used`, async () => {
      manualSeed(400 + idxShape.length);
      const emb = new Embedding(10, 6);
      expect(emb.weight.shape).toEqual([10, 6]);
      const count = shapeSize(idxShape);
      const rng = new Rng(41 + count);
      // Repeats on purpose, both ends of the table, and row 5 never used.
      const idx = Int32Array.from({ length: count }, (_, i) => [0, 9, 3, 3, 7, 0, 3, 1, 9, 2, 8, 4][i % 12]);
      const indices = tensor(idx, idxShape);
      const y = emb.forward(indices);
      expect(y.shape).toEqual([...idxShape, 6]);
      const w = await host(emb.weight);
      const expected = new Float64Array(count * 6);
      for (let j = 0; j < count; j++) for (let k = 0; k < 6; k++) expected[j * 6 + k] = w[idx[j] * 6 + k];
      expectExact(await host(y), expected, 'Embedding forward (exact copy)');
      const rData = randomData(rng, count * 6);
      const R = tensor(rData, y.shape);
      const loss = sum(mul(y, R));
      loss.backward();
      const gRef = new Float64Array(60);
      const gAbs = new Float64Array(60);
      for (let j = 0; j < count; j++)
        for (let k = 0; k < 6; k++) {
          gRef[idx[j] * 6 + k] += rData[j * 6 + k];
          gAbs[idx[j] * 6 + k] += Math.abs(rData[j * 6 + k]);
        }
      const g = await host(emb.weight.grad!);
      // Sums of ≤ 3 float32 terms: 1e-6 relative to their magnitudes (1e-30 keeps unused rows' 0 ≤ tol).
      expectClose(g, gRef, tolFromAbsSum(gAbs, 1e-6, 1e-30), 'Embedding weight gradient', [10, 6]);
      expect(Array.from(g.slice(30, 36))).toEqual([0, 0, 0, 0, 0, 0]); // row 5 unused: exactly 0
      for (const t of [indices, y, R, loss]) t.dispose();
      emb.dispose();
    });
  }

  it('indices must be int32; bad sizes are refused', () => {
    const emb = new Embedding(10, 4);
    const f = tensor([1, 2, 3], [3]);
    expect(() => emb.forward(f)).toThrow(/Embedding\(10, 4\): indices must be int32, got float32 \[3\]/);
    expect(() => new Embedding(0, 4)).toThrow(/Embedding: numEmbeddings must be a positive integer, got 0/);
    f.dispose();
    emb.dispose();
  });
});

// ------------------------------------------------------------------------------------ Dropout

describe('Dropout', () => {
  const SHAPE = [317, 331]; // 104 927 values: not a multiple of 4
  const n = SHAPE[0] * SHAPE[1];
  /** Values in ±[0.5, 1.5]: never 0, so a 0 in the output is a dropped value. */
  const xData = (() => {
    const r = new Rng(3);
    return Float32Array.from({ length: n }, () => (r.bool() ? 1 : -1) * r.float(0.5, 1.5));
  })();

  for (const p of [0.3, 0.5, 0.8]) {
    it(`training, p = ${p}: zero fraction ≈ p and survivors scaled by 1/(1 − p); the gradient uses the same mask`, async () => {
      const drop = new Dropout(p, new Generator(1000 + p * 10));
      const x = tensor(xData, SHAPE, { requiresGrad: true });
      const y = drop.forward(x);
      const yv = await host(y);
      let zeros = 0;
      let worst = 0;
      for (let i = 0; i < n; i++) {
        if (yv[i] === 0) zeros++;
        else worst = Math.max(worst, Math.abs(yv[i] - xData[i] / (1 - p)) / Math.abs(xData[i] / (1 - p)));
      }
      expect(Math.abs(zeros / n - p), `zero fraction ${zeros / n}`).toBeLessThanOrEqual(6 * Math.sqrt((p * (1 - p)) / n));
      expect(worst, 'survivor scaling (relative error)').toBeLessThanOrEqual(3e-7);
      const loss = sum(y);
      loss.backward();
      const g = await host(x.grad!);
      let mismatches = 0;
      for (let i = 0; i < n; i++) {
        const want = yv[i] === 0 ? 0 : 1 / (1 - p);
        if (Math.abs(g[i] - want) > 3e-7 * want) mismatches++;
      }
      expect(mismatches, 'gradient = mask/(1−p), same mask as the forward').toBe(0);
      for (const t of [x, y, loss]) t.dispose();
    });
  }

  it('eval mode and p = 0 are the identity (bitwise); p = 1 zeroes everything', async () => {
    const x = tensor(xData.subarray(0, 1001), [7, 11, 13]);
    const drop = new Dropout(0.5);
    drop.eval();
    const yEval = drop.forward(x);
    expect(await host(yEval)).toEqual(xData.subarray(0, 1001));
    const y0 = new Dropout(0).forward(x);
    expect(await host(y0)).toEqual(xData.subarray(0, 1001));
    const y1 = new Dropout(1).forward(x);
    expect(Array.from(await host(y1)).every((v) => v === 0)).toBe(true);
    for (const t of [x, yEval, y0, y1]) t.dispose();
  });

  it('a seeded generator reproduces the masks; other seeds and successive calls give other masks', async () => {
    const x = tensor(xData.subarray(0, 5003), [5003]);
    const mask = async (d: Dropout) => {
      const y = d.forward(x);
      const v = Array.from(await host(y), (e) => (e === 0 ? 0 : 1));
      y.dispose();
      return v;
    };
    const a = new Dropout(0.5, new Generator(42));
    const b = new Dropout(0.5, new Generator(42));
    const c = new Dropout(0.5, new Generator(43));
    const a1 = await mask(a);
    const a2 = await mask(a);
    expect(await mask(b)).toEqual(a1);
    expect(await mask(b)).toEqual(a2);
    const differ = (u: number[], v: number[]) => u.filter((e, i) => e !== v[i]).length;
    expect(differ(a1, a2)).toBeGreaterThan(1000); // ~2500 expected for independent masks
    expect(differ(a1, await mask(c))).toBeGreaterThan(1000);
    // The default generator, seeded with manualSeed, is reproducible too.
    manualSeed(5);
    const d1 = await mask(new Dropout(0.5));
    manualSeed(5);
    expect(await mask(new Dropout(0.5))).toEqual(d1);
    x.dispose();
  });

  it('p outside [0, 1] is refused', () => {
    expect(() => new Dropout(1.5)).toThrow(/Dropout: p must be in \[0, 1\], got 1.5/);
    expect(() => new Dropout(-0.1)).toThrow(/Dropout: p must be in \[0, 1\], got -0.1/);
    expect(() => new Dropout(Number.NaN)).toThrow(/Dropout: p must be in \[0, 1\], got NaN/);
  });
});

// -------------------------------------------------------------------------------- activations

describe('activations', () => {
  const r = new Rng(9);
  const xData = Float32Array.from({ length: 3 * 37 }, (_, i) => (i < 6 ? [-30, 30, -9, 9, 0, -0.5][i] : r.float(-4, 4)));
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const cases: { layer: Module; name: string; ref: (v: number) => number; rtol: number; atol: number }[] = [
    { layer: new ReLU(), name: 'ReLU', ref: (v) => Math.max(v, 0), rtol: 0, atol: 0 },
    { layer: new LeakyReLU(), name: 'LeakyReLU(0.01)', ref: (v) => (v > 0 ? v : Math.fround(v * Math.fround(0.01))), rtol: 0, atol: 0 },
    { layer: new LeakyReLU(0.2), name: 'LeakyReLU(0.2)', ref: (v) => (v > 0 ? v : Math.fround(v * Math.fround(0.2))), rtol: 0, atol: 0 },
    { layer: new Tanh(), name: 'Tanh', ref: Math.tanh, rtol: 1e-5, atol: 1e-6 },
    { layer: new Sigmoid(), name: 'Sigmoid', ref: sig, rtol: 1e-5, atol: 1e-6 },
  ];
  for (const c of cases) {
    it(`${c.name} on [3,37] (incl. ±30, ±9, 0)`, async () => {
      const x = tensor(xData, [3, 37]);
      const y = c.layer.forward(x);
      expect(y.shape).toEqual([3, 37]);
      const ref = Float64Array.from(xData, c.ref);
      if (c.rtol === 0 && c.atol === 0) expectExact(await host(y), ref, c.name);
      else expectClose(await host(y), ref, Float64Array.from(ref, (v) => c.rtol * Math.abs(v) + c.atol), c.name, [3, 37]);
      expect(c.layer.parameters()).toHaveLength(0);
      x.dispose();
      y.dispose();
    });
  }

  it('describe() and a non-finite slope', () => {
    expect(new LeakyReLU(0.2).describe()).toBe('LeakyReLU(0.2)');
    expect(new ReLU().describe()).toBe('ReLU');
    expect(() => new LeakyReLU(Number.NaN)).toThrow(/LeakyReLU: negativeSlope must be finite, got NaN/);
  });
});

// ---------------------------------------------------------------------------------- Maxout

describe('Maxout', () => {
  it('takes the largest of each group of consecutive features ([3, 7·5] → [3, 7]), exactly', async () => {
    const r = new Rng(21);
    const xData = Float32Array.from({ length: 3 * 35 }, () => r.float(-4, 4));
    const y = new Maxout(5).forward(tensor(xData, [3, 35]));
    expect(y.shape).toEqual([3, 7]);
    const ref = Float64Array.from({ length: 21 }, (_, i) => Math.max(...xData.subarray(i * 5, i * 5 + 5)));
    expectExact(await host(y), ref, 'Maxout(5)');
  });

  it('passes the gradient to the winner of each group (finite differences, distinct values)', async () => {
    const layer = new Maxout(3);
    await runGradCase({ name: 'Maxout(3)', make: (rng) => [distinctTensor(rng, [4, 9])], fn: (x) => layer.forward(x), single: false });
  });

  it('refuses a width that is not a multiple of the pieces, and fewer than 2 pieces', () => {
    expect(() => new Maxout(3).forward(tensor(new Float32Array(8), [2, 4]))).toThrow('Maxout(3): input [2,4] must be [N, F·3]');
    expect(() => new Maxout(1)).toThrow('Maxout: pieces must be an integer ≥ 2, got 1');
    expect(new Maxout(5).describe()).toBe('Maxout(5)');
  });
});

// ---------------------------------------------------------------------------- Flatten, Unflatten

describe('Flatten / Unflatten', () => {
  const xData = randomData(new Rng(12), 2 * 3 * 5 * 7);
  const cases: { layer: Module; from: number[]; to: number[] }[] = [
    { layer: new Flatten(), from: [2, 3, 5, 7], to: [2, 105] },
    { layer: new Flatten(0, -1), from: [2, 3, 5, 7], to: [210] },
    { layer: new Flatten(1, 2), from: [2, 3, 5, 7], to: [2, 15, 7] },
    { layer: new Flatten(-2), from: [2, 3, 5, 7], to: [2, 3, 35] },
    { layer: new Unflatten(1, [3, 5, 7]), from: [2, 105], to: [2, 3, 5, 7] },
    { layer: new Unflatten(-1, [5, 7]), from: [6, 35], to: [6, 5, 7] },
    { layer: new Unflatten(0, [2, 3]), from: [6, 35], to: [2, 3, 35] },
  ];
  for (const c of cases) {
    it(`${c.layer.describe()}: [${c.from}] → [${c.to}], values unchanged, gradient flows back`, async () => {
      const x = tensor(xData, c.from, { requiresGrad: true });
      const y = c.layer.forward(x);
      expect(y.shape).toEqual(c.to);
      expect(await host(y)).toEqual(xData);
      const loss = sum(mul(y, y));
      loss.backward();
      expect(x.grad!.shape).toEqual(c.from);
      expect(await host(x.grad!)).toEqual(Float32Array.from(xData, (v) => 2 * v));
      for (const t of [x, y, loss]) t.dispose();
    });
  }

  it('Unflatten refuses a dimension whose size is not the product of the sizes', () => {
    const x = tensor(new Float32Array(21), [3, 7]);
    expect(() => new Unflatten(1, [2, 4]).forward(x)).toThrow(/Unflatten\(1, \[2,4\]\): input \[3,7\] needs 8 values in dimension 1/);
    expect(() => new Unflatten(2, [7]).forward(x)).toThrow(/Unflatten\(2, \[7\]\): input \[3,7\] needs 7 values in dimension 2/);
    expect(() => new Unflatten(1, [0, 7])).toThrow(/Unflatten: sizes \[0,7\] must be positive integers/);
    x.dispose();
  });
});

// -------------------------------------------------------------------------- gradient checks

/**
 * A gradient check of `build()`'s parameters `names` (and of the input x): the inputs are x and the
 * registered parameter tensors themselves (mode 'backward': the analytic gradient is what
 * loss.backward() accumulates into their .grad); the perturbed copies stand in for them through
 * setDerived, the hook spectralNorm uses.
 */
function layerCase(name: string, build: () => Module, xShape: number[], names: string[], init: (m: Module, r: Rng) => void = () => {}, xRange: [number, number] = [-1, 1]): GradCase {
  let m: Module;
  return {
    name,
    make: (r) => {
      manualSeed(7);
      m = build();
      init(m, r);
      return [randTensor(r, xShape, xRange[0], xRange[1]), ...names.map((n) => m.tensor(n))];
    },
    fn: (x, ...ps) => withTensors(m, names, ps, () => m.forward(x)),
    options: { mode: 'backward' },
  };
}
const randomAffine = (m: Module, r: Rng) => {
  setRandom(m, 'weight', r, 0.5, 1.5);
  setRandom(m, 'bias', r, -0.5, 0.5);
};

const GRAD_CASES: GradCase[] = [
  layerCase('Linear(7, 3) x[5,7]', () => new Linear(7, 3), [5, 7], ['weight', 'bias']),
  layerCase('Linear(5, 4, bias=false) x[2,3,5]', () => new Linear(5, 4, { bias: false }), [2, 3, 5], ['weight']),
  layerCase('Conv2d(2, 3, 3, stride 2, padding 1) x[2,2,5,6]', () => new Conv2d(2, 3, 3, { stride: 2, padding: 1 }), [2, 2, 5, 6], ['weight', 'bias']),
  layerCase(
    'ConvTranspose2d(3, 2, 3, stride 2, padding 1, outputPadding 1) x[1,3,3,4]',
    () => new ConvTranspose2d(3, 2, 3, { stride: 2, padding: 1, outputPadding: 1 }),
    [1, 3, 3, 4],
    ['weight', 'bias'],
  ),
  layerCase('BatchNorm1d(3) training x[6,3]', () => new BatchNorm1d(3), [6, 3], ['weight', 'bias'], randomAffine, [-2, 2]),
  layerCase('BatchNorm1d(3) training x[4,3,5] ([N,C,L])', () => new BatchNorm1d(3), [4, 3, 5], ['weight', 'bias'], randomAffine, [-2, 2]),
  layerCase('BatchNorm2d(2) training x[3,2,3,3]', () => new BatchNorm2d(2), [3, 2, 3, 3], ['weight', 'bias'], randomAffine, [-2, 2]),
  layerCase(
    'BatchNorm2d(2) eval x[2,2,3,3] (running statistics)',
    () => new BatchNorm2d(2).eval(),
    [2, 2, 3, 3],
    ['weight', 'bias'],
    (m, r) => {
      randomAffine(m, r);
      setRandom(m, 'running_mean', r, -0.5, 0.5);
      setRandom(m, 'running_var', r, 0.5, 2);
    },
    [-2, 2],
  ),
  layerCase('LayerNorm([4,5]) x[3,4,5]', () => new LayerNorm([4, 5]), [3, 4, 5], ['weight', 'bias'], randomAffine, [-2, 2]),
];

{
  // Embedding: the checked input is the table (indices are int32 and not differentiable).
  let emb: Embedding;
  GRAD_CASES.push({
    name: 'Embedding(6, 4) indices [2,5] with repeats',
    make: () => {
      manualSeed(8);
      emb = new Embedding(6, 4);
      return [tensor(Int32Array.from([1, 4, 4, 0, 5, 1, 1, 2, 5, 4]), [2, 5]), emb.weight];
    },
    fn: (idx, w) => withTensors(emb, ['weight'], [w], () => emb.forward(idx)),
    options: { mode: 'backward' },
  });
}

describe('gradients of layer parameters: backward() = central differences', () => {
  for (const c of GRAD_CASES) {
    it(c.name, async () => {
      const report = await runGradCase(c);
      expect(report.worstRatio).toBeLessThanOrEqual(1);
      expect(report.analytic.every((g) => g.some((v) => v !== 0)), 'every checked gradient is non-trivial').toBe(true);
    });
  }
});
