/**
 * Training configuration: every hyper-parameter of a run, the presets, and validation that names
 * the field at fault. A run folder's config.json is exactly this object.
 */
import { LOSS_NAMES, type LossName } from '../losses/adversarial';
import { LATENT_PRIORS, type LatentPriorKind } from './latent-prior';

export interface TrainConfig {
  preset: string;
  /** 'ring8' | 'grid25' | 'mnist' (bundled) | a path to an IDX images file or a folder of PNGs. */
  data: string;
  model: 'mlp' | 'dcgan';
  /**
   * none; cGAN (label embedded into G's input and D's input); projection (G as cGAN, D's logit
   * gains the inner product of a class embedding with its last features: Miyato & Koyama 2018);
   * or AC-GAN (D also classifies).
   */
  conditional: 'none' | 'cgan' | 'projection' | 'acgan';
  loss: LossName;
  /** Critic regulariser: none, WGAN weight clipping, WGAN-GP gradient penalty, or R1. */
  penalty: 'none' | 'clip' | 'gp' | 'r1';
  penaltyWeight: number;
  clipValue: number;
  /** Discriminator steps per generator step (WGAN's n_critic). */
  nCritic: number;
  /** Total generator steps of the run (a resumed run continues up to this). */
  steps: number;
  batchSize: number;
  latentDim: number;
  /**
   * G's latent distribution (see latent-prior.ts): 'normal', or 'mixture' — latentComponents
   * centres drawn from N(0, I) by the run's seed, each sample one centre plus N(0,
   * latentComponentStd² I) (Ben-Yosef & Weinshall 2018).
   */
  latentPrior: LatentPriorKind;
  latentComponents: number;
  latentComponentStd: number;
  /** Two time-scale update rule: separate learning rates and betas (Heusel et al. 2017). */
  lrG: number;
  lrD: number;
  betasG: [number, number];
  betasD: [number, number];
  /**
   * Learning rates decay linearly to lrFinalFraction of their value over lrDecaySteps generator
   * steps, then stay there (0 = constant). A fixed horizon, not the run's length, so that
   * stopping early or resuming to a later --steps does not change the schedule.
   */
  lrDecaySteps: number;
  lrFinalFraction: number;
  /** Decay of the generator's exponential moving average (0 = no EMA); warmed up as min(decay, (1 + t)/(10 + t)). */
  emaDecay: number;
  /** One-sided label smoothing: the real target for D (1 = none, 0.9 typical). */
  realLabel: number;
  /**
   * Instance noise (Sønderby et al. 2017; Arjovsky & Bottou 2017): Gaussian noise of this standard
   * deviation is added to every input of D, real and generated, in D's and G's steps, shrinking
   * linearly to 0 over instanceNoiseSteps generator steps (0 = off). Early on D then compares
   * blurred versions of the two distributions, whose supports overlap, so its gradients move G's
   * mass across the whole data distribution instead of only toward the nearest mode.
   */
  instanceNoise: number;
  instanceNoiseSteps: number;
  /**
   * Top-k generator updates (Sinha et al. 2020): G's loss counts only the fraction of its batch
   * that D scores as most realistic, shrinking linearly from the whole batch to topK over topKSteps
   * generator steps (1 = off). Gradients from the worst-scored samples, which on a mixture lie
   * between modes, can push samples away from their nearest mode.
   */
  topK: number;
  topKSteps: number;
  spectralNorm: boolean;
  minibatchStd: boolean;
  /** PacGAN (Lin et al. 2018): D judges packs of this many samples at once (1 = plain GAN). */
  pac: number;
  /** MLP hidden widths. */
  gHidden: number[];
  dHidden: number[];
  /** DCGAN base width and image size (28, 32, 64). */
  width: number;
  imageSize: number;
  /** D normalisation for DCGAN: batch (paper), layer (needed with gp / r1), none. */
  dNorm: 'batch' | 'layer' | 'none';
  /** MLP generator normalisation: BatchNorm after hidden layers, or none. */
  gNorm: 'batch' | 'none';
  /** MLP discriminator activation: maxout with this many pieces, or 1 for leaky ReLU 0.2. */
  dMaxout: number;
  seed: number;
  logEvery: number;
  sampleEvery: number;
  checkpointEvery: number;
  /** Samples drawn for the final evaluation. */
  evalSamples: number;
  /**
   * A NaN or infinity in a loss or gradient (checked on the GPU every step, read at each log and
   * before each checkpoint): stop with a message naming the step, or roll back to the last good
   * checkpoint with both learning rates halved.
   */
  onNan: 'stop' | 'rollback';
}

const BASE: TrainConfig = {
  preset: 'custom',
  data: 'mnist',
  model: 'dcgan',
  conditional: 'none',
  loss: 'non-saturating',
  penalty: 'none',
  penaltyWeight: 10,
  clipValue: 0.01,
  nCritic: 1,
  steps: 2000,
  batchSize: 64,
  latentDim: 64,
  latentPrior: 'normal',
  latentComponents: 100,
  latentComponentStd: 0.2,
  lrG: 2e-4,
  lrD: 2e-4,
  betasG: [0.5, 0.999],
  betasD: [0.5, 0.999],
  lrDecaySteps: 0,
  lrFinalFraction: 1,
  emaDecay: 0,
  realLabel: 1,
  instanceNoise: 0,
  instanceNoiseSteps: 0,
  topK: 1,
  topKSteps: 0,
  spectralNorm: false,
  minibatchStd: false,
  pac: 1,
  gHidden: [256, 512],
  dHidden: [512, 256],
  width: 64,
  imageSize: 28,
  dNorm: 'batch',
  gNorm: 'none',
  dMaxout: 1,
  seed: 0,
  logEvery: 50,
  sampleEvery: 500,
  checkpointEvery: 500,
  evalSamples: 2000,
  onNan: 'stop',
};

/**
 * The 2D recipe, from runs on this 2-core machine (ring8): BatchNorm in the generator kept the
 * modes balanced (KL 0.07 at 6,000 steps) where minibatch std cost a third of the step time for no
 * gain in precision, PacGAN packing lowered precision, and neither 2 critic steps nor TTUR
 * (lr_D 2e-3, lr_G 5e-4) helped. Precision grows with steps (high-quality fraction 0.78 at
 * 6,000, 0.84 at 12,000) and with the generator's depth: the misses are samples on the straight
 * segments between neighbouring modes, where the generator's piecewise-linear map turns.
 */
const TOY: Partial<TrainConfig> = {
  model: 'mlp',
  latentDim: 16,
  gHidden: [128, 128, 128],
  dHidden: [128, 128, 128],
  gNorm: 'batch',
  batchSize: 256,
  lrG: 1e-3,
  lrD: 1e-3,
  lrFinalFraction: 0.02,
  emaDecay: 0.99,
  evalSamples: 2500,
  logEvery: 100,
  sampleEvery: 1000,
  checkpointEvery: 1000,
};

export const PRESETS: Record<string, Partial<TrainConfig>> = {
  // A deeper generator makes sharper jumps between modes: at 12,000 steps 5 hidden layers reached a
  // high-quality fraction of 0.939 where 3 reached 0.844 and 4 reached 0.888; 10,000 steps keep
  // the run (20 steps/s here) inside 10 minutes.
  ring8: { ...TOY, data: 'ring8', gHidden: [128, 128, 128, 128, 128], steps: 10000, lrDecaySteps: 10000 },
  // The same depth helps the grid (23/25 modes, high-quality fraction 0.735 with 5 layers where 3
  // reached 17/25 and 0.554), but with a unimodal latent G's continuous map always leaves samples
  // on the grid lines between modes: the best of z of 2 or 16, instance noise, least squares,
  // top-k updates, batch 512, 2 critic steps or longer schedules reached 0.79 (seed 0). A mixture
  // prior of 100 latent clusters (σ 0.1 around N(0, I) centres in 16-D) lets G send each cluster
  // to a mode and leave the lines empty. At 6,000 steps the fraction still swung between 0.85
  // and 0.93 from one checkpoint to the next (clusters moving between modes); over 8,000 steps
  // it settled: 0.937, 0.968, 0.947, 0.971, 0.979 at steps 6,000 … 8,000 (seed 0). 500 clusters
  // were too many to place (0.69 at 5,000); σ 0.2 did as well as 0.1 at 6,000.
  grid25: {
    ...TOY, data: 'grid25', gHidden: [128, 128, 128, 128, 128], latentDim: 16, latentPrior: 'mixture', latentComponents: 100, latentComponentStd: 0.1,
    steps: 8000, lrDecaySteps: 8000,
  },
  'mnist-mlp': { data: 'mnist', model: 'mlp', steps: 3000, batchSize: 64, latentDim: 64, emaDecay: 0.999 },
  // Sized for a 2-core CPU running lavapipe: 4 to 8 minutes of training for the DCGAN presets.
  // The unconditional one keeps improving past 2,000 steps (FID-style 219 → 189 at 4,000, and the
  // grid's digits go from mostly malformed to mostly readable), so it takes 4,000.
  'mnist-dcgan': { data: 'mnist', model: 'dcgan', steps: 4000, emaDecay: 0.999, width: 16, sampleEvery: 500, checkpointEvery: 1000 },
  'mnist-wgan-gp': {
    data: 'mnist', model: 'dcgan', loss: 'wasserstein', penalty: 'gp', penaltyWeight: 10, nCritic: 5, dNorm: 'layer', steps: 400, lrG: 1e-4, lrD: 1e-4,
    betasG: [0.5, 0.9], betasD: [0.5, 0.9], width: 16, logEvery: 10, sampleEvery: 100, checkpointEvery: 200,
  },
  // Projection D: 91.8% of samples classified as the requested digit after 2,000 steps, where
  // feeding the label in as an extra D channel reached 75.4% (FID-style 95 vs 154). That margin
  // was thin: a kernel change that only reordered float sums gave 88.0% at 2,000 steps; the same
  // run continued reached 93.1% at 3,000 (FID-style 65) and 94.0% at 4,000 (67).
  'mnist-cgan': { data: 'mnist', model: 'dcgan', conditional: 'projection', steps: 3000, emaDecay: 0.999, width: 16, sampleEvery: 500, checkpointEvery: 1000 },
};

export function presetConfig(name: string): TrainConfig {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset '${name}' (known: ${Object.keys(PRESETS).join(', ')})`);
  return { ...BASE, ...p, preset: name };
}

export const CONFIG_KEYS = Object.keys(BASE) as (keyof TrainConfig)[];

/**
 * A saved configuration with settings added since it was written filled in with their defaults,
 * which reproduce the behaviour of the version that wrote it (e.g. onNan 'stop', dMaxout 1).
 */
export function withNewerDefaults(saved: TrainConfig): TrainConfig {
  return { ...BASE, ...saved };
}

/** Throws naming the first invalid field. */
export function validateConfig(c: TrainConfig): void {
  const fail = (field: string, why: string, value: unknown) => {
    throw new Error(`config: ${field} ${why}, got ${JSON.stringify(value)}`);
  };
  const posInt = (k: keyof TrainConfig) => {
    if (!Number.isInteger(c[k]) || (c[k] as number) <= 0) fail(k, 'must be a positive integer', c[k]);
  };
  const posNum = (k: keyof TrainConfig) => {
    if (typeof c[k] !== 'number' || !((c[k] as number) > 0) || !Number.isFinite(c[k] as number)) fail(k, 'must be a positive number', c[k]);
  };
  for (const k of Object.keys(c)) if (!CONFIG_KEYS.includes(k as keyof TrainConfig)) fail(k, 'is not a known setting', (c as unknown as Record<string, unknown>)[k]);
  (['pac', 'dMaxout', 'nCritic', 'steps', 'batchSize', 'latentDim', 'latentComponents', 'width', 'logEvery', 'sampleEvery', 'checkpointEvery', 'evalSamples'] as const).forEach(posInt);
  (['lrG', 'lrD', 'penaltyWeight', 'clipValue'] as const).forEach(posNum);
  if (!Number.isSafeInteger(c.seed) || c.seed < 0) fail('seed', 'must be a non-negative integer', c.seed);
  if (!['mlp', 'dcgan'].includes(c.model)) fail('model', "must be 'mlp' or 'dcgan'", c.model);
  if (!['none', 'cgan', 'projection', 'acgan'].includes(c.conditional)) fail('conditional', "must be 'none', 'cgan', 'projection' or 'acgan'", c.conditional);
  if (!LOSS_NAMES.includes(c.loss)) fail('loss', `must be one of ${LOSS_NAMES.join(', ')}`, c.loss);
  if (!['none', 'clip', 'gp', 'r1'].includes(c.penalty)) fail('penalty', "must be 'none', 'clip', 'gp' or 'r1'", c.penalty);
  if (!LATENT_PRIORS.includes(c.latentPrior)) fail('latentPrior', `must be one of ${LATENT_PRIORS.join(', ')}`, c.latentPrior);
  if (!(c.latentComponentStd >= 0 && Number.isFinite(c.latentComponentStd))) fail('latentComponentStd', 'must be a finite number ≥ 0', c.latentComponentStd);
  if (!['stop', 'rollback'].includes(c.onNan)) fail('onNan', "must be 'stop' or 'rollback'", c.onNan);
  if (!['batch', 'none'].includes(c.gNorm)) fail('gNorm', "must be 'batch' or 'none'", c.gNorm);
  if (!['batch', 'layer', 'none'].includes(c.dNorm)) fail('dNorm', "must be 'batch', 'layer' or 'none'", c.dNorm);
  if ((c.penalty === 'gp' || c.penalty === 'r1') && c.dNorm === 'batch' && c.model === 'dcgan') {
    fail('dNorm', `must be 'layer' or 'none' with penalty ${c.penalty} (a gradient penalty differentiates D twice; BatchNorm has no second derivative here)`, c.dNorm);
  }
  if (![28, 32, 64].includes(c.imageSize)) fail('imageSize', 'must be 28, 32 or 64', c.imageSize);
  for (const k of ['betasG', 'betasD'] as const) {
    const b = c[k];
    if (!Array.isArray(b) || b.length !== 2 || b.some((v) => typeof v !== 'number' || !(v >= 0 && v < 1))) fail(k, 'must be two numbers in [0, 1)', b);
  }
  if (!Number.isInteger(c.lrDecaySteps) || c.lrDecaySteps < 0) fail('lrDecaySteps', 'must be a non-negative integer', c.lrDecaySteps);
  if (!(c.lrFinalFraction > 0 && c.lrFinalFraction <= 1)) fail('lrFinalFraction', 'must be in (0, 1]', c.lrFinalFraction);
  if (!(c.emaDecay >= 0 && c.emaDecay < 1)) fail('emaDecay', 'must be in [0, 1)', c.emaDecay);
  if (!(c.realLabel > 0 && c.realLabel <= 1)) fail('realLabel', 'must be in (0, 1]', c.realLabel);
  if (!(c.instanceNoise >= 0 && Number.isFinite(c.instanceNoise))) fail('instanceNoise', 'must be a finite number ≥ 0', c.instanceNoise);
  if (!Number.isInteger(c.instanceNoiseSteps) || c.instanceNoiseSteps < 0) fail('instanceNoiseSteps', 'must be a non-negative integer', c.instanceNoiseSteps);
  if (!(c.topK > 0 && c.topK <= 1)) fail('topK', 'must be in (0, 1]', c.topK);
  if (!Number.isInteger(c.topKSteps) || c.topKSteps < 0) fail('topKSteps', 'must be a non-negative integer', c.topKSteps);
  if (c.instanceNoise > 0 && c.instanceNoiseSteps === 0) fail('instanceNoiseSteps', 'must be positive when instanceNoise is on (the steps over which the noise shrinks to 0)', c.instanceNoiseSteps);
  for (const k of ['gHidden', 'dHidden'] as const) {
    if (!Array.isArray(c[k]) || c[k].length === 0 || c[k].some((v) => !Number.isInteger(v) || v <= 0)) fail(k, 'must be a non-empty list of positive integers', c[k]);
  }
  if (!Number.isInteger(c.pac) || c.pac < 1 || c.batchSize % c.pac !== 0) fail('pac', `must be a positive integer dividing batchSize ${c.batchSize}`, c.pac);
  if (c.pac > 1 && c.conditional !== 'none') fail('pac', 'must be 1 for conditional models (a pack would mix labels)', c.pac);
  if (c.minibatchStd && c.batchSize < 2) fail('batchSize', 'must be at least 2 with minibatchStd', c.batchSize);
}
