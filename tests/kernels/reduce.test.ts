/**
 * reduce(sum | mean | max | min) over random axis subsets, against a float64 reference.
 *
 * Tolerance rule (per output element, n = number of reduced elements):
 *  - sum:  |got - ref| <= 1e-6 * sum|x| + 1e-6
 *  - mean: |got - ref| <= 1e-6 * sum|x| / n + 1e-6    (the sum rule divided by n, same atol)
 *  - max, min: exact (the result is one of the inputs).
 * Axis subsets: random non-empty subsets, the default (all axes), an explicit list of all axes,
 * negative axes; keepDims both ways. Long reductions (50k..100k elements, contiguous and strided)
 * catch tree-reduction bugs; max/min inputs are all negative / all positive so that a wrong
 * identity (0) shows, and monotonic inputs put the extreme at the last element.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { reduce, type Runtime } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import {
  Rng, assertClose, assertShape, errorRe, fmtShape, numel, randomArray, randomShape, reduceRef, withScope,
  type ReduceOpName,
} from '../helpers/reference-elementwise';

let rt: Runtime;
let buffersAtStart = 0;
beforeAll(async () => {
  rt = await initNode();
  await rt.sync();
  buffersAtStart = rt.stats().buffersInUse;
});

interface Case {
  shape: number[];
  axes?: number[];
  keepDims?: boolean;
  /** 'pos' [0,1), 'neg' [-3,-1), 'mixed' [-1,1), 'inc' i, 'dec' -i */
  data: 'pos' | 'neg' | 'mixed' | 'inc' | 'dec';
}

function makeData(rng: Rng, kind: Case['data'], n: number): Float32Array {
  switch (kind) {
    case 'pos': return randomArray(rng, n, 0, 1);
    case 'neg': return randomArray(rng, n, -3, -1);
    case 'mixed': return randomArray(rng, n, -1, 1);
    case 'inc': return Float32Array.from({ length: n }, (_, i) => i * 1e-3);
    case 'dec': return Float32Array.from({ length: n }, (_, i) => -i * 1e-3);
  }
}

function randomCase(rng: Rng, op: ReduceOpName, i: number): Case {
  const rank = i % 6;
  const shape = randomShape(rng, rank, 30_000);
  const dataKinds: Case['data'][] = op === 'max' ? ['neg', 'mixed'] : op === 'min' ? ['pos', 'mixed'] : ['pos', 'mixed'];
  const data = rng.pick(dataKinds);
  const keepDims = rng.bool();
  const mode = rng.int(0, 5);
  if (rank === 0 || mode === 0) return { shape, keepDims, data }; // default: all axes
  if (mode === 1) return { shape, axes: rng.shuffle([...Array(rank).keys()]), keepDims, data }; // explicit all
  // A random non-empty subset, each axis written positive or negative at random.
  const subset = [...Array(rank).keys()].filter(() => rng.bool());
  if (subset.length === 0) subset.push(rng.int(0, rank - 1));
  const axes = rng.shuffle(subset.map((a) => (rng.bool() ? a - rank : a)));
  return { shape, axes, keepDims, data };
}

function longCases(op: ReduceOpName): Case[] {
  switch (op) {
    case 'sum':
      return [
        { shape: [100_003], data: 'pos' },
        { shape: [50_000, 3], axes: [0], data: 'pos' }, // long strided axis
        { shape: [7, 7_919, 3], axes: [1], data: 'mixed' },
        { shape: [2, 3, 8_191], axes: [0, 2], data: 'pos' },
      ];
    case 'mean':
      return [
        { shape: [3, 50_021], axes: [-1], keepDims: true, data: 'mixed' },
        { shape: [1, 65_537, 1], axes: [-2, 0], keepDims: true, data: 'pos' },
      ];
    case 'max':
      return [
        { shape: [100_003], data: 'neg' },
        { shape: [3, 50_021], axes: [-1], keepDims: true, data: 'inc' }, // maximum at the last element
      ];
    case 'min':
      return [
        { shape: [3, 50_021], axes: [-1], data: 'dec' }, // minimum at the last element
        { shape: [50_000, 3], axes: [0], data: 'pos' },
      ];
  }
}

const OPS: ReduceOpName[] = ['sum', 'mean', 'max', 'min'];
/**
 * Random cases per op (4 x 13 = 52), plus 2-4 long cases per op. Each case compiles new pipelines
 * (~60 ms each on lavapipe), which is what bounds the count.
 */
const RANDOM_CASES_PER_OP = 13;

async function check(op: ReduceOpName, c: Case, rng: Rng): Promise<void> {
  const label = `reduce ${op} ${fmtShape(c.shape)} axes ${c.axes ? fmtShape(c.axes) : 'default'} keepDims ${c.keepDims ?? 'default'}`;
  await withScope(rt, async (s) => {
    const x = makeData(rng, c.data, numel(c.shape));
    const y = s.keep(reduce(rt, op, s.up(x, c.shape), c.axes, c.keepDims));
    const ref = reduceRef(op, x, c.shape, c.axes, c.keepDims ?? false);
    assertShape(y.shape, ref.shape, label);
    const got = await s.read(y);
    if (op === 'max' || op === 'min') {
      assertClose(got, ref.data, { rtol: 0, atol: 0 }, label);
    } else {
      const scale = op === 'sum' ? ref.absSum : ref.absSum.map((v) => v / ref.count);
      assertClose(got, ref.data, { rtol: 1e-6, atol: 1e-6 }, label, scale);
    }
  });
}

describe('reduce', () => {
  OPS.forEach((op, k) => {
    it(`${op}: ${RANDOM_CASES_PER_OP} random shapes / axis subsets / keepDims`, async () => {
      const rng = new Rng(7000 + k);
      for (let i = 0; i < RANDOM_CASES_PER_OP; i++) await check(op, randomCase(rng, op, i + k), rng);
    });

    it(`${op}: long reductions (50k-100k elements reduced, contiguous and strided)`, async () => {
      const rng = new Rng(7100 + k);
      for (const c of longCases(op)) await check(op, c, rng);
    });
  });

  it('reducing all axes without keepDims gives shape [] and with keepDims all ones', async () => {
    await withScope(rt, async (s) => {
      const x = s.up(Float32Array.from({ length: 30 }, (_, i) => i), [2, 3, 5]);
      const all = s.keep(reduce(rt, 'sum', x));
      assertShape(all.shape, [], 'reduce sum [2,3,5] default axes');
      expect(Array.from(await s.read(all))).toEqual([435]);
      const kept = s.keep(reduce(rt, 'max', x, undefined, true));
      assertShape(kept.shape, [1, 1, 1], 'reduce max [2,3,5] keepDims');
      expect(Array.from(await s.read(kept))).toEqual([29]);
      const scalar = s.keep(reduce(rt, 'mean', s.up([4.5], [])));
      assertShape(scalar.shape, [], 'reduce mean of a rank-0 array');
      expect(Array.from(await s.read(scalar))).toEqual([4.5]);
    });
  });

  it('handles more than 65535 outputs (2-D dispatch grid) and many outputs with long-ish rows', async () => {
    const rng = new Rng(7200);
    await check('max', { shape: [70_001, 3], axes: [1], keepDims: true, data: 'neg' }, rng); // > 65535 outputs, short rows
    await check('mean', { shape: [3, 70_001], axes: [0], data: 'pos' }, rng); // > 65535 outputs, strided
    await check('sum', { shape: [2_003, 67], axes: [-1], data: 'mixed' }, rng); // rows just over 64 elements, 2003 outputs
    // (A [65537, 67] row reduction, > 65535 outputs of > 64 elements each, takes ~4 s on lavapipe: left out for time.)
  });

  it('does not modify its input', async () => {
    await withScope(rt, async (s) => {
      const x = randomArray(new Rng(3), 4099, -1, 1);
      const xd = s.up(x, [4099]);
      s.keep(reduce(rt, 'sum', xd));
      s.keep(reduce(rt, 'max', xd));
      assertClose(await s.read(xd), x, { rtol: 0, atol: 0 }, 'reduce input');
    });
  });

  it('throws naming reduce and the shape for an axis out of range', () => {
    const x = { buffer: rt.alloc(6 * 4), shape: [2, 3] };
    try {
      expect(() => reduce(rt, 'sum', x, [2])).toThrow(errorRe(['reduce', 'sum'], [2, 3]));
      expect(() => reduce(rt, 'max', x, [-3])).toThrow(errorRe(['reduce', 'max'], [2, 3]));
    } finally {
      rt.release(x.buffer);
    }
  });
});

describe('buffers', () => {
  it('every buffer the tests and kernels allocated is back in the pool', async () => {
    await rt.sync();
    expect(rt.stats().buffersInUse).toBe(buffersAtStart);
  });
});
