/**
 * Parameter initialisation in place, with PyTorch's names and formulas (torch.nn.init), drawing
 * from the seeded generator so that a model built twice with the same seed is the same model.
 */
import { full, rand, randn, type Generator, type Tensor } from '@webgan/core';
import type { Module } from './module';

export interface InitOptions {
  /** Defaults to the default generator (see manualSeed). */
  generator?: Generator;
}

function assign(target: Tensor, make: () => Tensor): Tensor {
  if (target.size === 0) return target;
  const source = make();
  target.copy_(source);
  source.dispose();
  return target;
}

/** Fills with N(mean, std²). */
export function normal_(t: Tensor, mean = 0, std = 1, options: InitOptions = {}): Tensor {
  if (!(std >= 0)) throw new Error(`normal_: std must be >= 0, got ${std}`);
  return assign(t, () => randn(t.shape, { mean, std, generator: options.generator }));
}

/** Fills with U(low, high). */
export function uniform_(t: Tensor, low = 0, high = 1, options: InitOptions = {}): Tensor {
  if (!(high >= low)) throw new Error(`uniform_: need low <= high, got [${low}, ${high}]`);
  return assign(t, () => rand(t.shape, { low, high, generator: options.generator }));
}

export const constant_ = (t: Tensor, value: number): Tensor => assign(t, () => full(t.shape, value, { dtype: t.dtype }));
export const zeros_ = (t: Tensor): Tensor => constant_(t, 0);
export const ones_ = (t: Tensor): Tensor => constant_(t, 1);

export type Nonlinearity = 'linear' | 'conv2d' | 'conv_transpose2d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/** The recommended gain for a nonlinearity (torch.nn.init.calculate_gain). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv2d':
    case 'conv_transpose2d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new Error(`calculateGain: unknown nonlinearity '${nonlinearity as string}'`);
  }
}

/**
 * fan_in = size(1)·receptive field, fan_out = size(0)·receptive field, as PyTorch computes them
 * (so a ConvTranspose2d weight [in, out, kh, kw] has fan_in = out·kh·kw, PyTorch's convention).
 */
export function fanInAndFanOut(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.rank < 2) throw new Error(`fan in and fan out need a tensor of rank >= 2, got shape [${t.shape.join(',')}]`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1] * receptive, fanOut: t.shape[0] * receptive };
}

export function xavierUniform_(t: Tensor, gain = 1, options: InitOptions = {}): Tensor {
  const { fanIn, fanOut } = fanInAndFanOut(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -bound, bound, options);
}

export function xavierNormal_(t: Tensor, gain = 1, options: InitOptions = {}): Tensor {
  const { fanIn, fanOut } = fanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), options);
}

export interface KaimingOptions extends InitOptions {
  /** Negative slope of the leaky ReLU that follows (used when nonlinearity is 'leaky_relu'). */
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
}

function kaimingStd(t: Tensor, options: KaimingOptions): number {
  const { fanIn, fanOut } = fanInAndFanOut(t);
  const fan = (options.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  return calculateGain(options.nonlinearity ?? 'leaky_relu', options.a ?? 0) / Math.sqrt(fan);
}

export function kaimingUniform_(t: Tensor, options: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, options);
  return uniform_(t, -bound, bound, options);
}

export function kaimingNormal_(t: Tensor, options: KaimingOptions = {}): Tensor {
  return normal_(t, 0, kaimingStd(t, options), options);
}

/**
 * PyTorch's default for Linear and conv layers: weight ~ kaiming_uniform(a=√5), which is
 * U(−1/√fan_in, 1/√fan_in), and bias ~ U(−1/√fan_in, 1/√fan_in).
 */
export function defaultLayerInit_(weight: Tensor, bias: Tensor | null, options: InitOptions = {}): void {
  kaimingUniform_(weight, { a: Math.sqrt(5), ...options });
  if (bias) {
    const { fanIn } = fanInAndFanOut(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform_(bias, -bound, bound, options);
  }
}

/**
 * The DCGAN paper's init (Radford et al. 2015, as in PyTorch's DCGAN example): conv and linear
 * weights ~ N(0, 0.02), BatchNorm γ ~ N(1, 0.02) and β = 0. Conv and linear biases are set to 0
 * (PyTorch's example has none; a default-initialised bias would undo the small-weight start).
 * Other modules are left as they are.
 */
export function dcganInit_(model: Module, options: InitOptions = {}): Module {
  for (const m of model.modules()) {
    const kind = (m as { initKind?: string }).initKind;
    if (kind === 'conv' || kind === 'linear') {
      normal_(m.tensor(m.hasParameter('weight_orig') ? 'weight_orig' : 'weight'), 0, 0.02, options);
      if (m.hasParameter('bias')) zeros_(m.tensor('bias'));
    } else if (kind === 'batchnorm' && m.hasParameter('weight')) {
      normal_(m.tensor('weight'), 1, 0.02, options);
      zeros_(m.tensor('bias'));
    }
  }
  return model;
}
