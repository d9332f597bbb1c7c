/**
 * Elementwise math and activations with their gradients. Rules use the saved input or output
 * through differentiable ops, so second derivatives exist (tanh'' through y, leaky ReLU's
 * piecewise-constant slope, and so on).
 */
import { activationBackward, getRuntime, unary, type UnaryOp } from '@webgan/kernels';
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

export const relu = (x: Tensor): Tensor => unaryOp('relu', x, (g, sx) => times(g, compare('gt', sx, 0)));

/** max(x, 0) + slope·min(x, 0); the gradient's slope factor is piecewise constant in x. */
export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  return unaryOp('leaky_relu', x, (g, sx) => {
    if (!g.requiresGrad) return record('leakyReluBackward', [], activationBackward(rt(), 'leaky_relu', g.deviceArray(), sx.deviceArray(), { slope }), () => []);
    // Differentiable in g (the factor does not depend on g): g · (slope + (1 − slope)·[x > 0]).
    const positive = compare('gt', sx, 0);
    const factor = mul(positive, 1 - slope);
    positive.dispose();
    const shifted = add(factor, slope);
    factor.dispose();
    return times(g, shifted);
  }, false, slope);
}

export const tanh = (x: Tensor): Tensor =>
  unaryOp('tanh', x, (g, _x, y) => {
    const y2 = mul(y!, y!);
    const d = sub(1, y2);
    y2.dispose();
    return times(g, d);
  }, true);

export const sigmoid = (x: Tensor): Tensor =>
  unaryOp('sigmoid', x, (g, _x, y) => {
    const oneMinus = sub(1, y!);
    const d = mul(y!, oneMinus);
    oneMinus.dispose();
    return times(g, d);
  }, true);

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
