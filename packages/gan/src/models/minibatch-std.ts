/**
 * Minibatch standard deviation (Karras et al. 2018, a simplification of Salimans et al.'s
 * minibatch discrimination): appends one feature holding the average over features of the
 * per-feature standard deviation across the batch, so the discriminator sees how varied a batch
 * is and can penalise a collapsed generator. Built from differentiable ops (twice-differentiable,
 * usable in WGAN-GP critics).
 */
import { add, broadcastTo, concat, mean, sqrt, square, sub, tidy, type Tensor } from '@webgan/core';
import { Module } from '@webgan/nn';

export class MinibatchStd extends Module {
  forward(x: Tensor): Tensor {
    if (x.rank < 2 || x.shape[0] < 2) throw new Error(`MinibatchStd: input [${x.shape.join(',')}] needs a batch of at least 2`);
    return tidy(() => {
      const mu = mean(x, 0, true);
      const variance = mean(square(sub(x, mu)), 0, true);
      const std = sqrt(add(variance, 1e-8));
      const average = mean(std);
      const shape = [x.shape[0], 1, ...x.shape.slice(2)];
      return concat([x, broadcastTo(average, shape)], 1);
    });
  }
}
