/**
 * Batch normalisation (fused kernels; first-order gradients) and layer normalisation (composed of
 * differentiable ops, so critics that use it support gradients of gradients, as WGAN-GP needs).
 */
import { batchNormBackward, batchNormEval, batchNormTrain, getRuntime } from '@webgan/kernels';
import { isGradEnabled } from '../autograd';
import { record } from '../record';
import { fmt, fromDeviceArray, type Tensor } from '../tensor';
import { add, mul, reshape, sub, sum } from './arithmetic';
import { mean } from './reduction';
import { rsqrt } from './unary';

const rt = getRuntime;

export interface BatchNormOptions {
  training: boolean;
  momentum?: number;
  eps?: number;
}

/**
 * x [N,C] or [N,C,H,W] normalised per channel. In training, batch statistics are used and
 * runningMean / runningVar are updated in place (PyTorch's momentum rule, unbiased variance).
 */
export function batchNorm(x: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor, options: BatchNormOptions): Tensor {
  const args = [gamma, beta, runningMean, runningVar].map((t) => t.deviceArray('batchNorm'));
  if (!options.training) {
    const y = batchNormEval(rt(), x.deviceArray('batchNorm'), args[0], args[1], args[2], args[3], { eps: options.eps });
    return record('batchNormEval', [x, gamma, beta], y, (g, [sx, sg, sm, sv]) => {
      // y = (x − m)·γ/√(v + ε) + β with fixed running statistics.
      const eps = options.eps ?? 1e-5;
      const shape = x.rank === 4 ? [1, gamma.size, 1, 1] : [1, gamma.size];
      const inv = rsqrtShifted(sv, eps, shape);
      const gammaB = reshape(sg, shape);
      const scale = mul(gammaB, inv);
      gammaB.dispose();
      const gx = x.requiresGrad ? mul(g, scale) : null;
      let gg: Tensor | null = null;
      if (gamma.requiresGrad) {
        const meanB = reshape(sm, shape);
        const centered = sub(sx, meanB);
        meanB.dispose();
        const xhat = mul(centered, inv);
        centered.dispose();
        gg = sumChannels(mul(g, xhat), x.rank);
        xhat.dispose();
      }
      inv.dispose();
      scale.dispose();
      return [gx, gg, beta.requiresGrad ? sumChannels(g.alias(), x.rank) : null];
    }, { save: [x, gamma, runningMean, runningVar] });
  }
  const { y, mean: batchMean, invstd } = batchNormTrain(rt(), x.deviceArray('batchNorm'), args[0], args[1], args[2], args[3], {
    momentum: options.momentum,
    eps: options.eps,
  });
  // The kernel wrote the running statistics in place: their host copies are stale.
  runningMean.storage.markWritten();
  runningVar.storage.markWritten();
  const meanT = fromDeviceArray(batchMean);
  const invstdT = fromDeviceArray(invstd);
  const out = record('batchNorm', [x, gamma, beta], y, (g, [sx, sg, sMean, sInv]) => {
    if (isGradEnabled()) {
      throw new Error('batchNorm: gradients of gradients through batch normalisation are not supported; use layerNorm (or no normalisation) in a critic that needs a gradient penalty');
    }
    const grads = batchNormBackward(rt(), g.deviceArray(), sx.deviceArray(), sg.deviceArray(), sMean.deviceArray(), sInv.deviceArray());
    return [fromDeviceArray(grads.dx), fromDeviceArray(grads.dgamma), fromDeviceArray(grads.dbeta)];
  }, { save: [x, gamma, meanT, invstdT] });
  meanT.dispose();
  invstdT.dispose();
  return out;
}

function rsqrtShifted(v: Tensor, eps: number, shape: number[]): Tensor {
  const vB = reshape(v, shape);
  const shifted = add(vB, eps);
  vB.dispose();
  const r = rsqrt(shifted);
  shifted.dispose();
  return r;
}

function sumChannels(t: Tensor, rank: number): Tensor {
  const s = sum(t, rank === 4 ? [0, 2, 3] : [0]);
  t.dispose();
  return s;
}

/**
 * Normalises over the last `normalizedShape.length` dims, then scales by weight and adds bias
 * (both of normalizedShape, optional). Built from differentiable ops.
 */
export function layerNorm(x: Tensor, normalizedShape: readonly number[], weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  const k = normalizedShape.length;
  if (x.shape.slice(x.rank - k).join() !== normalizedShape.join()) {
    throw new Error(`layerNorm: normalizedShape ${fmt(normalizedShape)} does not match the trailing dims of x ${fmt(x.shape)}`);
  }
  const axes = Array.from({ length: k }, (_, i) => x.rank - k + i);
  const mu = mean(x, axes, true);
  const centered = sub(x, mu);
  mu.dispose();
  const sq = mul(centered, centered);
  const variance = mean(sq, axes, true);
  sq.dispose();
  const shifted = add(variance, eps);
  variance.dispose();
  const inv = rsqrt(shifted);
  shifted.dispose();
  let y = mul(centered, inv);
  centered.dispose();
  inv.dispose();
  if (weight) {
    const scaled = mul(y, weight);
    y.dispose();
    y = scaled;
  }
  if (bias) {
    const shiftedY = add(y, bias);
    y.dispose();
    y = shiftedY;
  }
  return y;
}

