/**
 * Gradients of gradients.
 *
 *  1. WGAN-GP: GP = mean((‖∇ₓD(x)‖₂ − 1)²) for a small critic
 *       D = linear(flatten(leakyRelu(conv2d(x, W1, b1, stride 2, pad 1), 0.2)), W2, b2)
 *     (and a variant with layerNorm after the conv), differentiated with respect to W1, b1, W2, b2
 *     by grad(..., { createGraph: true }) and then backward(), against central differences of GP
 *     re-evaluated (itself through grad with createGraph) on perturbed weights. The data are
 *     chosen (seed search on the host, float64) so that every pre-activation is ≥ 0.1 away from
 *     leakyRelu's kink: a perturbation of h = 1e-2 then never flips a slope, and GP is smooth there.
 *     Tolerance: the gradcheck rule |num − ana| ≤ 2e-2·max(|num|,|ana|) + 2e-3·scale.
 *  2. Analytic second derivatives d²/dx² of sum(f(x)) for x³, tanh, sigmoid, exp, log against
 *     float64 formulas: |got − ref| ≤ 1e-4·|ref| + 1e-5 (a handful of float32 roundings).
 *  3. gradGradCheck (double backward vs central differences of a first-order grad) of the
 *     non-linear ops whose backward rules are themselves differentiated.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initNode } from '@webgan/kernels/node';
import {
  backward, bceWithLogits, conv2d, conv2dBackwardData, conv2dBackwardFilter, convTranspose2d, cos, crossEntropy, div, exp, flatten, grad, layerNorm,
  leakyRelu, linear, log, logSigmoid, logSoftmax, matmul, mean, memory, mse, mul, pow, reciprocal, rsqrt, sigmoid, sin, softmax, softplus, sqrt,
  square, sub, sum, tanh, tensor, tidy, type Tensor,
} from '@webgan/core';
import { awayFromZero, gradCheck, gradGradCheck, randTensor } from '../helpers/gradcheck';
import { Rng, conv2dRef } from '../helpers/reference';

beforeAll(async () => {
  await initNode({ tuningFile: false });
});

// ------------------------------------------------------------------------------ WGAN-GP critic
const X_SHAPE = [2, 2, 5, 5];
const W1_SHAPE = [3, 2, 3, 3]; // 54 elements
const CONV = { stride: 2, padding: 1 } as const;
const H_SHAPE = [2, 3, 3, 3];
const W2_SHAPE = [1, 27];

interface CriticData {
  x: Float32Array;
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
  lnW: Float32Array;
  lnB: Float32Array;
  seed: number;
}

const normals = (rng: Rng, n: number, std: number) => Float32Array.from({ length: n }, () => std * rng.normal());

/** Host float64 pre-activations of the critic (after the conv, or after conv + layerNorm). */
function preActivations(d: CriticData, withLayerNorm: boolean): Float64Array {
  const { out } = conv2dRef(Float64Array.from(d.x), X_SHAPE, Float64Array.from(d.w1), W1_SHAPE, { ...CONV, bias: Float64Array.from(d.b1) });
  if (!withLayerNorm) return out;
  const per = 27;
  const y = new Float64Array(out.length);
  for (let n = 0; n < out.length / per; n++) {
    const v = out.subarray(n * per, (n + 1) * per);
    const mu = v.reduce((a, b) => a + b, 0) / per;
    const variance = v.reduce((a, b) => a + (b - mu) ** 2, 0) / per;
    for (let i = 0; i < per; i++) y[n * per + i] = ((v[i] - mu) / Math.sqrt(variance + 1e-5)) * d.lnW[i] + d.lnB[i];
  }
  return y;
}

/** The first seed (from `start`) whose pre-activations all have |value| ≥ margin. */
function findCriticData(start: number, withLayerNorm: boolean, margin = 0.1): CriticData {
  for (let seed = start; seed < start + 10_000; seed++) {
    const rng = new Rng(seed);
    const d: CriticData = {
      x: normals(rng, 100, 1),
      w1: normals(rng, 54, 0.3),
      b1: normals(rng, 3, 0.1),
      w2: normals(rng, 27, 0.3),
      b2: normals(rng, 1, 0.1),
      lnW: Float32Array.from({ length: 27 }, () => rng.float(0.5, 1.5)),
      lnB: normals(rng, 27, 0.1),
      seed,
    };
    if (preActivations(d, withLayerNorm).every((v) => Math.abs(v) >= margin)) return d;
  }
  throw new Error('no seed with a kink margin found');
}

type Critic = (x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) => Tensor;

const plainCritic: Critic = (x, w1, b1, w2, b2) => linear(flatten(leakyRelu(conv2d(x, w1, b1, CONV), 0.2), 1), w2, b2);

function layerNormCritic(lnW: Tensor, lnB: Tensor): Critic {
  return (x, w1, b1, w2, b2) => linear(flatten(leakyRelu(layerNorm(conv2d(x, w1, b1, CONV), [3, 3, 3], lnW, lnB), 0.2), 1), w2, b2);
}

/** GP = mean((‖∇ₓD(x)‖₂ − 1)²), the inner gradient recorded (createGraph) so GP can be differentiated. */
function gradientPenalty(critic: Critic, x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor): Tensor {
  const d = critic(x, w1, b1, w2, b2);
  const [gx] = grad(sum(d), [x], { createGraph: true });
  const norm = sqrt(sum(mul(gx!, gx!), [1, 2, 3]));
  return mean(square(sub(norm, 1)));
}

describe('WGAN-GP: d GP / d critic weights (createGraph, then backward) = central differences of GP', () => {
  for (const variant of ['conv + leakyRelu + linear', 'conv + layerNorm + leakyRelu + linear'] as const) {
    it(variant, async () => {
      const withLN = variant.includes('layerNorm');
      const d = findCriticData(withLN ? 2000 : 1000, withLN);
      const x = tensor(d.x, X_SHAPE, { requiresGrad: true });
      const w1 = tensor(d.w1, W1_SHAPE, { requiresGrad: true });
      const b1 = tensor(d.b1, [3], { requiresGrad: true });
      const w2 = tensor(d.w2, W2_SHAPE, { requiresGrad: true });
      const b2 = tensor(d.b2, [1], { requiresGrad: true });
      const lnW = tensor(d.lnW, [3, 3, 3]);
      const lnB = tensor(d.lnB, [3, 3, 3]);
      const critic = withLN ? layerNormCritic(lnW, lnB) : plainCritic;
      try {
        // Sanity of the setup: GP is O(1) and not trivially constant.
        const gpValue = await tidy(() => gradientPenalty(critic, x, w1, b1, w2, b2)).item();
        expect(gpValue).toBeGreaterThan(1e-3);
        const report = await gradCheck((a, b, c, e) => gradientPenalty(critic, x, a, b, c, e), [w1, b1, w2, b2], {
          label: `GP ${variant} (data seed ${d.seed})`,
          mode: 'backward',
          numericWithGrad: true,
          nullIsZero: true, // b2 (and b1 without layerNorm) is not in the graph of GP
        });
        expect(report.worstRatio).toBeLessThanOrEqual(1);
        // b2 does not enter ∇ₓD; without layerNorm neither does b1 (its slope pattern is fixed).
        expect(Math.max(...report.analytic[3].map(Math.abs))).toBeLessThan(1e-6);
        if (!withLN) expect(Math.max(...report.analytic[1].map(Math.abs))).toBeLessThan(1e-5);
        else expect(Math.max(...report.analytic[1].map(Math.abs))).toBeGreaterThan(1e-4);
        // W1 and W2 matter.
        expect(Math.max(...report.analytic[0].map(Math.abs))).toBeGreaterThan(1e-3);
        expect(Math.max(...report.analytic[2].map(Math.abs))).toBeGreaterThan(1e-3);
      } finally {
        for (const t of [x, w1, b1, w2, b2, lnW, lnB]) t.dispose();
      }
    });
  }

  it('d GP / dx (double backward to the critic input, layerNorm critic) = central differences', async () => {
    // With a piecewise-linear critic ∇ₓD does not depend on x (GP would be locally constant in x);
    // layerNorm makes it depend on x.
    const d = findCriticData(2000, true);
    // The first sample only (50 elements; its pre-activations have the margin too).
    const x = tensor(d.x.slice(0, 50), [1, 2, 5, 5], { requiresGrad: true });
    const w = [tensor(d.w1, W1_SHAPE), tensor(d.b1, [3]), tensor(d.w2, W2_SHAPE), tensor(d.b2, [1])];
    const lnW = tensor(d.lnW, [3, 3, 3]);
    const lnB = tensor(d.lnB, [3, 3, 3]);
    try {
      const critic = layerNormCritic(lnW, lnB);
      const report = await gradCheck((xx) => gradientPenalty(critic, xx, w[0], w[1], w[2], w[3]), [x], { label: 'GP wrt x', numericWithGrad: true });
      expect(report.worstRatio).toBeLessThanOrEqual(1);
    } finally {
      for (const t of [x, ...w, lnW, lnB]) t.dispose();
    }
  });
});

// ------------------------------------------------------------------------------ analytic d²/dx²
describe('analytic second derivatives: grad(sum(grad(sum(f(x)), x, createGraph)), x) = f″(x)', () => {
  const X = Float32Array.from({ length: 13 }, (_, i) => 0.5 + (i * 1.5) / 12); // [0.5, 2], log-safe
  const XS = Float32Array.from({ length: 13 }, (_, i) => -2 + (i * 4) / 12); // [-2, 2]
  const cases: [string, (x: Tensor) => Tensor, (x: number) => number, Float32Array][] = [
    ['x³ (pow)', (x) => pow(x, 3), (x) => 6 * x, XS],
    ['x³ (x·x·x)', (x) => mul(mul(x, x), x), (x) => 6 * x, XS],
    ['tanh', tanh, (x) => -2 * Math.tanh(x) * (1 - Math.tanh(x) ** 2), XS],
    ['sigmoid', sigmoid, (x) => { const s = 1 / (1 + Math.exp(-x)); return s * (1 - s) * (1 - 2 * s); }, XS],
    ['exp', exp, (x) => Math.exp(x), XS],
    ['log', log, (x) => -1 / (x * x), X],
  ];
  for (const [name, f, f2, data] of cases) {
    it(name, async () => {
      const x = tensor(data, [data.length], { requiresGrad: true });
      const got = await tidy(() => {
        const [g] = grad(sum(f(x)), [x], { createGraph: true });
        expect(g!.requiresGrad).toBe(true);
        const [gg] = grad(sum(g!), [x]);
        return gg!.data();
      });
      const ref = Float64Array.from(data, (v) => f2(v));
      for (let i = 0; i < ref.length; i++) {
        expect(Math.abs(got[i] - ref[i]), `${name}'' at x = ${data[i]}: got ${got[i]}, expected ${ref[i]}`).toBeLessThanOrEqual(1e-4 * Math.abs(ref[i]) + 1e-5);
      }
      x.dispose();
    });
  }

  it('backward() after grad(createGraph) accumulates the second derivative into .grad (6x for x³)', async () => {
    const x = tensor([1, -2, 0.5], [3], { requiresGrad: true });
    tidy(() => {
      const [g] = grad(sum(pow(x, 3)), [x], { createGraph: true });
      backward(sum(g!));
    });
    expect(Array.from(await x.grad!.data())).toEqual([6, -12, 3]);
    x.dispose();
  });

  it('a first-order grad() without createGraph gives a gradient that is not differentiable', () => {
    const x = tensor([1, 2], [2], { requiresGrad: true });
    tidy(() => {
      const [g] = grad(sum(pow(x, 3)), [x]);
      expect(g!.requiresGrad).toBe(false);
      expect(g!.gradFn).toBeNull();
    });
    x.dispose();
  });
});

// ------------------------------------------------------------------------------ gradGradCheck
describe('double backward = central differences of the (createGraph) first-order gradient', () => {
  const r = (rng: Rng, shape: number[], lo = -1, hi = 1) => randTensor(rng, shape, lo, hi);
  const cases: [string, (rng: Rng) => Tensor[], (...xs: Tensor[]) => Tensor][] = [
    ['mul', (g) => [r(g, [3, 5]), r(g, [5])], (a, b) => mul(a, b)],
    ['div', (g) => [r(g, [3, 5]), awayFromZero(g, [3, 5], -1.5, 1.5, 0.5)], (a, b) => div(a, b)],
    ['pow (tensor exponent)', (g) => [r(g, [3, 5], 0.5, 2), r(g, [3, 5], -1, 2)], (a, b) => pow(a, b)],
    ['pow(x, 2.5)', (g) => [r(g, [3, 5], 0.5, 2)], (a) => pow(a, 2.5)],
    ['sqrt', (g) => [r(g, [3, 5], 0.5, 2)], (a) => sqrt(a)],
    ['rsqrt', (g) => [r(g, [3, 5], 0.5, 2)], (a) => rsqrt(a)],
    ['reciprocal', (g) => [awayFromZero(g, [3, 5], -1.5, 1.5, 0.5)], (a) => reciprocal(a)],
    ['sin', (g) => [r(g, [3, 5], -3, 3)], (a) => sin(a)],
    ['cos', (g) => [r(g, [3, 5], -3, 3)], (a) => cos(a)],
    ['softplus', (g) => [r(g, [3, 5], -3, 3)], (a) => softplus(a)],
    ['logSigmoid', (g) => [r(g, [3, 5], -3, 3)], (a) => logSigmoid(a)],
    ['softmax', (g) => [r(g, [3, 5], -2, 2)], (a) => softmax(a)],
    ['logSoftmax axis 0', (g) => [r(g, [3, 5], -2, 2)], (a) => logSoftmax(a, 0)],
    ['matmul Aᵀ·B', (g) => [r(g, [3, 5]), r(g, [3, 7])], (a, b) => matmul(a, b, { transposeA: true })],
    ['linear with bias (x and W)', (g) => [r(g, [5, 7]), r(g, [3, 7]), r(g, [3])], (x, w, b) => linear(x, w, b)],
    ['linear + fused tanh', (g) => [r(g, [5, 7]), r(g, [3, 7]), r(g, [3])], (x, w, b) => linear(x, w, b, { kind: 'tanh' })],
    ['linear + fused sigmoid', (g) => [r(g, [5, 7]), r(g, [3, 7]), r(g, [3])], (x, w, b) => linear(x, w, b, { kind: 'sigmoid' })],
    ['conv2d stride 2 padding 1', (g) => [r(g, [1, 2, 5, 5]), r(g, [3, 2, 3, 3])], (x, w) => conv2d(x, w, undefined, { stride: 2, padding: 1 })],
    ['conv2dBackwardData', (g) => [r(g, [1, 3, 3, 3]), r(g, [3, 2, 3, 3])], (dy, w) => conv2dBackwardData(dy, w, [1, 2, 5, 5], { stride: 2, padding: 1 })],
    ['conv2dBackwardFilter', (g) => [r(g, [1, 2, 5, 5]), r(g, [1, 3, 3, 3])], (x, dy) => conv2dBackwardFilter(x, dy, [3, 2, 3, 3], { stride: 2, padding: 1 })],
    ['convTranspose2d outputPadding 1', (g) => [r(g, [1, 3, 3, 3]), r(g, [3, 2, 3, 3])], (x, w) => convTranspose2d(x, w, undefined, { stride: 2, padding: 1, outputPadding: 1 })],
    ['layerNorm with weight', (g) => [r(g, [3, 7], -2, 2), r(g, [7], 0.5, 1.5)], (x, w) => layerNorm(x, [7], w)],
    ['bceWithLogits', (g) => [r(g, [3, 5], -3, 3), r(g, [3, 5], 0, 1)], (x, t) => bceWithLogits(x, t)],
    ['mse', (g) => [r(g, [3, 5]), r(g, [3, 5])], (a, b) => mse(a, b)],
    ['crossEntropy', (g) => [r(g, [3, 5], -2, 2), tensor(new Int32Array([4, 0, 4]), [3])], (x, l) => crossEntropy(x, l)],
  ];
  for (const [name, make, fn] of cases) {
    it(name, async () => {
      const inputs = make(new Rng(name.length * 7919 + name.charCodeAt(0)));
      try {
        // nullIsZero: a bias gradient does not depend on the inputs (its double backward is null).
        const report = await gradGradCheck(fn, inputs, { label: `gradgrad ${name}`, nullIsZero: true });
        expect(report.worstRatio).toBeLessThanOrEqual(1);
      } finally {
        for (const t of inputs) t.dispose();
      }
    });
  }
});

describe('a gradient-penalty step releases everything it made', () => {
  it('GP + backward inside tidy, 20 times: live tensors and bytes in use return to the same values', async () => {
    const d = findCriticData(1000, false);
    const x = tensor(d.x, X_SHAPE, { requiresGrad: true });
    const params = [tensor(d.w1, W1_SHAPE), tensor(d.b1, [3]), tensor(d.w2, W2_SHAPE), tensor(d.b2, [1])].map((t) => t.requiresGrad_());
    const samples: [number, number][] = [];
    for (let step = 0; step < 20; step++) {
      tidy(() => {
        const gp = gradientPenalty(plainCritic, x, ...(params as [Tensor, Tensor, Tensor, Tensor]));
        gp.backward();
      });
      for (const p of params) {
        p.grad?.dispose();
        p.grad = null;
      }
      await params[0].data(); // submit the queued work: deferred buffer releases land in the pool
      samples.push([memory().liveTensors, memory().bytesInUse]);
    }
    expect(samples.slice(2)).toEqual(samples.slice(2).map(() => samples[2]));
    for (const t of [x, ...params]) t.dispose();
  });
});
