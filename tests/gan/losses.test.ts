/**
 * Adversarial losses against their float64 formulas, the penalties against closed forms, and the
 * models' shapes.
 *
 * Losses: random logits in [−6, 6]; |got − ref| ≤ 1e-5·(1 + |ref|) (a handful of float32
 * transcendental evaluations averaged over ≤ 64 values).
 * Penalties: a linear critic D(x) = x·wᵀ has ∇ₓD = w for every x, so
 *   GP = λ(‖w‖ − 1)², dGP/dw = 2λ(‖w‖ − 1)·w/‖w‖;  R1 = γ/2·‖w‖², dR1/dw = γ·w.
 * The gradient with respect to w goes through ∇ₓD (a gradient of a gradient); |got − ref| ≤ 1e-5·(1 + |ref|).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initNode } from '@webgan/kernels/node';
import { linear, memory, sum, tensor, tidy, type Tensor } from '@webgan/core';
import { discriminatorLoss, generatorLoss, LOSS_NAMES, type LossName } from '../../packages/gan/src/losses/adversarial';
import { clipWeights, gradientPenalty, r1Penalty } from '../../packages/gan/src/losses/penalties';
import { DcganDiscriminator, DcganGenerator } from '../../packages/gan/src/models/dcgan';
import { MlpDiscriminator, MlpGenerator } from '../../packages/gan/src/models/mlp';
import { MinibatchStd } from '../../packages/gan/src/models/minibatch-std';
import { Linear } from '@webgan/nn';
import { Rng } from '../helpers/reference';

beforeAll(async () => {
  await initNode({ tuningFile: false });
});

const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const relu = (x: number) => Math.max(0, x);

function refD(name: LossName, r: number[], f: number[], realLabel: number): number {
  switch (name) {
    case 'minimax':
    case 'non-saturating':
      // BCE with target t: softplus(x) − t·x
      return mean(r.map((x) => softplus(x) - realLabel * x)) + mean(f.map((x) => softplus(x)));
    case 'wasserstein':
      return mean(f) - mean(r);
    case 'hinge':
      return mean(r.map((x) => relu(1 - x))) + mean(f.map((x) => relu(1 + x)));
    case 'least-squares':
      return 0.5 * (mean(r.map((x) => (x - realLabel) ** 2)) + mean(f.map((x) => x * x)));
  }
}

function refG(name: LossName, f: number[]): number {
  switch (name) {
    case 'minimax':
      return mean(f.map((x) => -softplus(x))); // log(1 − σ(x))
    case 'non-saturating':
      return mean(f.map((x) => softplus(-x))); // −log σ(x)
    case 'wasserstein':
    case 'hinge':
      return -mean(f);
    case 'least-squares':
      return 0.5 * mean(f.map((x) => (x - 1) ** 2));
  }
}

const close = (got: number, ref: number, what: string) => expect(Math.abs(got - ref), `${what}: got ${got}, ref ${ref}`).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(ref)));

describe('adversarial losses', () => {
  LOSS_NAMES.forEach((name, k) => {
    it.each([1, 0.9])(`${name} (real label %s)`, async (realLabel) => {
      const rng = new Rng(40 + k);
      const r = Array.from({ length: 37 }, () => Math.fround(rng.float(-6, 6)));
      const f = Array.from({ length: 37 }, () => Math.fround(rng.float(-6, 6)));
      const rt = tensor(r, [37, 1]);
      const ft = tensor(f, [37, 1]);
      const d = discriminatorLoss(name, rt, ft, { realLabel });
      const g = generatorLoss(name, ft);
      close(await d.item(), refD(name, r, f, realLabel), 'D loss');
      close(await g.item(), refG(name, f), 'G loss');
      [rt, ft, d, g].forEach((t) => t.dispose());
    });
  });
  it('the minimax generator loss saturates where non-saturating does not (Goodfellow 2014, §3)', async () => {
    // A confident discriminator (fake logit −8): d/df log(1 − σ(f)) = −σ(f) ≈ −3e-4, d/df −log σ(f) = σ(f) − 1 ≈ −1.
    for (const [name, expected] of [['minimax', -0.000335], ['non-saturating', -0.999665]] as const) {
      const f = tensor([-8], [1, 1], { requiresGrad: true });
      const loss = generatorLoss(name, f);
      loss.backward();
      expect((await f.grad!.data())[0]).toBeCloseTo(expected, 5);
      [f, loss].forEach((t) => t.dispose());
    }
  });
});

describe('penalties on a linear critic (closed forms, through double backward)', () => {
  const w0 = [0.3, -1.2, 0.5, 0.9];
  const norm = Math.hypot(...w0);
  const setup = () => {
    const w = tensor(w0, [1, 4], { requiresGrad: true });
    const rng = new Rng(3);
    const real = tensor(Array.from({ length: 24 }, () => rng.float(-1, 1)), [6, 4]);
    const fake = tensor(Array.from({ length: 24 }, () => rng.float(-1, 1)), [6, 4]);
    return { w, real, fake, critic: (x: Tensor) => linear(x, w) };
  };
  it('gradient penalty λ(‖w‖ − 1)² and its gradient with respect to w', async () => {
    const { w, real, fake, critic } = setup();
    const gp = gradientPenalty(critic, real, fake, 10);
    close(await gp.item(), 10 * (norm - 1) ** 2, 'GP');
    gp.backward();
    const g = await w.grad!.data();
    w0.forEach((v, i) => close(g[i], 2 * 10 * (norm - 1) * (v / norm), `dGP/dw[${i}]`));
    [w, real, fake, gp].forEach((t) => t.dispose());
  });
  it('R1 γ/2·‖w‖² and its gradient γ·w', async () => {
    const { w, real, fake, critic } = setup();
    const r1 = r1Penalty(critic, real, 4);
    close(await r1.item(), 2 * norm * norm, 'R1');
    r1.backward();
    const g = await w.grad!.data();
    w0.forEach((v, i) => close(g[i], 4 * v, `dR1/dw[${i}]`));
    [w, real, fake, r1].forEach((t) => t.dispose());
  });
  it('weight clipping clamps every parameter to [−c, c] and leaves smaller values alone', async () => {
    const layer = new Linear(3, 2);
    const before = [...(await layer.weight.data())];
    clipWeights(layer, 0.1);
    const after = [...(await layer.weight.data())];
    after.forEach((v, i) => expect(v).toBe(Math.max(Math.fround(-0.1), Math.min(Math.fround(0.1), before[i]))));
    expect(() => clipWeights(layer, 0)).toThrow(/must be > 0/);
    layer.dispose();
  });
  it('refuses real and fake batches of different shapes', () => {
    const { w, real, fake, critic } = setup();
    const other = tensor(new Float32Array(8), [2, 4]);
    expect(() => gradientPenalty(critic, real, other)).toThrow(/real \[6,4\] and fake \[2,4\]/);
    [w, real, fake, other].forEach((t) => t.dispose());
  });
});

describe('models', () => {
  it.each([28, 32, 64] as const)('DCGAN %i px: G gives [N, C, S, S] in [−1, 1]; D gives [N, outputs]', async (size) => {
    const G = new DcganGenerator({ latentDim: 8, channels: 3, imageSize: size, width: 4 });
    const D = new DcganDiscriminator({ channels: 3, imageSize: size, width: 4, outputs: 1, norm: 'batch' });
    const z = tensor(new Float32Array(3 * 8).map((_, i) => Math.sin(i)), [3, 8]);
    const x = G.forward(z);
    expect(x.shape).toEqual([3, 3, size, size]);
    expect(Math.max(...(await x.data()).map(Math.abs))).toBeLessThanOrEqual(1);
    const y = D.forward(x);
    expect(y.shape).toEqual([3, 1]);
    [z, x, y].forEach((t) => t.dispose());
    G.dispose();
    D.dispose();
  });
  it('the 28 px DCGAN has the published layer shapes and PyTorch keys', () => {
    const G = new DcganGenerator({ latentDim: 64, channels: 1, imageSize: 28, width: 64 });
    const D = new DcganDiscriminator({ channels: 1, imageSize: 28, width: 64, outputs: 1, norm: 'batch' });
    const shapes = (m: { namedParameters(): Iterable<[string, Tensor]> }) => Object.fromEntries([...m.namedParameters()].map(([k, p]) => [k, p.shape]));
    expect(shapes(G)).toEqual({
      'main.0.weight': [64, 128, 7, 7], 'main.1.weight': [128], 'main.1.bias': [128],
      'main.3.weight': [128, 64, 4, 4], 'main.4.weight': [64], 'main.4.bias': [64],
      'main.6.weight': [64, 1, 4, 4], 'main.6.bias': [1],
    });
    expect(shapes(D)).toEqual({
      'main.0.weight': [64, 1, 4, 4], 'main.0.bias': [64],
      'main.2.weight': [128, 64, 4, 4], 'main.3.weight': [128], 'main.3.bias': [128],
      'main.5.weight': [1, 128, 7, 7], 'main.5.bias': [1],
    });
    G.dispose();
    D.dispose();
  });
  it('conditional models take labels; AC-GAN D outputs 1 + classes; spectral norm and minibatch std compose', () => {
    const liveBefore = memory().liveTensors;
    const G = new MlpGenerator({ latentDim: 4, hidden: [8], outFeatures: 6, output: 'tanh', numClasses: 3 });
    const D = new MlpDiscriminator({ inFeatures: 6, hidden: [8, 8], outputs: 4, numClasses: 3, spectralNorm: true, minibatchStd: true });
    const z = tensor(new Float32Array(20).fill(0.5), [5, 4]);
    const labels = tensor(Int32Array.of(0, 1, 2, 1, 0), [5]);
    const x = G.forward(z, labels);
    const y = D.forward(x, labels);
    expect([x.shape, y.shape]).toEqual([[5, 6], [5, 4]]);
    expect(() => G.forward(z)).toThrow(/conditional; pass labels/);
    expect([...D.stateDict().keys()]).toContain('main.0.weight_orig');
    [z, labels, x, y].forEach((t) => t.dispose());
    G.dispose();
    D.dispose();
    expect(memory().liveTensors).toBe(liveBefore);
  });
  it('projection discriminators add ⟨class vector, last features⟩ to the unconditional logit (MLP and DCGAN)', async () => {
    const liveBefore = memory().liveTensors;
    const rng = new Rng(77);
    const labels = tensor(Int32Array.of(2, 0, 1, 2), [4]);
    const mlp = new MlpDiscriminator({ inFeatures: 3, hidden: [5, 6], outputs: 1, numClasses: 3, conditioning: 'projection' });
    const dcgan = new DcganDiscriminator({ channels: 1, imageSize: 28, width: 2, outputs: 1, norm: 'none', numClasses: 3, conditioning: 'projection' });
    for (const [D, inputShape, head] of [[mlp, [4, 3], 1], [dcgan, [4, 1, 28, 28], 2]] as [MlpDiscriminator | DcganDiscriminator, number[], number][]) {
      const keys = [...D.stateDict().keys()];
      expect(keys).toContain('label_projection.weight');
      expect(keys).not.toContain('label_embedding.weight');
      const x = tensor(Float32Array.from({ length: inputShape.reduce((a, b) => a * b, 1) }, () => rng.normal()), [...inputShape]);
      const out = D.forward(x, labels);
      // The same net without labels, layer by layer, then the projection by hand on the host.
      const { h, logit } = tidy(() => {
        let h = x;
        for (let i = 0; i < D.net.length - head; i++) h = D.net.at(i).forward(h);
        let logit = h;
        for (let i = D.net.length - head; i < D.net.length; i++) logit = D.net.at(i).forward(logit);
        return { h, logit };
      });
      const [hv, lv, pv, ov] = await Promise.all([h.data(), logit.data(), D.projection!.tensor('weight').data(), out.data()]);
      const features = hv.length / 4;
      const classes = [2, 0, 1, 2];
      for (let n = 0; n < 4; n++) {
        let dot = 0;
        for (let f = 0; f < features; f++) dot += hv[n * features + f] * pv[classes[n] * features + f];
        expect(Math.abs(ov[n] - (lv[n] + dot))).toBeLessThan(1e-5 * (1 + Math.abs(lv[n]) + Math.abs(dot)));
      }
      // Gradients reach the class vectors of the labels used, and only those rows.
      const total = sum(out);
      total.backward();
      total.dispose();
      const g = (await D.projection!.tensor('weight').grad!.data()) as Float32Array;
      const rowNorm = (k: number) => g.slice(k * features, (k + 1) * features).reduce((a: number, b: number) => a + Math.abs(b), 0);
      expect([0, 1, 2].map((k) => rowNorm(k) > 0)).toEqual([true, true, true]);
      expect(() => D.forward(x)).toThrow(/conditional; pass labels/);
      D.zeroGrad();
      [x, out, h, logit].forEach((t) => t.dispose());
      D.dispose();
    }
    labels.dispose();
    expect(memory().liveTensors).toBe(liveBefore);
  });
  it('minibatch std appends the mean per-feature standard deviation across the batch', async () => {
    const x = tensor([[1, 10], [3, 10], [5, 13]], [3, 2]);
    const y = new MinibatchStd().forward(x);
    // population std per feature: [1.63299, 1.41421]; mean 1.52360 (+1e-8 inside the root)
    expect(y.shape).toEqual([3, 3]);
    const v = await y.data();
    for (const i of [2, 5, 8]) expect(v[i]).toBeCloseTo((Math.sqrt(8 / 3) + Math.sqrt(2)) / 2, 5);
    [x, y].forEach((t) => t.dispose());
  });
});

it('leaves no tensor alive', () => {
  expect(memory().liveTensors).toBe(0);
});
