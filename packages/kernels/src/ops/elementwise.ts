/**
 * Unary math, activations (forward and backward), ops with a scalar, and clamp. One invocation
 * per element; scalars travel as uniforms so a changing value (a learning rate, a step size)
 * reuses the pipeline.
 */
import type { Runtime } from '../runtime/runtime';
import { ACTIVATION_HELPERS, SPECIAL_FLOATS, f32Literal } from '../wgsl/activation';
import { elementwiseProgram, packUniforms } from '../wgsl/elementwise-program';
import { allocArray, assertFloat, sizeOf, type DeviceArray, guarded } from './array';

export type UnaryOp =
  | 'neg' | 'abs' | 'sign' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'square' | 'reciprocal' | 'sin' | 'cos'
  | 'relu' | 'leaky_relu' | 'tanh' | 'sigmoid' | 'softplus' | 'log_sigmoid' | 'floor' | 'step';

const UNARY: Record<UnaryOp, (x: string, slope: string) => string> = {
  neg: (x) => `-${x}`,
  abs: (x) => `abs(${x})`,
  sign: (x) => `sign(${x})`,
  exp: (x) => `exp(${x})`,
  log: (x) => `log(${x})`,
  sqrt: (x) => `sqrt(${x})`,
  rsqrt: (x) => `inverseSqrt(${x})`,
  square: (x) => `${x} * ${x}`,
  reciprocal: (x) => `1.0 / ${x}`,
  sin: (x) => `sin(${x})`,
  cos: (x) => `cos(${x})`,
  relu: (x) => `max(${x}, 0.0)`,
  leaky_relu: (x, slope) => `select(${x} * ${slope}, ${x}, ${x} > 0.0)`,
  tanh: (x) => `stable_tanh(${x})`,
  sigmoid: (x) => `stable_sigmoid(${x})`,
  // log(1 + e^x) without overflow: max(x, 0) + log(1 + e^-|x|).
  softplus: (x) => `max(${x}, 0.0) + log(1.0 + exp(-abs(${x})))`,
  log_sigmoid: (x) => `min(${x}, 0.0) - log(1.0 + exp(-abs(${x})))`,
  floor: (x) => `floor(${x})`,
  step: (x) => `select(0.0, 1.0, ${x} > 0.0)`,
};

/** Applies a unary op elementwise. `slope` is leaky_relu's negative slope (default 0.01). */
export const unary = guarded(function unary(runtime: Runtime, op: UnaryOp, x: DeviceArray, options: { slope?: number } = {}): DeviceArray {
  const make = UNARY[op];
  if (!make) throw new Error(`unary: unknown op '${op}' (known: ${Object.keys(UNARY).join(', ')})`);
  assertFloat(`unary.${op}`, 'x', x);
  const slope = options.slope ?? 0.01;
  const count = sizeOf(x.shape);
  // Four elements per invocation when they divide evenly: a quarter of the invocations, which is
  // what an elementwise kernel costs on a CPU adapter.
  const vec4 = count % 4 === 0 && count > 0;
  const component = (c: string) => make(`v.${c}`, f32Literal(slope));
  const { program, grid } = elementwiseProgram({
    name: `unary.${op}`,
    key: `${op === 'leaky_relu' ? `slope=${slope}` : ''}|${vec4}`,
    count: vec4 ? count / 4 : count,
    inputs: ['x'],
    vec4,
    prelude: 'let v = x[i];',
    value: vec4 ? `vec4f(${['x', 'y', 'z', 'w'].map(component).join(', ')})` : make('v', f32Literal(slope)),
    helpers: ACTIVATION_HELPERS,
  });
  const out = allocArray(runtime, x.shape, 'float32', program.name);
  runtime.dispatch(program, [x.buffer, out.buffer], grid.workgroups);
  return out;
});

export type ActivationWithBackward = 'relu' | 'leaky_relu' | 'tanh' | 'sigmoid';

/**
 * Gradient of an activation with respect to its input, given the upstream gradient `dy`.
 * relu and leaky_relu take the forward input x; tanh and sigmoid take the forward output y
 * (cheaper: their derivatives are polynomials of y).
 */
export const activationBackward = guarded(function activationBackward(
  runtime: Runtime,
  op: ActivationWithBackward,
  dy: DeviceArray,
  xOrY: DeviceArray,
  options: { slope?: number } = {},
): DeviceArray {
  if (sizeOf(dy.shape) !== sizeOf(xOrY.shape) || dy.shape.length !== xOrY.shape.length) {
    throw new Error(`activationBackward.${op}: dy [${dy.shape}] and input [${xOrY.shape}] differ in shape`);
  }
  const slope = f32Literal(options.slope ?? 0.01);
  const count = sizeOf(dy.shape);
  const vec4 = count % 4 === 0 && count > 0;
  const zero = vec4 ? 'vec4f(0.0)' : '0.0';
  const value: Record<ActivationWithBackward, string> = {
    relu: `select(${zero}, dy[i], v[i] > ${zero})`,
    leaky_relu: `select(dy[i] * ${slope}, dy[i], v[i] > ${zero})`,
    tanh: 'dy[i] * (1.0 - v[i] * v[i])',
    sigmoid: 'dy[i] * v[i] * (1.0 - v[i])',
  };
  if (!value[op]) throw new Error(`activationBackward: unknown op '${op}' (known: ${Object.keys(value).join(', ')})`);
  const { program, grid } = elementwiseProgram({
    name: `activation-backward.${op}`,
    key: op === 'leaky_relu' ? `slope=${slope}` : '',
    count: vec4 ? count / 4 : count,
    vec4,
    inputs: ['dy', 'v'],
    value: value[op],
  });
  const out = allocArray(runtime, dy.shape, 'float32', program.name);
  runtime.dispatch(program, [dy.buffer, xOrY.buffer, out.buffer], grid.workgroups);
  return out;
});

export type ScalarOp = 'add' | 'mul' | 'pow' | 'max' | 'min' | 'rsub' | 'div' | 'rdiv';

/** WGSL for x^e with PyTorch's results for negative bases and integer exponents, and 0^0 = 1. */
export const POW_HELPER = SPECIAL_FLOATS + /* wgsl */ `
fn pow_real(x: f32, e: f32) -> f32 {
  if (e == 0.0) { return 1.0; }
  if (x == 0.0) { return select(0.0, positive_inf(), e < 0.0); }
  let magnitude = pow(abs(x), e);
  if (x > 0.0) { return magnitude; }
  if (fract(e) != 0.0) { return not_a_number(); }
  let odd = (i32(e) & 1) == 1;
  return select(magnitude, -magnitude, odd);
}
`;

const SCALAR: Record<ScalarOp, string> = {
  add: 'x[i] + params.s',
  mul: 'x[i] * params.s',
  pow: 'pow_real(x[i], params.s)',
  max: 'max(x[i], params.s)',
  min: 'min(x[i], params.s)',
  rsub: 'params.s - x[i]',
  div: 'x[i] / params.s',
  rdiv: 'params.s / x[i]',
};

/** `x (op) scalar` elementwise; rsub is s − x, rdiv is s / x. */
export const scalarOp = guarded(function scalarOp(runtime: Runtime, op: ScalarOp, x: DeviceArray, scalar: number): DeviceArray {
  if (!SCALAR[op]) throw new Error(`scalarOp: unknown op '${op}' (known: ${Object.keys(SCALAR).join(', ')})`);
  assertFloat(`scalar.${op}`, 'x', x);
  const { program, grid } = elementwiseProgram({
    name: `scalar.${op}`,
    key: '',
    count: sizeOf(x.shape),
    inputs: ['x'],
    value: SCALAR[op],
    uniforms: ['s'],
    helpers: op === 'pow' ? POW_HELPER : '',
  });
  const out = allocArray(runtime, x.shape, 'float32', program.name);
  runtime.dispatch(program, [x.buffer, out.buffer], grid.workgroups, packUniforms([scalar]));
  return out;
});

/** Clamps every element to [min, max]. */
export const clamp = guarded(function clamp(runtime: Runtime, x: DeviceArray, min: number, max: number): DeviceArray {
  assertFloat('clamp', 'x', x);
  if (min > max) throw new Error(`clamp: min ${min} is greater than max ${max}`);
  const { program, grid } = elementwiseProgram({
    name: 'clamp',
    key: '',
    count: sizeOf(x.shape),
    inputs: ['x'],
    value: 'clamp(x[i], params.lo, params.hi)',
    uniforms: ['lo', 'hi'],
  });
  const out = allocArray(runtime, x.shape, 'float32', program.name);
  runtime.dispatch(program, [x.buffer, out.buffer], grid.workgroups, packUniforms([min, max]));
  return out;
});
