/**
 * Dropout: in training, zeroes each value with probability p and scales the rest by 1/(1−p)
 * (inverted dropout, as PyTorch), drawing from the seeded generator; identity in eval mode.
 */
import { compare, mul, rand, type Generator, type Tensor } from '@webgan/core';
import { Module } from '../module';

export class Dropout extends Module {
  constructor(readonly p = 0.5, private readonly generator?: Generator) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`Dropout: p must be in [0, 1], got ${p}`);
  }
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x.alias();
    const u = rand(x.shape, { generator: this.generator });
    const keepMask = compare('ge', u, this.p);
    u.dispose();
    const scaled = mul(keepMask, this.p === 1 ? 0 : 1 / (1 - this.p));
    keepMask.dispose();
    const y = mul(x, scaled);
    scaled.dispose();
    return y;
  }
  override describe(): string {
    return `Dropout(p=${this.p})`;
  }
}
