/**
 * G's latent prior: the normal prior is N(0, I); the Gaussian-mixture prior puts every sample
 * near one of its seeded centres, uses the centres evenly, spreads by latentComponentStd around
 * them, draws everything from the Generator it is given (so a checkpointed state repeats the
 * draws), and leaks nothing. The trainer, sample grids and CLI draw their latents from it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initNode } from '@webgan/kernels/node';
import { Generator, memory } from '@webgan/core';
import { presetConfig, validateConfig, type TrainConfig } from '../../packages/gan/src/train/config';
import { LatentPrior } from '../../packages/gan/src/train/latent-prior';
import { toyData } from '../../packages/gan/src/train/data-source';
import { GanTrainer } from '../../packages/gan/src/train/trainer';
import { tinyToyConfig } from '../helpers/run-folder';

beforeAll(async () => {
  await initNode({ tuningFile: false });
});

const mixture = (overrides: Partial<TrainConfig> = {}) => ({ ...presetConfig('grid25'), latentPrior: 'mixture' as const, latentDim: 6, latentComponents: 10, latentComponentStd: 0.1, seed: 3, ...overrides });
const priors: LatentPrior[] = [];
const prior = (config: Parameters<typeof mixture>[0] = {}, kind: 'mixture' | 'normal' = 'mixture') => {
  const p = new LatentPrior(kind === 'mixture' ? mixture(config) : { ...mixture(config), latentPrior: 'normal' });
  priors.push(p);
  return p;
};
afterAll(() => priors.forEach((p) => p.dispose()));

async function draw(p: LatentPrior, n: number, gen: Generator): Promise<Float32Array> {
  const z = p.sample(n, gen);
  expect(z.shape).toEqual([n, p.dim]);
  const values = (await z.data()) as Float32Array;
  z.dispose();
  return values;
}

/** Index of the nearest centre and the squared distance to it, per row. */
function nearest(z: Float32Array, centres: Float32Array, dim: number): { index: number; d2: number }[] {
  const k = centres.length / dim;
  const out: { index: number; d2: number }[] = [];
  for (let r = 0; r < z.length / dim; r++) {
    let best = { index: -1, d2: Infinity };
    for (let c = 0; c < k; c++) {
      let d2 = 0;
      for (let j = 0; j < dim; j++) d2 += (z[r * dim + j] - centres[c * dim + j]) ** 2;
      if (d2 < best.d2) best = { index: c, d2 };
    }
    out.push(best);
  }
  return out;
}

describe('normal prior', () => {
  it('draws N(0, I) and has no centres', async () => {
    const p = prior({}, 'normal');
    expect(p.centres).toBeNull();
    const z = await draw(p, 4000, new Generator(1));
    const mean = z.reduce((a, b) => a + b, 0) / z.length;
    const std = Math.sqrt(z.reduce((a, b) => a + (b - mean) ** 2, 0) / z.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(std - 1)).toBeLessThan(0.03);
  });
});

describe('Gaussian-mixture prior', () => {
  it('has latentComponents centres that are a function of the seed', async () => {
    const a = (await prior().centres!.data()) as Float32Array;
    const b = (await prior().centres!.data()) as Float32Array;
    const c = (await prior({ seed: 4 }).centres!.data()) as Float32Array;
    expect(a.length).toBe(10 * 6);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('puts every sample within latentComponentStd of one centre, and uses the centres evenly', async () => {
    const p = prior();
    const centres = (await p.centres!.data()) as Float32Array;
    const n = 5000;
    const z = await draw(p, n, new Generator(7));
    const near = nearest(z, centres, 6);
    // ‖z − centre‖² / σ² is χ² with 6 degrees of freedom: mean 6, and above 40 with probability < 1e-6.
    const scaled = near.map((x) => x.d2 / 0.1 ** 2);
    expect(Math.max(...scaled)).toBeLessThan(40);
    const meanScaled = scaled.reduce((a, b) => a + b, 0) / n;
    expect(Math.abs(meanScaled - 6)).toBeLessThan(0.3);
    const counts = new Array(10).fill(0);
    for (const x of near) counts[x.index]++;
    // Uniform choice: 500 expected per centre, binomial std ≈ 21; 6 std either way.
    for (const count of counts) expect(Math.abs(count - 500)).toBeLessThan(130);
  });

  it('with latentComponentStd 0 gives the centres themselves', async () => {
    const p = prior({ latentComponentStd: 0 });
    const centres = (await p.centres!.data()) as Float32Array;
    const near = nearest(await draw(p, 200, new Generator(2)), centres, 6);
    for (const x of near) expect(x.d2).toBe(0);
  });

  it('draws from the Generator it is given: the same state repeats the draws, and it advances', async () => {
    const p = prior();
    const gen = new Generator(11);
    const state = gen.getState();
    const first = await draw(p, 64, gen);
    expect(gen.getState().offset).toBeGreaterThan(state.offset);
    const second = await draw(p, 64, gen);
    expect(second).not.toEqual(first);
    gen.setState(state);
    expect(await draw(p, 64, gen)).toEqual(first);
  });

  it('leaves no tensors behind', async () => {
    const p = prior();
    const gen = new Generator(5);
    (await draw(p, 32, gen)).length;
    const before = memory().liveTensors;
    for (let i = 0; i < 5; i++) await draw(p, 32, gen);
    expect(memory().liveTensors).toBe(before);
  });

  it("is where the trainer's latents come from", async () => {
    const config = tinyToyConfig({ latentPrior: 'mixture', latentDim: 3, latentComponents: 4, latentComponentStd: 0 });
    validateConfig(config);
    const trainer = new GanTrainer(config, toyData('ring8', config.seed));
    try {
      const centres = (await trainer.prior.centres!.data()) as Float32Array;
      // Sampling in eval mode maps each of the 4 centres to one point: at most 4 distinct outputs.
      const samples = await trainer.sample(200);
      const distinct = new Set<string>();
      for (let i = 0; i < 200; i++) distinct.add(`${samples[2 * i].toFixed(4)},${samples[2 * i + 1].toFixed(4)}`);
      expect(centres.length).toBe(12);
      expect(distinct.size).toBeLessThanOrEqual(4);
      expect(distinct.size).toBeGreaterThan(1);
    } finally {
      trainer.dispose();
    }
  });
});

describe('settings', () => {
  it('are checked with a message naming the field', () => {
    const base = presetConfig('grid25');
    expect(() => validateConfig({ ...base, latentPrior: 'uniform' as 'normal' })).toThrow("config: latentPrior must be one of normal, mixture, got \"uniform\"");
    expect(() => validateConfig({ ...base, latentComponents: 0 })).toThrow('config: latentComponents must be a positive integer, got 0');
    expect(() => validateConfig({ ...base, latentComponentStd: -0.5 })).toThrow('config: latentComponentStd must be a finite number ≥ 0, got -0.5');
  });
});
