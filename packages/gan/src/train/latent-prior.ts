/**
 * The distribution G's latent vectors are drawn from.
 *  - 'normal': z ~ N(0, I), the usual prior.
 *  - 'mixture': a static Gaussian-mixture prior (Ben-Yosef & Weinshall 2018, "Gaussian Mixture
 *    Generative Adversarial Networks for Diverse Datasets"; Gurumurthy et al. 2017, DeLiGAN):
 *    pick one of `latentComponents` centres uniformly, add N(0, latentComponentStd² I). The
 *    centres are drawn once from N(0, I) with a generator seeded by the run's seed, so they are a
 *    function of config.json and need no storage. A continuous G maps a connected latent space to
 *    a connected set, so with a unimodal prior some mass always lies on the paths between the
 *    modes of a multimodal target; with well-separated latent clusters G can send each cluster to
 *    one mode and leave the space between modes empty.
 * Every draw, including the component indices, comes from the Generator passed in, so the
 * trainer's checkpointed (seed, offset) covers it and resumed runs draw the same latents.
 */
import { Generator, add, arange, clamp, compare, floor, matmul, mul, rand, randn, reshape, tidy, type Tensor } from '@webgan/core';
import type { TrainConfig } from './config';

export type LatentPriorKind = 'normal' | 'mixture';
export const LATENT_PRIORS: readonly LatentPriorKind[] = ['normal', 'mixture'];

/** Offset from the run's seed for the generator that draws the mixture's centres. */
const CENTRES_SEED_OFFSET = 4241;

export class LatentPrior {
  readonly dim: number;
  /** Mixture centres [components, dim] (null for the normal prior). */
  readonly centres: Tensor | null;
  /** 0 .. components − 1 as a [1, components] row, to one-hot the drawn indices against. */
  private readonly componentIds: Tensor | null;
  private readonly std: number;

  constructor(config: Pick<TrainConfig, 'latentDim' | 'latentPrior' | 'latentComponents' | 'latentComponentStd' | 'seed'>) {
    this.dim = config.latentDim;
    this.std = config.latentComponentStd;
    if (config.latentPrior === 'mixture') {
      this.centres = randn([config.latentComponents, config.latentDim], { generator: new Generator(config.seed + CENTRES_SEED_OFFSET) });
      this.componentIds = tidy(() => reshape(arange(config.latentComponents), [1, config.latentComponents]));
    } else {
      this.centres = null;
      this.componentIds = null;
    }
  }

  /** n latent vectors [n, dim], drawn with `generator`. */
  sample(n: number, generator: Generator): Tensor {
    if (!this.centres || !this.componentIds) return randn([n, this.dim], { generator });
    const centres = this.centres;
    const ids = this.componentIds;
    const k = centres.shape[0];
    return tidy(() => {
      // Uniform component index per row; the clamp guards u·k rounding up to k in float32.
      const index = clamp(floor(mul(rand([n, 1], { generator }), k)), 0, k - 1);
      const oneHot = compare('eq', index, ids);
      return add(matmul(oneHot, centres), mul(randn([n, this.dim], { generator }), this.std));
    });
  }

  dispose(): void {
    this.centres?.dispose();
    this.componentIds?.dispose();
  }
}
