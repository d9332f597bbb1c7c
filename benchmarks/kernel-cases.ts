/**
 * The kernel benchmark's cases: each declared once, with our call (NCHW, PyTorch weight layouts)
 * and the tfjs equivalent (NHWC, tfjs's own kernels, including the gradient kernels its autograd
 * runs: Conv2DBackpropInput, Conv2DBackpropFilter).
 *
 * FLOP rule: matmul = 2·M·N·K. Every conv pass (forward, backward-data, backward-filter) =
 * 2·N·O·OH·OW·C·KH·KW of the conv whose shapes it uses; a transposed conv is the backward-data of
 * the conv from its output to its input, so its three passes count that conv's FLOPs.
 * Batchnorm and leaky ReLU are memory-bound: they report bytes (each input read once, each output
 * written once: the least traffic the op needs) instead of FLOPs.
 */
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import type { DeviceArray, KernelName, OurKernels, Runtime } from './lib/ours';
import type { Tf } from './lib/tfjs';

export const BACKENDS = ['ours', 'tfjs-webgpu', 'tfjs-wasm', 'tfjs-cpu'] as const;
export type Backend = (typeof BACKENDS)[number];

/** How an operand's host data is filled. */
export type Fill = 'uniform' /* [-1, 1) */ | 'scale' /* [0.5, 1.5) */ | 'zeros' | 'ones';

export interface Operand {
  /** Shape in our layout (NCHW activations, PyTorch weights). */
  shape: number[];
  /** Permutation from our layout to the one tfjs gets (NHWC / [KH,KW,in,out]); none = same. */
  tfjsPerm?: number[];
  fill?: Fill;
}

export interface KernelCase {
  name: string;
  /** Shapes in our layout, for the table. */
  shape: string;
  inputs: Record<string, Operand>;
  flops?: number;
  bytes?: number;
  /** The @webgan/kernels functions `ours` calls. */
  kernels: KernelName[];
  /** Enqueues our kernels; returns every output (the first one is checked against tfjs). */
  ours(k: OurKernels, rt: Runtime, x: Record<string, DeviceArray>): DeviceArray[];
  /** Runs the tfjs equivalent on tfjs-layout inputs; the first output is checked. */
  tfjs(tf: Tf, x: Record<string, Tensor>): Tensor[];
  /** Permutation from tfjs's layout of the first output back to ours. */
  tfjsOutPerm?: number[];
  /** Backends that skip this case by default, and why (`--slow` runs it anyway). */
  skip?: Partial<Record<Backend, string>>;
}

const NHWC = [0, 2, 3, 1];
const FROM_NHWC = [0, 3, 1, 2];
/** [O,C,KH,KW] (conv) or [Cin,Cout,KH,KW] (transposed conv) to tfjs's [KH,KW,C,O] / [KH,KW,Cout,Cin]. */
const HWIO = [2, 3, 1, 0];
const FROM_HWIO = [3, 2, 0, 1];

const matmulFlops = (m: number, n: number, k: number) => 2 * m * n * k;
const convFlops = (n: number, o: number, oh: number, ow: number, c: number, kh: number, kw: number) =>
  2 * n * o * oh * ow * c * kh * kw;
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function matmulCase(m: number, k: number, n: number): KernelCase {
  return {
    name: `matmul ${m}x${k}·${k}x${n}`,
    shape: `[${m},${k}]·[${k},${n}]`,
    inputs: { a: { shape: [m, k] }, b: { shape: [k, n] } },
    flops: matmulFlops(m, n, k),
    kernels: ['matmul'],
    ours: (kn, rt, x) => [kn.matmul(rt, x.a, x.b)],
    tfjs: (tf, x) => [tf.matMul(x.a, x.b)],
  };
}

// The DCGAN discriminator / generator layer of the 28x28 models: 64→128 channels, 14x14 ↔ 7x7.
const N = 64, C = 64, O = 128, H = 14, OH = 7, K = 4;
const CONV = { stride: 2, padding: 1 };
const TF_STRIDES: [number, number] = [2, 2];
const TF_PAD = 1;
const CONV_FLOPS = convFlops(N, O, OH, OH, C, K, K);
const x14 = [N, C, H, H], y7 = [N, O, OH, OH], convW = [O, C, K, K], convTW = [O, C, K, K];

/** tfjs's gradient kernels, called as its autograd calls them. */
function backpropInput(tf: Tf, dy: Tensor, filter: Tensor, inputShape: number[]): Tensor {
  return tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, {
    strides: TF_STRIDES, pad: TF_PAD, dataFormat: 'NHWC', inputShape,
  }) as Tensor;
}
function backpropFilter(tf: Tf, x: Tensor, dy: Tensor, filterShape: number[]): Tensor {
  return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
    strides: TF_STRIDES, pad: TF_PAD, dataFormat: 'NHWC', filterShape,
  }) as Tensor;
}
const conv2dTf = (tf: Tf, x: Tensor, filter: Tensor) => tf.conv2d(x as Tensor4D, filter as Tensor4D, 2, TF_PAD);
/** tfjs-cpu's Conv2DBackpropFilter indexes through TensorBuffer.get: 56 s per run on an idle 2-core machine. */
const CPU_BACKPROP_FILTER_SKIP = { 'tfjs-cpu': "tfjs-cpu's Conv2DBackpropFilter takes about a minute per run on a 2-core machine" };
const nhwc = (s: number[]) => NHWC.map((i) => s[i]);
const hwio = (s: number[]) => HWIO.map((i) => s[i]);

const convCases: KernelCase[] = [
  {
    name: 'conv2d forward',
    shape: 'x[64,64,14,14] w[128,64,4,4] s2 p1 → [64,128,7,7]',
    inputs: { x: { shape: x14, tfjsPerm: NHWC }, w: { shape: convW, tfjsPerm: HWIO } },
    flops: CONV_FLOPS,
    kernels: ['conv2d'],
    ours: (kn, rt, x) => [kn.conv2d(rt, x.x, x.w, CONV)],
    tfjs: (tf, x) => [conv2dTf(tf, x.x, x.w)],
    tfjsOutPerm: FROM_NHWC,
  },
  {
    name: 'conv2d backward-data',
    shape: 'dy[64,128,7,7] w[128,64,4,4] → dx[64,64,14,14]',
    inputs: { dy: { shape: y7, tfjsPerm: NHWC }, w: { shape: convW, tfjsPerm: HWIO } },
    flops: CONV_FLOPS,
    kernels: ['conv2dBackwardData'],
    ours: (kn, rt, x) => [kn.conv2dBackwardData(rt, x.dy, x.w, x14, CONV)],
    tfjs: (tf, x) => [backpropInput(tf, x.dy, x.w, nhwc(x14))],
    tfjsOutPerm: FROM_NHWC,
  },
  {
    name: 'conv2d backward-filter',
    shape: 'x[64,64,14,14] dy[64,128,7,7] → dw[128,64,4,4]',
    inputs: { x: { shape: x14, tfjsPerm: NHWC }, dy: { shape: y7, tfjsPerm: NHWC } },
    flops: CONV_FLOPS,
    kernels: ['conv2dBackwardFilter'],
    ours: (kn, rt, x) => [kn.conv2dBackwardFilter(rt, x.x, x.dy, convW, CONV)],
    tfjs: (tf, x) => [backpropFilter(tf, x.x, x.dy, hwio(convW))],
    tfjsOutPerm: FROM_HWIO,
    skip: CPU_BACKPROP_FILTER_SKIP,
  },
  {
    name: 'conv-transpose2d forward',
    shape: 'x[64,128,7,7] w[128,64,4,4] s2 p1 → [64,64,14,14]',
    inputs: { x: { shape: y7, tfjsPerm: NHWC }, w: { shape: convTW, tfjsPerm: HWIO } },
    flops: CONV_FLOPS,
    kernels: ['convTranspose2d'],
    ours: (kn, rt, x) => [kn.convTranspose2d(rt, x.x, x.w, CONV)],
    tfjs: (tf, x) => [tf.conv2dTranspose(x.x as Tensor4D, x.w as Tensor4D, nhwc(x14) as [number, number, number, number], 2, TF_PAD)],
    tfjsOutPerm: FROM_NHWC,
  },
  {
    // tfjs's gradient of conv2dTranspose w.r.t. its input is conv2d(dy, filter).
    name: 'conv-transpose2d backward-data',
    shape: 'dy[64,64,14,14] w[128,64,4,4] → dx[64,128,7,7]',
    inputs: { dy: { shape: x14, tfjsPerm: NHWC }, w: { shape: convTW, tfjsPerm: HWIO } },
    flops: CONV_FLOPS,
    kernels: ['convTranspose2dBackwardData'],
    ours: (kn, rt, x) => [kn.convTranspose2dBackwardData(rt, x.dy, x.w, CONV)],
    tfjs: (tf, x) => [conv2dTf(tf, x.dy, x.w)],
    tfjsOutPerm: FROM_NHWC,
  },
  {
    // ... and w.r.t. its filter, Conv2DBackpropFilter with the roles of x and dy swapped.
    name: 'conv-transpose2d backward-filter',
    shape: 'x[64,128,7,7] dy[64,64,14,14] → dw[128,64,4,4]',
    inputs: { x: { shape: y7, tfjsPerm: NHWC }, dy: { shape: x14, tfjsPerm: NHWC } },
    flops: CONV_FLOPS,
    kernels: ['convTranspose2dBackwardFilter'],
    ours: (kn, rt, x) => [kn.convTranspose2dBackwardFilter(rt, x.x, x.dy, convTW, CONV)],
    tfjs: (tf, x) => [backpropFilter(tf, x.dy, x.x, hwio(convTW))],
    tfjsOutPerm: FROM_HWIO,
    skip: CPU_BACKPROP_FILTER_SKIP,
  },
];

const BN_SHAPE = [64, 128, 7, 7];
const BN_N = size(BN_SHAPE);
const EPS = 1e-5;
const bnInputs = (withDy: boolean): Record<string, Operand> => ({
  x: { shape: BN_SHAPE, tfjsPerm: NHWC },
  ...(withDy ? { dy: { shape: BN_SHAPE, tfjsPerm: NHWC } } : {}),
  gamma: { shape: [128], fill: 'scale' },
  beta: { shape: [128] },
  runningMean: { shape: [128], fill: 'zeros' },
  runningVar: { shape: [128], fill: 'ones' },
});

/** tfjs's training-mode batchnorm: batch moments over N,H,W, then batchNorm. */
function batchNormTrainTf(tf: Tf, x: Tensor, gamma: Tensor, beta: Tensor): Tensor {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, mean, variance, beta, gamma, EPS);
}

const normCases: KernelCase[] = [
  {
    name: 'batchnorm train forward',
    shape: 'x[64,128,7,7]',
    inputs: bnInputs(false),
    bytes: 2 * BN_N * 4,
    kernels: ['batchNormTrain'],
    ours: (kn, rt, x) => {
      const { y, mean, invstd } = kn.batchNormTrain(rt, x.x, x.gamma, x.beta, x.runningMean, x.runningVar, { eps: EPS });
      return [y, mean, invstd];
    },
    tfjs: (tf, x) => [batchNormTrainTf(tf, x.x, x.gamma, x.beta)],
    tfjsOutPerm: FROM_NHWC,
  },
  {
    name: 'batchnorm train forward+backward',
    shape: 'x,dy[64,128,7,7] → y, dx, dgamma, dbeta',
    inputs: bnInputs(true),
    bytes: 5 * BN_N * 4,
    kernels: ['batchNormTrain', 'batchNormBackward'],
    ours: (kn, rt, x) => {
      const { y, mean, invstd } = kn.batchNormTrain(rt, x.x, x.gamma, x.beta, x.runningMean, x.runningVar, { eps: EPS });
      const { dx, dgamma, dbeta } = kn.batchNormBackward(rt, x.dy, x.x, x.gamma, mean, invstd);
      return [dx, dgamma, dbeta, y, mean, invstd];
    },
    // tf.grads records the forward on its tape and runs the backward: the gradient flows through
    // the batch moments as well, as in training.
    tfjs: (tf, x) =>
      tf.grads((xx: Tensor, g: Tensor, b: Tensor) => batchNormTrainTf(tf, xx, g, b))([x.x, x.gamma, x.beta], x.dy),
    tfjsOutPerm: FROM_NHWC,
  },
];

const LRELU_SHAPE = [64, 64, 14, 14];
const activationCases: KernelCase[] = [
  {
    name: 'leaky ReLU 0.2 forward',
    shape: 'x[64,64,14,14]',
    inputs: { x: { shape: LRELU_SHAPE, tfjsPerm: NHWC } },
    bytes: 2 * size(LRELU_SHAPE) * 4,
    kernels: ['unary'],
    ours: (kn, rt, x) => [kn.unary(rt, 'leaky_relu', x.x, { slope: 0.2 })],
    tfjs: (tf, x) => [tf.leakyRelu(x.x, 0.2)],
    tfjsOutPerm: FROM_NHWC,
  },
];

export const KERNEL_CASES: KernelCase[] = [
  matmulCase(64, 784, 512),
  matmulCase(512, 512, 512),
  matmulCase(1024, 1024, 1024),
  ...convCases,
  ...normCases,
  ...activationCases,
];
