/**
 * BCE with logits, forward and backward, against float64 references, incl. extreme logits.
 *
 * Tolerance rules (per element):
 *  - forward  loss = max(x,0) - x*t + log1p(exp(-|x|)):
 *      |got - ref| <= 1e-5 * |ref| + 2.5e-7 * (|max(x,0)| + |x*t|) + 1e-6
 *    (the middle term, ~4 ulp of the two large terms that cancel, allows their float32 rounding,
 *    e.g. x = 1e4, t = 0.3: 0.0025 there, 2e-5 at |x| = 80, far below any naive-formula failure).
 *  - backward grad = dy * (sigmoid(x) - t):
 *      |got - ref| <= 1e-5 * |ref| + 1e-6 * |dy| + 1e-7
 * Every result must be finite, including at x = +-80 and +-1e4 where naive formulas give inf/NaN.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { bceWithLogits, bceWithLogitsBackward, type Runtime } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import {
  Rng, assertClose, assertShape, bceWithLogitsBackwardRef, bceWithLogitsRef, fmtShape, numel, randomArray, shapeSuite, withScope,
} from '../helpers/reference-elementwise';

let rt: Runtime;
let buffersAtStart = 0;
beforeAll(async () => {
  rt = await initNode();
  await rt.sync();
  buffersAtStart = rt.stats().buffersInUse;
});

const EXTREME_LOGITS = [80, -80, 1e4, -1e4, 0, 20, -20, 88.7, -88.7, 1e-6, -1e-6, 40, -40];
const SPECIAL_TARGETS = [0, 1, 0.5, 0.3, 1, 0, 0.9, 0.1];

/** Logits: N(0, 4^2) mixed with extreme values; targets: U[0,1) mixed with hard 0/1 labels. */
function makeInputs(rng: Rng, n: number): { x: Float32Array; t: Float32Array; dy: Float32Array } {
  const x = Float32Array.from({ length: n }, () => rng.normal() * 4);
  const t = randomArray(rng, n, 0, 1);
  for (let i = 0; i < n; i++) {
    if (rng.bool(0.3)) t[i] = rng.bool() ? 1 : 0;
    if (rng.bool(0.1)) x[i] = rng.pick(EXTREME_LOGITS);
  }
  // The first elements cover every extreme logit with hard and soft targets, even for tiny shapes.
  for (let i = 0; i < Math.min(n, 2 * EXTREME_LOGITS.length); i++) {
    x[i] = EXTREME_LOGITS[i % EXTREME_LOGITS.length];
    t[i] = SPECIAL_TARGETS[i % SPECIAL_TARGETS.length];
  }
  const dy = randomArray(rng, n, -2, 2);
  return { x, t, dy };
}

function assertFinite(got: ArrayLike<number>, label: string): void {
  for (let i = 0; i < got.length; i++) {
    if (!Number.isFinite(got[i])) throw new Error(`${label}: element ${i} is ${got[i]}`);
  }
}

/** Shapes per direction (forward 26 + backward 26); each compiles a new pipeline (~60 ms on lavapipe). */
const SHAPES = 25;

describe('bceWithLogits', () => {
  it(`forward matches the float64 reference on ${SHAPES + 1} shapes incl. extreme logits`, async () => {
    const rng = new Rng(9000);
    for (const shape of shapeSuite(rng, SHAPES, { large: 1 })) {
      await withScope(rt, async (s) => {
        const { x, t } = makeInputs(rng, numel(shape));
        const out = s.keep(bceWithLogits(rt, s.up(x, shape), s.up(t, shape)));
        const label = `bceWithLogits ${fmtShape(shape)}`;
        assertShape(out.shape, shape, label);
        const got = await s.read(out);
        assertFinite(got, label);
        const ref = bceWithLogitsRef(x, t);
        const scale = Float64Array.from(ref, (r, i) => Math.abs(r) + 0.025 * (Math.max(x[i], 0) + Math.abs(x[i] * t[i])));
        // rtol 1e-5 on scale |ref| + 0.025*(...)  ==  1e-5*|ref| + 2.5e-7*(...), i.e. about 2^-22*(...) as documented
        assertClose(got, ref, { rtol: 1e-5, atol: 1e-6 }, label, scale);
      });
    }
  });

  it('backward matches the float64 reference on the same kind of inputs', async () => {
    const rng = new Rng(9100);
    for (const shape of shapeSuite(rng, SHAPES, { large: 1 })) {
      await withScope(rt, async (s) => {
        const { x, t, dy } = makeInputs(rng, numel(shape));
        const dx = s.keep(bceWithLogitsBackward(rt, s.up(dy, shape), s.up(x, shape), s.up(t, shape)));
        const label = `bceWithLogitsBackward ${fmtShape(shape)}`;
        assertShape(dx.shape, shape, label);
        const got = await s.read(dx);
        assertFinite(got, label);
        const ref = bceWithLogitsBackwardRef(dy, x, t);
        const scale = Float64Array.from(ref, (r, i) => Math.abs(r) + 0.1 * Math.abs(dy[i]));
        // rtol 1e-5 on |ref| + 0.1|dy|  ==  1e-5*|ref| + 1e-6*|dy|, atol 1e-7
        assertClose(got, ref, { rtol: 1e-5, atol: 1e-7 }, label, scale);
      });
    }
  });

  it('gives the exact limits at extreme logits', async () => {
    await withScope(rt, async (s) => {
      // x:  1e4 with t=1 -> loss 0, grad 0;  -1e4 with t=0 -> loss 0, grad 0;
      //     1e4 with t=0 -> loss 1e4, grad dy;  -1e4 with t=1 -> loss 1e4, grad -dy;
      //     80 with t=0 -> 80 (log1p(e^-80) is below f32 resolution); -80 with t=1 -> 80.
      const x = [1e4, -1e4, 1e4, -1e4, 80, -80];
      const t = [1, 0, 0, 1, 0, 1];
      const xd = s.up(x, [6]);
      const td = s.up(t, [6]);
      expect(Array.from(await s.read(s.keep(bceWithLogits(rt, xd, td))))).toEqual([0, 0, 1e4, 1e4, 80, 80]);
      const dy = s.up([2, 2, 2, 2, 1, 1], [6]);
      const grad = Array.from(await s.read(s.keep(bceWithLogitsBackward(rt, dy, xd, td))));
      expect(grad.slice(0, 4)).toEqual([0, 0, 2, -2]);
      expect(grad[4]).toBeCloseTo(1, 6);
      expect(grad[5]).toBeCloseTo(-1, 6);
    });
  });
});

describe('buffers', () => {
  it('every buffer the tests and kernels allocated is back in the pool', async () => {
    await rt.sync();
    expect(rt.stats().buffersInUse).toBe(buffersAtStart);
  });
});
