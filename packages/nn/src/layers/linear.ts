/**
 * Linear: y = x·Wᵀ + b, weight [out, in] and bias [out] as in PyTorch; x is [*, in].
 */
import { linear, reshape, type FusedActivation, type Tensor } from '@webgan/core';
import { defaultLayerInit_, type InitOptions } from '../init';
import { Module } from '../module';
import { checkPositive, empty, fmtShape } from '../tensor-util';

export interface LinearOptions extends InitOptions {
  bias?: boolean;
}

export class Linear extends Module {
  readonly initKind = 'linear';
  /** The activation fused into this forward's GEMM, set only while `forwardFused` runs. */
  private fused: FusedActivation | undefined;
  constructor(readonly inFeatures: number, readonly outFeatures: number, options: LinearOptions = {}) {
    super();
    checkPositive('Linear', { inFeatures, outFeatures });
    const weight = this.registerParameter('weight', empty([outFeatures, inFeatures]))!;
    const bias = options.bias === false ? this.registerParameter('bias', null) : this.registerParameter('bias', empty([outFeatures]));
    defaultLayerInit_(weight, bias, options);
  }
  get weight(): Tensor {
    return this.tensor('weight');
  }
  get bias(): Tensor | null {
    return this.hasParameter('bias') ? this.tensor('bias') : null;
  }
  forward(x: Tensor): Tensor {
    const last = x.shape[x.rank - 1];
    if (last !== this.inFeatures) throw new Error(`Linear(${this.inFeatures}, ${this.outFeatures}): input ${fmtShape(x.shape)} has ${last} features in its last dimension, expected ${this.inFeatures}`);
    if (x.rank === 2) return linear(x, this.weight, this.bias ?? undefined, this.fused);
    // PyTorch's Linear takes [*, in] (any leading dims, or none); the core op takes [batch, in]
    // only, so fold the leading dims into the batch and unfold them after.
    const flat = reshape(x, [x.size / this.inFeatures, this.inFeatures]);
    const y = linear(flat, this.weight, this.bias ?? undefined, this.fused);
    flat.dispose();
    const out = reshape(y, [...x.shape.slice(0, -1), this.outFeatures]);
    y.dispose();
    return out;
  }
  /**
   * activation(forward(x)) with the activation applied in the GEMM's epilogue: one launch and one
   * pass over the output fewer. Goes through `forward`, so wrappers of it (spectral norm) apply.
   */
  forwardFused(x: Tensor, activation: FusedActivation): Tensor {
    this.fused = activation;
    try {
      return this.forward(x);
    } finally {
      this.fused = undefined;
    }
  }
  override describe(): string {
    return `Linear(in=${this.inFeatures}, out=${this.outFeatures}, bias=${this.bias !== null})`;
  }
}
