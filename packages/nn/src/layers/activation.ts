/** Activation layers: thin modules over the core ops, for use in Sequential. */
import { leakyRelu, relu, sigmoid, tanh, type Tensor } from '@webgan/core';
import { Module } from '../module';

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) {
    super();
    if (!Number.isFinite(negativeSlope)) throw new Error(`LeakyReLU: negativeSlope must be finite, got ${negativeSlope}`);
  }
  forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }
  override describe(): string {
    return `LeakyReLU(${this.negativeSlope})`;
  }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}
