/**
 * @webgan/core: Tensor, differentiable ops and reverse-mode autograd on @webgan/kernels.
 *
 *   import { initNode } from '@webgan/kernels/node';
 *   import { tensor, mul, sum } from '@webgan/core';
 *   await initNode();
 *   const x = tensor([1, 2, 3], [3], { requiresGrad: true });
 *   const y = sum(mul(x, x));
 *   y.backward();
 *   console.log(await x.grad!.data()); // 2, 4, 6
 */
import { backward, setAutogradHooks } from './autograd';
import { keep } from './memory';
import { add } from './ops/arithmetic';
import { onesLike } from './ops/creation';
import { Tensor } from './tensor';

export { Tensor, type NestedArray } from './tensor';
export { backward, grad, noGrad, isGradEnabled, type GradOptions } from './autograd';
export { tidy, keep, memory, type MemoryInfo } from './memory';
export { Generator, defaultGenerator, manualSeed, type GeneratorState } from './random';
export * from './ops/creation';
export { add, sub, mul, div, pow, neg, maximum, minimum, compare, eq, ne, lt, le, gt, ge, sum, reshape, broadcastTo, sumTo, scalarTensor } from './ops/arithmetic';
export * from './ops/unary';
export * from './ops/reduction';
export * from './ops/shape';
export * from './ops/linalg';
export * from './ops/conv';
export * from './ops/normalization';
export * from './ops/loss';

setAutogradHooks({
  onesLike,
  add: (a, b) => add(a, b),
  alias: (t) => t.alias(),
  keep,
});

declare module './tensor' {
  interface Tensor {
    /** Accumulates d(this)/d(leaf) into `.grad` of every leaf that requires grad. */
    backward(gradOutput?: Tensor, options?: { retainGraph?: boolean; createGraph?: boolean }): void;
  }
}

Tensor.prototype.backward = function (this: Tensor, gradOutput?: Tensor, options = {}) {
  backward(this, gradOutput, options);
};
