/**
 * markNonFinite against a host reference: random sizes (not multiples of the 256-wide workgroup),
 * NaN, +Inf and −Inf placed at random positions (first, last, middle), sub-ranges that include or
 * exclude them, the smallest step winning, codes OR-ed, and the largest finite floats and
 * subnormals never flagged.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { NON_FINITE_CLEAR, clearNonFiniteFlag, fromArray, markNonFinite, nonFiniteFlag, readNonFiniteFlag, type Runtime } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import { Rng } from '../helpers/reference-elementwise';

let rt: Runtime;
beforeAll(async () => {
  rt = await initNode();
});

/** Host reference: does x[offset, offset + count) hold a NaN or an infinity? */
const hasNonFinite = (x: Float32Array, offset: number, count: number) => x.subarray(offset, offset + count).some((v) => !Number.isFinite(v));

describe('markNonFinite', () => {
  it('agrees with the host on random sizes, positions and ranges', async () => {
    const rng = new Rng(11);
    const flag = nonFiniteFlag(rt);
    let trials = 0;
    for (const n of [1, 7, 255, 256, 257, 1000, 4099, 70_001]) {
      for (let t = 0; t < 6; t++) {
        const x = Float32Array.from({ length: n }, () => (rng.next() - 0.5) * 1e3);
        if (t % 3 !== 0) {
          const bad = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY][t % 3];
          const at = t === 1 ? 0 : t === 2 ? n - 1 : Math.floor(rng.next() * n);
          x[at] = bad;
        }
        const offset = t >= 4 ? Math.floor(rng.next() * n) : 0;
        const count = t >= 4 ? Math.floor(rng.next() * (n - offset + 1)) : n;
        const input = fromArray(rt, x, [n]);
        clearNonFiniteFlag(rt, flag);
        markNonFinite(rt, input, flag, 40 + t, 1 << t, t >= 4 ? { offset, count } : undefined);
        const report = await readNonFiniteFlag(rt, flag);
        const expected = hasNonFinite(x, offset, count);
        expect(report, `n ${n}, trial ${t}, range ${offset}+${count}`).toEqual(expected ? { step: 40 + t, what: 1 << t } : null);
        rt.release(input.buffer);
        trials++;
      }
    }
    expect(trials).toBe(48);
    rt.release(flag.buffer);
  });

  it('keeps the smallest step and ORs every code until cleared', async () => {
    const flag = nonFiniteFlag(rt);
    const bad = fromArray(rt, new Float32Array([1, Number.NaN, 3]), [3]);
    const good = fromArray(rt, new Float32Array([1, 2, 3]), [3]);
    markNonFinite(rt, good, flag, 3, 1);
    expect(await readNonFiniteFlag(rt, flag)).toBeNull();
    markNonFinite(rt, bad, flag, 9, 2);
    markNonFinite(rt, bad, flag, 5, 4);
    markNonFinite(rt, bad, flag, 12, 8);
    markNonFinite(rt, good, flag, 1, 16);
    expect(await readNonFiniteFlag(rt, flag)).toEqual({ step: 5, what: 2 | 4 | 8 });
    clearNonFiniteFlag(rt, flag);
    expect(Array.from(await rt.readInt32(flag.buffer, 2))).toEqual([NON_FINITE_CLEAR, 0]);
    for (const a of [flag, bad, good]) rt.release(a.buffer);
  });

  it('never flags finite extremes: ±max float, ±smallest subnormal, ±0', async () => {
    const flag = nonFiniteFlag(rt);
    const x = fromArray(rt, new Float32Array([3.4028234663852886e38, -3.4028234663852886e38, 1.401298464324817e-45, -1.401298464324817e-45, 0, -0]), [6]);
    markNonFinite(rt, x, flag, 1, 1);
    expect(await readNonFiniteFlag(rt, flag)).toBeNull();
    for (const a of [flag, x]) rt.release(a.buffer);
  });

  it('names what is wrong with its arguments', () => {
    const flag = nonFiniteFlag(rt);
    const x = fromArray(rt, new Float32Array(4), [2, 2]);
    const ints = fromArray(rt, new Int32Array(4), [4]);
    expect(() => markNonFinite(rt, x, x, 1, 1)).toThrow('markNonFinite: flag must be int32 [2], got float32 [2,2]');
    expect(() => markNonFinite(rt, ints, flag, 1, 1)).toThrow('markNonFinite: input must be float32, got int32');
    expect(() => markNonFinite(rt, x, flag, -1, 1)).toThrow('markNonFinite: step must be an integer in [0, 2147483647), got -1');
    expect(() => markNonFinite(rt, x, flag, 1, 0)).toThrow('markNonFinite: what must be a positive 31-bit code, got 0');
    expect(() => markNonFinite(rt, x, flag, 1, 1, { offset: 3, count: 2 })).toThrow('markNonFinite: range offset 3 count 2 is outside input [2,2]');
    for (const a of [flag, x, ints]) rt.release(a.buffer);
  });
});
