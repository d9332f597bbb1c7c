/**
 * The training-step benchmark's two GANs, each declared once for both sides:
 *   - webgan: the `webgan train` configuration (GanTrainer, the package's own models);
 *   - tfjs: the same layers written with tfjs-core ops in NHWC, initialised from the same
 *     distributions, trained by tfjs's Adam through `optimizer.minimize`.
 * A step is one discriminator step then one generator step, batch 64, non-saturating loss with
 * logits (softplus form of BCE), Adam lr 2e-4, β (0.5, 0.999), as in the DCGAN paper.
 */
import type { Scalar, Tensor, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import { presetConfig, type TrainConfig } from '../packages/gan/src/train/config';
import type { Tf } from './lib/tfjs';

export type TrainModelName = 'mlp-gan' | 'dcgan-small';
export const TRAIN_MODELS: readonly TrainModelName[] = ['mlp-gan', 'dcgan-small'];

export const BATCH = 64;
export const LATENT = 64;
export const LR = 2e-4;
export const BETAS: [number, number] = [0.5, 0.999];

export const MODEL_DESCRIPTIONS: Record<TrainModelName, string> = {
  'mlp-gan': 'G z64 → 256 → 512 → 784 (leaky ReLU 0.2, tanh); D 784 → 512 → 256 → 1 (leaky ReLU 0.2)',
  'dcgan-small':
    'G z64 → convT 128 k7 → BN → ReLU → convT 64 k4 s2 p1 → BN → ReLU → convT 1 k4 s2 p1 → tanh; D conv 64 k4 s2 p1 → leaky → conv 128 k4 s2 p1 → BN → leaky → conv 1 k7',
};

/** Whether a model's D judges each sample on its own, so its D step takes real and fake in one pass. */
export const PER_SAMPLE_D: Record<TrainModelName, boolean> = { 'mlp-gan': true, 'dcgan-small': false };

/** Our configuration for a model: what `webgan train` would run, without EMA or evaluation. */
export function ourConfig(model: TrainModelName): TrainConfig {
  const common: Partial<TrainConfig> = {
    batchSize: BATCH, latentDim: LATENT, lrG: LR, lrD: LR, betasG: BETAS, betasD: BETAS, emaDecay: 0,
    loss: 'non-saturating', nCritic: 1, lrDecaySteps: 0, lrFinalFraction: 1,
  };
  if (model === 'mlp-gan') {
    return { ...presetConfig('mnist-mlp'), ...common, model: 'mlp', gHidden: [256, 512], dHidden: [512, 256], gNorm: 'none' };
  }
  return { ...presetConfig('mnist-dcgan'), ...common, model: 'dcgan', width: 64, dNorm: 'batch' };
}

export interface TfGan {
  gVars: Variable[];
  dVars: Variable[];
  /** z [B, 64] → images [B, 28, 28, 1] (NHWC). */
  generate(z: Tensor): Tensor;
  /** images [B, 28, 28, 1] → logits [B, 1]. */
  discriminate(x: Tensor): Tensor;
  /**
   * D judges each sample on its own (no BatchNorm): the D step then runs real and generated
   * samples through D as one batch, as our trainer does for such a D (GanTrainer.jointCriticPass).
   */
  perSampleD: boolean;
  dispose(): void;
}

/** Builds a model in tfjs, on the active backend. */
export function tfGan(tf: Tf, model: TrainModelName): TfGan {
  const all: Variable[] = [];
  const v = (t: Tensor): Variable => {
    const variable = tf.variable(t);
    t.dispose();
    all.push(variable);
    return variable;
  };
  // BatchNorm in training mode with PyTorch's running-statistics update (momentum 0.1, unbiased variance).
  const running: Variable[] = [];
  const batchNorm = (channels: number) => {
    const gamma = v(tf.randomNormal([channels], 1, 0.02));
    const beta = v(tf.zeros([channels]));
    const runMean = tf.variable(tf.zeros([channels]), false);
    const runVar = tf.variable(tf.ones([channels]), false);
    running.push(runMean, runVar);
    return {
      params: [gamma, beta],
      apply: (x: Tensor): Tensor => {
        const { mean, variance } = tf.moments(x, [0, 1, 2]);
        const n = x.shape[0]! * x.shape[1]! * x.shape[2]!;
        runMean.assign(tf.add(tf.mul(runMean, 0.9), tf.mul(mean, 0.1)));
        runVar.assign(tf.add(tf.mul(runVar, 0.9), tf.mul(variance, 0.1 * n / (n - 1))));
        return tf.batchNorm(x, mean, variance, beta, gamma, 1e-5);
      },
    };
  };

  if (model === 'mlp-gan') {
    // PyTorch's Linear default: weight and bias U(±1/√fan_in). Weights stored [in, out].
    const linear = (fanIn: number, fanOut: number) => {
      const bound = 1 / Math.sqrt(fanIn);
      return { w: v(tf.randomUniform([fanIn, fanOut], -bound, bound)), b: v(tf.randomUniform([fanOut], -bound, bound)) };
    };
    const g = [linear(LATENT, 256), linear(256, 512), linear(512, 784)];
    const d = [linear(784, 512), linear(512, 256), linear(256, 1)];
    const dense = (x: Tensor, l: { w: Variable; b: Variable }) => tf.add(tf.matMul(x, l.w), l.b);
    return {
      gVars: g.flatMap((l) => [l.w, l.b]),
      dVars: d.flatMap((l) => [l.w, l.b]),
      generate: (z) => {
        const h = tf.leakyRelu(dense(tf.leakyRelu(dense(z, g[0]), 0.2), g[1]), 0.2);
        return tf.reshape(tf.tanh(dense(h, g[2])), [z.shape[0]!, 28, 28, 1]);
      },
      perSampleD: PER_SAMPLE_D['mlp-gan'],
      discriminate: (x) => {
        const flat = tf.reshape(x, [x.shape[0]!, 784]);
        return dense(tf.leakyRelu(dense(tf.leakyRelu(dense(flat, d[0]), 0.2), d[1]), 0.2), d[2]);
      },
      dispose: () => all.forEach((t) => t.dispose()),
    };
  }

  // DCGAN init: conv weights N(0, 0.02), biases 0, BN γ ~ N(1, 0.02), β 0. Filters [kh, kw, in, out]
  // for conv2d; conv2dTranspose takes [kh, kw, out, in].
  const w = (shape: number[]) => v(tf.randomNormal(shape, 0, 0.02));
  const g1 = w([7, 7, 128, LATENT]);
  const gBn1 = batchNorm(128);
  const g2 = w([4, 4, 64, 128]);
  const gBn2 = batchNorm(64);
  const g3 = w([4, 4, 1, 64]);
  const g3b = v(tf.zeros([1]));
  const d1 = w([4, 4, 1, 64]);
  const d1b = v(tf.zeros([64]));
  const d2 = w([4, 4, 64, 128]);
  const dBn = batchNorm(128);
  const d3 = w([7, 7, 128, 1]);
  const d3b = v(tf.zeros([1]));
  return {
    gVars: [g1, ...gBn1.params, g2, ...gBn2.params, g3, g3b],
    dVars: [d1, d1b, d2, ...dBn.params, d3, d3b],
    perSampleD: PER_SAMPLE_D['dcgan-small'],
    generate: (z) => {
      const n = z.shape[0]!;
      let h: Tensor4D = tf.conv2dTranspose(tf.reshape(z, [n, 1, 1, LATENT]) as Tensor4D, g1 as Tensor4D, [n, 7, 7, 128], 1, 'valid');
      h = tf.relu(gBn1.apply(h)) as Tensor4D;
      h = tf.relu(gBn2.apply(tf.conv2dTranspose(h, g2 as Tensor4D, [n, 14, 14, 64], 2, 'same'))) as Tensor4D;
      return tf.tanh(tf.add(tf.conv2dTranspose(h, g3 as Tensor4D, [n, 28, 28, 1], 2, 'same'), g3b));
    },
    discriminate: (x) => {
      let h = tf.leakyRelu(tf.add(tf.conv2d(x as Tensor4D, d1 as Tensor4D, 2, 'same'), d1b), 0.2) as Tensor4D;
      h = tf.leakyRelu(dBn.apply(tf.conv2d(h, d2 as Tensor4D, 2, 'same')), 0.2) as Tensor4D;
      return tf.reshape(tf.add(tf.conv2d(h, d3 as Tensor4D, 1, 'valid'), d3b), [x.shape[0]!, 1]);
    },
    dispose: () => {
      all.forEach((t) => t.dispose());
      running.forEach((t) => t.dispose());
    },
  };
}

/**
 * One tfjs training step: D on a real batch and G(z) (no gradient into G), then G through D
 * (gradients for G's variables only). The caller waits for completion and owns nothing.
 */
export function tfTrainStep(tf: Tf, gan: TfGan, optD: ReturnType<Tf['train']['adam']>, optG: ReturnType<Tf['train']['adam']>, real: Float32Array): void {
  tf.tidy(() => {
    const x = tf.tensor4d(real, [BATCH, 28, 28, 1]);
    const fake = gan.generate(tf.randomNormal([BATCH, LATENT]));
    optD.minimize(() => {
      // BCE with logits, non-saturating: softplus(−D(x)) on real, softplus(D(G(z))) on fake.
      let realOut: Tensor;
      let fakeOut: Tensor;
      if (gan.perSampleD) {
        const out = gan.discriminate(tf.concat([x, fake], 0));
        [realOut, fakeOut] = tf.split(out, 2, 0);
      } else {
        [realOut, fakeOut] = [gan.discriminate(x), gan.discriminate(fake)];
      }
      const lossReal = tf.mean(tf.softplus(tf.neg(realOut)));
      const lossFake = tf.mean(tf.softplus(fakeOut));
      return tf.add(lossReal, lossFake) as Scalar;
    }, false, gan.dVars);
    optG.minimize(() => tf.mean(tf.softplus(tf.neg(gan.discriminate(gan.generate(tf.randomNormal([BATCH, LATENT])))))) as Scalar, false, gan.gVars);
  });
}
