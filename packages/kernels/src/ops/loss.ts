/**
 * Binary cross-entropy with logits, in the numerically stable form: never exp of a large positive
 * number, so logits of ±1e4 give finite, exact losses and gradients.
 */
import type { Runtime } from '../runtime/runtime';
import { ACTIVATION_HELPERS } from '../wgsl/activation';
import { elementwiseProgram } from '../wgsl/elementwise-program';
import { allocArray, formatShape, sizeOf, type DeviceArray, guarded } from './array';

function sameShape(op: string, names: string[], arrays: DeviceArray[]): void {
  const first = formatShape(arrays[0].shape);
  if (arrays.some((a) => formatShape(a.shape) !== first)) {
    throw new Error(`${op}: ${names.map((n, k) => `${n} ${formatShape(arrays[k].shape)}`).join(', ')} must have the same shape`);
  }
}

/** Elementwise loss max(x, 0) − x·t + log(1 + e^−|x|). */
export const bceWithLogits = guarded(function bceWithLogits(runtime: Runtime, logits: DeviceArray, targets: DeviceArray): DeviceArray {
  sameShape('bceWithLogits', ['logits', 'targets'], [logits, targets]);
  const { program, grid } = elementwiseProgram({
    name: 'bce-with-logits',
    key: '',
    count: sizeOf(logits.shape),
    inputs: ['x', 't'],
    value: 'max(x[i], 0.0) - x[i] * t[i] + log(1.0 + exp(-abs(x[i])))',
  });
  const out = allocArray(runtime, logits.shape, 'float32', program.name);
  runtime.dispatch(program, [logits.buffer, targets.buffer, out.buffer], grid.workgroups);
  return out;
});

/** Gradient of bceWithLogits with respect to the logits: dy · (σ(x) − t). */
export const bceWithLogitsBackward = guarded(function bceWithLogitsBackward(runtime: Runtime, dy: DeviceArray, logits: DeviceArray, targets: DeviceArray): DeviceArray {
  sameShape('bceWithLogitsBackward', ['dy', 'logits', 'targets'], [dy, logits, targets]);
  const { program, grid } = elementwiseProgram({
    name: 'bce-with-logits-backward',
    key: '',
    count: sizeOf(logits.shape),
    inputs: ['dy', 'x', 't'],
    value: 'dy[i] * (stable_sigmoid(x[i]) - t[i])',
    helpers: ACTIVATION_HELPERS,
  });
  const out = allocArray(runtime, logits.shape, 'float32', program.name);
  runtime.dispatch(program, [dy.buffer, logits.buffer, targets.buffer, out.buffer], grid.workgroups);
  return out;
});
