/**
 * conv-transpose2d with PyTorch's semantics (weight [in, out, kh, kw], padding, output_padding,
 * dilation, groups = 1). It is the data-gradient of a direct convolution, so its three passes are
 * conv2d's passes with input and output swapped: forward = conv backward-data, backward-data =
 * conv forward, backward-filter = conv backward-filter with x and dy swapped.
 */
import type { Runtime } from '../runtime/runtime';
import { assertFloat, formatShape, type DeviceArray, guarded } from './array';
import { convTranspose2dGeometry, pair, type ConvGeometry, type ConvTranspose2dParams } from './conv-geometry';
import { runConvPass } from './conv2d';
import { checkBias, type Epilogue } from './matmul';

export type { ConvTranspose2dParams } from './conv-geometry';

// Shapes in conv-transpose terms, from the direct-conv geometry g.
const outputShape = (g: ConvGeometry) => [g.N, g.C, g.H, g.W];
const inputShape = (g: ConvGeometry) => [g.N, g.O, g.OH, g.OW];

function geometryFor(op: string, x: readonly number[], wShape: readonly number[], params: ConvTranspose2dParams) {
  return convTranspose2dGeometry(op, x, wShape, params);
}

/** y[N,Cout,OH,OW] = act(convT(x[N,Cin,H,W], w[Cin,Cout,KH,KW]) + bias[Cout]). */
export const convTranspose2d = guarded(function convTranspose2d(runtime: Runtime, x: DeviceArray, w: DeviceArray, params: ConvTranspose2dParams & Epilogue = {}): DeviceArray {
  assertFloat('convTranspose2d', 'x', x);
  assertFloat('convTranspose2d', 'weight', w);
  const g = geometryFor('convTranspose2d', x.shape, w.shape, params);
  checkBias('convTranspose2d', params.bias, g.C);
  return runConvPass(runtime, 'backward-data', 'conv-transpose2d', g, [x, w], outputShape(g), params);
});

/** dx[N,Cin,H,W] from dy[N,Cout,OH,OW]: a direct convolution of dy with w. */
export const convTranspose2dBackwardData = guarded(function convTranspose2dBackwardData(runtime: Runtime, dy: DeviceArray, w: DeviceArray, params: ConvTranspose2dParams = {}): DeviceArray {
  if (dy.shape.length !== 4 || w.shape.length !== 4) {
    throw new Error(`convTranspose2dBackwardData: dy ${formatShape(dy.shape)} and weight ${formatShape(w.shape)} must be 4-D`);
  }
  const [N, Cout, OH, OW] = dy.shape;
  const [Cin, Cw, KH, KW] = w.shape;
  if (Cout !== Cw) throw new Error(`convTranspose2dBackwardData: dy ${formatShape(dy.shape)} has ${Cout} channels but weight ${formatShape(w.shape)} produces ${Cw}`);
  const op = 'convTranspose2dBackwardData';
  const [sH, sW] = pair(op, 'stride', params.stride, 1, 1);
  const [pH, pW] = pair(op, 'padding', params.padding, 0, 0);
  const [dH, dW] = pair(op, 'dilation', params.dilation, 1, 1);
  const [opH, opW] = pair(op, 'outputPadding', params.outputPadding, 0, 0);
  // Invert PyTorch's output-size formula; a dy that no input maps to fails the check below.
  const H = Math.floor((OH - 1 + 2 * pH - dH * (KH - 1) - opH) / sH) + 1;
  const W = Math.floor((OW - 1 + 2 * pW - dW * (KW - 1) - opW) / sW) + 1;
  const g = geometryFor('convTranspose2dBackwardData', [N, Cin, H, W], w.shape, params);
  if (H < 1 || W < 1 || g.H !== OH || g.W !== OW) {
    throw new Error(`convTranspose2dBackwardData: dy ${formatShape(dy.shape)} is not an output of this transposed convolution (expected ${formatShape(outputShape(g))})`);
  }
  return runConvPass(runtime, 'forward', 'conv-transpose2d.backward-data', g, [dy, w], inputShape(g));
});

/** dw[Cin,Cout,KH,KW] from x[N,Cin,H,W] and dy[N,Cout,OH,OW]. */
export const convTranspose2dBackwardFilter = guarded(function convTranspose2dBackwardFilter(runtime: Runtime, x: DeviceArray, dy: DeviceArray, wShape: readonly number[], params: ConvTranspose2dParams = {}): DeviceArray {
  const g = geometryFor('convTranspose2dBackwardFilter', x.shape, wShape, params);
  if (formatShape(dy.shape) !== formatShape(outputShape(g))) {
    throw new Error(`convTranspose2dBackwardFilter: dy ${formatShape(dy.shape)} does not match the output ${formatShape(outputShape(g))}`);
  }
  // The direct conv's backward-filter with its input = our dy and its output gradient = our x.
  return runConvPass(runtime, 'backward-filter', 'conv-transpose2d.backward-filter', g, [dy, x], [g.O, g.C, g.KH, g.KW]);
});
