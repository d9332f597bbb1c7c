/** Flatten and Unflatten: reshapes between convolutional and dense parts of a model. */
import { flatten, reshape, type Tensor } from '@webgan/core';
import { Module } from '../module';
import { fmtShape } from '../tensor-util';

/** Merges dimensions startDim..endDim (default: everything but the batch). */
export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }
  override describe(): string {
    return `Flatten(${this.startDim}, ${this.endDim})`;
  }
}

/** Splits dimension `dim` into `sizes` (e.g. [N, 784] → [N, 1, 28, 28] with dim 1, sizes [1, 28, 28]). */
export class Unflatten extends Module {
  constructor(readonly dim: number, readonly sizes: readonly number[]) {
    super();
    if (sizes.some((s) => !Number.isInteger(s) || s <= 0)) throw new Error(`Unflatten: sizes ${fmtShape(sizes)} must be positive integers`);
  }
  forward(x: Tensor): Tensor {
    const d = this.dim < 0 ? this.dim + x.rank : this.dim;
    const product = this.sizes.reduce((a, b) => a * b, 1);
    if (d < 0 || d >= x.rank || x.shape[d] !== product) {
      throw new Error(`Unflatten(${this.dim}, ${fmtShape(this.sizes)}): input ${fmtShape(x.shape)} needs ${product} values in dimension ${this.dim}`);
    }
    return reshape(x, [...x.shape.slice(0, d), ...this.sizes, ...x.shape.slice(d + 1)]);
  }
  override describe(): string {
    return `Unflatten(${this.dim}, ${fmtShape(this.sizes)})`;
  }
}
