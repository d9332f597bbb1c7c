/**
 * Binary ops with NumPy broadcasting, and `where`. Comparisons return float32 1 or 0.
 */
import type { Runtime } from '../runtime/runtime';
import { broadcastIndexing, broadcastShapes } from '../wgsl/broadcast';
import { elementwiseProgram } from '../wgsl/elementwise-program';
import { allocArray, assertFloat, sizeOf, type DeviceArray, guarded } from './array';
import { POW_HELPER } from './elementwise';

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min' | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

const BINARY: Record<BinaryOp, string> = {
  add: 'a[idx0] + b[idx1]',
  sub: 'a[idx0] - b[idx1]',
  mul: 'a[idx0] * b[idx1]',
  div: 'a[idx0] / b[idx1]',
  pow: 'pow_real(a[idx0], b[idx1])',
  max: 'max(a[idx0], b[idx1])',
  min: 'min(a[idx0], b[idx1])',
  eq: 'select(0.0, 1.0, a[idx0] == b[idx1])',
  ne: 'select(0.0, 1.0, a[idx0] != b[idx1])',
  lt: 'select(0.0, 1.0, a[idx0] < b[idx1])',
  le: 'select(0.0, 1.0, a[idx0] <= b[idx1])',
  gt: 'select(0.0, 1.0, a[idx0] > b[idx1])',
  ge: 'select(0.0, 1.0, a[idx0] >= b[idx1])',
};

const VECTORIZABLE = new Set<BinaryOp>(['add', 'sub', 'mul', 'div', 'max', 'min']);

export const binary = guarded(function binary(runtime: Runtime, op: BinaryOp, a: DeviceArray, b: DeviceArray): DeviceArray {
  if (!BINARY[op]) throw new Error(`binary: unknown op '${op}' (known: ${Object.keys(BINARY).join(', ')})`);
  assertFloat(`binary.${op}`, 'a', a);
  assertFloat(`binary.${op}`, 'b', b);
  const shape = broadcastShapes(op, [a.shape, b.shape]);
  const count = sizeOf(shape);
  // Same shapes and plain arithmetic: four elements per invocation.
  const vec4 = VECTORIZABLE.has(op) && a.shape.join() === b.shape.join() && count % 4 === 0 && count > 0;
  const { program, grid } = elementwiseProgram({
    name: `binary.${op}`,
    key: `${a.shape}|${b.shape}`,
    count: vec4 ? count / 4 : count,
    vec4,
    inputs: ['a', 'b'],
    prelude: vec4 ? 'let idx0 = i; let idx1 = i;' : broadcastIndexing(shape, [a.shape, b.shape]),
    value: BINARY[op],
    helpers: op === 'pow' ? POW_HELPER : '',
  });
  const out = allocArray(runtime, shape, 'float32', program.name);
  runtime.dispatch(program, [a.buffer, b.buffer, out.buffer], grid.workgroups);
  return out;
});

/** Elementwise `cond != 0 ? a : b`, broadcasting all three. */
export const where = guarded(function where(runtime: Runtime, cond: DeviceArray, a: DeviceArray, b: DeviceArray): DeviceArray {
  for (const [name, x] of [['cond', cond], ['a', a], ['b', b]] as const) assertFloat('where', name, x);
  const shape = broadcastShapes('where', [cond.shape, a.shape, b.shape]);
  const { program, grid } = elementwiseProgram({
    name: 'where',
    key: `${cond.shape}|${a.shape}|${b.shape}`,
    count: sizeOf(shape),
    inputs: ['cond', 'a', 'b'],
    prelude: broadcastIndexing(shape, [cond.shape, a.shape, b.shape]),
    value: 'select(b[idx2], a[idx1], cond[idx0] != 0.0)',
  });
  const out = allocArray(runtime, shape, 'float32', program.name);
  runtime.dispatch(program, [cond.buffer, a.buffer, b.buffer, out.buffer], grid.workgroups);
  return out;
});
