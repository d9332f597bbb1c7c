/**
 * Broadcasting binary ops and where, against float64 references.
 *
 * Tolerance rule (per element): |got - ref| <= rtol * scale + atol.
 *  - add, sub: rtol 1e-6, scale |a| + |b| (one rounding; relative to the operands because of cancellation).
 *  - mul, div: rtol 1e-6, scale |ref|, atol 1e-30 (flush of denormals allowed).
 *  - pow: rtol 1e-5, scale |ref|, a in [0.01, 5], b in [-3, 3].
 *  - max, min, comparisons (float32 1/0), where: exact.
 * Shapes: random broadcast-compatible pairs (ranks 0..5, rank mismatch, size-1 dims on either
 * side or both), plus fixed edge cases and ~100k-element cases.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { binary, where, type Runtime } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import {
  Rng, assertClose, assertShape, binaryRef, errorRe, fmtShape, numel, randomArray, randomShape, whereRef, withScope,
  type BinaryOpName, type Tol,
} from '../helpers/reference-elementwise';

let rt: Runtime;
let buffersAtStart = 0;
beforeAll(async () => {
  rt = await initNode();
  await rt.sync();
  buffersAtStart = rt.stats().buffersInUse;
});

/** Operand shape for an output shape: a random-length suffix whose dims may be set to 1. */
function operandShape(rng: Rng, out: readonly number[], pOne = 0.35): number[] {
  const r = rng.int(0, out.length);
  return out.slice(out.length - r).map((d) => (rng.bool(pOne) ? 1 : d));
}

/** Fixed edge cases: rank 0, both sides size 1, rank mismatch, large. */
const FIXED_PAIRS: [number[], number[]][] = [
  [[], [3, 4]],
  [[3, 4], []],
  [[], []],
  [[5, 1, 7], [1, 3, 1]],
  [[1], [1, 1, 1]],
  [[7, 1, 1, 1, 2], [3, 5, 1]],
  [[4, 1], [3]],
  [[2, 1, 3, 1, 5], [1, 7, 1, 11, 1]],
  [[100_003], [1]],
  [[100_003], [100_003]],
  [[317, 1], [1, 331]],
  [[1, 13, 1], [17, 1, 19]],
];

/** The op's share of the fixed pairs (every fixed pair goes to one op or more), then random pairs. */
function pairsFor(rng: Rng, k: number, count: number): [number[], number[]][] {
  const pairs: [number[], number[]][] = FIXED_PAIRS.filter((_, i) => i % OPS.length === k || (i + 5) % OPS.length === k);
  while (pairs.length < count) {
    const out = randomShape(rng, rng.int(0, 5), 20_000);
    pairs.push([operandShape(rng, out), operandShape(rng, out)]);
  }
  return pairs;
}

interface OpCase {
  gen: (rng: Rng, n: number, side: 'a' | 'b') => Float32Array;
  tol: Tol;
  operandScale?: boolean;
}
const wide = (rng: Rng, n: number) => randomArray(rng, n, -5, 5);
/** Values on a coarse grid so that ties (a == b) happen often. */
const ties = (rng: Rng, n: number) => Float32Array.from({ length: n }, () => rng.int(-3, 3) * 0.5);
const exactTies: OpCase = { gen: ties, tol: { rtol: 0, atol: 0 } };
const CASES: Record<BinaryOpName, OpCase> = {
  add: { gen: wide, tol: { rtol: 1e-6, atol: 0 }, operandScale: true },
  sub: { gen: wide, tol: { rtol: 1e-6, atol: 0 }, operandScale: true },
  mul: { gen: wide, tol: { rtol: 1e-6, atol: 1e-30 } },
  div: {
    gen: (rng, n, side) => side === 'a' ? wide(rng, n) : Float32Array.from({ length: n }, () => (rng.bool() ? 1 : -1) * rng.uniform(0.1, 5)),
    tol: { rtol: 1e-6, atol: 1e-30 },
  },
  pow: {
    gen: (rng, n, side) => (side === 'a' ? randomArray(rng, n, 0.01, 5) : randomArray(rng, n, -3, 3)),
    tol: { rtol: 1e-5, atol: 1e-30 },
  },
  max: exactTies,
  min: exactTies,
  eq: exactTies,
  ne: exactTies,
  lt: exactTies,
  le: exactTies,
  gt: exactTies,
  ge: exactTies,
};

const OPS = Object.keys(CASES) as BinaryOpName[];
/**
 * Shape pairs per op: 1-2 of the fixed edge cases plus random pairs (13 ops x 5 = 65 pairs). Each
 * pair compiles a new pipeline (~60 ms on lavapipe), which is what bounds the count.
 */
const PAIRS_PER_OP = 5;

describe('binary (broadcasting)', () => {
  OPS.forEach((op, k) => {
    it(`${op} matches the float64 reference on ${PAIRS_PER_OP} shape pairs`, async () => {
      const rng = new Rng(5000 + k);
      for (const [aShape, bShape] of pairsFor(rng, k, PAIRS_PER_OP)) {
        await withScope(rt, async (s) => {
          const a = CASES[op].gen(rng, numel(aShape), 'a');
          const b = CASES[op].gen(rng, numel(bShape), 'b');
          const out = s.keep(binary(rt, op, s.up(a, aShape), s.up(b, bShape)));
          const ref = binaryRef(op, a, aShape, b, bShape);
          const label = `binary ${op} ${fmtShape(aShape)} x ${fmtShape(bShape)} -> ${fmtShape(ref.shape)}`;
          assertShape(out.shape, ref.shape, label);
          expect(out.dtype ?? 'float32', label).toBe('float32');
          let scale: Float64Array | undefined;
          if (CASES[op].operandScale) {
            const abs = binaryRef('add', a.map(Math.abs), aShape, b.map(Math.abs), bShape);
            scale = abs.data;
          }
          assertClose(await s.read(out), ref.data, CASES[op].tol, label, scale);
        });
      }
    });
  });

  it('does not modify its inputs', async () => {
    await withScope(rt, async (s) => {
      const rng = new Rng(9);
      const a = randomArray(rng, 35, -2, 2);
      const b = randomArray(rng, 7, -2, 2);
      const ad = s.up(a, [5, 7]);
      const bd = s.up(b, [7]);
      s.keep(binary(rt, 'mul', ad, bd));
      assertClose(await s.read(ad), a, { rtol: 0, atol: 0 }, 'binary input a');
      assertClose(await s.read(bd), b, { rtol: 0, atol: 0 }, 'binary input b');
    });
  });

  it('throws a shape error naming the op and both shapes for incompatible broadcasts', () => {
    const cases: [BinaryOpName, number[], number[]][] = [
      ['add', [2, 3], [4, 3]],
      ['mul', [3], [4]],
      ['sub', [5, 2, 7], [3, 7]],
      ['lt', [2, 1, 6], [2, 5, 4]],
    ];
    for (const [op, aShape, bShape] of cases) {
      const a = { buffer: rt.alloc(numel(aShape) * 4), shape: aShape };
      const b = { buffer: rt.alloc(numel(bShape) * 4), shape: bShape };
      try {
        expect(() => binary(rt, op, a, b), `${op} ${fmtShape(aShape)} x ${fmtShape(bShape)}`).toThrow(
          errorRe(['binary', op], aShape, bShape),
        );
      } finally {
        rt.release(a.buffer);
        rt.release(b.buffer);
      }
    }
  });
});

describe('where', () => {
  /** Condition values: zero is false, anything else (incl. negative and fractional) is true. */
  const condGen = (rng: Rng, n: number) => Float32Array.from({ length: n }, () => rng.pick([0, 0, 1, -1, 0.5, 0, 2, -0]));

  it('matches the reference on 20 shape triples (exact)', async () => {
    const rng = new Rng(6000);
    const triples: number[][][] = [
      [[], [3, 4], [4]],
      [[3, 1], [1, 5], []],
      [[100_003], [1], [100_003]],
      [[7, 1, 3], [1, 5, 1], [2, 7, 1, 1]],
      [[1, 1, 1], [], [1]],
    ];
    while (triples.length < 20) {
      const out = randomShape(rng, rng.int(0, 5), 20_000);
      triples.push([operandShape(rng, out), operandShape(rng, out), operandShape(rng, out)]);
    }
    for (const [cShape, aShape, bShape] of triples) {
      await withScope(rt, async (s) => {
        const c = condGen(rng, numel(cShape));
        const a = randomArray(rng, numel(aShape), -5, 5);
        const b = randomArray(rng, numel(bShape), 10, 20);
        const out = s.keep(where(rt, s.up(c, cShape), s.up(a, aShape), s.up(b, bShape)));
        const ref = whereRef(c, cShape, a, aShape, b, bShape);
        const label = `where ${fmtShape(cShape)} ? ${fmtShape(aShape)} : ${fmtShape(bShape)} -> ${fmtShape(ref.shape)}`;
        assertShape(out.shape, ref.shape, label);
        assertClose(await s.read(out), ref.data, { rtol: 0, atol: 0 }, label);
      });
    }
  });

  it('throws a shape error naming where and the shapes', () => {
    const shapes = [[2, 3], [4, 3], [3]];
    const arrays = shapes.map((shape) => ({ buffer: rt.alloc(numel(shape) * 4), shape }));
    try {
      expect(() => where(rt, arrays[0], arrays[1], arrays[2])).toThrow(errorRe(['where'], [2, 3], [4, 3]));
    } finally {
      for (const a of arrays) rt.release(a.buffer);
    }
  });
});

describe('buffers', () => {
  it('every buffer the tests and kernels allocated is back in the pool', async () => {
    await rt.sync();
    expect(rt.stats().buffersInUse).toBe(buffersAtStart);
  });
});
