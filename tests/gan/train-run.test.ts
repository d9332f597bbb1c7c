/**
 * Training runs end to end on small configurations: the run folder's files, exact resume
 * (N straight steps vs N/2 + resume + N/2: identical metrics.jsonl losses and identical weights),
 * the loss/penalty plumbing of every loss and penalty, and refusals that write nothing.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initNode } from '@webgan/kernels/node';
import { memory } from '@webgan/core';
import { presetConfig, type TrainConfig } from '../../packages/gan/src/train/config';
import { runTraining } from '../../packages/gan/src/train/run';
import { checkpointTensors, metricsLines, tinyToyConfig } from '../helpers/run-folder';
import { LOSS_NAMES } from '../../packages/gan/src/losses/adversarial';

const root = mkdtempSync(join(tmpdir(), 'webgan-train-'));
beforeAll(async () => {
  await initNode({ tuningFile: false });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const tinyToy = tinyToyConfig;

const tinyMnist = (overrides: Partial<TrainConfig> = {}): TrainConfig => ({
  ...presetConfig('mnist-dcgan'),
  width: 4,
  batchSize: 8,
  steps: 4,
  logEvery: 1,
  sampleEvery: 2,
  checkpointEvery: 2,
  evalSamples: 200,
  ...overrides,
});

const lines = metricsLines;
const weights = async (dir: string) => (await checkpointTensors(dir)).tensors;

describe('run folder', () => {
  it('a toy run writes config, metrics, samples, curves, checkpoint, summary and report', async () => {
    const dir = join(root, 'toy');
    const summary = await runTraining({ config: tinyToy(), out: dir, resume: false });
    expect(readdirSync(dir).sort()).toEqual(['checkpoint', 'config.json', 'loss-curves.svg', 'metrics.jsonl', 'report.html', 'samples', 'summary.json']);
    expect(readdirSync(join(dir, 'samples'))).toEqual(['step-000006.png', 'step-000012.png']);
    expect(lines(dir).map((l) => l.step)).toEqual([2, 4, 6, 8, 10, 12]);
    for (const key of ['preset', 'steps', 'wall_s', 'steps_per_s', 'modes_covered', 'modes_total', 'high_quality_fraction', 'mode_kl']) expect(summary).toHaveProperty(key);
    expect(summary.modes_total).toBe(8);
    expect(JSON.parse(readFileSync(join(dir, "summary.json"), "utf8"))).toEqual(JSON.parse(JSON.stringify(summary)));
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('samples/step-000012.png');
    expect(readFileSync(join(dir, 'loss-curves.svg'), 'utf8')).toContain('<svg');
    expect(readdirSync(join(dir, 'checkpoint')).sort()).toEqual(['latest.json', 'step-000006', 'step-000012']);
    expect(memory().liveTensors).toBe(0);
  });

  it('an MNIST DCGAN run reports FID-style metrics beside the real-data floor', async () => {
    const summary = await runTraining({ config: tinyMnist(), out: join(root, 'mnist'), resume: false });
    for (const key of ['fid', 'fid_real_floor', 'classifier_score', 'classes_covered', 'class_histogram']) expect(summary).toHaveProperty(key);
    expect(summary.fid as number).toBeGreaterThan(summary.fid_real_floor as number);
    expect((summary.class_histogram as number[]).reduce((a, b) => a + b, 0)).toBe(200);
  });
});

describe('exact resume', () => {
  const cases: [string, () => TrainConfig][] = [
    ['toy MLP with EMA and minibatch std', () => tinyToy({ steps: 12 })],
    ['MNIST DCGAN with BatchNorm and EMA', () => tinyMnist({ steps: 4 })],
    ['conditional DCGAN (cGAN)', () => tinyMnist({ steps: 4, conditional: 'cgan' })],
    ['toy MLP with instance noise and top-k generator updates', () => tinyToy({ steps: 12, instanceNoise: 0.5, instanceNoiseSteps: 8, topK: 0.5, topKSteps: 6 })],
    ['toy MLP with a Gaussian-mixture latent prior', () => tinyToy({ steps: 12, latentPrior: 'mixture', latentComponents: 7, latentComponentStd: 0.3 })],
    ['WGAN-GP with n_critic 2 (random interpolates)', () => tinyToy({ steps: 8, loss: 'wasserstein', penalty: 'gp', nCritic: 2, dNorm: 'layer', checkpointEvery: 4 })],
  ];
  it.each(cases)('%s: straight vs half + resume give the same losses and weights', async (name, make) => {
    const straight = join(root, `straight-${name.replace(/\W+/g, '-')}`);
    const split = join(root, `split-${name.replace(/\W+/g, '-')}`);
    const full = make();
    await runTraining({ config: full, out: straight, resume: false });
    await runTraining({ config: { ...full, steps: full.steps / 2 }, out: split, resume: false });
    await runTraining({ config: { ...full, steps: full.steps }, out: split, resume: true });
    const a = lines(straight);
    const b = lines(split);
    expect(b.map((l) => l.step)).toEqual(a.map((l) => l.step));
    a.forEach((l, i) => {
      expect(Math.abs(b[i].loss_d - l.loss_d), `step ${l.step} loss_d`).toBeLessThanOrEqual(1e-6);
      expect(Math.abs(b[i].loss_g - l.loss_g), `step ${l.step} loss_g`).toBeLessThanOrEqual(1e-6);
    });
    expect(await weights(split)).toEqual(await weights(straight));
  });
});

describe('losses and penalties train without errors and stay finite', () => {
  it.each(LOSS_NAMES)('%s loss', async (loss) => {
    const summary = await runTraining({ config: tinyToy({ loss, steps: 4, logEvery: 1 }), out: join(root, `loss-${loss}`), resume: false });
    expect(summary.steps).toBe(4);
    for (const l of lines(join(root, `loss-${loss}`))) expect(Number.isFinite(l.loss_d) && Number.isFinite(l.loss_g)).toBe(true);
  });
  it.each([
    ['clip', { loss: 'wasserstein', penalty: 'clip', clipValue: 0.01 }],
    ['r1', { penalty: 'r1', penaltyWeight: 1, dNorm: 'layer' }],
    ['gp on a DCGAN critic with LayerNorm', { loss: 'wasserstein', penalty: 'gp', dNorm: 'layer' }],
  ] as const)('%s', async (name, overrides) => {
    const mnist = name.includes('DCGAN');
    const config = mnist ? tinyMnist({ ...overrides, steps: 2 }) : tinyToy({ ...(overrides as Partial<TrainConfig>), steps: 4, logEvery: 1 });
    await runTraining({ config: config as TrainConfig, out: join(root, `penalty-${name.replace(/\W+/g, '-')}`), resume: false });
    const ls = lines(join(root, `penalty-${name.replace(/\W+/g, '-')}`));
    if (name !== 'clip') expect(ls.every((l) => typeof l.penalty === 'number' && l.penalty > 0)).toBe(true);
  });
  it('weight clipping keeps every critic weight within ±c', async () => {
    const dir = join(root, 'clip-check');
    await runTraining({ config: tinyToy({ loss: 'wasserstein', penalty: 'clip', clipValue: 0.01, steps: 4 }), out: dir, resume: false });
    const w = await weights(dir);
    const critic = [...w].filter(([k]) => k.startsWith('discriminator/'));
    expect(critic.length).toBeGreaterThan(0);
    for (const [, values] of critic) for (const v of values) expect(Math.abs(v)).toBeLessThanOrEqual(0.01 + 1e-9);
  });
  it('AC-GAN, projection-discriminator, MLP-on-images and PacGAN configurations run and are evaluated', async () => {
    for (const conditional of ['acgan', 'projection'] as const) {
      const summary = await runTraining({ config: tinyMnist({ conditional, steps: 2 }), out: join(root, conditional), resume: false });
      expect(summary.conditional_accuracy as number).toBeGreaterThanOrEqual(0);
      expect(summary.steps).toBe(2);
    }
    // An MLP on images: D flattens [N, 1, 28, 28], G's 784 outputs are shaped back into images.
    const mlp = await runTraining({ config: tinyMnist({ model: 'mlp', gHidden: [16], dHidden: [16], steps: 2 }), out: join(root, 'mnist-mlp'), resume: false });
    expect(mlp.classes_covered as number).toBeGreaterThanOrEqual(0);
    expect(existsSync(join(root, 'mnist-mlp', 'samples', 'step-000002.png'))).toBe(true);
    const pac = await runTraining({ config: tinyToy({ pac: 2, steps: 2 }), out: join(root, 'pac'), resume: false });
    expect(pac.modes_total).toBe(8);
  });
});

describe('refusals write nothing', () => {
  it('a folder holding a run, a non-empty folder, an unwritable path, a bad setting', async () => {
    const dir = join(root, 'toy');
    const before = readFileSync(join(dir, 'metrics.jsonl'), 'utf8');
    await expect(runTraining({ config: tinyToy(), out: dir, resume: false })).rejects.toThrow(/already holds a run; pass --resume/);
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).toBe(before);
    const other = join(root, 'not-empty');
    mkdirSync(other);
    writeFileSync(join(other, 'keep.txt'), 'x');
    await expect(runTraining({ config: tinyToy(), out: other, resume: false })).rejects.toThrow(/is not empty/);
    expect(readdirSync(other)).toEqual(['keep.txt']);
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    await expect(runTraining({ config: tinyToy(), out: join(file, 'run'), resume: false })).rejects.toThrow(/is not writable/);
    await expect(runTraining({ config: tinyToy({ batchSize: 0 }), out: join(root, 'bad'), resume: false })).rejects.toThrow(/batchSize must be a positive integer/);
    await expect(runTraining({ config: tinyToy(), out: join(root, 'nothing-here'), resume: true })).rejects.toThrow(/no run there/);
  });
});
