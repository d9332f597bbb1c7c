/**
 * Elementwise math and activations with their gradients. Rules use the saved input or output
 * through differentiable ops, so second derivatives exist (tanh'' through y, leaky ReLU's
 * piecewise-constant slope, and so on).
 */
import { activationBackward, getRuntime, unary, type ActivationWithBackward, type UnaryOp } from '@webgan/kernels';
import { isGradEnabled } from '../autograd';
import { record } from '../record';
import type { Tensor } from '../tensor';
import { add, compare, div, mul, neg, sub } from './arithmetic';

const rt = getRuntime;

function unaryOp(op: UnaryOp, x: Tensor, rule: (g: Tensor, x: Tensor, y: Tensor | undefined) => Tensor | null, saveOutput = false, slope?: number): Tensor {
  return record(op, [x], unary(rt(), op, x.deviceArray(op), { slope }), (g, [sx], y) => [rule(g, sx, y)], { save: [x], saveOutput });
}

/** g · f where f is computed (and disposed) here. */
function times(g: Tensor, f: Tensor): Tensor {
  const r = mul(g, f);
  f.dispose();
  return r;
}

export const exp = (x: Tensor): Tensor => unaryOp('exp', x, (g, _x, y) => mul(g, y!), true);
export const log = (x: Tensor): Tensor => unaryOp('log', x, (g, sx) => div(g, sx));
export const sqrt = (x: Tensor): Tensor => unaryOp('sqrt', x, (g, _x, y) => times(g, div(0.5, y!)), true);
/** 1/√x; d/dx = −½·y³. */
export const rsqrt = (x: Tensor): Tensor =>
  unaryOp('rsqrt', x, (g, _x, y) => {
    const y2 = mul(y!, y!);
    const y3 = mul(y2, y!);
    y2.dispose();
    const d = mul(y3, -0.5);
    y3.dispose();
    return times(g, d);
  }, true);
export const abs = (x: Tensor): Tensor => unaryOp('abs', x, (g, sx) => times(g, sign(sx)));
export const square = (x: Tensor): Tensor => unaryOp('square', x, (g, sx) => times(g, mul(sx, 2)));
export const reciprocal = (x: Tensor): Tensor =>
  unaryOp('reciprocal', x, (g, _x, y) => {
    const y2 = mul(y!, y!);
    const d = neg(y2);
    y2.dispose();
    return times(g, d);
  }, true);
export const sin = (x: Tensor): Tensor => unaryOp('sin', x, (g, sx) => times(g, cos(sx)));
export const cos = (x: Tensor): Tensor =>
  unaryOp('cos', x, (g, sx) => {
    const s = sin(sx);
    const d = neg(s);
    s.dispose();
    return times(g, d);
  });
/** Sign and floor have zero gradient almost everywhere; they record nothing. */
export const sign = (x: Tensor): Tensor => record('sign', [], unary(rt(), 'sign', x.deviceArray('sign')), () => []);
export const floor = (x: Tensor): Tensor => record('floor', [], unary(rt(), 'floor', x.deviceArray('floor')), () => []);

/** An activation a GEMM or convolution can apply in its epilogue (see `linear`). */
export interface FusedActivation {
  kind: ActivationWithBackward;
  /** leaky_relu's negative slope; it must be positive for the output to tell the input's sign. */
  slope?: number;
}

/**
 * The gradient g · f′ of an activation, from `v`: the input x or the output y for relu and leaky
 * ReLU (whose f′ only depends on the sign, which y shares with x when the slope is positive),
 * the output y for tanh and sigmoid.
 *
 * One kernel (recording nothing) where nothing would be recorded through f′: for relu and leaky
 * ReLU whenever g is a constant (f′ is piecewise constant), for tanh and sigmoid only when the
 * backward pass is not itself recorded (f′ depends on y). Otherwise differentiable compositions,
 * three or four launches.
 */
export function activationGradient(activation: FusedActivation, g: Tensor, v: Tensor): Tensor {
  const { kind, slope = 0.01 } = activation;
  const fused = kind === 'relu' || kind === 'leaky_relu' ? !g.requiresGrad : !isGradEnabled();
  if (fused) {
    const name = `${kind.replace(/_(\w)/g, (_, c: string) => c.toUpperCase())}Backward`;
    return record(name, [], activationBackward(rt(), kind, g.deviceArray(), v.deviceArray(), { slope }), () => []);
  }
  switch (kind) {
    case 'relu':
      return times(g, compare('gt', v, 0));
    case 'leaky_relu': {
      // Differentiable in g: g · (slope + (1 − slope)·[v > 0]).
      const positive = compare('gt', v, 0);
      const factor = mul(positive, 1 - slope);
      positive.dispose();
      const shifted = add(factor, slope);
      factor.dispose();
      return times(g, shifted);
    }
    case 'tanh': {
      const y2 = mul(v, v);
      const d = sub(1, y2);
      y2.dispose();
      return times(g, d);
    }
    case 'sigmoid': {
      const oneMinus = sub(1, v);
      const d = mul(v, oneMinus);
      oneMinus.dispose();
      return times(g, d);
    }
  }
}

export const relu = (x: Tensor): Tensor => unaryOp('relu', x, (g, sx) => activationGradient({ kind: 'relu' }, g, sx));

/** max(x, 0) + slope·min(x, 0); the gradient's slope factor is piecewise constant in x. */
export const leakyRelu = (x: Tensor, slope = 0.01): Tensor =>
  unaryOp('leaky_relu', x, (g, sx) => activationGradient({ kind: 'leaky_relu', slope }, g, sx), false, slope);

export const tanh = (x: Tensor): Tensor => unaryOp('tanh', x, (g, _x, y) => activationGradient({ kind: 'tanh' }, g, y!), true);

export const sigmoid = (x: Tensor): Tensor => unaryOp('sigmoid', x, (g, _x, y) => activationGradient({ kind: 'sigmoid' }, g, y!), true);

/** log(1 + eˣ); d/dx = σ(x). */
export const softplus = (x: Tensor): Tensor => unaryOp('softplus', x, (g, sx) => times(g, sigmoid(sx)));
/** log σ(x); d/dx = σ(−x) = 1 − σ(x). */
export const logSigmoid = (x: Tensor): Tensor =>
  unaryOp('log_sigmoid', x, (g, sx) => {
    const s = sigmoid(sx);
    const d = sub(1, s);
    s.dispose();
    return times(g, d);
  });
