/**
 * spectralNorm of @webgan/nn against torch.nn.utils.spectral_norm's contract: the state dict holds
 * weight_orig / weight_u / weight_v instead of weight; every forward uses weight_orig / σ with
 * σ = uᵀ·W·v; training-mode forwards refine u, v by power iteration (so σ → the largest singular
 * value of W viewed as [shape[dim], rest]; dim 1 for ConvTranspose2d); eval mode leaves u, v
 * alone; gradients reach weight_orig (and each forward's gradient uses that forward's u, v); bad
 * or repeated application is refused without changing the module.
 *
 * References: singular values and vectors come from a float64 Jacobi eigen-decomposition of W·Wᵀ
 * written here (not power iteration, so it does not share the method under test); layer outputs
 * from the float64 references of tests/helpers/reference.ts with W/σ as the weight.
 *
 * Tolerances:
 *  - outputs after 50 training forwards vs the reference with W/σ₁: per element
 *    1e-4·(Σ|products| + |b|) + 1e-6. The GEMM rounding is 1e-5·Σ|products| (see layers.test.ts);
 *    the rest covers σ's float32 error (u, v, uᵀWv are float32: a few ulps relative) and the power
 *    iteration's remaining error, ~(σ₂/σ₁)^100 ≤ 0.8^100 ≈ 2e-10 (the test asserts σ₂/σ₁ < 0.8).
 *  - largest singular value of the effective weight: |σ − 1| ≤ 1e-5 (float32 ulps of W/σ, read back
 *    from an identity input), singular vectors: |⟨u, u₁⟩| ≥ 1 − 1e-5.
 *  - eval-mode output vs x·(W/σ_uv)ᵀ + b with σ_uv = uᵀWv from the stored u, v in float64: the
 *    GEMM rule 1e-5·(Σ|products| + |b|) + 1e-6, plus 1e-6 relative for σ_uv's float32 evaluation.
 *  - gradients (two forwards, one backward) vs the float64 closed form
 *    ∂L/∂W = Σ_k G_k/σ_k − ⟨G_k, W⟩/σ_k²·u_k v_kᵀ, G_k = R_kᵀx_k: 1e-4·(max |terms|) + 1e-6.
 *  - finite differences: the rule of tests/helpers/gradcheck.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initNode } from '@webgan/kernels/node';
import { Generator, add, manualSeed, mul, sum, tensor, type Tensor } from '@webgan/core';
import { Conv2d, ConvTranspose2d, Linear, ReLU, init, spectralNorm, type Module } from '@webgan/nn';
import { randTensor, runGradCase, type GradCase } from '../helpers/gradcheck';
import { Rng, conv2dRef, convTranspose2dRef, expectClose, f64, randomData, tolFromAbsSum, type ConvTGeom } from '../helpers/reference';

beforeAll(async () => {
  await initNode({ tuningFile: false });
});

// ------------------------------------------------------------------------------ float64 linalg

const host = async (t: Tensor): Promise<Float32Array> => (await t.data()) as Float32Array;
const read = async (t: Tensor): Promise<Float64Array> => f64(await host(t));
const bits = async (t: Tensor): Promise<number[]> => Array.from(new Uint32Array((await host(t)).slice().buffer));

/** Eigenvalues (descending) and eigenvectors (columns of `vectors`, as rows here) of a symmetric matrix by cyclic Jacobi rotations. */
function symEig(a0: number[][]): { values: number[]; vectors: number[][] } {
  const n = a0.length;
  const a = a0.map((r) => [...r]);
  const v: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p][q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(a[p][q]) < 1e-300) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k][p];
          const akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p][k];
          const aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k][p];
          const vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j][j] - a[i][i]);
  return { values: order.map((i) => a[i][i]), vectors: order.map((i) => v.map((row) => row[i])) };
}

/** Singular values (descending) of a rows×cols matrix and its top singular vectors, via W·Wᵀ. */
function svd(w: ArrayLike<number>, rows: number, cols: number): { sigma: number[]; u1: number[]; v1: number[] } {
  const g = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: rows }, (_, j) => {
      let s = 0;
      for (let k = 0; k < cols; k++) s += w[i * cols + k] * w[j * cols + k];
      return s;
    }),
  );
  const { values, vectors } = symEig(g);
  const sigma = values.map((l) => Math.sqrt(Math.max(l, 0)));
  const u1 = vectors[0];
  const v1 = Array.from({ length: cols }, (_, k) => u1.reduce((s, ui, i) => s + ui * w[i * cols + k], 0) / sigma[0]);
  return { sigma, u1, v1 };
}

/** W with dimension `dim` moved first, as a [shape[dim], rest] row-major matrix. */
function asMatrix(w: ArrayLike<number>, shape: readonly number[], dim: number): Float64Array {
  if (dim === 0) return Float64Array.from(w);
  // Only the dim-1 case of 4-D weights is needed: [a, b, kh, kw] → [b, a·kh·kw].
  const [a, b, kh, kw] = shape;
  const out = new Float64Array(a * b * kh * kw);
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) for (let k = 0; k < kh * kw; k++) out[j * a * kh * kw + i * kh * kw + k] = w[(i * b + j) * kh * kw + k];
  return out;
}

const dotv = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
/** uᵀ·M·v for a rows×cols matrix. */
const bilinear = (u: ArrayLike<number>, m: ArrayLike<number>, v: ArrayLike<number>, rows: number, cols: number) => {
  let s = 0;
  for (let i = 0; i < rows; i++) for (let k = 0; k < cols; k++) s += u[i] * m[i * cols + k] * v[k];
  return s;
};

/** y = x·Wᵀ + b in float64, with Σ|products| + |b| per element. */
function linearRef(x: ArrayLike<number>, n: number, w: ArrayLike<number>, outF: number, inF: number, b: ArrayLike<number>) {
  const out = new Float64Array(n * outF);
  const absSum = new Float64Array(n * outF);
  for (let r = 0; r < n; r++)
    for (let o = 0; o < outF; o++) {
      let s = b[o];
      let sa = Math.abs(b[o]);
      for (let i = 0; i < inF; i++) {
        s += x[r * inF + i] * w[o * inF + i];
        sa += Math.abs(x[r * inF + i] * w[o * inF + i]);
      }
      out[r * outF + o] = s;
      absSum[r * outF + o] = sa;
    }
  return { out, absSum };
}

/** Overwrites the module's `name` tensor with U(lo, hi) values from the rng; returns them. */
function setRandom(m: Module, name: string, rng: Rng, lo = -1, hi = 1): Float32Array {
  const t = m.tensor(name);
  const data = randomData(rng, t.size, lo, hi);
  const src = tensor(data, t.shape);
  t.copy_(src);
  src.dispose();
  return data;
}

/**
 * Writes W = U(−1, 1) noise + s·p·qᵀ (p, q random unit vectors) into the module's `name` tensor,
 * p·qᵀ laid out in the [shape[dim], rest] view of `dim`: the spike gives σ₁ a clear gap over σ₂
 * (asserted by the tests), so that 50 power iterations converge. Returns W in the tensor's layout.
 */
function setSpiked(m: Module, name: string, rng: Rng, dim: number): Float32Array {
  const t = m.tensor(name);
  const rows = t.shape[dim];
  const cols = t.size / rows;
  const unit = (n: number) => {
    const e = Array.from({ length: n }, () => rng.normal());
    const norm = Math.hypot(...e);
    return e.map((x) => x / norm);
  };
  const p = unit(rows);
  const q = unit(cols);
  const noise = randomData(rng, rows * cols);
  // The noise's largest singular value is about (√rows + √cols)/√3; the spike is 2.5× that.
  const spike = (2.5 * (Math.sqrt(rows) + Math.sqrt(cols))) / Math.sqrt(3);
  const mat = Float64Array.from(noise, (x, idx) => x + spike * p[Math.floor(idx / cols)] * q[idx % cols]);
  // Back from the matrix view to the tensor layout (asMatrix's inverse).
  const data = new Float32Array(t.size);
  const probe = Float64Array.from({ length: t.size }, (_, i) => i);
  const where = asMatrix(probe, t.shape, dim); // where[j] = layout index of matrix element j
  for (let j = 0; j < t.size; j++) data[where[j]] = mat[j];
  const src = tensor(data, t.shape);
  t.copy_(src);
  src.dispose();
  return data;
}

/** `count` training-mode forwards (outputs dropped). */
function trainForwards(m: Module, x: Tensor, count: number): void {
  for (let i = 0; i < count; i++) m.forward(x).dispose();
}

// ---------------------------------------------------------------------------- keys and shapes

describe('state dict and parameters', () => {
  it('Linear: weight is replaced by weight_orig (same tensor), weight_u [out], weight_v [in], in PyTorch\'s order', async () => {
    manualSeed(1);
    const lin = new Linear(7, 5);
    const w = lin.weight;
    const wBits = await bits(w);
    expect(spectralNorm(lin)).toBe(lin);
    const sd = lin.stateDict();
    expect([...sd.keys()]).toEqual(['bias', 'weight_orig', 'weight_u', 'weight_v']);
    expect([...sd.values()].map((v) => [...v.shape])).toEqual([[5], [5, 7], [5], [7]]);
    expect(sd.get('weight_orig')).toBe(w);
    expect(await bits(w)).toEqual(wBits);
    expect([...lin.namedParameters()].map(([n]) => n)).toEqual(['bias', 'weight_orig']);
    expect([...lin.namedBuffers()].map(([n]) => n)).toEqual(['weight_u', 'weight_v']);
    expect(lin.hasParameter('weight')).toBe(false);
    // u and v are unit vectors.
    for (const k of ['weight_u', 'weight_v']) expect(Math.hypot(...(await read(sd.get(k) as Tensor))), k).toBeCloseTo(1, 6);
    expect(lin.toString()).toContain('weight_orig[5,7]');
    lin.dispose();
  });

  it('Conv2d uses dim 0 (u [out], v [in·kh·kw]); ConvTranspose2d uses dim 1 (u [out] = weight.shape[1], v [in·kh·kw])', () => {
    const conv = spectralNorm(new Conv2d(3, 4, [3, 2]));
    expect(conv.tensor('weight_u').shape).toEqual([4]);
    expect(conv.tensor('weight_v').shape).toEqual([18]);
    const up = spectralNorm(new ConvTranspose2d(3, 5, 3));
    expect(up.tensor('weight_orig').shape).toEqual([3, 5, 3, 3]);
    expect(up.tensor('weight_u').shape).toEqual([5]);
    expect(up.tensor('weight_v').shape).toEqual([27]);
    const forced = spectralNorm(new ConvTranspose2d(3, 5, 3), { dim: 0 });
    expect(forced.tensor('weight_u').shape).toEqual([3]);
    for (const m of [conv, up, forced]) m.dispose();
  });

  it('a generator makes u and v reproducible', async () => {
    const a = spectralNorm(new Linear(6, 4), { generator: new Generator(3) });
    const b = spectralNorm(new Linear(6, 4), { generator: new Generator(3) });
    expect(await bits(b.tensor('weight_u'))).toEqual(await bits(a.tensor('weight_u')));
    expect(await bits(b.tensor('weight_v'))).toEqual(await bits(a.tensor('weight_v')));
    a.dispose();
    b.dispose();
  });

  it('round trip through the state dict gives the same eval-mode outputs', async () => {
    manualSeed(2);
    const a = spectralNorm(new Linear(5, 3));
    const x = tensor(randomData(new Rng(2), 4 * 5), [4, 5]);
    trainForwards(a, x, 3);
    manualSeed(3);
    const b = spectralNorm(new Linear(5, 3));
    b.loadStateDict(a.stateDict());
    a.eval();
    b.eval();
    const ya = a.forward(x);
    const yb = b.forward(x);
    expect(await bits(yb)).toEqual(await bits(ya));
    for (const t of [x, ya, yb]) t.dispose();
    a.dispose();
    b.dispose();
  });
});

// ------------------------------------------------------------------------------- convergence

describe('power iteration: after 50 training forwards σ is the largest singular value', () => {
  it('Linear(7, 5): output = x·(W/σ₁)ᵀ + b, the effective weight has σ_max = 1, u and v are the top singular vectors', async () => {
    manualSeed(10);
    const lin = spectralNorm(new Linear(7, 5));
    const rng = new Rng(10);
    const w = setSpiked(lin, 'weight_orig', rng, 0);
    const b = f64(setRandom(lin, 'bias', rng, -0.5, 0.5));
    const { sigma, u1, v1 } = svd(w, 5, 7);
    expect(sigma[1] / sigma[0], 'precondition: a spectral gap, so 50 iterations converge').toBeLessThan(0.8);
    const xData = randomData(rng, 3 * 7, -2, 2);
    const x = tensor(xData, [3, 7]);
    trainForwards(lin, x, 50);
    const y = lin.forward(x);
    const wn = Float64Array.from(w, (v) => v / sigma[0]);
    const ref = linearRef(xData, 3, wn, 5, 7, b);
    expectClose(await host(y), ref.out, tolFromAbsSum(ref.absSum, 1e-4, 1e-6), 'spectral-norm Linear output vs x·(W/σ₁)ᵀ + b', [3, 5]);
    // u, v: the top singular vectors (up to sign).
    expect(Math.abs(dotv(await read(lin.tensor('weight_u')), u1))).toBeGreaterThanOrEqual(1 - 1e-5);
    expect(Math.abs(dotv(await read(lin.tensor('weight_v')), v1))).toBeGreaterThanOrEqual(1 - 1e-5);
    // The effective weight, read back through an identity input in eval mode: σ_max = 1.
    lin.eval();
    const eye = tensor(Float32Array.from({ length: 49 }, (_, i) => (i % 8 === 0 ? 1 : 0)), [7, 7]);
    const yEye = await read(lin.forward(eye));
    const eff = new Float64Array(35);
    for (let i = 0; i < 7; i++) for (let o = 0; o < 5; o++) eff[o * 7 + i] = yEye[i * 5 + o] - Math.fround(b[o]);
    const effSigma = svd(eff, 5, 7).sigma;
    expect(Math.abs(effSigma[0] - 1), `σ_max of the effective weight is ${effSigma[0]}`).toBeLessThanOrEqual(1e-5);
    expect(effSigma[1]).toBeCloseTo(sigma[1] / sigma[0], 5);
    for (const t of [x, y, eye]) t.dispose();
    lin.dispose();
  });

  const convCases: { name: string; make: () => Conv2d | ConvTranspose2d; x: number[]; geom: ConvTGeom; transposed: boolean }[] = [
    { name: 'Conv2d(3, 4, [3, 2], stride 2, padding 1) (dim 0)', make: () => new Conv2d(3, 4, [3, 2], { stride: 2, padding: 1 }), x: [2, 3, 5, 6], geom: { stride: 2, padding: 1 }, transposed: false },
    {
      name: 'ConvTranspose2d(3, 4, 3, stride 2, padding 1, outputPadding 1) (dim 1)',
      make: () => new ConvTranspose2d(3, 4, 3, { stride: 2, padding: 1, outputPadding: 1 }),
      x: [2, 3, 3, 5],
      geom: { stride: 2, padding: 1, outputPadding: 1 },
      transposed: true,
    },
  ];
  for (const c of convCases) {
    it(`${c.name}: output = conv(x, W/σ₁) + b`, async () => {
      manualSeed(20);
      const conv = spectralNorm(c.make());
      const rng = new Rng(c.transposed ? 21 : 22);
      const wShape = conv.tensor('weight_orig').shape;
      const dim = c.transposed ? 1 : 0;
      const w = setSpiked(conv, 'weight_orig', rng, dim);
      const b = f64(setRandom(conv, 'bias', rng, -0.5, 0.5));
      const rows = wShape[dim];
      const cols = w.length / rows;
      const { sigma } = svd(asMatrix(w, wShape, dim), rows, cols);
      expect(sigma[1] / sigma[0], 'precondition: spectral gap').toBeLessThan(0.8);
      if (c.transposed) {
        // The test tells dim 1 from dim 0 only if the two views have different σ₁.
        const other = svd(w, wShape[0], w.length / wShape[0]).sigma[0];
        expect(Math.abs(other - sigma[0]) / sigma[0], 'precondition: dim 0 and dim 1 give different σ₁').toBeGreaterThan(0.01);
      }
      const xData = randomData(rng, c.x.reduce((a, d) => a * d, 1), -2, 2);
      const x = tensor(xData, c.x);
      trainForwards(conv, x, 50);
      const y = conv.forward(x);
      const wn = Float64Array.from(w, (v) => v / sigma[0]);
      const ref = c.transposed ? convTranspose2dRef(f64(xData), c.x, wn, wShape, { ...c.geom, bias: b }) : conv2dRef(f64(xData), c.x, wn, wShape, { ...c.geom, bias: b });
      expect(y.shape).toEqual(ref.shape);
      expectClose(await host(y), ref.out, tolFromAbsSum(ref.absSum, 1e-4, 1e-6), c.name, y.shape);
      x.dispose();
      y.dispose();
      conv.dispose();
    });
  }
});

// ---------------------------------------------------------------------------------- eval mode

describe('eval mode', () => {
  it('leaves u and v unchanged, is deterministic, and uses σ = uᵀWv of the stored vectors', async () => {
    manualSeed(30);
    const lin = spectralNorm(new Linear(6, 4));
    const rng = new Rng(30);
    const xData = randomData(rng, 3 * 6, -2, 2);
    const x = tensor(xData, [3, 6]);
    // Training forwards do change u (and v).
    const u0 = await bits(lin.tensor('weight_u'));
    trainForwards(lin, x, 2);
    const u2 = await bits(lin.tensor('weight_u'));
    expect(u2).not.toEqual(u0);
    lin.eval();
    const u = await read(lin.tensor('weight_u'));
    const v = await read(lin.tensor('weight_v'));
    const uBits = await bits(lin.tensor('weight_u'));
    const vBits = await bits(lin.tensor('weight_v'));
    const ys = [lin.forward(x), lin.forward(x), lin.forward(x)];
    expect(await bits(lin.tensor('weight_u'))).toEqual(uBits);
    expect(await bits(lin.tensor('weight_v'))).toEqual(vBits);
    const y0 = await bits(ys[0]);
    for (const y of ys.slice(1)) expect(await bits(y)).toEqual(y0);
    const w = await read(lin.tensor('weight_orig'));
    const b = await read(lin.tensor('bias'));
    const sigmaUv = bilinear(u, w, v, 4, 6);
    // After two iterations from a random start σ_uv is still an underestimate of σ₁: a distinct value.
    expect(sigmaUv).toBeLessThan(svd(w, 4, 6).sigma[0] * (1 - 1e-4));
    const ref = linearRef(xData, 3, Float64Array.from(w, (e) => e / sigmaUv), 4, 6, b);
    const tol = Float64Array.from(ref.absSum, (s, i) => 1e-5 * s + 1e-6 + 1e-6 * Math.abs(ref.out[i]));
    expectClose(await host(ys[0]), ref.out, tol, 'eval output with the stored u, v', [3, 4]);
    for (const t of [x, ...ys]) t.dispose();
    lin.dispose();
  });

  it('powerIterations: 0 never updates u and v, not even in training mode', async () => {
    const lin = spectralNorm(new Linear(5, 3), { powerIterations: 0 });
    const x = tensor(randomData(new Rng(31), 10), [2, 5]);
    const uBits = await bits(lin.tensor('weight_u'));
    trainForwards(lin, x, 3);
    expect(await bits(lin.tensor('weight_u'))).toEqual(uBits);
    x.dispose();
    lin.dispose();
  });
});

// ---------------------------------------------------------------------------------- gradients

describe('gradients', () => {
  it('a training forward + backward reaches weight_orig and bias', async () => {
    manualSeed(40);
    const conv = spectralNorm(new Conv2d(2, 3, 3));
    const x = tensor(randomData(new Rng(40), 2 * 2 * 5 * 4), [2, 2, 5, 4]);
    const y = conv.forward(x);
    const loss = sum(mul(y, y));
    loss.backward();
    const g = conv.tensor('weight_orig').grad;
    expect(g).not.toBeNull();
    expect(g!.shape).toEqual([3, 2, 3, 3]);
    expect(Array.from(await host(g!)).some((v) => v !== 0)).toBe(true);
    expect(conv.tensor('bias').grad).not.toBeNull();
    expect(conv.tensor('weight_u').grad).toBeNull();
    conv.zeroGrad();
    for (const t of [x, y, loss]) t.dispose();
    conv.dispose();
  });

  it('two training forwards then one backward: each forward\'s gradient uses its own u, v (closed form)', async () => {
    manualSeed(41);
    const [N, I, O] = [3, 5, 4];
    const lin = spectralNorm(new Linear(I, O));
    const rng = new Rng(41);
    const xs = [randomData(rng, N * I, -2, 2), randomData(rng, N * I, -2, 2)];
    const rs = [randomData(rng, N * O), randomData(rng, N * O)];
    const uv: { u: Float64Array; v: Float64Array }[] = [];
    const losses: Tensor[] = [];
    const held: Tensor[] = [];
    for (let k = 0; k < 2; k++) {
      const x = tensor(xs[k], [N, I]);
      const R = tensor(rs[k], [N, O]);
      const y = lin.forward(x);
      uv.push({ u: await read(lin.tensor('weight_u')), v: await read(lin.tensor('weight_v')) });
      const prod = mul(y, R);
      losses.push(sum(prod));
      held.push(x, R, y, prod);
    }
    const loss = add(losses[0], losses[1]);
    loss.backward();
    const W = await read(lin.tensor('weight_orig'));
    /** Σ_k G_k/σ_k − ⟨G_k, W⟩/σ_k²·u_k v_kᵀ, with (u_k, v_k) = pick(k). */
    const closedForm = (pick: (k: number) => { u: Float64Array; v: Float64Array }) => {
      const g = new Float64Array(O * I);
      const scale = new Float64Array(O * I);
      for (let k = 0; k < 2; k++) {
        const { u, v } = pick(k);
        const sigma = bilinear(u, W, v, O, I);
        const G = new Float64Array(O * I);
        for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) for (let n = 0; n < N; n++) G[o * I + i] += rs[k][n * O + o] * xs[k][n * I + i];
        const gw = dotv(G, W);
        for (let o = 0; o < O; o++)
          for (let i = 0; i < I; i++) {
            const a = G[o * I + i] / sigma;
            const b = ((gw / (sigma * sigma)) * u[o]) * v[i];
            g[o * I + i] += a - b;
            scale[o * I + i] += Math.abs(a) + Math.abs(b);
          }
      }
      return { g, scale };
    };
    const right = closedForm((k) => uv[k]);
    const tol = Float64Array.from(right.scale, (s) => 1e-4 * s + 1e-6);
    // Precondition: with the second forward's u, v for both, the gradient is measurably different.
    const wrong = closedForm(() => uv[1]);
    expect(Math.max(...right.g.map((v, i) => Math.abs(v - wrong.g[i]) / tol[i])), 'precondition: u, v changed enough between the forwards').toBeGreaterThan(10);
    expectClose(await host(lin.tensor('weight_orig').grad!), right.g, tol, 'weight_orig gradient over two forwards', [O, I]);
    for (const t of [...held, ...losses, loss]) t.dispose();
    lin.zeroGrad();
    lin.dispose();
  });

  /** Finite differences in eval mode (u, v fixed), w.r.t. x, weight_orig and bias; the perturbed weight_orig stands in through setDerived. */
  function evalCase(name: string, build: () => Module, xShape: number[]): GradCase {
    let m: Module;
    return {
      name,
      make: (r) => {
        manualSeed(50);
        m = build();
        const x = randTensor(r, xShape, -1, 1);
        trainForwards(m, x, 3); // u, v away from their random start
        m.eval();
        return [x, m.tensor('weight_orig'), m.tensor('bias')];
      },
      fn: (x, w, b) => {
        m.setDerived('weight_orig', w);
        m.setDerived('bias', b);
        try {
          return m.forward(x);
        } finally {
          m.setDerived('weight_orig', null);
          m.setDerived('bias', null);
        }
      },
      options: { mode: 'backward' },
    };
  }
  const cases = [
    evalCase('spectral-norm Linear(5, 3), x[4,5]', () => spectralNorm(new Linear(5, 3)), [4, 5]),
    evalCase('spectral-norm Conv2d(2, 3, 3, padding 1), x[2,2,4,3]', () => spectralNorm(new Conv2d(2, 3, 3, { padding: 1 })), [2, 2, 4, 3]),
    evalCase('spectral-norm ConvTranspose2d(2, 3, 3, stride 2), x[1,2,3,2]', () => spectralNorm(new ConvTranspose2d(2, 3, 3, { stride: 2 })), [1, 2, 3, 2]),
  ];
  for (const c of cases) {
    it(`finite differences in eval mode: ${c.name}`, async () => {
      const report = await runGradCase(c);
      expect(report.worstRatio).toBeLessThanOrEqual(1);
      expect(report.analytic[1].some((v) => v !== 0)).toBe(true);
    });
  }
});

// ------------------------------------------------------------------------------------ refusals

describe('refusals leave the module unchanged', () => {
  const keysOf = (m: Module) => [...m.stateDict().keys()];

  it('spectralNorm twice on the same weight', () => {
    const lin = spectralNorm(new Linear(4, 3));
    const keys = keysOf(lin);
    expect(() => spectralNorm(lin)).toThrow(/spectralNorm: Linear\.weight is already spectrally normalised/);
    expect(keysOf(lin)).toEqual(keys);
    lin.dispose();
  });

  it('a module without the parameter, bad powerIterations, a dim out of range', async () => {
    expect(() => spectralNorm(new ReLU())).toThrow(/spectralNorm: ReLU has no parameter 'weight'/);
    expect(() => spectralNorm(new Linear(4, 3), { name: 'kernel' })).toThrow(/spectralNorm: Linear has no parameter 'kernel'/);
    const lin = new Linear(4, 3);
    const keys = keysOf(lin);
    expect(() => spectralNorm(lin, { powerIterations: -1 })).toThrow(/powerIterations must be a non-negative integer, got -1/);
    expect(keysOf(lin)).toEqual(keys);
    expect(() => spectralNorm(lin, { dim: 2 })).toThrow(/spectralNorm: dim 2 is out of range for weight \[3,4\]/);
    expect(keysOf(lin)).toEqual(keys);
    // Still a working Linear.
    const x = tensor(randomData(new Rng(60), 8), [2, 4]);
    const y = lin.forward(x);
    expect(y.shape).toEqual([2, 3]);
    for (const t of [x, y]) t.dispose();
    lin.dispose();
  });

  it('dcganInit_ initialises weight_orig (not a missing weight)', async () => {
    const lin = init.dcganInit_(spectralNorm(new Linear(4, 3)));
    expect(Array.from(await host(lin.tensor('bias'))).every((v) => v === 0)).toBe(true);
    lin.dispose();
  });
});
