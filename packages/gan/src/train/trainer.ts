/**
 * The adversarial training loop. One generator step = nCritic discriminator steps, then one
 * generator step:
 *   D: fake = G(z) without a graph; loss_D = adversarial(D(x), D(fake)) [+ penalty] [+ AC-GAN
 *      class loss on real and fake]; Adam step on D; [weight clipping].
 *   G: loss_G = adversarial(D(G(z))) [+ AC-GAN class loss]; D's parameters stop requiring
 *      gradients meanwhile, so the backward pass computes no weight gradients for D.
 * When D judges every sample on its own (no BatchNorm, minibatch std or spectral norm; not
 * conditional), D's step runs real and generated samples through D as one batch of 2N: the same
 * losses and gradients (up to float32 summation order), with half the kernel launches and GEMMs
 * twice as tall, which suit the kernels better.
 * Everything that decides a step — weights, optimizer moments, the GPU generator's (seed, offset),
 * the step number — is in the checkpoint; data batches and labels are functions of the step, so
 * a resumed run repeats the uninterrupted one exactly.
 */
import { Generator, concat, crossEntropy, add, manualSeed, mul, noGrad, reshape, randn, slice, tensor, tidy, topk, type Tensor } from '@webgan/core';
import { Adam, type Module } from '@webgan/nn';
import { clearNonFiniteFlag, getRuntime, markNonFinite, nonFiniteFlag, readNonFiniteFlag, type DeviceArray } from '@webgan/kernels';
import { discriminatorLoss, generatorLoss } from '../losses/adversarial';
import { clipWeights, gradientPenalty, r1Penalty } from '../losses/penalties';
import { mulberry32 } from '../data/shuffle';
import type { TrainConfig } from './config';
import { BatchSampler, type DataSource } from './data-source';
import { updateEma } from './ema';
import { LatentPrior } from './latent-prior';
import { buildModels, type GanModels } from './models';

export interface StepLosses {
  d: Tensor;
  g: Tensor;
  penalty: Tensor | null;
}

/** What markNonFinite codes mean in the trainer's flag. */
export const NON_FINITE_SOURCES = {
  'D loss': 1,
  'G loss': 2,
  'gradient penalty': 4,
  "D's gradients": 8,
  "G's gradients": 16,
  parameters: 32,
} as const;

export interface Divergence {
  /** The first step (numbered as trainer.step after it) with a non-finite value. */
  step: number;
  /** Where non-finite values were seen since the flag was cleared. */
  sources: string[];
}

export class GanTrainer {
  readonly models: GanModels;
  /** EMA copy of the generator (null when emaDecay is 0). */
  readonly ema: Module | null;
  readonly optG: Adam;
  readonly optD: Adam;
  readonly sampler: BatchSampler;
  /** GPU random numbers for latents and penalties; its state is checkpointed. */
  readonly generator: Generator;
  /** G's latent distribution; every latent the trainer, the run's sample grids and the CLI draw comes from it. */
  readonly prior: LatentPrior;
  /** Generator steps completed. */
  step = 0;
  /** GPU flag of non-finite losses and gradients (see markNonFinite); read by nonFinite(). */
  private readonly nonFiniteFlag: DeviceArray;
  /** Whether D's step judges real and fake samples in one pass (see the file comment). */
  readonly jointCriticPass: boolean;

  constructor(readonly config: TrainConfig, readonly data: DataSource) {
    this.generator = new Generator(config.seed);
    // Layers draw their initial weights from the default generator: seed it from the run's seed.
    manualSeed(config.seed + 1);
    this.models = buildModels(config, data);
    if (config.emaDecay > 0) {
      const copy = buildModels(config, data);
      copy.discriminator.dispose();
      this.ema = copy.generator;
    } else {
      this.ema = null;
    }
    if (this.ema) this.ema.loadStateDict(this.models.generator.stateDict());
    this.optG = new Adam(this.models.generator.parameters(), { lr: config.lrG, betas: config.betasG });
    this.optD = new Adam(this.models.discriminator.parameters(), { lr: config.lrD, betas: config.betasD });
    this.sampler = new BatchSampler(data, config.batchSize, config.seed);
    this.prior = new LatentPrior(config);
    // Spectral norm runs a power iteration per forward pass, so one pass instead of two would
    // change it; BatchNorm and minibatch std mix the samples of a batch.
    const batchCoupled = config.minibatchStd || (config.model === 'dcgan' && config.dNorm === 'batch');
    this.jointCriticPass = !batchCoupled && !config.spectralNorm && config.conditional === 'none';
    this.nonFiniteFlag = nonFiniteFlag(getRuntime());
  }

  /**
   * The first step since the last clear with a NaN or infinity in a loss, the penalty or a
   * gradient (or in the parameters, when checkParameters() ran), or null. Reads the flag back.
   */
  async nonFinite(): Promise<Divergence | null> {
    const report = await readNonFiniteFlag(getRuntime(), this.nonFiniteFlag);
    if (!report) return null;
    const sources = Object.entries(NON_FINITE_SOURCES).filter(([, bit]) => report.what & bit).map(([name]) => name);
    return { step: report.step, sources };
  }

  clearNonFinite(): void {
    clearNonFiniteFlag(getRuntime(), this.nonFiniteFlag);
  }

  /** Marks the flag if any weight of G, D or the EMA copy is non-finite (before a checkpoint). */
  checkParameters(): void {
    const runtime = getRuntime();
    const modules = [this.models.generator, this.models.discriminator, ...(this.ema ? [this.ema] : [])];
    for (const m of modules) {
      for (const p of m.parameters()) markNonFinite(runtime, p.deviceArray('checkParameters'), this.nonFiniteFlag, this.step, NON_FINITE_SOURCES.parameters);
    }
  }

  private flagIfNonFinite(t: Tensor, source: keyof typeof NON_FINITE_SOURCES): void {
    markNonFinite(getRuntime(), t.deviceArray('trainStep'), this.nonFiniteFlag, this.step + 1, NON_FINITE_SOURCES[source]);
  }

  /** The generator used for samples and metrics: the EMA copy when enabled. */
  get sampleGenerator(): Module {
    return this.ema ?? this.models.generator;
  }

  /** Class labels for the generator at (step, critic iteration): uniform, a function of the step. */
  private fakeLabels(step: number, k: number): Tensor | null {
    if (!this.models.conditional) return null;
    const rng = mulberry32((this.config.seed * 1_000_003 + step * 31 + k) >>> 0);
    return tensor(Int32Array.from({ length: this.config.batchSize }, () => Math.floor(rng() * this.models.numClasses)), [this.config.batchSize]);
  }

  private latent(): Tensor {
    return this.prior.sample(this.config.batchSize, this.generator);
  }

  /** Learning rate factor at a step: linear decay to lrFinalFraction over lrDecaySteps. */
  private lrFactor(step: number): number {
    if (this.config.lrDecaySteps === 0) return 1;
    const t = Math.min(1, step / this.config.lrDecaySteps);
    return 1 - (1 - this.config.lrFinalFraction) * t;
  }

  /** Instance noise's standard deviation at a step: linear decay to 0 over instanceNoiseSteps. */
  instanceNoiseStd(step: number): number {
    const { instanceNoise, instanceNoiseSteps } = this.config;
    if (instanceNoise === 0) return 0;
    return instanceNoise * Math.max(0, 1 - step / instanceNoiseSteps);
  }

  /** How many of `n` scores G's loss keeps at a step (top-k updates; n when off). */
  topKCount(step: number, n: number): number {
    const { topK, topKSteps } = this.config;
    if (topK === 1) return n;
    const t = topKSteps === 0 ? 1 : Math.min(1, step / topKSteps);
    return Math.max(1, Math.round(n * (1 - (1 - topK) * t)));
  }

  /** x plus this step's instance noise (x itself when there is none). */
  private noisy(x: Tensor, std: number): Tensor {
    return std > 0 ? add(x, mul(randn(x.shape, { generator: this.generator }), std)) : x;
  }

  private critic(x: Tensor, labels: Tensor | null): Tensor {
    const D = this.models.discriminator;
    if (this.config.pac > 1) {
      // PacGAN: consecutive samples side by side as one input ([B, F] → [B/pac, pac·F]; images stack channels).
      const pac = this.config.pac;
      return tidy(() => D.forward(reshape(x, [x.shape[0] / pac, x.shape[1] * pac, ...x.shape.slice(2)])));
    }
    return labels && this.config.conditional !== 'acgan' ? D.forward(x, labels) : D.forward(x);
  }

  /** D's outputs on a real and a generated batch: one pass over both when jointCriticPass. */
  private judge(realX: Tensor, fake: Tensor, realLabels: Tensor | null, fakeLabels: Tensor | null) {
    if (this.jointCriticPass && realX.shape[0] === fake.shape[0]) {
      const out = this.critic(concat([realX, fake], 0), null);
      const n = out.shape[0] / 2;
      const width = out.shape[1];
      return { real: { adv: slice(out, [0, 0], [n, width]), cls: null }, fakeOut: { adv: slice(out, [n, 0], [n, width]), cls: null } };
    }
    return { real: this.split(this.critic(realX, realLabels)), fakeOut: this.split(this.critic(fake, fakeLabels)) };
  }

  /** Splits AC-GAN outputs into the adversarial logit [N,1] and class logits [N,K]. */
  private split(out: Tensor): { adv: Tensor; cls: Tensor | null } {
    if (this.config.conditional !== 'acgan') return { adv: out, cls: null };
    const n = out.shape[0];
    return { adv: slice(out, [0, 0], [n, 1]), cls: slice(out, [0, 1], [n, this.models.numClasses]) };
  }

  /** One generator step (with its nCritic discriminator steps). Returns the last losses (caller disposes). */
  trainStep(): StepLosses {
    const c = this.config;
    const { generator: G, discriminator: D } = this.models;
    const factor = this.lrFactor(this.step);
    this.optG.paramGroups[0].lr = c.lrG * factor;
    this.optD.paramGroups[0].lr = c.lrD * factor;
    const noiseStd = this.instanceNoiseStd(this.step);
    G.train();
    D.train();
    let lossD: Tensor | null = null;
    let penalty = null as Tensor | null;
    for (let k = 0; k < c.nCritic; k++) {
      lossD?.dispose();
      penalty?.dispose();
      penalty = null;
      const batch = this.sampler.batch(this.step * c.nCritic + k);
      const fakeLabels = this.fakeLabels(this.step, k);
      const result = tidy(() => {
        const fake = this.noisy(noGrad(() => this.generate(G, this.latent(), fakeLabels)), noiseStd);
        // Submitted at once: the device generates while D's pass is being recorded.
        getRuntime().flush();
        const realX = this.noisy(batch.x, noiseStd);
        const { real, fakeOut } = this.judge(realX, fake, batch.labels, fakeLabels);
        let loss = discriminatorLoss(c.loss, real.adv, fakeOut.adv, { realLabel: c.realLabel });
        if (real.cls && fakeOut.cls) loss = add(loss, add(crossEntropy(real.cls, batch.labels!), crossEntropy(fakeOut.cls, fakeLabels!)));
        const criticFn = (x: Tensor) => this.split(this.critic(x, batch.labels)).adv;
        let p: Tensor | null = null;
        if (c.penalty === 'gp') p = gradientPenalty(criticFn, realX, fake, c.penaltyWeight, this.generator);
        else if (c.penalty === 'r1') p = r1Penalty(criticFn, realX, c.penaltyWeight);
        const total = p ? add(loss, p) : loss;
        total.backward();
        return { loss, p };
      });
      lossD = result.loss;
      penalty = result.p;
      this.flagIfNonFinite(lossD, 'D loss');
      if (penalty) this.flagIfNonFinite(penalty, 'gradient penalty');
      batch.x.dispose();
      batch.labels?.dispose();
      fakeLabels?.dispose();
      this.optD.step({ nonFinite: { flag: this.nonFiniteFlag, step: this.step + 1, what: NON_FINITE_SOURCES["D's gradients"] } });
      this.optD.zeroGrad();
      if (c.penalty === 'clip') clipWeights(D, c.clipValue);
      // Submit this D step now: the device works on it while the G step is being recorded (on a
      // CPU adapter the recording is several ms a step; measured 1–4 ms off the mlp-gan step).
      getRuntime().flush();
    }
    // Generator step; D's weights are constants here.
    const dParams = D.parameters();
    dParams.forEach((p) => (p.requiresGrad = false));
    const labels = this.fakeLabels(this.step, c.nCritic);
    let lossG: Tensor;
    try {
      lossG = tidy(() => {
        const out = this.split(this.critic(this.noisy(this.generate(G, this.latent(), labels), noiseStd), labels));
        const n = out.adv.shape[0];
        const keep = this.topKCount(this.step, n);
        const scores = keep < n ? reshape(topk(reshape(out.adv, [n]), keep).values, [keep, 1]) : out.adv;
        let loss = generatorLoss(c.loss, scores);
        if (out.cls) loss = add(loss, crossEntropy(out.cls, labels!));
        loss.backward();
        return loss;
      });
    } finally {
      dParams.forEach((p) => (p.requiresGrad = true));
      labels?.dispose();
    }
    this.flagIfNonFinite(lossG, 'G loss');
    this.optG.step({ nonFinite: { flag: this.nonFiniteFlag, step: this.step + 1, what: NON_FINITE_SOURCES["G's gradients"] } });
    this.optG.zeroGrad();
    // Warm-up (as TensorFlow's ExponentialMovingAverage with num_updates): early on the average
    // would otherwise be mostly the random initial weights for thousands of steps.
    if (this.ema) updateEma(this.ema, G, Math.min(c.emaDecay, (1 + this.step) / (10 + this.step)));
    this.step++;
    return { d: lossD!, g: lossG, penalty };
  }

  /** G(z) or G(z, labels). */
  generate(G: Module, z: Tensor, labels: Tensor | null): Tensor {
    return labels ? G.forward(z, labels) : G.forward(z);
  }

  /** n samples from the sample generator in eval mode, in chunks (host copy). */
  async sample(n: number, options: { seed?: number; labels?: Int32Array } = {}): Promise<Float32Array> {
    const G = this.sampleGenerator;
    G.eval();
    const gen = new Generator(options.seed ?? this.config.seed + 12345);
    const per = this.data.sampleShape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n * per);
    const chunk = 500;
    for (let start = 0; start < n; start += chunk) {
      const m = Math.min(chunk, n - start);
      const y = noGrad(() => tidy(() => {
        const z = this.prior.sample(m, gen);
        const labels = this.models.conditional
          ? tensor(options.labels ? options.labels.slice(start, start + m) : Int32Array.from({ length: m }, (_, i) => (start + i) % this.models.numClasses), [m])
          : null;
        return this.generate(G, z, labels);
      }));
      out.set(await y.data() as Float32Array, start * per);
      y.dispose();
    }
    G.train();
    return out;
  }

  dispose(): void {
    getRuntime().release(this.nonFiniteFlag.buffer);
    this.optG.dispose();
    this.optD.dispose();
    this.models.generator.dispose();
    this.models.discriminator.dispose();
    this.ema?.dispose();
    this.prior.dispose();
  }
}
