/** Activation layers: thin modules over the core ops, for use in Sequential. */
import { leakyRelu, max, relu, reshape, sigmoid, tanh, tidy, type FusedActivation, type Tensor } from '@webgan/core';
import { Module } from '../module';

/** An activation layer a preceding layer can apply in its own kernel's epilogue (Sequential fuses them). */
export interface FusableActivation {
  /** What to fuse, or null when this instance cannot be (a leaky ReLU of slope ≤ 0). */
  fusedActivation(): FusedActivation | null;
}

export class ReLU extends Module implements FusableActivation {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
  fusedActivation(): FusedActivation {
    return { kind: 'relu' };
  }
}

export class LeakyReLU extends Module implements FusableActivation {
  constructor(readonly negativeSlope = 0.01) {
    super();
    if (!Number.isFinite(negativeSlope)) throw new Error(`LeakyReLU: negativeSlope must be finite, got ${negativeSlope}`);
  }
  forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }
  /** A fused gradient reads the sign from the output, which a slope ≤ 0 does not preserve. */
  fusedActivation(): FusedActivation | null {
    return this.negativeSlope > 0 ? { kind: 'leaky_relu', slope: this.negativeSlope } : null;
  }
  override describe(): string {
    return `LeakyReLU(${this.negativeSlope})`;
  }
}

export class Tanh extends Module implements FusableActivation {
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
  fusedActivation(): FusedActivation {
    return { kind: 'tanh' };
  }
}

export class Sigmoid extends Module implements FusableActivation {
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
  fusedActivation(): FusedActivation {
    return { kind: 'sigmoid' };
  }
}

/**
 * Maxout (Goodfellow et al. 2013): the largest of each group of `pieces` consecutive features,
 * [N, F·pieces] → [N, F]. After a Linear of F·pieces outputs it is a learned convex piecewise-
 * linear activation; GAN papers on 2D mixtures (PacGAN, VEEGAN) use it in the discriminator.
 */
export class Maxout extends Module {
  constructor(readonly pieces: number) {
    super();
    if (!Number.isInteger(pieces) || pieces < 2) throw new Error(`Maxout: pieces must be an integer ≥ 2, got ${pieces}`);
  }
  forward(x: Tensor): Tensor {
    if (x.rank !== 2 || x.shape[1] % this.pieces !== 0) {
      throw new Error(`Maxout(${this.pieces}): input [${x.shape.join(',')}] must be [N, F·${this.pieces}]`);
    }
    return tidy(() => max(reshape(x, [x.shape[0], x.shape[1] / this.pieces, this.pieces]), 2));
  }
  override describe(): string {
    return `Maxout(${this.pieces})`;
  }
}
