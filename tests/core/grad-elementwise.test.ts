/**
 * First-order gradient checks (tests/helpers/gradcheck.ts) of the arithmetic, elementwise,
 * reduction, softmax-family and shape ops of @webgan/core, on seeded random shapes made of dims
 * 2, 3, 5, 7 (no tile multiples) with at most 60 elements per differentiated input, including
 * broadcasting shape pairs for the binary ops.
 *
 * Tolerance rule (gradcheck.ts): |num − ana| ≤ 2e-2·max(|num|, |ana|) + 2e-3·scale, scale = the
 * largest |gradient| of that input (at least 5e-2); central differences with h = 1e-2 on O(1)
 * inputs, the loss sum(op(x)·R) evaluated in float32 on the GPU, differences taken in float64.
 * Inputs stay ≥ 0.1 away from kinks (relu, leakyRelu, abs, clamp bounds, max/min ties).
 *
 * A second block runs each single-op case once outside tidy (forward + grad) and checks that no
 * tensor is left alive besides the inputs: a backward rule must dispose its temporaries.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initNode } from '@webgan/kernels/node';
import {
  abs, add, broadcastTo, clamp, concat, cos, div, exp, flatten, gather, leakyRelu, log, logSigmoid, logSoftmax, logSumExp,
  max, maximum, mean, min, minimum, mul, neg, pad, permute, pow, reciprocal, relu, reshape, rsqrt, sigmoid, sin, slice,
  softmax, softplus, sqrt, square, squeeze, stack, sub, sum, sumTo, tanh, tensor, topk, transpose, unsqueeze, where, type Tensor,
} from '@webgan/core';
import {
  awayFromZero, broadcastPartner, distinctTensor, drawShape, numel, randTensor, runGradCase, runLeakCase, type GradCase,
} from '../helpers/gradcheck';
import { Rng } from '../helpers/reference';

beforeAll(async () => {
  await initNode({ tuningFile: false });
});

// Seeded shapes shared by many cases (a new shape costs a pipeline compile on lavapipe).
const shapes = new Rng(0x5eedc0de);
const S2 = drawShape(shapes, 2, 40, 10);
const S3 = drawShape(shapes, 3, 60, 20);
/** Binary operand shape pairs: same shape, one side broadcast, both sides broadcast. */
const PAIRS: [number[], number[]][] = [
  [S2, S2],
  [S3, broadcastPartner(shapes, S3)],
  [S3.map((d, i) => (i === 1 ? 1 : d)), S3.slice(1).map((d, i) => (i === 1 ? 1 : d))],
];

/** Values on a 0.2 grid for a and offset by 0.1 for b: |a − b| ≥ 0.1, no ties for max/min. */
function gridTensor(rng: Rng, shape: number[], offset: number): Tensor {
  const data = Float32Array.from({ length: numel(shape) }, () => 0.2 * rng.int(-5, 4) + offset);
  return tensor(data, shape, { requiresGrad: true });
}

const positive = (rng: Rng, shape: number[], lo = 0.5, hi = 2) => randTensor(rng, shape, lo, hi);
/** Values with 0.5 ≤ |x| ≤ 1.5 (denominators, reciprocal). */
const nonZero = (rng: Rng, shape: number[]) => awayFromZero(rng, shape, -1.5, 1.5, 0.5);

const cases: GradCase[] = [];
const add_ = (c: GradCase) => cases.push(c);

// ------------------------------------------------------------------------------ binary tensor ∘ tensor
PAIRS.forEach(([sa, sb], p) => {
  const tag = `[${sa}] ∘ [${sb}]`;
  add_({ name: `add ${tag}`, make: (r) => [randTensor(r, sa), randTensor(r, sb)], fn: (a, b) => add(a, b) });
  add_({ name: `sub ${tag}`, make: (r) => [randTensor(r, sa), randTensor(r, sb)], fn: (a, b) => sub(a, b) });
  add_({ name: `mul ${tag}`, make: (r) => [randTensor(r, sa), randTensor(r, sb)], fn: (a, b) => mul(a, b) });
  add_({ name: `div ${tag}`, make: (r) => [randTensor(r, sa), nonZero(r, sb)], fn: (a, b) => div(a, b) });
  add_({ name: `pow (tensor exponent) ${tag}`, make: (r) => [positive(r, sa), randTensor(r, sb, -1.5, 2)], fn: (a, b) => pow(a, b) });
  add_({ name: `maximum ${tag}`, make: (r) => [gridTensor(r, sa, 0), gridTensor(r, sb, 0.1)], fn: (a, b) => maximum(a, b) });
  add_({ name: `minimum ${tag}`, make: (r) => [gridTensor(r, sa, 0), gridTensor(r, sb, 0.1)], fn: (a, b) => minimum(a, b) });
  if (p === 1) {
    // Only one side differentiated (the other a constant): its gradient must still be right.
    add_({ name: `mul, constant b ${tag}`, make: (r) => [randTensor(r, sa), randTensor(r, sb, -1, 1, false)], fn: (a, b) => mul(a, b) });
    add_({ name: `div, constant a ${tag}`, make: (r) => [randTensor(r, sa, -1, 1, false), nonZero(r, sb)], fn: (a, b) => div(a, b) });
    add_({ name: `pow, constant exponent tensor ${tag}`, make: (r) => [positive(r, sa), randTensor(r, sb, -1, 2, false)], fn: (a, b) => pow(a, b) });
    add_({ name: `pow, constant base ${tag}`, make: (r) => [positive(r, sa).requiresGrad_(false), randTensor(r, sb, -1, 2)], fn: (a, b) => pow(a, b) });
  }
});
add_({ name: 'mul(x, x): the same tensor twice (its two gradients add up)', make: (r) => [randTensor(r, S2)], fn: (a) => mul(a, a) });

// ------------------------------------------------------------------------------ tensor ∘ number
add_({ name: 'add(x, 2.5)', make: (r) => [randTensor(r, S3)], fn: (x) => add(x, 2.5) });
add_({ name: 'add(1.5, x)', make: (r) => [randTensor(r, S3)], fn: (x) => add(1.5, x) });
add_({ name: 'sub(x, 0.7)', make: (r) => [randTensor(r, S3)], fn: (x) => sub(x, 0.7) });
add_({ name: 'sub(0.7, x)', make: (r) => [randTensor(r, S3)], fn: (x) => sub(0.7, x) });
add_({ name: 'mul(x, -1.3)', make: (r) => [randTensor(r, S3)], fn: (x) => mul(x, -1.3) });
add_({ name: 'mul(2, x)', make: (r) => [randTensor(r, S3)], fn: (x) => mul(2, x) });
add_({ name: 'div(x, 1.7)', make: (r) => [randTensor(r, S3)], fn: (x) => div(x, 1.7) });
add_({ name: 'div(2, x)', make: (r) => [nonZero(r, S3)], fn: (x) => div(2, x) });
for (const e of [3, 2, 1, 0.5, -1.5]) {
  add_({ name: `pow(x, ${e}) (positive bases)`, make: (r) => [positive(r, S3)], fn: (x) => pow(x, e) });
}
add_({ name: 'pow(x, 3) (negative bases, integer exponent)', make: (r) => [nonZero(r, S3)], fn: (x) => pow(x, 3) });
add_({ name: 'neg', make: (r) => [randTensor(r, S3)], fn: (x) => neg(x) });

// ------------------------------------------------------------------------------ unary
const U = S3;
const unaryCases: [string, (x: Tensor) => Tensor, (r: Rng) => Tensor][] = [
  ['exp', exp, (r) => randTensor(r, U, -2, 2)],
  ['log', log, (r) => positive(r, U)],
  ['sqrt', sqrt, (r) => positive(r, U)],
  ['rsqrt', rsqrt, (r) => positive(r, U)],
  ['abs', abs, (r) => awayFromZero(r, U, -2, 2)],
  ['square', square, (r) => randTensor(r, U, -2, 2)],
  ['reciprocal', reciprocal, (r) => nonZero(r, U)],
  ['sin', sin, (r) => randTensor(r, U, -3, 3)],
  ['cos', cos, (r) => randTensor(r, U, -3, 3)],
  ['relu', relu, (r) => awayFromZero(r, U, -2, 2)],
  ['leakyRelu (default slope)', (x) => leakyRelu(x), (r) => awayFromZero(r, U, -2, 2)],
  ['leakyRelu(x, 0.2)', (x) => leakyRelu(x, 0.2), (r) => awayFromZero(r, U, -2, 2)],
  ['tanh', tanh, (r) => randTensor(r, U, -2, 2)],
  ['sigmoid', sigmoid, (r) => randTensor(r, U, -3, 3)],
  ['softplus', softplus, (r) => randTensor(r, U, -3, 3)],
  ['logSigmoid', logSigmoid, (r) => randTensor(r, U, -3, 3)],
];
for (const [name, f, make] of unaryCases) add_({ name, make: (r) => [make(r)], fn: (x) => f(x) });

// ------------------------------------------------------------------------------ reductions
const R3 = [3, 4, 5];
const REDUCTIONS: [number | number[] | undefined, boolean][] = [
  [undefined, false], [undefined, true], [0, false], [0, true], [-1, false], [-1, true], [[0, 2], true], [[0, 2], false], [1, false], [[1, 2], true],
];
for (const [axes, keepDims] of REDUCTIONS) {
  const tag = `axes ${axes === undefined ? 'all' : JSON.stringify(axes)} keepDims ${keepDims}`;
  add_({ name: `sum ${tag}`, make: (r) => [randTensor(r, R3)], fn: (x) => sum(x, axes, keepDims) });
  add_({ name: `mean ${tag}`, make: (r) => [randTensor(r, R3)], fn: (x) => mean(x, axes, keepDims) });
  add_({ name: `max ${tag}`, make: (r) => [distinctTensor(r, R3)], fn: (x) => max(x, axes, keepDims) });
  add_({ name: `min ${tag}`, make: (r) => [distinctTensor(r, R3)], fn: (x) => min(x, axes, keepDims) });
}
for (const [axis, keepDims] of [[-1, false], [0, true], [1, false]] as const) {
  add_({ name: `logSumExp axis ${axis} keepDims ${keepDims}`, make: (r) => [randTensor(r, R3, -2, 2)], fn: (x) => logSumExp(x, axis, keepDims) });
}
for (const axis of [-1, 0]) {
  add_({ name: `logSoftmax axis ${axis}`, make: (r) => [randTensor(r, R3, -2, 2)], fn: (x) => logSoftmax(x, axis) });
  add_({ name: `softmax axis ${axis}`, make: (r) => [randTensor(r, R3, -2, 2)], fn: (x) => softmax(x, axis) });
}

// ------------------------------------------------------------------------------ shape ops
add_({ name: 'reshape [3,4,5] → [5,-1]', make: (r) => [randTensor(r, R3)], fn: (x) => reshape(x, [5, -1]) });
add_({ name: 'broadcastTo [3,1] → [2,3,5]', make: (r) => [randTensor(r, [3, 1])], fn: (x) => broadcastTo(x, [2, 3, 5]) });
add_({ name: 'broadcastTo [5] → [3,2,5]', make: (r) => [randTensor(r, [5])], fn: (x) => broadcastTo(x, [3, 2, 5]) });
add_({ name: 'sumTo [3,4,5] → [4,1]', make: (r) => [randTensor(r, R3)], fn: (x) => sumTo(x, [4, 1]) });
add_({ name: 'sumTo [3,4,5] → [3,1,5]', make: (r) => [randTensor(r, R3)], fn: (x) => sumTo(x, [3, 1, 5]) });
add_({ name: 'permute [3,4,5] by [2,0,1]', make: (r) => [randTensor(r, R3)], fn: (x) => permute(x, [2, 0, 1]) });
add_({ name: 'permute [2,3,2,5] by [1,3,0,2]', make: (r) => [randTensor(r, [2, 3, 2, 5])], fn: (x) => permute(x, [1, 3, 0, 2]) });
add_({ name: 'transpose (last two)', make: (r) => [randTensor(r, R3)], fn: (x) => transpose(x) });
add_({ name: 'transpose(x, 0, 2)', make: (r) => [randTensor(r, R3)], fn: (x) => transpose(x, 0, 2) });
add_({ name: 'slice [3,4,5] begin [1,0,2] size [2,-1,3]', make: (r) => [randTensor(r, R3)], fn: (x) => slice(x, [1, 0, 2], [2, -1, 3]) });
add_({ name: 'slice [7,5] begin [2,1] size [3,3]', make: (r) => [randTensor(r, [7, 5])], fn: (x) => slice(x, [2, 1], [3, 3]) });
add_({
  name: 'concat axis 1 of [2,3,5], [2,1,5] (constant), [2,2,5]',
  make: (r) => [randTensor(r, [2, 3, 5]), randTensor(r, [2, 1, 5], -1, 1, false), randTensor(r, [2, 2, 5])],
  fn: (a, b, c) => concat([a, b, c], 1),
});
add_({ name: 'concat axis -1 of [3,2], [3,5]', make: (r) => [randTensor(r, [3, 2]), randTensor(r, [3, 5])], fn: (a, b) => concat([a, b], -1) });
add_({ name: 'stack axis 0 of three [3,5]', make: (r) => [randTensor(r, [3, 5]), randTensor(r, [3, 5]), randTensor(r, [3, 5])], fn: (a, b, c) => stack([a, b, c], 0) });
add_({ name: 'stack axis -1 of two [2,7]', make: (r) => [randTensor(r, [2, 7]), randTensor(r, [2, 7])], fn: (a, b) => stack([a, b], -1) });
add_({ name: 'pad [3,5] by [[1,2],[0,3]] with 0.5', make: (r) => [randTensor(r, [3, 5])], fn: (x) => pad(x, [[1, 2], [0, 3]], 0.5) });
add_({ name: 'pad [2,3,5] by [[0,0],[2,1],[1,1]]', make: (r) => [randTensor(r, [2, 3, 5])], fn: (x) => pad(x, [[0, 0], [2, 1], [1, 1]]) });
add_({ name: 'unsqueeze axis 1', make: (r) => [randTensor(r, [3, 5])], fn: (x) => unsqueeze(x, 1) });
add_({ name: 'unsqueeze axis -1', make: (r) => [randTensor(r, [3, 5])], fn: (x) => unsqueeze(x, -1) });
add_({ name: 'squeeze axis 1 of [3,1,5]', make: (r) => [randTensor(r, [3, 1, 5])], fn: (x) => squeeze(x, 1) });
add_({ name: 'squeeze (all) of [1,3,1,5]', make: (r) => [randTensor(r, [1, 3, 1, 5])], fn: (x) => squeeze(x) });
add_({ name: 'flatten (all) of [3,4,5]', make: (r) => [randTensor(r, R3)], fn: (x) => flatten(x) });
add_({ name: 'flatten(x, 1) of [3,4,5]', make: (r) => [randTensor(r, R3)], fn: (x) => flatten(x, 1) });
add_({ name: 'flatten(x, 0, 1) of [3,4,5]', make: (r) => [randTensor(r, R3)], fn: (x) => flatten(x, 0, 1) });
add_({
  name: 'gather axis 0, indices [6] with repeats',
  make: (r) => [randTensor(r, [5, 7]), tensor(new Int32Array([3, 0, 3, 4, 3, 1]), [6])],
  fn: (x, i) => gather(x, i, 0),
});
add_({
  name: 'gather axis 1, indices [2,3] with repeats',
  make: (r) => [randTensor(r, [3, 5, 2]), tensor(new Int32Array([4, 4, 0, 2, 4, 0]), [2, 3])],
  fn: (x, i) => gather(x, i, 1),
});
// Distinct values: finite differences must not reorder the elements across the k-th place. The
// caller owns the indices too; values' gather keeps its own reference to them.
add_({
  name: 'topk(x, 4).values of [11]',
  make: (r) => [distinctTensor(r, [11])],
  fn: (x) => {
    const { values, indices } = topk(x, 4);
    indices.dispose();
    return values;
  },
});
add_({
  name: 'where, 0/1 mask [3,1], a [3,5], b [5]',
  make: (r) => [tensor([1, 0, 1], [3, 1]), randTensor(r, [3, 5]), randTensor(r, [5])],
  fn: (c, a, b) => where(c, a, b),
});
add_({
  name: 'where, mask [3,5] (float 0/1), a [3,5], b [3,5]',
  make: (r) => [tensor(Float32Array.from({ length: 15 }, () => (r.bool() ? 1 : 0)), [3, 5]), randTensor(r, [3, 5]), randTensor(r, [3, 5])],
  fn: (c, a, b) => where(c, a, b),
});
add_({
  // where documents "cond nonzero = true": a cond of 2 or −1 selects a exactly like 1.
  name: 'where, cond with nonzero values other than 1 (2, −1)',
  make: (r) => [tensor(Float32Array.from({ length: 15 }, (_, i) => [0, 2, -1][i % 3]), [3, 5]), randTensor(r, [3, 5]), randTensor(r, [3, 5])],
  fn: (c, a, b) => where(c, a, b),
});
add_({
  name: 'clamp(x, -0.5, 0.6), x away from the bounds',
  make: (r) => {
    const data = Float32Array.from({ length: numel(S3) }, () => {
      let v = 0;
      do v = r.float(-1.2, 1.2);
      while (Math.abs(v + 0.5) < 0.1 || Math.abs(v - 0.6) < 0.1);
      return v;
    });
    return [tensor(data, S3, { requiresGrad: true })];
  },
  fn: (x) => clamp(x, -0.5, 0.6),
});

// ------------------------------------------------------------------------------ via backward()
add_({ name: 'mul [S3] ∘ partner via backward() and .grad', make: (r) => [randTensor(r, PAIRS[1][0]), randTensor(r, PAIRS[1][1])], fn: (a, b) => mul(a, b), options: { mode: 'backward' } });
add_({ name: 'tanh via backward() and .grad', make: (r) => [randTensor(r, U, -2, 2)], fn: (x) => tanh(x), options: { mode: 'backward' } });

describe('gradient checks: shapes used', () => {
  it('are seeded, small and not multiples of tiles', () => {
    for (const s of [S2, S3, ...PAIRS.flat()]) {
      expect(numel(s)).toBeLessThanOrEqual(60);
      expect(s.every((d) => [1, 2, 3, 5, 7].includes(d))).toBe(true);
    }
    // The broadcasting pairs really broadcast.
    expect(PAIRS[1][0].join()).not.toBe(PAIRS[1][1].join());
    expect(PAIRS[2][0].join()).not.toBe(PAIRS[2][1].join());
  });
});

describe('elementwise, reduction and shape ops: analytic gradient = central differences', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const report = await runGradCase(c);
      expect(report.worstRatio).toBeLessThanOrEqual(1);
    });
  }
});

describe('elementwise, reduction and shape ops: one forward + backward outside tidy leaves nothing behind', () => {
  for (const c of cases.filter((c) => c.single !== false && c.options?.mode !== 'backward')) {
    it(c.name, () => {
      expect(runLeakCase(c), `${c.name}: tensors left alive by one forward + grad()`).toBe(0);
    });
  }
});
