/**
 * Seeded random tensors (randn, rand) and Generator state.
 *
 * Determinism is bitwise (the same (seed, offset) gives the same float32 bits). Moments of 1e6
 * standard normals: |mean| ≤ 1e-2 and |var − 1| ≤ 1e-2 (standard errors 1e-3 and 1.4e-3, so
 * ~7 standard errors of slack), computed in float64 on the host.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initNode } from '@webgan/kernels/node';
import { Generator, defaultGenerator, manualSeed, rand, randn, type Tensor } from '@webgan/core';

beforeAll(async () => {
  await initNode({ tuningFile: false });
});

/** The values' bits (and dispose the tensor). */
async function bits(t: Tensor): Promise<Uint32Array> {
  const data = await t.data();
  t.dispose();
  return new Uint32Array(data.buffer, data.byteOffset, data.length);
}

const SHAPE = [37, 29]; // 1073 values: not a multiple of the 4 values per Philox counter

describe('reproducibility', () => {
  it('the same seed gives bitwise identical randn and rand', async () => {
    for (const draw of [randn, rand] as const) {
      const a = await bits(draw(SHAPE, { generator: new Generator(1234) }));
      const b = await bits(draw(SHAPE, { generator: new Generator(1234) }));
      expect(b).toEqual(a);
      expect(new Set(a).size).toBeGreaterThan(1000); // not a constant
    }
  });

  it('manualSeed resets the default generator', async () => {
    manualSeed(99);
    const a = await bits(randn(SHAPE));
    const a2 = await bits(rand([5]));
    manualSeed(99);
    expect(await bits(randn(SHAPE))).toEqual(a);
    expect(await bits(rand([5]))).toEqual(a2);
    expect(defaultGenerator.getState()).toEqual({ seed: 99, offset: Math.ceil(1073 / 4) + Math.ceil(5 / 4) });
  });

  it('different seeds give different values', async () => {
    const a = await bits(randn(SHAPE, { generator: new Generator(1) }));
    const b = await bits(randn(SHAPE, { generator: new Generator(2) }));
    const same = a.filter((v, i) => v === b[i]).length;
    expect(same).toBeLessThan(5);
  });

  it('successive draws from one generator differ (the offset advances by the counters used)', async () => {
    const g = new Generator(7);
    expect(g.getState()).toEqual({ seed: 7, offset: 0 });
    const a = await bits(randn(SHAPE, { generator: g }));
    expect(g.getState()).toEqual({ seed: 7, offset: Math.ceil(1073 / 4) });
    const b = await bits(randn(SHAPE, { generator: g }));
    expect(g.getState()).toEqual({ seed: 7, offset: 2 * Math.ceil(1073 / 4) });
    expect(a.filter((v, i) => v === b[i]).length).toBeLessThan(5);
    // And a draw at the second offset from a fresh generator reproduces the second draw.
    const h = new Generator(7);
    h.setState({ seed: 7, offset: Math.ceil(1073 / 4) });
    expect(await bits(randn(SHAPE, { generator: h }))).toEqual(b);
  });

  it('getState / setState reproduces the next draw exactly (also on another generator)', async () => {
    const g = new Generator(5);
    randn([11], { generator: g }).dispose();
    rand([3], { generator: g }).dispose();
    const state = g.getState();
    const next = await bits(randn(SHAPE, { generator: g }));
    const nextUniform = await bits(rand([13], { generator: g, low: -2, high: 3 }));
    g.setState(state);
    expect(await bits(randn(SHAPE, { generator: g }))).toEqual(next);
    expect(await bits(rand([13], { generator: g, low: -2, high: 3 }))).toEqual(nextUniform);
    const other = new Generator(0);
    other.setState(state);
    expect(await bits(randn(SHAPE, { generator: other }))).toEqual(next);
    // getState returns a copy: mutating it does not move the generator.
    const copy = g.getState();
    copy.offset += 100;
    expect(g.getState().offset).not.toBe(copy.offset);
  });

  it('rejects invalid seeds and offsets', () => {
    expect(() => new Generator(-1)).toThrow(/seed must be a non-negative safe integer, got -1/);
    expect(() => manualSeed(1.5)).toThrow(/seed must be a non-negative safe integer, got 1.5/);
    expect(() => new Generator(0).setState({ seed: 0, offset: -3 })).toThrow(/Generator.setState: invalid offset -3/);
  });
});

describe('distributions', () => {
  it('1e6 standard normals: mean within 1e-2 of 0, variance within 1e-2 of 1', async () => {
    const t = randn([1000, 1000], { generator: new Generator(2024) });
    const data = await t.data();
    t.dispose();
    let s = 0;
    for (const v of data) s += v;
    const mean = s / data.length;
    let v2 = 0;
    for (const v of data) v2 += (v - mean) ** 2;
    const variance = v2 / (data.length - 1);
    expect(Math.abs(mean)).toBeLessThanOrEqual(1e-2);
    expect(Math.abs(variance - 1)).toBeLessThanOrEqual(1e-2);
    expect(data.every(Number.isFinite)).toBe(true);
  });

  it('randn mean/std options and rand low/high options', async () => {
    const read = async (t: Tensor) => {
      const d = await t.data();
      t.dispose();
      return d;
    };
    const range = (d: ArrayLike<number>) => {
      let lo = Infinity;
      let hi = -Infinity;
      let sum = 0;
      for (let i = 0; i < d.length; i++) {
        lo = Math.min(lo, d[i]);
        hi = Math.max(hi, d[i]);
        sum += d[i];
      }
      return { lo, hi, mean: sum / d.length };
    };
    const n = await read(randn([200_000], { generator: new Generator(3), mean: 2, std: 0.5 }));
    const m = range(n).mean;
    let v = 0;
    for (const x of n) v += (x - m) ** 2;
    expect(Math.abs(m - 2)).toBeLessThan(1e-2);
    expect(Math.abs(Math.sqrt(v / n.length) - 0.5)).toBeLessThan(1e-2);
    const u = range(await read(rand([200_000], { generator: new Generator(4), low: -3, high: 5 })));
    expect(u.lo).toBeGreaterThanOrEqual(-3);
    expect(u.hi).toBeLessThan(5);
    expect(Math.abs(u.mean - 1)).toBeLessThan(3e-2);
    const unit = range(await read(rand([100_000], { generator: new Generator(5) })));
    expect(unit.lo).toBeGreaterThanOrEqual(0);
    expect(unit.hi).toBeLessThan(1);
    expect(Math.abs(unit.mean - 0.5)).toBeLessThan(1e-2);
  });
});

describe('requiresGrad option of the random creators', () => {
  it('randn({ requiresGrad: true }) gives a leaf that requires grad', () => {
    const t = randn([3], { requiresGrad: true });
    expect(t.requiresGrad).toBe(true);
    expect(t.isLeaf).toBe(true);
    t.dispose();
  });

  it('rand({ requiresGrad: true }) gives a leaf that requires grad (default range and a custom range)', () => {
    const custom = rand([3], { requiresGrad: true, low: -1, high: 1 });
    expect(custom.requiresGrad).toBe(true);
    custom.dispose();
    const unit = rand([3], { requiresGrad: true });
    expect(unit.requiresGrad, 'rand with the default [0, 1) range ignores requiresGrad').toBe(true);
    unit.dispose();
  });
});
