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
import { getRuntime } from '@webgan/kernels';
import { add } from './ops/arithmetic';
import { onesLike } from './ops/creation';
import { Tensor, fmt } from './tensor';

export { Tensor, fromDeviceArray, type NestedArray } from './tensor';
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
    /**
     * Overwrites this tensor's values with `source`'s (same shape and dtype), in place and outside
     * autograd: what initialisers, optimizers and loadStateDict use. Returns this tensor.
     */
    copy_(source: Tensor): this;
  }
}

Tensor.prototype.backward = function (this: Tensor, gradOutput?: Tensor, options = {}) {
  backward(this, gradOutput, options);
};

Tensor.prototype.copy_ = function <T extends Tensor>(this: T, source: Tensor): T {
  if (source.dtype !== this.dtype || source.shape.length !== this.shape.length || source.shape.some((d, i) => d !== this.shape[i])) {
    throw new Error(`copy_: source ${source.dtype} ${fmt(source.shape)} does not match target ${this.dtype} ${fmt(this.shape)}`);
  }
  const target = this.deviceArray('copy_');
  const from = source.deviceArray('copy_');
  if (from.buffer !== target.buffer && this.size > 0) getRuntime().copy(from.buffer, 0, target.buffer, 0, this.size * 4);
  this.storage.markWritten();
  return this;
};
