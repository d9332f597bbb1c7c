/**
 * BatchNorm1d/2d (running statistics with PyTorch's momentum rule, eval mode, num_batches_tracked)
 * and LayerNorm.
 */
import { batchNorm, keep, layerNorm, ones, reshape, zeros, type Tensor } from '@webgan/core';
import { Module } from '../module';
import { checkPositive, fmtShape } from '../tensor-util';

export interface BatchNormOptions {
  eps?: number;
  /** Weight of the newest batch in the running statistics; null = cumulative average (PyTorch's momentum=None). */
  momentum?: number | null;
  /** Learnable γ (weight) and β (bias). */
  affine?: boolean;
  /** Keep running statistics for eval mode; without them eval uses batch statistics too. */
  trackRunningStats?: boolean;
}

abstract class BatchNormBase extends Module {
  readonly initKind = 'batchnorm';
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  /** γ = 1, β = 0 when not affine: the kernel always applies an affine map. */
  private fixedAffine: [Tensor, Tensor] | null = null;

  constructor(private readonly layer: string, readonly numFeatures: number, options: BatchNormOptions) {
    super();
    checkPositive(layer, { numFeatures });
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    this.affine = options.affine ?? true;
    this.trackRunningStats = options.trackRunningStats ?? true;
    if (!(this.eps > 0)) throw new Error(`${layer}: eps must be > 0, got ${this.eps}`);
    if (this.momentum !== null && !(this.momentum >= 0 && this.momentum <= 1)) throw new Error(`${layer}: momentum must be in [0, 1] or null, got ${this.momentum}`);
    if (this.affine) {
      this.registerParameter('weight', ones([numFeatures]));
      this.registerParameter('bias', zeros([numFeatures]));
    } else {
      this.fixedAffine = [keep(ones([numFeatures])), keep(zeros([numFeatures]))];
    }
    if (this.trackRunningStats) {
      this.registerBuffer('running_mean', zeros([numFeatures]));
      this.registerBuffer('running_var', ones([numFeatures]));
      this.registerCounter('num_batches_tracked', 0);
    }
  }

  get numBatchesTracked(): number {
    return this.counter('num_batches_tracked');
  }

  protected normalize(x: Tensor): Tensor {
    if (x.shape[1] !== this.numFeatures) throw new Error(`${this.layer}(${this.numFeatures}): input ${fmtShape(x.shape)} has ${x.shape[1]} channels in dimension 1, expected ${this.numFeatures}`);
    const valuesPerChannel = x.size / this.numFeatures;
    const useBatchStats = this.training || !this.trackRunningStats;
    if (useBatchStats && valuesPerChannel <= 1) {
      throw new Error(`${this.layer}: batch statistics need more than 1 value per channel, input ${fmtShape(x.shape)} has ${valuesPerChannel}`);
    }
    const [gamma, beta] = this.fixedAffine ?? [this.tensor('weight'), this.tensor('bias')];
    if (!this.trackRunningStats) {
      // Batch statistics only: the kernel still updates running buffers, so give it scratch ones.
      const scratchMean = zeros([this.numFeatures]);
      const scratchVar = ones([this.numFeatures]);
      const y = batchNorm(x, gamma, beta, scratchMean, scratchVar, { training: true, eps: this.eps, momentum: 0 });
      scratchMean.dispose();
      scratchVar.dispose();
      return y;
    }
    let momentum = this.momentum ?? 0;
    if (this.training) {
      const n = this.counter('num_batches_tracked') + 1;
      this.setCounter('num_batches_tracked', n);
      if (this.momentum === null) momentum = 1 / n;
    }
    return batchNorm(x, gamma, beta, this.tensor('running_mean'), this.tensor('running_var'), { training: this.training, eps: this.eps, momentum });
  }

  override dispose(): void {
    this.fixedAffine?.forEach((t) => t.dispose());
    this.fixedAffine = null;
    super.dispose();
  }

  override describe(): string {
    return `${this.layer}(${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.affine}, trackRunningStats=${this.trackRunningStats})`;
  }
}

/** Batch normalisation over [N, C] or [N, C, L] inputs. */
export class BatchNorm1d extends BatchNormBase {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super('BatchNorm1d', numFeatures, options);
  }
  forward(x: Tensor): Tensor {
    if (x.rank === 2) return this.normalize(x);
    if (x.rank !== 3) throw new Error(`BatchNorm1d(${this.numFeatures}): input ${fmtShape(x.shape)} must be [N, C] or [N, C, L]`);
    const x4 = reshape(x, [...x.shape, 1]);
    const y4 = this.normalize(x4);
    x4.dispose();
    const y = reshape(y4, x.shape);
    y4.dispose();
    return y;
  }
}

/** Batch normalisation over [N, C, H, W] inputs, per channel. */
export class BatchNorm2d extends BatchNormBase {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super('BatchNorm2d', numFeatures, options);
  }
  forward(x: Tensor): Tensor {
    if (x.rank !== 4) throw new Error(`BatchNorm2d(${this.numFeatures}): input ${fmtShape(x.shape)} must be [N, C, H, W]`);
    return this.normalize(x);
  }
}

export interface LayerNormOptions {
  eps?: number;
  elementwiseAffine?: boolean;
  bias?: boolean;
}

/** Normalises over the trailing `normalizedShape` dimensions (differentiable twice: fine in WGAN-GP critics). */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly eps: number;
  constructor(normalizedShape: number | readonly number[], options: LayerNormOptions = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    this.normalizedShape.forEach((d, i) => checkPositive('LayerNorm', { [`normalizedShape[${i}]`]: d }));
    this.eps = options.eps ?? 1e-5;
    if (options.elementwiseAffine ?? true) {
      this.registerParameter('weight', ones(this.normalizedShape));
      if (options.bias ?? true) this.registerParameter('bias', zeros(this.normalizedShape));
    }
  }
  forward(x: Tensor): Tensor {
    const tail = x.shape.slice(x.rank - this.normalizedShape.length);
    if (x.rank < this.normalizedShape.length || tail.some((d, i) => d !== this.normalizedShape[i])) {
      throw new Error(`LayerNorm(${fmtShape(this.normalizedShape)}): input ${fmtShape(x.shape)} does not end with ${fmtShape(this.normalizedShape)}`);
    }
    const weight = this.hasParameter('weight') ? this.tensor('weight') : undefined;
    const bias = this.hasParameter('bias') ? this.tensor('bias') : undefined;
    return layerNorm(x, this.normalizedShape, weight, bias, this.eps);
  }
  override describe(): string {
    return `LayerNorm(${fmtShape(this.normalizedShape)}, eps=${this.eps}, affine=${this.hasParameter('weight')})`;
  }
}
