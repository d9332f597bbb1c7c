/**
 * Convolution geometry shared by conv2d and conv-transpose2d: parameter normalisation, output
 * sizes, and shape checks with messages that name the op and the shapes.
 */
import { formatShape } from './array';

export type Pair = number | readonly [number, number];

export interface Conv2dParams {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
}

export interface ConvTranspose2dParams extends Conv2dParams {
  /** Extra rows/columns on one side of the output (PyTorch's output_padding). */
  outputPadding?: Pair;
}

/** A direct convolution x[N,C,H,W] * w[O,C,KH,KW] → y[N,O,OH,OW]; every conv pass is one of these. */
export interface ConvGeometry {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  KH: number;
  KW: number;
  OH: number;
  OW: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilationH: number;
  dilationW: number;
}

export function pair(op: string, name: string, value: Pair | undefined, fallback: number, min: number): [number, number] {
  const [a, b] = value === undefined ? [fallback, fallback] : typeof value === 'number' ? [value, value] : value;
  if (!Number.isInteger(a) || !Number.isInteger(b) || a < min || b < min) {
    throw new Error(`${op}: ${name} must be an integer >= ${min} (or a pair of them), got ${JSON.stringify(value)}`);
  }
  return [a, b];
}

export function convOutputSize(input: number, kernel: number, stride: number, pad: number, dilation: number): number {
  return Math.floor((input + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1;
}

/** PyTorch's ConvTranspose2d output size. */
export function convTransposeOutputSize(input: number, kernel: number, stride: number, pad: number, dilation: number, outputPadding: number): number {
  return (input - 1) * stride - 2 * pad + dilation * (kernel - 1) + outputPadding + 1;
}

function check4d(op: string, name: string, shape: readonly number[]): void {
  if (shape.length !== 4) throw new Error(`${op}: ${name} ${formatShape(shape)} must be 4-D`);
}

/** Geometry of conv2d(x, w). */
export function conv2dGeometry(op: string, xShape: readonly number[], wShape: readonly number[], params: Conv2dParams): ConvGeometry {
  check4d(op, 'x', xShape);
  check4d(op, 'weight', wShape);
  const [N, C, H, W] = xShape;
  const [O, Cw, KH, KW] = wShape;
  if (C !== Cw) throw new Error(`${op}: x ${formatShape(xShape)} has ${C} channels but weight ${formatShape(wShape)} expects ${Cw}`);
  const [strideH, strideW] = pair(op, 'stride', params.stride, 1, 1);
  const [padH, padW] = pair(op, 'padding', params.padding, 0, 0);
  const [dilationH, dilationW] = pair(op, 'dilation', params.dilation, 1, 1);
  const OH = convOutputSize(H, KH, strideH, padH, dilationH);
  const OW = convOutputSize(W, KW, strideW, padW, dilationW);
  if (OH < 1 || OW < 1) {
    throw new Error(`${op}: x ${formatShape(xShape)} with weight ${formatShape(wShape)}, stride ${strideH},${strideW}, padding ${padH},${padW}, dilation ${dilationH},${dilationW} gives an empty output (${OH}x${OW})`);
  }
  return { N, C, H, W, O, KH, KW, OH, OW, strideH, strideW, padH, padW, dilationH, dilationW };
}

/**
 * Geometry of convTranspose2d(x, w) expressed as the direct convolution it transposes: the
 * transposed conv's output is that convolution's input, and its input that convolution's output.
 */
export function convTranspose2dGeometry(op: string, xShape: readonly number[], wShape: readonly number[], params: ConvTranspose2dParams): ConvGeometry {
  check4d(op, 'x', xShape);
  check4d(op, 'weight', wShape);
  const [N, Cin, H, W] = xShape;
  const [Cw, Cout, KH, KW] = wShape;
  if (Cin !== Cw) throw new Error(`${op}: x ${formatShape(xShape)} has ${Cin} channels but weight ${formatShape(wShape)} expects ${Cw}`);
  const [strideH, strideW] = pair(op, 'stride', params.stride, 1, 1);
  const [padH, padW] = pair(op, 'padding', params.padding, 0, 0);
  const [dilationH, dilationW] = pair(op, 'dilation', params.dilation, 1, 1);
  const [opH, opW] = pair(op, 'outputPadding', params.outputPadding, 0, 0);
  if ((opH >= strideH && opH >= dilationH) || (opW >= strideW && opW >= dilationW)) {
    throw new Error(`${op}: outputPadding ${opH},${opW} must be smaller than stride (${strideH},${strideW}) or dilation (${dilationH},${dilationW})`);
  }
  const OH = convTransposeOutputSize(H, KH, strideH, padH, dilationH, opH);
  const OW = convTransposeOutputSize(W, KW, strideW, padW, dilationW, opW);
  if (OH < 1 || OW < 1) {
    throw new Error(`${op}: x ${formatShape(xShape)} with weight ${formatShape(wShape)} gives an empty output (${OH}x${OW})`);
  }
  // The direct conv: input [N, Cout, OH, OW], weight [Cin, Cout, KH, KW], output [N, Cin, H, W].
  return { N, C: Cout, H: OH, W: OW, O: Cin, KH, KW, OH: H, OW: W, strideH, strideW, padH, padW, dilationH, dilationW };
}
