/**
 * batchNormTrain (y, batch mean, invstd and the in-place running-stat update), batchNormEval and
 * batchNormBackward against the float64 references (tests/helpers/reference.ts).
 *
 * Tolerance rule: each output tensor o is compared element-wise with
 *     |got - ref| <= F * scale(o),   F = 1e-4
 * where scale(o) = max|ref_o| over the whole output, except where that maximum can be much smaller
 * than the terms that were rounded to get it:
 *   - mean and runningMean:  max|ref_o| + max|x|            (a mean near 0 of values near 3)
 *   - dx:                    max |gamma*invstd| * (|dy| + mean|dy| + |xhat| mean|dy*xhat|)
 *                            (dx cancels to ~0, e.g. exactly 0 when there are 2 values per channel)
 *   - dgamma, dbeta:         max_c sum |dy*xhat|, max_c sum |dy|  (sums that cancel)
 * Inputs are per-channel offset + scale * N(0,1) with |offset| <= 2, scale in [0.5, 2], so
 * F = 1e-4 covers float32 sums over up to ~16k values per channel. A separate test with an offset
 * of 100 and scale 0.5 uses F = 1e-3 and checks the variance is not computed as E[x^2] - E[x]^2.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  batchNormBackward,
  batchNormEval,
  batchNormTrain,
  fromArray,
  toArray,
  type DeviceArray,
  type Runtime,
} from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import {
  Rng,
  batchNormBackwardRef,
  batchNormEvalRef,
  batchNormTrainRef,
  expectClose,
  f64,
  fmtShape,
  maxAbs,
  product,
  randomData,
  randomDim,
} from '../helpers/reference';

const F = 1e-4;
const SEED = 0xba7c4;
const MAX_ELEMENTS = 60_000;

let rt: Runtime;
beforeAll(async () => {
  rt = await initNode();
});

const up = (data: Float32Array, shape: number[]): DeviceArray => fromArray(rt, data, shape);
const down = async (a: DeviceArray): Promise<Float32Array> => (await toArray(rt, a)) as Float32Array;

interface BnOpts {
  momentum?: number;
  eps?: number;
}
interface BnCase {
  label: string;
  shape: number[];
  opts?: BnOpts;
  /** per channel: x = offset + scale * N(0,1) */
  offset: [number, number];
  scale: [number, number];
}

const OPTION_SETS: (BnOpts | undefined)[] = [
  undefined, // defaults: momentum 0.1, eps 1e-5
  { momentum: 0.3 },
  { momentum: 1 },
  { eps: 1e-3 },
  { momentum: 0.05, eps: 1e-2 },
  { momentum: 0.1, eps: 1e-5 },
];

function withLabel(c: Omit<BnCase, 'label'>, prefix: string): BnCase {
  const count = c.shape[0] * (c.shape.length === 4 ? c.shape[2] * c.shape[3] : 1);
  const o = c.opts ? ` momentum=${c.opts.momentum ?? 'dflt'} eps=${c.opts.eps ?? 'dflt'}` : ' default opts';
  return { ...c, label: `${prefix} x${fmtShape(c.shape)} (${count} per channel)${o}` };
}

function randomCases(seed: number, count: number): BnCase[] {
  const rng = new Rng(seed);
  const cases: BnCase[] = [];
  while (cases.length < count) {
    const shape = rng.bool(0.3)
      ? [randomDim(rng, 257), randomDim(rng, 129)]
      : [rng.pick([1, 2, 3, 4, 5, 7, 8, 16]), randomDim(rng, 33), randomDim(rng, 33), randomDim(rng, 33)];
    const perChannel = shape[0] * (shape.length === 4 ? shape[2] * shape[3] : 1);
    if (perChannel < 2) continue; // training needs 2 values per channel (PyTorch raises too)
    if (product(shape) > MAX_ELEMENTS) continue;
    cases.push(withLabel({ shape, opts: rng.pick(OPTION_SETS), offset: [-2, 2], scale: [0.5, 2] }, `#${cases.length}`));
  }
  return cases;
}

const FIXED_CASES: BnCase[] = [
  { shape: [2, 1] }, // 2 values, 1 channel
  { shape: [2, 257] }, // 2 values per channel, many channels
  { shape: [3, 1, 1, 1] },
  { shape: [1, 5, 1, 2] }, // batch 1, 2 spatial values
  { shape: [1, 2, 127, 129] }, // batch 1, 16383 values per channel
  { shape: [64, 3, 16, 16] }, // 16384 values per channel
  { shape: [4096, 3] }, // long 2-D
  { shape: [33, 65] },
  { shape: [5, 7, 13, 1] },
].map((c, i) => withLabel({ ...c, offset: [-2, 2], scale: [0.5, 2], opts: OPTION_SETS[i % OPTION_SETS.length] }, `fixed#${i}`));

const RANDOM_CASES = randomCases(SEED, 52);

function channelData(rng: Rng, shape: number[], offset: [number, number], scale: [number, number]): Float32Array {
  const C = shape[1];
  const HW = shape.length === 4 ? shape[2] * shape[3] : 1;
  const off = Array.from({ length: C }, () => rng.float(offset[0], offset[1]));
  const sc = Array.from({ length: C }, () => rng.float(scale[0], scale[1]));
  const out = new Float32Array(product(shape));
  for (let i = 0; i < out.length; i++) {
    const c = Math.floor(i / HW) % C;
    out[i] = off[c] + sc[c] * rng.normal();
  }
  return out;
}

const fill = (n: number, v: number) => new Float64Array(n).fill(v);

async function runCase(c: BnCase, rng: Rng, f = F): Promise<void> {
  const { shape, opts } = c;
  const C = shape[1];
  const xData = channelData(rng, shape, c.offset, c.scale);
  const gammaData = randomData(rng, C, -2, 2);
  const betaData = randomData(rng, C, -1, 1);
  const rmData = randomData(rng, C, -1, 1);
  const rvData = randomData(rng, C, 0.2, 2);
  const dyData = randomData(rng, product(shape));
  const momentum = opts?.momentum ?? 0.1;
  const eps = opts?.eps ?? 1e-5;
  const maxX = maxAbs(xData);

  const [x, gamma, beta, rm, rv, dy] = [
    up(xData, shape),
    up(gammaData, [C]),
    up(betaData, [C]),
    up(rmData, [C]),
    up(rvData, [C]),
    up(dyData, shape),
  ];
  const outs: DeviceArray[] = [];
  try {
    // ---- training forward + in-place running stats
    const train = batchNormTrain(rt, x, gamma, beta, rm, rv, opts);
    outs.push(train.y, train.mean, train.invstd);
    const ref = batchNormTrainRef(f64(xData), shape, f64(gammaData), f64(betaData), f64(rmData), f64(rvData), momentum, eps);
    expect([...train.y.shape], `${c.label}: y shape`).toEqual(shape);
    expect([...train.mean.shape], `${c.label}: mean shape`).toEqual([C]);
    expect([...train.invstd.shape], `${c.label}: invstd shape`).toEqual([C]);
    expectClose(await down(train.y), ref.y, f * maxAbs(ref.y), `${c.label}: train y`, shape);
    expectClose(await down(train.mean), ref.mean, f * (maxAbs(ref.mean) + maxX), `${c.label}: batch mean`, [C]);
    expectClose(await down(train.invstd), ref.invstd, f * maxAbs(ref.invstd), `${c.label}: invstd`, [C]);
    const rmGot = await down(rm);
    const rvGot = await down(rv);
    expectClose(rmGot, ref.runningMean, f * (maxAbs(ref.runningMean) + maxX), `${c.label}: runningMean (in place)`, [C]);
    expectClose(rvGot, ref.runningVar, f * maxAbs(ref.runningVar), `${c.label}: runningVar (in place, unbiased)`, [C]);

    // ---- eval forward, with the running stats as updated on the GPU
    const yEval = batchNormEval(rt, x, gamma, beta, rm, rv, opts?.eps !== undefined ? { eps: opts.eps } : undefined);
    outs.push(yEval);
    const evalRef = batchNormEvalRef(f64(xData), shape, f64(gammaData), f64(betaData), f64(rmGot), f64(rvGot), eps);
    expect([...yEval.shape], `${c.label}: eval y shape`).toEqual(shape);
    expectClose(await down(yEval), evalRef, f * maxAbs(evalRef), `${c.label}: eval y`, shape);

    // ---- backward, given the reference's batch statistics (rounded to float32)
    const meanF32 = Float32Array.from(ref.mean);
    const invstdF32 = Float32Array.from(ref.invstd);
    const [mean, invstd] = [up(meanF32, [C]), up(invstdF32, [C])];
    outs.push(mean, invstd);
    const bwd = batchNormBackward(rt, dy, x, gamma, mean, invstd);
    outs.push(bwd.dx, bwd.dgamma, bwd.dbeta);
    const bref = batchNormBackwardRef(f64(dyData), f64(xData), shape, f64(gammaData), f64(meanF32), f64(invstdF32));
    expect([...bwd.dx.shape], `${c.label}: dx shape`).toEqual(shape);
    expect([...bwd.dgamma.shape], `${c.label}: dgamma shape`).toEqual([C]);
    expect([...bwd.dbeta.shape], `${c.label}: dbeta shape`).toEqual([C]);
    expectClose(await down(bwd.dx), bref.dx, f * Math.max(maxAbs(bref.dx), maxAbs(bref.dxScale)), `${c.label}: dx`, shape);
    expectClose(await down(bwd.dgamma), bref.dgamma, f * Math.max(maxAbs(bref.dgamma), maxAbs(bref.dgammaAbs)), `${c.label}: dgamma`, [C]);
    expectClose(await down(bwd.dbeta), bref.dbeta, f * Math.max(maxAbs(bref.dbeta), maxAbs(bref.dbetaAbs)), `${c.label}: dbeta`, [C]);

    // ---- inputs untouched (the running stats are the only in-place outputs)
    expect(await down(x), `${c.label}: x modified`).toEqual(xData);
    expect(await down(gamma), `${c.label}: gamma modified`).toEqual(gammaData);
    expect(await down(beta), `${c.label}: beta modified`).toEqual(betaData);
    expect(await down(dy), `${c.label}: dy modified`).toEqual(dyData);
  } finally {
    for (const a of [x, gamma, beta, rm, rv, dy, ...outs]) rt.release(a.buffer);
  }
}

describe(`batchnorm train/eval/backward vs float64 reference: ${RANDOM_CASES.length} seeded random shapes (seed ${SEED})`, () => {
  RANDOM_CASES.forEach((c, i) => {
    it(c.label, async () => runCase(c, new Rng(SEED + 1000 + i)));
  });
});

describe('batchnorm edge shapes: 2 values per channel, batch 1, 16k values per channel, [N, C] input', () => {
  FIXED_CASES.forEach((c, i) => {
    it(c.label, async () => runCase(c, new Rng(SEED + 5000 + i)));
  });
});

describe('batchnorm numerics', () => {
  it('large per-channel offset (mean 100, std 0.5): variance is not E[x^2] - E[x]^2 in float32 (F = 1e-3)', async () => {
    const c = withLabel({ shape: [8, 4, 16, 16], offset: [99, 101], scale: [0.5, 0.5] }, 'offset');
    await runCase(c, new Rng(SEED + 7000), 1e-3);
  });

  it('constant channel: var 0 gives invstd = 1/sqrt(eps), y = beta, running var decays', async () => {
    const shape = [4, 2, 1, 3];
    const xData = Float32Array.from({ length: 24 }, (_, i) => (Math.floor(i / 3) % 2 === 0 ? 3 : -1.5));
    const x = up(xData, shape);
    const gamma = up(Float32Array.from([2, -1]), [2]);
    const beta = up(Float32Array.from([0.25, 0.5]), [2]);
    const rm = up(Float32Array.from([0, 0]), [2]);
    const rv = up(Float32Array.from([1, 1]), [2]);
    const { y, mean, invstd } = batchNormTrain(rt, x, gamma, beta, rm, rv, { momentum: 0.5, eps: 1e-4 });
    expect(Array.from(await down(mean))).toEqual([3, -1.5]);
    expectClose(await down(invstd), Float64Array.from([100, 100]), 1e-3, 'invstd of a constant channel');
    expectClose(await down(y), f64(Float32Array.from({ length: 24 }, (_, i) => (Math.floor(i / 3) % 2 === 0 ? 0.25 : 0.5))), 1e-6, 'y of a constant channel');
    expect(Array.from(await down(rm))).toEqual([1.5, -0.75]);
    expect(Array.from(await down(rv))).toEqual([0.5, 0.5]);
    for (const a of [x, gamma, beta, rm, rv, y, mean, invstd]) rt.release(a.buffer);
  });
});

describe('batchnorm hand-computed', () => {
  it('[4, 1] column: mean, biased / unbiased variance, y, running stats', async () => {
    // x = [1, 2, 3, 6]: mean 3, biased var (4 + 1 + 0 + 9) / 4 = 3.5, unbiased 14 / 3
    const x = up(Float32Array.from([1, 2, 3, 6]), [4, 1]);
    const gamma = up(Float32Array.from([2]), [1]);
    const beta = up(Float32Array.from([1]), [1]);
    const rm = up(Float32Array.from([1]), [1]);
    const rv = up(Float32Array.from([2]), [1]);
    const eps = 0.5; // var + eps = 4, invstd = 0.5
    const { y, mean, invstd } = batchNormTrain(rt, x, gamma, beta, rm, rv, { momentum: 0.25, eps });
    expect(Array.from(await down(mean))).toEqual([3]);
    expectClose(await down(invstd), Float64Array.from([0.5]), 1e-6, 'invstd'); // inverseSqrt need not be exact
    // y = 2 * (x - 3) * 0.5 + 1 = x - 2
    expectClose(await down(y), Float64Array.from([-1, 0, 1, 4]), 1e-6, 'y');
    // running mean 0.75*1 + 0.25*3 = 1.5; running var 0.75*2 + 0.25*14/3 = 1.5 + 7/6
    expect(Array.from(await down(rm))).toEqual([1.5]);
    expectClose(await down(rv), Float64Array.from([1.5 + 7 / 6]), 1e-6, 'running var, unbiased');

    // eval with running mean 1.5, var 8/3 + eps 0.5 = 19/6
    const yEval = batchNormEval(rt, x, gamma, beta, rm, rv, { eps });
    const rvNow = (await down(rv))[0];
    const expected = Float64Array.from([1, 2, 3, 6].map((v) => (2 * (v - 1.5)) / Math.sqrt(rvNow + eps) + 1));
    expectClose(await down(yEval), expected, 1e-6, 'eval y');

    // backward with dy = [1, 0, 0, 0]: xhat = (x - 3) / 2 = [-1, -0.5, 0, 1.5]
    // dbeta = 1, dgamma = -1, dx = gamma*invstd*(dy - 1/4 - xhat * (-1)/4) = [1-0.25-0.25, -0.25-0.125, -0.25, -0.25+0.375]
    const dy = up(Float32Array.from([1, 0, 0, 0]), [4, 1]);
    const g = batchNormBackward(rt, dy, x, gamma, mean, invstd);
    expect(Array.from(await down(g.dbeta))).toEqual([1]);
    expectClose(await down(g.dgamma), Float64Array.from([-1]), 1e-6, 'dgamma');
    expectClose(await down(g.dx), Float64Array.from([0.5, -0.375, -0.25, 0.125]), 1e-6, 'dx');
    for (const a of [x, gamma, beta, rm, rv, y, mean, invstd, yEval, dy, g.dx, g.dgamma, g.dbeta]) rt.release(a.buffer);
  });
});

describe('the batchnorm backward reference matches finite differences of the forward reference (float64, no GPU)', () => {
  for (const shape of [[3, 2, 2, 2], [5, 3], [2, 1, 1, 3]]) {
    it(`x${fmtShape(shape)}`, () => {
      const rng = new Rng(4242 + shape.length);
      const C = shape[1];
      const x = f64(randomData(rng, product(shape), -2, 2));
      const gamma = f64(randomData(rng, C, -2, 2));
      const beta = f64(randomData(rng, C));
      const dy = f64(randomData(rng, product(shape)));
      const eps = 1e-3;
      const loss = (xv: Float64Array, g: Float64Array, b: Float64Array) => {
        const y = batchNormTrainRef(xv, shape, g, b, fill(C, 0), fill(C, 1), 0.1, eps).y;
        let s = 0;
        for (let i = 0; i < y.length; i++) s += y[i] * dy[i];
        return s;
      };
      const fwd = batchNormTrainRef(x, shape, gamma, beta, fill(C, 0), fill(C, 1), 0.1, eps);
      const g = batchNormBackwardRef(dy, x, shape, gamma, fwd.mean, fwd.invstd);
      const h = 1e-6;
      const numeric = (v: Float64Array, i: number, f: (w: Float64Array) => number) => {
        const p = Float64Array.from(v);
        const m = Float64Array.from(v);
        p[i] += h;
        m[i] -= h;
        return (f(p) - f(m)) / (2 * h);
      };
      const numDx = Float64Array.from(x, (_, i) => numeric(x, i, (w) => loss(w, gamma, beta)));
      const numDg = Float64Array.from(gamma, (_, i) => numeric(gamma, i, (w) => loss(x, w, beta)));
      const numDb = Float64Array.from(beta, (_, i) => numeric(beta, i, (w) => loss(x, gamma, w)));
      expectClose(g.dx, numDx, 1e-6, 'dx ref vs finite differences');
      expectClose(g.dgamma, numDg, 1e-6, 'dgamma ref vs finite differences');
      expectClose(g.dbeta, numDb, 1e-6, 'dbeta ref vs finite differences');
    });
  }
});
