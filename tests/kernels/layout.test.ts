/**
 * Layout kernels: permute, slice, concat, pad, gather, gatherBackward, cast, fill.
 *
 * Tolerance rule: all exact (pure data movement / integer conversion), except gatherBackward,
 * whose scatter-add sums repeated indices in an unspecified order:
 *   |got - ref| <= 1e-6 * sum|dy contributing to the element| + 1e-7.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { cast, concat, fill, gather, gatherBackward, pad, permute, slice, type Runtime } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import {
  Rng, assertClose, assertExact, assertShape, castRef, concatRef, errorRe, fillRef, fmtShape, gatherBackwardRef, gatherRef,
  numel, padRef, permuteRef, randomArray, randomShape, shapeSuite, sliceRef, withScope,
} from '../helpers/reference-elementwise';

let rt: Runtime;
let buffersAtStart = 0;
beforeAll(async () => {
  rt = await initNode();
  await rt.sync();
  buffersAtStart = rt.stats().buffersInUse;
});

/**
 * Cases per op (10 x 6 ops + cast/fill: ~90 shapes for the family). Each case compiles a new
 * pipeline (~60 ms on lavapipe), which is what bounds the count.
 */
const CASES = 10;
/** Distinct values (element index + noise) so that a misplaced element always shows. */
const distinct = (rng: Rng, n: number) => Float32Array.from({ length: n }, (_, i) => i + rng.uniform(-0.25, 0.25));

describe('permute', () => {
  it(`matches the reference on ${CASES} random shapes and permutations (exact)`, async () => {
    const rng = new Rng(8000);
    const cases: [number[], number[]][] = [
      [[], []],
      [[317, 331], [1, 0]],
      [[5, 7, 11], [0, 1, 2]],
      [[1, 13, 1, 7, 3], [4, 2, 0, 3, 1]],
    ];
    for (const shape of shapeSuite(rng, CASES - cases.length, {})) {
      cases.push([shape, rng.shuffle([...shape.keys()])]);
    }
    for (const [shape, perm] of cases) {
      await withScope(rt, async (s) => {
        const x = distinct(rng, numel(shape));
        const y = s.keep(permute(rt, s.up(x, shape), perm));
        const ref = permuteRef(x, shape, perm);
        const label = `permute ${fmtShape(shape)} by ${fmtShape(perm)}`;
        assertShape(y.shape, ref.shape, label);
        assertExact(await s.read(y), ref.data, label);
      });
    }
  });

  it('covers more than 65535 workgroups (2-D dispatch grid): [2,4099,2053] by [2,1,0], spot-checked', async () => {
    const shape = [2, 4099, 2053]; // 16.8M elements
    const n = numel(shape);
    await withScope(rt, async (s) => {
      const x = new Float32Array(n);
      for (let i = 0; i < n; i++) x[i] = i; // exact integers up to 2^24, then multiples of 2
      const y = s.keep(permute(rt, s.up(x, shape), [2, 1, 0]));
      assertShape(y.shape, [2053, 4099, 2], 'permute [2,4099,2053]');
      const got = await s.read(y);
      const rng = new Rng(8050);
      for (let k = 0; k < 20_000; k++) {
        const o = k < 2 ? [0, n - 1][k] : rng.int(0, n - 1);
        const [c, b, a] = [Math.floor(o / (4099 * 2)), Math.floor(o / 2) % 4099, o % 2];
        const ref = x[(a * 4099 + b) * 2053 + c];
        if (got[o] !== ref) throw new Error(`permute [2,4099,2053] by [2,1,0]: [${o}] got ${got[o]}, expected ${ref}`);
      }
    });
  });

  it('throws naming permute and the shape for a bad permutation', () => {
    const x = { buffer: rt.alloc(24 * 4), shape: [2, 3, 4] };
    try {
      for (const perm of [[0, 0, 1], [1, 0], [0, 1, 3], [0, 1, 2, 3], [-1, 0, 1]]) {
        expect(() => permute(rt, x, perm), `perm ${fmtShape(perm)}`).toThrow(errorRe(['permute'], [2, 3, 4]));
      }
    } finally {
      rt.release(x.buffer);
    }
  });
});

describe('slice', () => {
  it(`matches the reference on ${CASES} random shapes, begins and sizes (incl. -1) (exact)`, async () => {
    const rng = new Rng(8100);
    const cases: [number[], number[], number[]][] = [
      [[], [], []],
      [[100_003], [17], [-1]],
      [[100_003], [0], [99_991]],
      [[317, 331], [5, 1], [300, -1]],
      // One contiguous block (a buffer copy): a range of rows, and a cut after unit dims.
      [[64, 784], [10, 0], [20, -1]],
      [[2, 3, 6], [1, 2, 2], [1, 1, 3]],
    ];
    for (const shape of shapeSuite(rng, CASES - cases.length, {})) {
      const begin = shape.map((d) => rng.int(0, d - 1));
      const size = shape.map((d, i) => (rng.bool(0.25) ? -1 : rng.int(1, d - begin[i])));
      cases.push([shape, begin, size]);
    }
    for (const [shape, begin, size] of cases) {
      await withScope(rt, async (s) => {
        const x = distinct(rng, numel(shape));
        const y = s.keep(slice(rt, s.up(x, shape), begin, size));
        const ref = sliceRef(x, shape, begin, size);
        const label = `slice ${fmtShape(shape)} begin ${fmtShape(begin)} size ${fmtShape(size)}`;
        assertShape(y.shape, ref.shape, label);
        assertExact(await s.read(y), ref.data, label);
      });
    }
  });

  it('throws naming slice and the shape for an out-of-range slice', () => {
    const x = { buffer: rt.alloc(8 * 4), shape: [2, 4] };
    try {
      const bad: [number[], number[]][] = [
        [[0, 2], [2, 3]], // 2 + 3 > 4
        [[2, 0], [1, 1]], // begin past the end
        [[0, 0], [3, -1]],
        [[0], [1]], // rank mismatch
      ];
      for (const [begin, size] of bad) {
        expect(() => slice(rt, x, begin, size), `begin ${fmtShape(begin)} size ${fmtShape(size)}`).toThrow(errorRe(['slice'], [2, 4]));
      }
    } finally {
      rt.release(x.buffer);
    }
  });
});

describe('concat', () => {
  it(`matches the reference on ${CASES - 2} random input lists and axes (exact)`, async () => {
    const rng = new Rng(8200);
    const cases: [number[][], number][] = [
      [[[100_003], [5]], 0],
      [[[3, 1], [3, 7], [3, 2]], 1],
      [[[1, 5, 2]], 2],
      // Blocks of the output (buffer copies): along the first dim, and after unit dims.
      [[[64, 784], [64, 784]], 0],
      [[[1, 3, 5], [1, 2, 5], [1, 1, 5]], 1],
    ];
    while (cases.length < CASES - 2) {
      const rank = rng.int(1, 5);
      const base = randomShape(rng, rank, 8_000);
      const axis = rng.int(0, rank - 1);
      const count = rng.int(1, 4);
      cases.push([Array.from({ length: count }, () => base.map((d, i) => (i === axis ? rng.pick([1, 2, 3, 5, 7, 13]) : d))), axis]);
    }
    for (const [shapes, axis] of cases) {
      await withScope(rt, async (s) => {
        let base = 0;
        const inputs = shapes.map((shape) => {
          const data = Float32Array.from({ length: numel(shape) }, (_, i) => base + i);
          base += 1e6;
          return { data, shape };
        });
        const y = s.keep(concat(rt, inputs.map(({ data, shape }) => s.up(data, shape)), axis));
        const ref = concatRef(inputs, axis);
        const label = `concat ${shapes.map(fmtShape).join(' ')} axis ${axis}`;
        assertShape(y.shape, ref.shape, label);
        assertExact(await s.read(y), ref.data, label);
      });
    }
  });

  it('throws naming concat and the shapes for mismatched inputs or a bad axis', () => {
    const arrays = [[2, 3], [2, 4], [3, 3]].map((shape) => ({ buffer: rt.alloc(numel(shape) * 4), shape }));
    try {
      expect(() => concat(rt, [arrays[0], arrays[1]], 0)).toThrow(errorRe(['concat'], [2, 3], [2, 4]));
      expect(() => concat(rt, [arrays[0], arrays[2]], 1)).toThrow(errorRe(['concat'], [2, 3], [3, 3]));
      expect(() => concat(rt, [arrays[0], arrays[0]], 2)).toThrow(errorRe(['concat'], [2, 3]));
    } finally {
      for (const a of arrays) rt.release(a.buffer);
    }
  });
});

describe('pad', () => {
  it(`matches the reference on ${CASES} random shapes and paddings (exact)`, async () => {
    const rng = new Rng(8300);
    const cases: [number[], [number, number][], number | undefined][] = [
      [[], [], 3],
      [[100_003], [[1, 2]], -1],
      [[5, 7], [[0, 0], [0, 0]], undefined],
    ];
    for (const shape of shapeSuite(rng, CASES - cases.length, { maxElements: 8_000 })) {
      const padding = shape.map((): [number, number] => [rng.int(0, 3), rng.int(0, 3)]);
      cases.push([shape, padding, rng.bool(0.3) ? undefined : Math.fround(rng.uniform(-5, 5))]);
    }
    for (const [shape, padding, value] of cases) {
      await withScope(rt, async (s) => {
        const x = distinct(rng, numel(shape));
        const y = s.keep(pad(rt, s.up(x, shape), padding, value));
        const ref = padRef(x, shape, padding, value ?? 0);
        const label = `pad ${fmtShape(shape)} by ${JSON.stringify(padding)} value ${value}`;
        assertShape(y.shape, ref.shape, label);
        assertExact(await s.read(y), ref.data, label);
      });
    }
  });

  it('throws naming pad and the shape when the padding does not match the rank', () => {
    const x = { buffer: rt.alloc(6 * 4), shape: [2, 3] };
    try {
      expect(() => pad(rt, x, [[1, 1]])).toThrow(errorRe(['pad'], [2, 3]));
    } finally {
      rt.release(x.buffer);
    }
  });
});

interface GatherCase {
  shape: number[];
  indexShape: number[];
  axis: number;
  /** indices drawn from this many distinct values (small => many repeats) */
  distinctIndices?: number;
}

function gatherCases(rng: Rng, count: number): GatherCase[] {
  const cases: GatherCase[] = [
    { shape: [100_003], indexShape: [257], axis: 0 },
    { shape: [10, 7], indexShape: [], axis: 0 },
    { shape: [10, 7], indexShape: [], axis: 1 },
    { shape: [5, 3], indexShape: [4, 6], axis: 0, distinctIndices: 2 },
    { shape: [1, 1], indexShape: [9], axis: 1 },
    { shape: [3, 11, 2], indexShape: [1], axis: 1 },
  ];
  while (cases.length < count) {
    const rank = rng.int(1, 4);
    const shape = randomShape(rng, rank, 6_000);
    const axis = cases.length % 3 === 0 ? 0 : rng.int(0, rank - 1);
    const indexShape = randomShape(rng, rng.int(0, 2), 200);
    cases.push({ shape, indexShape, axis, distinctIndices: rng.bool() ? rng.int(1, 3) : undefined });
  }
  return cases;
}

function makeIndices(rng: Rng, c: GatherCase): Int32Array {
  const dim = c.shape[c.axis];
  const pool = c.distinctIndices ? Array.from({ length: c.distinctIndices }, () => rng.int(0, dim - 1)) : undefined;
  const idx = Int32Array.from({ length: numel(c.indexShape) }, () => (pool ? rng.pick(pool) : rng.int(0, dim - 1)));
  // Always touch the last valid index somewhere (boundary), unless the pool restricts it.
  if (!pool && idx.length > 1) idx[idx.length - 1] = dim - 1;
  return idx;
}

describe('gather', () => {
  it(`matches the reference on ${CASES + 2} random cases, axis 0 and other axes, int32 indices (exact)`, async () => {
    const rng = new Rng(8400);
    for (const c of gatherCases(rng, CASES + 2)) {
      await withScope(rt, async (s) => {
        const x = distinct(rng, numel(c.shape));
        const idx = makeIndices(rng, c);
        const y = s.keep(gather(rt, s.up(x, c.shape), s.upInt(idx, c.indexShape), c.axis));
        const ref = gatherRef(x, c.shape, idx, c.indexShape, c.axis);
        const label = `gather ${fmtShape(c.shape)} axis ${c.axis} indices ${fmtShape(c.indexShape)} [${Array.from(idx.slice(0, 8))}...]`;
        assertShape(y.shape, ref.shape, label);
        assertExact(await s.read(y), ref.data, label);
      });
    }
  });

  it('throws naming gather and the shape for a bad axis', () => {
    const x = { buffer: rt.alloc(6 * 4), shape: [2, 3] };
    const idx = { buffer: rt.alloc(4), shape: [1], dtype: 'int32' as const };
    try {
      expect(() => gather(rt, x, idx, 2)).toThrow(errorRe(['gather'], [2, 3]));
    } finally {
      rt.release(x.buffer);
      rt.release(idx.buffer);
    }
  });
});

describe('gatherBackward (scatter-add)', () => {
  it(`matches the reference on ${CASES + 2} random cases incl. repeated indices`, async () => {
    const rng = new Rng(8500);
    for (const c of gatherCases(rng, CASES + 2)) {
      await withScope(rt, async (s) => {
        const idx = makeIndices(rng, c);
        const outShape = [...c.shape.slice(0, c.axis), ...c.indexShape, ...c.shape.slice(c.axis + 1)];
        const dy = randomArray(rng, numel(outShape), -1, 1);
        const dx = s.keep(gatherBackward(rt, s.up(dy, outShape), s.upInt(idx, c.indexShape), c.axis, c.shape));
        const ref = gatherBackwardRef(dy, idx, c.indexShape, c.axis, c.shape);
        const scale = gatherBackwardRef(dy.map(Math.abs), idx, c.indexShape, c.axis, c.shape);
        const label = `gatherBackward ${fmtShape(c.shape)} axis ${c.axis} indices ${fmtShape(c.indexShape)} [${Array.from(idx.slice(0, 8))}...]`;
        assertShape(dx.shape, c.shape, label);
        assertClose(await s.read(dx), ref, { rtol: 1e-6, atol: 1e-7 }, label, scale);
      });
    }
  });

  it('accumulates many repeats of one index exactly (small integers)', async () => {
    await withScope(rt, async (s) => {
      const idx = new Int32Array(1000).fill(3);
      idx[999] = 0;
      const dy = Float32Array.from({ length: 1000 * 2 }, (_, i) => (i % 2) + 1); // rows [1, 2]
      const dx = s.keep(gatherBackward(rt, s.up(dy, [1000, 2]), s.upInt(idx, [1000]), 0, [5, 2]));
      expect(Array.from(await s.read(dx))).toEqual([1, 2, 0, 0, 0, 0, 999, 1998, 0, 0]);
    });
  });
});

describe('cast', () => {
  it('float32 -> int32 truncates toward zero, incl. negative values (exact)', async () => {
    const rng = new Rng(8600);
    const specials = [-2.7, -2.5, -0.5, -0.9999, -1, -1.0000001, 0, -0, 0.5, 0.9999, 2.5, 2.7, 3, -3, 16777216, -16777216, 2e9, -2e9, 123456.75, -123456.75];
    for (const shape of shapeSuite(rng, 6, { large: 1 })) {
      await withScope(rt, async (s) => {
        const x = randomArray(rng, numel(shape), -1000, 1000);
        x.set(specials.slice(0, x.length));
        const y = s.keep(cast(rt, s.up(x, shape), 'int32'));
        const label = `cast float32->int32 ${fmtShape(shape)}`;
        assertShape(y.shape, shape, label);
        expect(y.dtype, label).toBe('int32');
        const got = await s.read(y);
        expect(got, label).toBeInstanceOf(Int32Array);
        assertExact(got, castRef(x, 'int32'), label);
      });
    }
  });

  it('int32 -> float32 is exact for |v| <= 2^24', async () => {
    const rng = new Rng(8700);
    for (const shape of shapeSuite(rng, 6, { large: 1 })) {
      await withScope(rt, async (s) => {
        const x = Int32Array.from({ length: numel(shape) }, () => rng.int(-(2 ** 24), 2 ** 24));
        x.set([0, -1, 1, 2 ** 24, -(2 ** 24), 7].slice(0, x.length));
        const y = s.keep(cast(rt, s.upInt(x, shape), 'float32'));
        const label = `cast int32->float32 ${fmtShape(shape)}`;
        assertShape(y.shape, shape, label);
        expect(y.dtype ?? 'float32', label).toBe('float32');
        const got = await s.read(y);
        expect(got, label).toBeInstanceOf(Float32Array);
        assertExact(got, castRef(x, 'float32'), label);
      });
    }
  });
});

describe('fill', () => {
  const checkFill = (shape: readonly number[], value: number, dtype: 'float32' | 'int32') =>
    withScope(rt, async (s) => {
      const y = s.keep(fill(rt, shape, value, dtype));
      const label = `fill ${fmtShape(shape)} ${value} ${dtype}`;
      assertShape(y.shape, shape, label);
      expect(y.dtype ?? 'float32', label).toBe(dtype);
      assertExact(await s.read(y), fillRef(shape, value, dtype), label);
    });

  it('fills float32 and int32 arrays of random shapes (exact)', async () => {
    const rng = new Rng(8800);
    for (const [i, shape] of shapeSuite(rng, 8, { large: 1 }).entries()) {
      const dtype = i % 2 === 0 ? 'float32' : 'int32';
      const value = dtype === 'float32' ? rng.pick([0, 1, -0.1, 3.25, 1e-3, -1e20]) : rng.pick([0, -7, 123456789, 1]);
      await checkFill(shape, value, dtype);
    }
  });

  it('fills either side of the size below which it uploads instead of launching (1024)', async () => {
    for (const [shape, value, dtype] of [[[1024], -0.5, 'float32'], [[1025], -0.5, 'float32'], [[4, 256], 123456789, 'int32'], [[5, 205], -7, 'int32']] as const) {
      await checkFill(shape, value, dtype);
    }
  });

  it('fills and pads with +-Infinity (masks, max-pool padding)', async () => {
    await withScope(rt, async (s) => {
      for (const value of [Infinity, -Infinity]) {
        const y = s.keep(fill(rt, [2, 3], value));
        assertExact(await s.read(y), fillRef([2, 3], value), `fill [2,3] ${value}`);
        const p = s.keep(pad(rt, s.up([1, 2, 3], [3]), [[1, 2]], value));
        assertExact(await s.read(p), [value, 1, 2, 3, value, value], `pad [3] by [[1,2]] value ${value}`);
      }
    });
  });

  it('defaults to float32', async () => {
    await withScope(rt, async (s) => {
      const y = s.keep(fill(rt, [3, 5], 2.5));
      expect(y.dtype ?? 'float32').toBe('float32');
      assertExact(await s.read(y), fillRef([3, 5], 2.5), 'fill default dtype');
    });
  });
});

describe('buffers', () => {
  it('every buffer the tests and kernels allocated is back in the pool', async () => {
    await rt.sync();
    expect(rt.stats().buffersInUse).toBe(buffersAtStart);
  });
});
