/**
 * adamUpdate (Adam with L2 weight decay, and AdamW) against a float64 implementation of PyTorch's
 * documented update, for 10 consecutive steps (step = 1..10) on a few thousand random parameters.
 *
 * Tolerance rules (per element, checked after every step). Float32 rounding errors are relative to
 * the magnitudes that flowed into an element, not to its final value (m = b1*m + (1-b1)*g cancels
 * when m and g differ in sign; p - lr*u cancels when p ~ lr*u; g + wd*p cancels under L2 decay),
 * so the reference tracks those magnitudes alongside the values (adamScales / adamStepRef):
 *   S_p = |p0| + sum_t (lr*wd*|p| + lr*|u_t|-with-S_m),  S_m = b1*S_m + (1-b1)*G,
 *   S_v = b2*S_v + (1-b2)*G^2,  G = |g| + wd*|p| (Adam) or |g| (AdamW).
 *  - params: |got - ref| <= 1e-5 * S_p + 1e-7
 *  - m:      |got - ref| <= 1e-5 * S_m + 1e-12
 *  - v:      |got - ref| <= rtol * S_v + 1e-20, rtol 1e-5 when beta2 is exactly representable in
 *            float32 (1 - 2^-10, with beta1 0.75); with beta2 = 0.999 the float32 uniform makes
 *            (1 - beta2) 1.3e-5 off (relative) when the kernel derives it on the GPU, so v gets
 *            rtol 3e-5 there (params stay at 1e-5).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { adamUpdate, emaUpdate, nonFiniteFlag, readNonFiniteFlag, rmspropUpdate, sgdUpdate, type DeviceArray, type OptimOptions, type Runtime } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import { Rng, adamScales, adamStepRef, assertClose, randomArray, randomNormalArray, withScope, type AdamHyperRef } from '../helpers/reference-elementwise';

let rt: Runtime;
let buffersAtStart = 0;
beforeAll(async () => {
  rt = await initNode();
  await rt.sync();
  buffersAtStart = rt.stats().buffersInUse;
});

interface Config {
  name: string;
  n: number;
  hyper: Omit<AdamHyperRef, 'step'>;
  /** rtol for m and v */
  stateRtol: { m: number; v: number };
}

const CONFIGS: Config[] = [
  {
    name: 'Adam (GAN betas 0.5/0.999, no weight decay)',
    n: 4_099,
    hyper: { lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false },
    stateRtol: { m: 1e-5, v: 3e-5 },
  },
  {
    name: 'Adam with L2 weight decay 0.01 (default betas 0.9/0.999)',
    n: 3_001,
    hyper: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, decoupled: false },
    stateRtol: { m: 1e-5, v: 3e-5 },
  },
  {
    name: 'AdamW (decoupled weight decay 0.1)',
    n: 5_003,
    hyper: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, decoupled: true },
    stateRtol: { m: 1e-5, v: 3e-5 },
  },
  {
    name: 'AdamW with float32-exact betas 0.75 / 1-2^-10, lr 1e-2, wd 0.05, eps 1e-6',
    n: 2_053,
    hyper: { lr: 1e-2, beta1: 0.75, beta2: 1 - 2 ** -10, eps: 1e-6, weightDecay: 0.05, decoupled: true },
    stateRtol: { m: 1e-5, v: 1e-5 },
  },
  {
    name: 'Adam with float32-exact betas and L2 weight decay 0.5',
    n: 1_031,
    hyper: { lr: 5e-2, beta1: 0.75, beta2: 1 - 2 ** -10, eps: 1e-6, weightDecay: 0.5, decoupled: false },
    stateRtol: { m: 1e-5, v: 1e-5 },
  },
];

const STEPS = 10;

describe('adamUpdate', () => {
  // Each configuration twice: an odd size (one element per invocation) and the size rounded down
  // to a multiple of 4 (four elements per invocation, the path the optimizers take).
  CONFIGS.flatMap((cfg) => [cfg, { ...cfg, n: cfg.n - (cfg.n % 4) }]).forEach((cfg, k) => {
    it(`${cfg.name}: ${STEPS} steps on ${cfg.n} params match the float64 reference`, async () => {
      const rng = new Rng(10_000 + k);
      const p0 = randomNormalArray(rng, cfg.n, 1);
      // Some parameters exactly 0 and some huge/tiny, so weight decay and eps both matter.
      for (let i = 0; i < cfg.n; i += 97) p0[i] = 0;
      for (let i = 5; i < cfg.n; i += 101) p0[i] = rng.pick([50, -50, 1e-4, -1e-4]);
      const refP = Float64Array.from(p0);
      const refM = new Float64Array(cfg.n);
      const refV = new Float64Array(cfg.n);
      const scales = adamScales(p0);
      await withScope(rt, async (s) => {
        const p = s.up(p0, [cfg.n]);
        const m = s.up(new Float32Array(cfg.n), [cfg.n]);
        const v = s.up(new Float32Array(cfg.n), [cfg.n]);
        for (let step = 1; step <= STEPS; step++) {
          // Gradients at very different scales (1e-6 .. 10), some exactly zero.
          const g = Float32Array.from({ length: cfg.n }, (_, i) => (i % 89 === 0 ? 0 : rng.normal() * 10 ** rng.int(-6, 1)));
          await withScope(rt, async (gs) => {
            const gd = gs.up(g, [cfg.n]);
            const h = { ...cfg.hyper, step };
            const ret = adamUpdate(rt, p, gd, m, v, h);
            expect(ret).toBeUndefined();
            adamStepRef(refP, g, refM, refV, h, scales);
            // The gradient buffer is an input: it must not change.
            assertClose(await gs.read(gd), g, { rtol: 0, atol: 0 }, `${cfg.name} step ${step} grads`);
          });
          const label = `${cfg.name} n=${cfg.n} step ${step}`;
          assertClose(await s.read(p), refP, { rtol: 1e-5, atol: 1e-7 }, `${label} params`, scales.p);
          assertClose(await s.read(m), refM, { rtol: cfg.stateRtol.m, atol: 1e-12 }, `${label} m`, scales.m);
          assertClose(await s.read(v), refV, { rtol: cfg.stateRtol.v, atol: 1e-20 }, `${label} v`, scales.v);
        }
        // The parameters really moved (a no-op kernel could not pass the checks above).
        const got = await s.read(p);
        let moved = 0;
        for (let i = 0; i < cfg.n; i++) if (got[i] !== p0[i]) moved++;
        expect(moved).toBeGreaterThan(cfg.n * 0.9);
      });
    });
  });

  it('AdamW and Adam differ when weightDecay > 0 (decoupled flag is honoured)', async () => {
    const n = 257;
    const rng = new Rng(10_100);
    const p0 = randomArray(rng, n, -3, 3);
    const g = randomArray(rng, n, -1, 1);
    const results: Float32Array[] = [];
    for (const decoupled of [false, true]) {
      await withScope(rt, async (s) => {
        const p = s.up(p0, [n]);
        const m = s.up(new Float32Array(n), [n]);
        const v = s.up(new Float32Array(n), [n]);
        const h = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.5, decoupled, step: 1 };
        adamUpdate(rt, p, s.up(g, [n]), m, v, h);
        const refP = Float64Array.from(p0);
        const scales = adamScales(p0);
        adamStepRef(refP, g, new Float64Array(n), new Float64Array(n), h, scales);
        const got = (await s.read(p)) as Float32Array;
        assertClose(got, refP, { rtol: 1e-5, atol: 1e-7 }, `decoupled=${decoupled} params`, scales.p);
        results.push(got);
      });
    }
    let differ = 0;
    for (let i = 0; i < n; i++) if (results[0][i] !== results[1][i]) differ++;
    expect(differ).toBeGreaterThan(n / 2);
  });
});

describe('emaUpdate', () => {
  // avg ← d·avg + (1−d)·x: two products and a sum per element, each rounded once in float32, so
  // |got − ref| ≤ 1e-6·(d·|avg| + (1−d)·|x|) + 1e-12 per step; a range touches nothing outside it.
  it.each([1, 255, 256, 1000, 4099])('%i elements, 5 steps at decay 0.9 and a partial range', async (n) => {
    const rng = new Rng(900 + n);
    const avg0 = randomArray(rng, n, -2, 2);
    await withScope(rt, async (s) => {
      const avg = s.up(avg0, [n]);
      const ref = Float64Array.from(avg0);
      const scale = new Float64Array(n).fill(0);
      for (let step = 0; step < 5; step++) {
        const x = randomArray(rng, n, -2, 2);
        emaUpdate(rt, avg, s.up(x, [n]), 0.9);
        for (let i = 0; i < n; i++) {
          scale[i] = 0.9 * Math.abs(ref[i]) + 0.1 * Math.abs(x[i]) + 0.9 * scale[i];
          ref[i] = 0.9 * ref[i] + 0.1 * x[i];
        }
      }
      const got = (await s.read(avg)) as Float32Array;
      for (let i = 0; i < n; i++) expect(Math.abs(got[i] - ref[i]), `element ${i}`).toBeLessThanOrEqual(1e-6 * scale[i] + 1e-12);
      const offset = Math.floor(n / 3);
      const count = n - 2 * offset;
      const ones = new Float32Array(n).fill(1);
      emaUpdate(rt, avg, s.up(ones, [n]), 0, { range: { offset, count } });
      const after = (await s.read(avg)) as Float32Array;
      for (let i = 0; i < n; i++) expect(after[i], `element ${i}`).toBe(i >= offset && i < offset + count ? 1 : got[i]);
    });
  });
  it('rejects a decay outside [0, 1] and mismatched sizes', async () => {
    await withScope(rt, async (s) => {
      const a = s.up(new Float32Array(4), [4]);
      expect(() => emaUpdate(rt, a, s.up(new Float32Array(4), [4]), 1.5)).toThrow(/decay must be in \[0, 1\], got 1.5/);
      expect(() => emaUpdate(rt, a, s.up(new Float32Array(5), [5]), 0.5)).toThrow(/value \[5\] does not match params \(4 elements\)/);
    });
  });
});

describe('non-finite marks inside the updates', () => {
  // Each update, given a flag, marks it when a gradient in its range is NaN or ±Inf, and updates
  // exactly as it does without one.
  const updates: [string, (p: DeviceArray, g: DeviceArray, state: DeviceArray[], options: OptimOptions) => void][] = [
    ['adam', (p, g, [m, v], o) => adamUpdate(rt, p, g, m, v, { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, step: 1 }, o)],
    ['sgd', (p, g, [b], o) => sgdUpdate(rt, p, g, b, { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, firstStep: true }, o)],
    ['rmsprop', (p, g, [sq, avg, b], o) => rmspropUpdate(rt, p, g, sq, avg, b, { lr: 0.1, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0.5, centered: true }, o)],
  ];
  // An unaligned range (one element per invocation) and an aligned one (four per invocation), with
  // NaN and infinities planted just outside and at both ends inside.
  const ranges = [
    { offset: 100, count: 150 },
    { offset: 100, count: 152 },
  ];
  it.each(updates.flatMap(([name, update]) => ranges.map((range) => [`${name}, range ${range.offset} + ${range.count}`, update, range] as const)))('%s', async (_, update, range) => {
    const n = 300;
    const end = range.offset + range.count;
    const rng = new Rng(31);
    const p0 = randomArray(rng, n, -1, 1);
    const g0 = randomArray(rng, n, -1, 1);
    await withScope(rt, async (s) => {
      const run = async (grads: Float32Array, options: OptimOptions) => {
        const p = s.up(p0, [n]);
        update(p, s.up(grads, [n]), [0, 1, 2].map(() => s.up(new Float32Array(n), [n])), options);
        return (await s.read(p)) as Float32Array;
      };
      const plain = await run(g0, { range });
      const flag = nonFiniteFlag(rt);
      try {
        expect(await run(g0, { range, nonFinite: { flag, step: 5, what: 4 } })).toEqual(plain);
        expect(await readNonFiniteFlag(rt, flag)).toBeNull();
        const outside = Float32Array.from(g0);
        outside[range.offset - 1] = NaN;
        outside[end] = Infinity;
        await run(outside, { range, nonFinite: { flag, step: 6, what: 4 } });
        expect(await readNonFiniteFlag(rt, flag)).toBeNull();
        const inside = Float32Array.from(g0);
        inside[end - 1] = -Infinity;
        await run(inside, { range, nonFinite: { flag, step: 7, what: 4 } });
        inside[end - 1] = g0[end - 1];
        inside[range.offset] = NaN;
        await run(inside, { range, nonFinite: { flag, step: 8, what: 16 } });
        expect(await readNonFiniteFlag(rt, flag)).toEqual({ step: 7, what: 4 | 16 });
        await expect(run(g0, { range, nonFinite: { flag, step: -1, what: 4 } })).rejects.toThrow(/step must be an integer in \[0, 2147483647\), got -1/);
      } finally {
        rt.release(flag.buffer);
      }
    });
  });
});

describe('buffers', () => {
  it('every buffer the tests and kernels allocated is back in the pool', async () => {
    await rt.sync();
    expect(rt.stats().buffersInUse).toBe(buffersAtStart);
  });
});
