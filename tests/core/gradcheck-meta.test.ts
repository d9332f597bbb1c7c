/**
 * The gradient checker itself (tests/helpers/gradcheck.ts) must be able to fail: deliberately
 * wrong gradients (a missing factor, a 5 % error, one wrong element, a zeroed gradient, a missing
 * gradient, a wrong double backward) are flagged, and correct ones pass with margin.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initNode } from '@webgan/kernels/node';
import { add, mul, square, tanh, tensor, type Tensor } from '@webgan/core';
import { gradCheck, gradGradCheck, randTensor } from '../helpers/gradcheck';
import { Rng } from '../helpers/reference';

beforeAll(async () => {
  await initNode({ tuningFile: false });
});

const SHAPE = [3, 7];
const fresh = (seed = 1): Tensor => randTensor(new Rng(seed), SHAPE, -1.5, 1.5);

describe('gradCheck', () => {
  it('passes a correct gradient (tanh) with margin, using 2 evaluations per element', async () => {
    const x = fresh();
    const report = await gradCheck((a) => tanh(a), [x], { label: 'tanh' });
    expect(report.evaluations).toBe(2 * 21);
    expect(report.worstRatio).toBeLessThan(0.5);
    expect(report.mismatches).toEqual([]);
    x.dispose();
  });

  it('flags a gradient missing a factor of 2: x·detach(x) has analytic x, numeric 2x', async () => {
    const x = fresh(2);
    await expect(gradCheck((a) => mul(a, a.detach()), [x], { label: 'x·detach(x)' })).rejects.toThrow(/x·detach\(x\): gradient mismatch in \d+ element/);
    x.dispose();
  });

  it('flags a 5 % error: x + 0.05·detach(x) has analytic 1, numeric 1.05', async () => {
    const x = fresh(3);
    await expect(gradCheck((a) => add(a, mul(a.detach(), 0.05)), [x], { label: '5%' })).rejects.toThrow(/gradient mismatch in 21 element/);
    x.dispose();
  });

  it('flags a single wrong element (off by 3 % of the gradient scale)', async () => {
    const x = fresh(4);
    const tamper = (_k: number, g: Float64Array) => {
      const out = Float64Array.from(g);
      const scale = Math.max(...g.map(Math.abs));
      out[11] += 0.03 * scale;
      return out;
    };
    await expect(gradCheck((a) => tanh(a), [x], { label: 'one element', tamper })).rejects.toThrow(/gradient mismatch in 1 element\(s\): input 0 \[3,7\]\[11\]/);
    x.dispose();
  });

  it('flags a zeroed gradient and a sign flip', async () => {
    const x = fresh(5);
    await expect(gradCheck((a) => tanh(a), [x], { tamper: (_k, g) => new Float64Array(g.length) })).rejects.toThrow(/gradient mismatch/);
    await expect(gradCheck((a) => tanh(a), [x], { tamper: (_k, g) => g.map((v) => -v) })).rejects.toThrow(/gradient mismatch in 21 element/);
    x.dispose();
  });

  it('flags a wrong gradient of only the second of two inputs', async () => {
    const a = fresh(6);
    const b = fresh(7);
    await expect(gradCheck((x, y) => mul(x, y.detach()), [a, b], { label: 'detached b', nullIsZero: true })).rejects.toThrow(/detached b: gradient mismatch in 21 element\(s\): input 1/);
    // Without nullIsZero the missing gradient itself is the error.
    await expect(gradCheck((x, y) => mul(x, y.detach()), [a, b], { label: 'detached b' })).rejects.toThrow(/detached b: grad\(\) returned null for input 1 \[3,7\]/);
    a.dispose();
    b.dispose();
  });

  it('flags a wrong gradient in backward() mode too', async () => {
    const x = fresh(8);
    await expect(gradCheck((a) => mul(a, a.detach()), [x], { mode: 'backward' })).rejects.toThrow(/gradient mismatch/);
    x.dispose();
  });

  it('needs the inputs to require grad', async () => {
    const x = tensor([1, 2, 3], [3]);
    await expect(gradCheck((a) => tanh(a), [x])).rejects.toThrow(/no input to check/);
    x.dispose();
  });
});

describe('gradGradCheck', () => {
  it('passes a correct double backward (x²·x via square and mul)', async () => {
    const x = fresh(9);
    const report = await gradGradCheck((a) => mul(square(a), a), [x]);
    expect(report.worstRatio).toBeLessThan(0.5);
    x.dispose();
  });

  it('flags a wrong double backward: x²·detach(x) differentiates the first-order gradient as 2·x·x₀ instead of 4·x²', async () => {
    const x = fresh(10);
    await expect(gradGradCheck((a) => mul(square(a), a.detach()), [x], { label: 'gradgrad detach' })).rejects.toThrow(/gradgrad detach: gradient mismatch/);
    x.dispose();
  });
});
