/**
 * conv2d and convTranspose2d. A convolution's two backward passes are themselves ops here
 * (conv2dBackwardData, conv2dBackwardFilter), each linear in both arguments, so their own
 * gradients are the other passes — gradients of gradients through a conv critic (WGAN-GP, R1)
 * need exactly that:
 *   y  = conv(x, w)          dx = Dᵀ(g, w)          dw = F(x, g)
 *   dx = Dᵀ(g, w): d/dg = conv(h, w),   d/dw = F(h, g)
 *   dw = F(x, g):  d/dx = Dᵀ(g, h),     d/dg = conv(x, h)
 * A transposed convolution is Dᵀ with its input and output swapped.
 */
import {
  conv2d as conv2dKernel,
  conv2dBackwardData as backwardDataKernel,
  conv2dBackwardFilter as backwardFilterKernel,
  getRuntime,
  type Conv2dParams,
  type ConvTranspose2dParams,
} from '@webgan/kernels';
import { record } from '../record';
import { fmt, type Tensor } from '../tensor';
import { add, reshape, sum } from './arithmetic';

const rt = getRuntime;

/** y = conv2d(x, w) + b. x [N,C,H,W], w [O,C,KH,KW], b [O]. */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor, params: Conv2dParams = {}): Tensor {
  const inputs = bias ? [x, weight, bias] : [x, weight];
  const result = conv2dKernel(rt(), x.deviceArray('conv2d'), weight.deviceArray('conv2d'), { ...params, bias: bias?.deviceArray('conv2d') });
  return record('conv2d', inputs, result, (g, [sx, sw]) => [
    x.requiresGrad ? conv2dBackwardData(g, sw, x.shape, params) : null,
    weight.requiresGrad ? conv2dBackwardFilter(sx, g, weight.shape, params) : null,
    bias?.requiresGrad ? sum(g, [0, 2, 3]) : null,
  ], { save: [x, weight] });
}

/** Dᵀ(dy, w): the gradient of conv2d with respect to its input, as a differentiable op. */
export function conv2dBackwardData(dy: Tensor, weight: Tensor, inputShape: readonly number[], params: Conv2dParams = {}): Tensor {
  const result = backwardDataKernel(rt(), dy.deviceArray('conv2dBackwardData'), weight.deviceArray('conv2dBackwardData'), inputShape, params);
  return record('conv2dBackwardData', [dy, weight], result, (h, [sdy, sw]) => [
    dy.requiresGrad ? conv2d(h, sw, undefined, params) : null,
    weight.requiresGrad ? conv2dBackwardFilter(h, sdy, weight.shape, params) : null,
  ], { save: [dy, weight] });
}

/** F(x, dy): the gradient of conv2d with respect to its weight, as a differentiable op. */
export function conv2dBackwardFilter(x: Tensor, dy: Tensor, weightShape: readonly number[], params: Conv2dParams = {}): Tensor {
  const result = backwardFilterKernel(rt(), x.deviceArray('conv2dBackwardFilter'), dy.deviceArray('conv2dBackwardFilter'), weightShape, params);
  return record('conv2dBackwardFilter', [x, dy], result, (h, [sx, sdy]) => [
    x.requiresGrad ? conv2dBackwardData(sdy, h, sx.shape, params) : null,
    dy.requiresGrad ? conv2d(sx, h, undefined, params) : null,
  ], { save: [x, dy] });
}

/**
 * PyTorch's ConvTranspose2d: x [N,Cin,H,W], w [Cin,Cout,KH,KW], b [Cout]. It is Dᵀ of the direct
 * convolution from its output to its input, so its output shape is that convolution's input.
 */
export function convTranspose2d(x: Tensor, weight: Tensor, bias?: Tensor, params: ConvTranspose2dParams = {}): Tensor {
  if (x.rank !== 4 || weight.rank !== 4) throw new Error(`convTranspose2d: x ${fmt(x.shape)} and weight ${fmt(weight.shape)} must be 4-D`);
  const outShape = convTransposeOutputShape(x.shape, weight.shape, params);
  const { outputPadding: _, ...convParams } = params;
  const y = conv2dBackwardData(x, weight, outShape, convParams);
  if (!bias) return y;
  const b = reshape(bias, [1, bias.size, 1, 1]);
  const out = add(y, b);
  y.dispose();
  b.dispose();
  return out;
}

function convTransposeOutputShape(xShape: readonly number[], wShape: readonly number[], params: ConvTranspose2dParams): number[] {
  const pair = (v: number | readonly [number, number] | undefined, d: number) => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);
  const [sH, sW] = pair(params.stride, 1);
  const [pH, pW] = pair(params.padding, 0);
  const [dH, dW] = pair(params.dilation, 1);
  const [oH, oW] = pair(params.outputPadding, 0);
  const [N, Cin, H, W] = xShape;
  const [Cw, Cout, KH, KW] = wShape;
  if (Cin !== Cw) throw new Error(`convTranspose2d: x ${fmt(xShape)} has ${Cin} channels but weight ${fmt(wShape)} expects ${Cw}`);
  if ((oH >= sH && oH >= dH) || (oW >= sW && oW >= dW)) {
    throw new Error(`convTranspose2d: outputPadding ${oH},${oW} must be smaller than stride (${sH},${sW}) or dilation (${dH},${dW})`);
  }
  return [N, Cout, (H - 1) * sH - 2 * pH + dH * (KH - 1) + oH + 1, (W - 1) * sW - 2 * pW + dW * (KW - 1) + oW + 1];
}
