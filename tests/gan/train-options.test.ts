/**
 * Training options that change what D sees or what G learns from: instance noise (its schedule,
 * and that it reaches D's inputs) and top-k generator updates (the kept count's schedule, and
 * that G's loss is the loss of the k best-scored samples only).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initNode } from '@webgan/kernels/node';
import { Generator, memory, randn, reshape, tensor, tidy, topk, type Tensor } from '@webgan/core';
import { getRuntime } from '@webgan/kernels';
import { presetConfig, validateConfig, type TrainConfig } from '../../packages/gan/src/train/config';
import { toyData } from '../../packages/gan/src/train/data-source';
import { bundledMnistData } from '../../packages/gan/src/train/load-data';
import { GanTrainer } from '../../packages/gan/src/train/trainer';
import { discriminatorLoss, generatorLoss } from '../../packages/gan/src/losses/adversarial';
import { tinyToyConfig } from '../helpers/run-folder';

beforeAll(async () => {
  await initNode({ tuningFile: false });
});

const trainer = (overrides: Partial<TrainConfig>) => {
  const config = tinyToyConfig(overrides);
  validateConfig(config);
  return new GanTrainer(config, toyData('ring8', config.seed));
};

/** f's result on a new trainer, which is disposed afterwards. */
function withTrainer<T>(overrides: Partial<TrainConfig>, f: (t: GanTrainer) => T): T {
  const t = trainer(overrides);
  try {
    return f(t);
  } finally {
    t.dispose();
  }
}

/** D and G losses of the first `steps` steps. */
async function losses(overrides: Partial<TrainConfig>, steps: number): Promise<number[][]> {
  const t = trainer(overrides);
  const out: number[][] = [];
  for (let s = 0; s < steps; s++) {
    const l = t.trainStep();
    out.push([await l.d.item(), await l.g.item()]);
    l.d.dispose();
    l.g.dispose();
    l.penalty?.dispose();
  }
  t.dispose();
  return out;
}

describe('instance noise', () => {
  it('shrinks linearly from instanceNoise to 0 over instanceNoiseSteps, then stays 0', () => {
    const stds = withTrainer({ instanceNoise: 0.8, instanceNoiseSteps: 100 }, (t) => [0, 25, 50, 100, 150].map((s) => t.instanceNoiseStd(s)));
    expect(stds).toEqual([0.8, 0.6000000000000001, 0.4, 0, 0]);
    expect(withTrainer({}, (t) => t.instanceNoiseStd(0))).toBe(0);
  });

  it("changes D's inputs (and so the losses) while it lasts, and is reproducible", async () => {
    const plain = await losses({}, 3);
    const noisy = await losses({ instanceNoise: 1, instanceNoiseSteps: 100 }, 3);
    expect(noisy[0][0]).not.toBeCloseTo(plain[0][0], 4);
    expect(await losses({ instanceNoise: 1, instanceNoiseSteps: 100 }, 3)).toEqual(noisy);
  });

  it('is refused without a positive number of steps to shrink over', () => {
    expect(() => validateConfig({ ...presetConfig('ring8'), instanceNoise: 0.5 })).toThrow(
      'config: instanceNoiseSteps must be positive when instanceNoise is on (the steps over which the noise shrinks to 0), got 0',
    );
    expect(() => validateConfig({ ...presetConfig('ring8'), instanceNoise: -1 })).toThrow('config: instanceNoise must be a finite number ≥ 0, got -1');
  });
});

describe('top-k generator updates', () => {
  it('keep the whole batch at first and shrink linearly to topK of it over topKSteps', () => {
    expect(withTrainer({ topK: 0.5, topKSteps: 100 }, (t) => [0, 50, 100, 400].map((s) => t.topKCount(s, 64)))).toEqual([64, 48, 32, 32]);
    expect(withTrainer({ topK: 0.25 }, (t) => t.topKCount(0, 64))).toBe(16);
    expect(withTrainer({}, (t) => t.topKCount(10, 64))).toBe(64);
  });

  it("G's loss is the loss of the best-scored samples: the mean over the top k", async () => {
    const scores = [0.3, -2, 1.5, 0.9, -0.1, 2.2, -1.4, 0.6];
    const loss = tidy(() => generatorLoss('non-saturating', reshape(topk(tensor(scores), 3).values, [3, 1])));
    const got = await loss.item();
    loss.dispose();
    const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
    const want = [2.2, 1.5, 0.9].reduce((a, x) => a + softplus(-x), 0) / 3;
    expect(Math.abs(got - want)).toBeLessThan(1e-6);
  });

  it("make G's first loss the mean over the best-scored samples, below the whole batch's", async () => {
    const plain = await losses({}, 3);
    const kept = await losses({ topK: 0.25, topKSteps: 0 }, 3);
    expect(kept[0][0]).toBe(plain[0][0]);
    // Same D, same latents in the first step: the mean of −log σ over the best-scored quarter is
    // below the mean over the whole batch (it would be above if the worst were kept).
    expect(kept[0][1]).toBeLessThan(plain[0][1] - 1e-4);
  });

  it('is refused outside (0, 1]', () => {
    expect(() => validateConfig({ ...presetConfig('ring8'), topK: 0 })).toThrow('config: topK must be in (0, 1], got 0');
    expect(() => validateConfig({ ...presetConfig('ring8'), topK: 1.5 })).toThrow('config: topK must be in (0, 1], got 1.5');
  });
});

it('submits the fakes of each D step, and each D step, before recording what follows (the device works while JavaScript records)', async () => {
  const rt = getRuntime();
  for (const nCritic of [1, 3]) {
    const t = trainer({ nCritic });
    try {
      for (let step = 0; step < 2; step++) {
        await rt.sync();
        const before = rt.stats().submits;
        const l = t.trainStep();
        // Two submits per critic step (its fakes, then its update), and the G step still queued.
        expect(rt.stats().submits - before, `nCritic ${nCritic}, step ${step}`).toBe(2 * nCritic);
        await rt.sync();
        expect(rt.stats().submits - before).toBe(2 * nCritic + 1);
        l.d.dispose();
        l.g.dispose();
      }
    } finally {
      t.dispose();
    }
  }
});

it('leaves no tensor alive', () => {
  expect(memory().liveTensors).toBe(0);
});

describe("one pass of D over real and generated samples", () => {
  it.each([
    ['plain', {}],
    ['PacGAN packs of 2', { pac: 2 }],
  ] as const)("%s: D's loss and gradients equal those of two passes", async (_, overrides) => {
    const t = trainer(overrides);
    const D = t.models.discriminator;
    const realX = randn([32, 2], { generator: new Generator(1) });
    const fake = randn([32, 2], { generator: new Generator(2) });
    const judge = (t as unknown as { judge(r: Tensor, f: Tensor, a: null, b: null): { real: { adv: Tensor }; fakeOut: { adv: Tensor } } }).judge.bind(t);
    const lossAndGrads = async (joint: boolean) => {
      (t as { jointCriticPass: boolean }).jointCriticPass = joint;
      const loss = tidy(() => {
        const { real, fakeOut } = judge(realX, fake, null, null);
        const l = discriminatorLoss('non-saturating', real.adv, fakeOut.adv);
        l.backward();
        return l;
      });
      const grads: number[] = [];
      for (const p of D.parameters()) {
        grads.push(...((await p.grad!.data()) as Float32Array));
        p.grad!.dispose();
        p.grad = null;
      }
      const value = await loss.item();
      loss.dispose();
      return { value, grads };
    };
    const joint = await lossAndGrads(true);
    const separate = await lossAndGrads(false);
    expect(Math.abs(joint.value - separate.value)).toBeLessThanOrEqual(1e-6 * Math.abs(separate.value));
    const scale = Math.max(...separate.grads.map(Math.abs));
    joint.grads.forEach((g, i) => expect(Math.abs(g - separate.grads[i]), `gradient ${i}`).toBeLessThanOrEqual(1e-5 * scale));
    realX.dispose();
    fake.dispose();
    t.dispose();
  });

  it('makes the first step in fewer launches, with the same D loss', async () => {
    const first = async (joint: boolean) => {
      const t = trainer({});
      (t as { jointCriticPass: boolean }).jointCriticPass = joint;
      const before = getRuntime().stats().dispatches;
      const l = t.trainStep();
      const dispatches = getRuntime().stats().dispatches - before;
      const d = await l.d.item();
      l.d.dispose();
      l.g.dispose();
      t.dispose();
      return { d, dispatches };
    };
    const joint = await first(true);
    const separate = await first(false);
    expect(Math.abs(joint.d - separate.d)).toBeLessThanOrEqual(1e-6 * Math.abs(separate.d));
    expect(joint.dispatches).toBeLessThan(separate.dispatches);
  });

  it('is used only when D judges each sample on its own', () => {
    expect(withTrainer({}, (t) => t.jointCriticPass)).toBe(true);
    expect(withTrainer({ dNorm: 'layer' }, (t) => t.jointCriticPass)).toBe(true);
    expect(withTrainer({ minibatchStd: true }, (t) => t.jointCriticPass)).toBe(false);
    expect(withTrainer({ spectralNorm: true }, (t) => t.jointCriticPass)).toBe(false);
    // A DCGAN critic with BatchNorm (the paper's), and a conditional one.
    const digits = bundledMnistData();
    for (const [overrides, expected] of [[{}, false], [{ dNorm: 'layer' }, true], [{ dNorm: 'layer', conditional: 'cgan' }, false]] as const) {
      const config = { ...presetConfig('mnist-dcgan'), width: 4, batchSize: 8, ...overrides };
      validateConfig(config);
      const t = new GanTrainer(config, digits);
      expect(t.jointCriticPass, JSON.stringify(overrides)).toBe(expected);
      t.dispose();
    }
  });
});
