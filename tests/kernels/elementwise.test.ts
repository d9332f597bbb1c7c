/**
 * Element-wise kernels (unary, activationBackward, scalarOp, clamp) against float64 references.
 *
 * Tolerance rule (per element): |got - ref| <= rtol * scale + atol, scale = |ref| unless stated.
 *  - exact (rtol 0, atol 0): neg, abs, sign, floor, step, relu, leaky_relu fwd with slope 0.5
 *    (power of two), relu backward, max/min, clamp.
 *  - one correctly rounded f32 operation: rtol 1e-6 (about 16 ulp of slack), atol 1e-30 (FTZ):
 *    square, reciprocal, rdiv/div/mul scalar, leaky_relu (slope not a power of two).
 *  - add / rsub scalar: rtol 1e-6 against scale |x| + |s| (cancellation: the error is relative to the operands).
 *  - sqrt, rsqrt, exp: rtol 1e-5, atol 1e-30.
 *  - log: rtol 1e-5, atol 1e-6 (absolute error near x = 1, where log(x) -> 0).
 *  - sin, cos: rtol 1e-5, atol 2e-6 on [-2pi, 2pi] (absolute error near the zeros).
 *  - tanh, sigmoid, softplus, log_sigmoid: rtol 1e-5, atol 1e-6, inputs incl. +-30 and +-90 where
 *    naive formulas overflow (result must stay finite and accurate).
 *  - pow scalar: rtol 1e-5 (pow = exp2(s * log2 x) loses |s log2 x| ulp), x > 0.
 *  - tanh / sigmoid backward (from y): rtol 1e-6 against scale |ref| + |dy| (1 - y^2 cancels as y -> 1).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { activationBackward, clamp, scalarOp, unary, type Runtime } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import {
  Rng, activationBackwardRef, assertClose, assertShape, clampRef, fmtShape, numel, randomArray, scalarRef, shapeSuite,
  unaryRef, withScope, type ActivationName, type ScalarOpName, type Tol, type UnaryOpName,
} from '../helpers/reference-elementwise';

let rt: Runtime;
let buffersAtStart = 0;
beforeAll(async () => {
  rt = await initNode();
  await rt.sync();
  buffersAtStart = rt.stats().buffersInUse;
});

const EXACT: Tol = { rtol: 0, atol: 0 };
const ROUNDED: Tol = { rtol: 1e-6, atol: 1e-30 };

/** Mix special values into the first elements (so even tiny shapes see them) and at random places. */
function withSpecials(rng: Rng, x: Float32Array, specials: readonly number[]): Float32Array {
  if (specials.length === 0) return x;
  for (let i = 0; i < Math.min(x.length, specials.length); i++) x[i] = specials[i];
  for (let k = 0; k < Math.floor(x.length / 16); k++) x[rng.int(0, x.length - 1)] = rng.pick(specials);
  return x;
}

function logUniform(rng: Rng, n: number, lo: number, hi: number, signed = false): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = Math.exp(rng.uniform(Math.log(lo), Math.log(hi)));
    out[i] = signed && rng.bool() ? -v : v;
  }
  return out;
}

interface UnaryCase {
  gen: (rng: Rng, n: number) => Float32Array;
  tol: Tol;
}
const STABLE_SPECIALS = [0, -0, 1, -1, 30, -30, 90, -90, 17.5, -17.5, 1e-7, -1e-7];
const general = (specials: number[] = [0, 1, -1, 2.5, -2.5, 3, -3, 0.5, -0.5]) => (rng: Rng, n: number) =>
  withSpecials(rng, randomArray(rng, n, -10, 10), specials);

const UNARY: Record<UnaryOpName, UnaryCase> = {
  neg: { gen: general(), tol: EXACT },
  abs: { gen: general(), tol: EXACT },
  sign: { gen: general(), tol: EXACT },
  floor: { gen: general([0, 1, -1, 2.5, -2.5, 3, -3, 0.5, -0.5, -1e-7, 1e-7, 0.9999999]), tol: EXACT },
  step: { gen: general([0, -0, 1e-30, -1e-30, 1, -1]), tol: EXACT },
  relu: { gen: general([0, -0, 1e-30, -1e-30]), tol: EXACT },
  leaky_relu: { gen: general([0, 1e-30, -1e-30]), tol: ROUNDED },
  square: { gen: general(), tol: ROUNDED },
  reciprocal: { gen: (rng, n) => withSpecials(rng, logUniform(rng, n, 1e-3, 1e3, true), [1, -1, 3, -7]), tol: ROUNDED },
  exp: { gen: (rng, n) => withSpecials(rng, randomArray(rng, n, -20, 20), [0, 1, -1, 20, -20]), tol: { rtol: 1e-5, atol: 1e-30 } },
  log: { gen: (rng, n) => withSpecials(rng, logUniform(rng, n, 1e-4, 1e4), [1, 2, 0.5, 1.0001, 0.9999, 1e-4]), tol: { rtol: 1e-5, atol: 1e-6 } },
  sqrt: { gen: (rng, n) => withSpecials(rng, logUniform(rng, n, 1e-4, 1e4), [0, 1, 4, 2, 1e4]), tol: { rtol: 1e-5, atol: 1e-30 } },
  rsqrt: { gen: (rng, n) => withSpecials(rng, logUniform(rng, n, 1e-4, 1e4), [1, 4, 0.25, 1e4]), tol: { rtol: 1e-5, atol: 1e-30 } },
  sin: { gen: (rng, n) => withSpecials(rng, randomArray(rng, n, -2 * Math.PI, 2 * Math.PI), [0, 1, -1, 3.1415927, -1.5707964]), tol: { rtol: 1e-5, atol: 2e-6 } },
  cos: { gen: (rng, n) => withSpecials(rng, randomArray(rng, n, -2 * Math.PI, 2 * Math.PI), [0, 1, -1, 3.1415927, -1.5707964]), tol: { rtol: 1e-5, atol: 2e-6 } },
  tanh: { gen: general(STABLE_SPECIALS), tol: { rtol: 1e-5, atol: 1e-6 } },
  sigmoid: { gen: general(STABLE_SPECIALS), tol: { rtol: 1e-5, atol: 1e-6 } },
  softplus: { gen: general(STABLE_SPECIALS), tol: { rtol: 1e-5, atol: 1e-6 } },
  log_sigmoid: { gen: general(STABLE_SPECIALS), tol: { rtol: 1e-5, atol: 1e-6 } },
};

const UNARY_OPS = Object.keys(UNARY) as UnaryOpName[];
/**
 * Random shapes per unary op (ranks cycle 0..5 with an offset per op, prime / 1-sized dims); every
 * fourth op also gets a 100003-element 1-D shape. Every new shape compiles a new pipeline (~60 ms
 * on lavapipe), which is what bounds these counts.
 */
const SHAPES_PER_UNARY_OP = 3;

describe('unary', () => {
  UNARY_OPS.forEach((op, k) => {
    it(`${op} matches the float64 reference`, async () => {
      const rng = new Rng(1000 + k);
      const shapes = shapeSuite(rng, SHAPES_PER_UNARY_OP, { large: k % 4 === 0 ? 1 : 0, rankOffset: k });
      for (const shape of shapes) {
        await withScope(rt, async (s) => {
          const x = UNARY[op].gen(rng, numel(shape));
          const y = s.keep(unary(rt, op, s.up(x, shape)));
          const label = `unary ${op} ${fmtShape(shape)}`;
          assertShape(y.shape, shape, label);
          expect(y.dtype ?? 'float32').toBe('float32');
          assertClose(await s.read(y), unaryRef(op, x), UNARY[op].tol, label);
        });
      }
    });
  });

  it('leaky_relu uses the slope option (default 0.01)', async () => {
    const rng = new Rng(77);
    for (const [slope, shape] of [[0.5, [7, 13]], [0.2, [3, 1, 5, 2]], [undefined, [101]], [1e-3, [2, 3]]] as const) {
      await withScope(rt, async (s) => {
        const x = general([0, -1, 1])(rng, numel(shape));
        const y = s.keep(unary(rt, 'leaky_relu', s.up(x, shape), slope === undefined ? undefined : { slope }));
        const tol = slope === 0.5 ? EXACT : ROUNDED;
        assertClose(await s.read(y), unaryRef('leaky_relu', x, slope ?? 0.01), tol, `leaky_relu slope ${slope} ${fmtShape(shape)}`);
      });
    }
  });

  it('covers more than 65535 workgroups (2-D dispatch grid): neg and sigmoid on 16,777,259 elements', async () => {
    const n = 16_777_259; // > 65535 * 256
    const rng = new Rng(6);
    const x = randomArray(rng, n, -10, 10);
    await withScope(rt, async (s) => {
      const xd = s.up(x, [n]);
      const neg = await s.read(s.keep(unary(rt, 'neg', xd)));
      for (let i = 0; i < n; i++) if (neg[i] !== -x[i]) throw new Error(`unary neg [${n}]: [${i}] got ${neg[i]}, expected ${-x[i]}`);
      // sigmoid spot-checked (rtol 1e-5, atol 1e-6) at the ends and 20000 random places.
      const sig = await s.read(s.keep(unary(rt, 'sigmoid', xd)));
      const idx = [0, 1, n - 2, n - 1, ...Array.from({ length: 20_000 }, () => rng.int(0, n - 1))];
      assertClose(idx.map((i) => sig[i]), unaryRef('sigmoid', idx.map((i) => x[i])), { rtol: 1e-5, atol: 1e-6 }, `unary sigmoid [${n}] (sampled)`);
    });
  });

  it('does not modify its input', async () => {
    await withScope(rt, async (s) => {
      const x = randomArray(new Rng(5), 1031, -3, 3);
      const xa = s.up(x, [1031]);
      s.keep(unary(rt, 'exp', xa));
      s.keep(unary(rt, 'neg', xa));
      assertClose(await s.read(xa), x, EXACT, 'unary input after exp/neg');
    });
  });
});

describe('activationBackward', () => {
  const OPS: ActivationName[] = ['relu', 'leaky_relu', 'tanh', 'sigmoid'];
  const SHAPES_PER_OP = 5;

  OPS.forEach((op, k) => {
    it(`${op} backward matches the float64 reference (${SHAPES_PER_OP} shapes)`, async () => {
      const rng = new Rng(2000 + k);
      const shapes = shapeSuite(rng, SHAPES_PER_OP, { large: k % 2, rankOffset: k });
      for (const [j, shape] of shapes.entries()) {
        await withScope(rt, async (s) => {
          const n = numel(shape);
          const x = withSpecials(rng, randomArray(rng, n, -8, 8), [0, -0, 1e-30, -1e-30, 20, -20]);
          // tanh / sigmoid take the forward OUTPUT y (as the float32 the forward kernel would store).
          const xOrY = op === 'tanh' || op === 'sigmoid' ? Float32Array.from(unaryRef(op, x)) : x;
          const dy = randomArray(rng, n, -2, 2);
          const slope = op === 'leaky_relu' && j % 2 === 1 ? 0.2 : undefined;
          const dx = s.keep(activationBackward(rt, op, s.up(dy, shape), s.up(xOrY, shape), slope === undefined ? undefined : { slope }));
          const label = `activationBackward ${op}${slope ? ` slope ${slope}` : ''} ${fmtShape(shape)}`;
          assertShape(dx.shape, shape, label);
          const ref = activationBackwardRef(op, dy, xOrY, slope ?? 0.01);
          const got = await s.read(dx);
          if (op === 'relu') assertClose(got, ref, EXACT, label);
          else if (op === 'leaky_relu') assertClose(got, ref, ROUNDED, label);
          else assertClose(got, ref, { rtol: 1e-6, atol: 1e-30 }, label, Float64Array.from(ref, (r, i) => Math.abs(r) + Math.abs(dy[i])));
        });
      }
    });
  });
});

describe('scalarOp', () => {
  const CASES: { op: ScalarOpName; scalars: number[]; gen: (rng: Rng, n: number) => Float32Array; tol: Tol; operandScale?: boolean }[] = [
    { op: 'add', scalars: [2.5, -7.25, 0.1, 0], gen: general(), tol: { rtol: 1e-6, atol: 0 }, operandScale: true },
    { op: 'rsub', scalars: [1, -3.5, 0.1], gen: general(), tol: { rtol: 1e-6, atol: 0 }, operandScale: true },
    { op: 'mul', scalars: [-3.5, 0.1, 0, 1e-3], gen: general(), tol: ROUNDED },
    { op: 'div', scalars: [-4, 0.3, 7], gen: general(), tol: ROUNDED },
    { op: 'rdiv', scalars: [1, -2.5, 0.3], gen: (rng, n) => logUniform(rng, n, 1e-2, 1e2, true), tol: ROUNDED },
    { op: 'pow', scalars: [2, 0.5, -1.5, 3, 1, 0], gen: (rng, n) => withSpecials(rng, logUniform(rng, n, 1e-2, 10), [1, 2, 0.5]), tol: { rtol: 1e-5, atol: 1e-30 } },
    { op: 'max', scalars: [0.3, -1, 0], gen: general([0.3, -1, 0, 0.30000001]), tol: EXACT },
    { op: 'min', scalars: [0.3, -1, 0], gen: general([0.3, -1, 0, 0.30000001]), tol: EXACT },
  ];
  /** Shapes per op; every shape is run with every scalar (a uniform: no new pipeline). */
  const SHAPES_PER_OP = 3;

  CASES.forEach(({ op, scalars, gen, tol, operandScale }, k) => {
    it(`${op} matches the float64 reference (${SHAPES_PER_OP} shapes x scalars ${scalars.join(', ')})`, async () => {
      const rng = new Rng(3000 + k);
      const shapes = shapeSuite(rng, SHAPES_PER_OP, { large: k % 4 === 0 ? 1 : 0, rankOffset: k });
      for (const shape of shapes) {
        await withScope(rt, async (s) => {
          const x = gen(rng, numel(shape));
          const xd = s.up(x, shape);
          for (const value of scalars) {
            // The kernel sees the scalar as a float32 uniform; the reference uses the same value.
            const scalar = Math.fround(value);
            const y = s.keep(scalarOp(rt, op, xd, value));
            const label = `scalarOp ${op} ${scalar} ${fmtShape(shape)}`;
            assertShape(y.shape, shape, label);
            const ref = scalarRef(op, x, scalar);
            const scale = operandScale ? Float64Array.from(x, (v) => Math.abs(v) + Math.abs(scalar)) : undefined;
            assertClose(await s.read(y), ref, tol, label, scale);
          }
        });
      }
    });
  });
});

describe('clamp', () => {
  it('matches the reference for random bounds (exact)', async () => {
    const rng = new Rng(4000);
    for (const shape of shapeSuite(rng, 6, { large: 1 })) {
      await withScope(rt, async (s) => {
        const bounds = Array.from({ length: 3 }, () => {
          const lo = Math.fround(rng.uniform(-5, 1));
          return [lo, Math.fround(lo + rng.uniform(0, 6))] as const;
        });
        bounds.push([0, 0]);
        const x = general(bounds.flat())(rng, numel(shape));
        const xd = s.up(x, shape);
        for (const [lo, hi] of bounds) {
          const y = s.keep(clamp(rt, xd, lo, hi));
          const label = `clamp [${lo}, ${hi}] ${fmtShape(shape)}`;
          assertShape(y.shape, shape, label);
          assertClose(await s.read(y), clampRef(x, lo, hi), EXACT, label);
        }
      });
    }
  });
});

describe('buffers', () => {
  it('every buffer the tests and kernels allocated is back in the pool', async () => {
    await rt.sync();
    expect(rt.stats().buffersInUse).toBe(buffersAtStart);
  });
});
