/**
 * conv2d forward (with bias + activation epilogue), backward-data, backward-filter and
 * backward-bias against the float64 references (tests/helpers/reference.ts).
 *
 * Tolerance rule, per output element, for all four ops:
 *     |got - ref| <= 1e-5 * S + 1e-6
 * where S is the sum of |products| that make up that element in float64 from the same
 * float32-rounded inputs (forward: sum |x*w| over c,kh,kw in range, + |bias|; backward-data:
 * sum |dy*w| over every forward product touching that input; backward-filter: sum |dy*x| over
 * n,oh,ow; backward-bias: sum |dy|). The activations are 1-Lipschitz so the bound carries through
 * the epilogue; 1e-6 covers the rounding of tanh / sigmoid and of exact zeros.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  conv2d,
  conv2dBackwardBias,
  conv2dBackwardData,
  conv2dBackwardFilter,
  fromArray,
  toArray,
  type DeviceArray,
  type Runtime,
} from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import {
  ACTIVATIONS,
  Rng,
  conv2dBackwardBiasRef,
  conv2dBackwardDataRef,
  conv2dBackwardFilterRef,
  conv2dRef,
  convOutSize,
  dot,
  expectClose,
  f64,
  fmtShape,
  pair,
  product,
  randomData,
  randomDim,
  tolFromAbsSum,
  type Act,
  type ConvGeom,
} from '../helpers/reference';

const REL = 1e-5;
const ABS = 1e-6;
const SEED = 0xc0417;
/** Multiply-add budget per case (N*O*OH*OW*C*KH*KW), to keep lavapipe fast. */
const MAX_MACS = 300_000;

let rt: Runtime;
beforeAll(async () => {
  rt = await initNode();
});

const up = (data: Float32Array, shape: number[]): DeviceArray => fromArray(rt, data, shape);
const down = async (a: DeviceArray): Promise<Float32Array> => (await toArray(rt, a)) as Float32Array;

type P2 = number | [number, number];
interface ConvCase {
  label: string;
  xShape: number[];
  wShape: number[];
  geom: { stride?: P2; padding?: P2; dilation?: P2 };
  bias: boolean;
  activation?: Act;
  slope?: number;
}

function describeGeom(g: ConvCase['geom']): string {
  const f = (v: P2 | undefined) => (v === undefined ? 'dflt' : typeof v === 'number' ? `${v}` : `(${v[0]},${v[1]})`);
  return `s=${f(g.stride)} p=${f(g.padding)} d=${f(g.dilation)}`;
}

function outShape(c: Pick<ConvCase, 'xShape' | 'wShape' | 'geom'>): number[] {
  const [N, , H, W] = c.xShape;
  const [O, , KH, KW] = c.wShape;
  const [sh, sw] = pair(c.geom.stride, 1);
  const [ph, pw] = pair(c.geom.padding, 0);
  const [dh, dw] = pair(c.geom.dilation, 1);
  return [N, O, convOutSize(H, KH, sh, ph, dh), convOutSize(W, KW, sw, pw, dw)];
}

const macs = (c: Pick<ConvCase, 'xShape' | 'wShape' | 'geom'>) =>
  product(outShape(c)) * c.wShape[1] * c.wShape[2] * c.wShape[3];

function withLabel(c: Omit<ConvCase, 'label'>, prefix: string): ConvCase {
  const epi = `${c.bias ? ' +bias' : ''}${c.activation ? ` ${c.activation}${c.slope !== undefined ? `(${c.slope})` : ''}` : ''}`;
  return {
    ...c,
    label: `${prefix} x${fmtShape(c.xShape)} w${fmtShape(c.wShape)} ${describeGeom(c.geom)} -> y${fmtShape(outShape(c))}${epi}`,
  };
}

/** Seeded random geometries; redraws only when the output would be empty or the case too big. */
function randomCases(seed: number, count: number): ConvCase[] {
  const rng = new Rng(seed);
  const cases: ConvCase[] = [];
  while (cases.length < count) {
    const N = rng.pick([1, 1, 2, 3]);
    const C = randomDim(rng, 17);
    const O = randomDim(rng, 17);
    const KH = rng.int(1, 5);
    const KW = rng.bool(0.7) ? KH : rng.int(1, 5);
    const H = randomDim(rng, 33);
    const W = rng.bool(0.6) ? H : randomDim(rng, 33);
    const s: [number, number] = [rng.int(1, 3), rng.int(1, 3)];
    const p: [number, number] = [rng.int(0, 3), rng.int(0, 3)];
    const d: [number, number] = [rng.int(1, 2), rng.int(1, 2)];
    // Square parameters are passed as numbers (the common call), the rest as tuples; some left default.
    const square = rng.bool(0.6);
    const geom: ConvCase['geom'] = square
      ? { stride: s[0], padding: p[0], dilation: d[0] }
      : { stride: s, padding: p, dilation: d };
    if (square && rng.bool(0.2)) delete geom.dilation;
    if (square && rng.bool(0.1)) delete geom.padding;
    const activation = rng.bool(0.5) ? rng.pick(ACTIVATIONS) : undefined;
    const c: Omit<ConvCase, 'label'> = {
      xShape: [N, C, H, W],
      wShape: [O, C, KH, KW],
      geom,
      bias: rng.bool(0.5),
      activation,
      slope: activation === 'leaky_relu' && rng.bool(0.5) ? 0.2 : undefined,
    };
    const [, , OH, OW] = outShape(c);
    if (OH < 1 || OW < 1) continue; // geometrically invalid
    if (macs(c) > MAX_MACS) continue;
    cases.push(withLabel(c, `#${cases.length}`));
  }
  return cases;
}

const fixed = (xShape: number[], wShape: number[], geom: ConvCase['geom'], bias = false, activation?: Act) => ({
  xShape,
  wShape,
  geom,
  bias,
  activation,
});
const FIXED_CASES: ConvCase[] = [
  fixed([1, 1, 1, 1], [1, 1, 1, 1], {}), // everything 1
  fixed([2, 3, 1, 7], [4, 3, 1, 3], { padding: [0, 1] }), // H = 1
  fixed([1, 5, 9, 9], [3, 5, 1, 1], { stride: 3 }), // stride > kernel (1x1, s3)
  fixed([2, 2, 11, 10], [3, 2, 2, 2], { stride: 3, padding: 1 }), // stride > kernel (2x2, s3)
  fixed([1, 3, 5, 5], [2, 3, 1, 1], { padding: 2 }, true), // padding > kernel
  fixed([1, 2, 4, 6], [3, 2, 3, 3], { padding: 3 }), // padding == kernel
  fixed([2, 2, 2, 3], [2, 2, 5, 5], { padding: 2 }), // kernel larger than input
  fixed([1, 3, 13, 13], [2, 3, 5, 5], { dilation: 2 }), // dilation 2, big kernel
  fixed([1, 2, 7, 9], [3, 2, 3, 3], { dilation: 2, stride: 2, padding: 3 }, true, 'relu'),
  fixed([1, 3, 8, 17], [2, 3, 1, 3], { stride: [1, 2], padding: [0, 2], dilation: [2, 1] }), // all non-square
  fixed([1, 65, 5, 5], [33, 65, 1, 1], {}), // 1x1 conv, many channels
  fixed([2, 3, 16, 16], [8, 3, 4, 4], { stride: 2, padding: 1 }, true, 'leaky_relu'), // DCGAN D layer
  // One window covers the input (backward-data runs as a matmul): a DCGAN D's last layer, and
  // as a transposed conv a generator's first (z → 7×7); stride does not matter there.
  fixed([5, 33, 7, 7], [3, 33, 7, 7], {}, true), // D's last conv, 7×7 → 1×1
  fixed([3, 6, 4, 5], [9, 6, 4, 5], { stride: 2 }), // non-square window, stride 2
  fixed([1, 1, 31, 31], [1, 1, 3, 3], { padding: 1 }), // single channel, odd spatial
  fixed([3, 1, 5, 5], [1, 1, 5, 5], {}), // output 1x1
].map((c, i) => withLabel(c, `fixed#${i}`));

const RANDOM_CASES = randomCases(SEED, 56);

async function runCase(c: ConvCase, rng: Rng): Promise<void> {
  const { xShape, wShape, geom } = c;
  const yShape = outShape(c);
  const O = wShape[0];
  const xData = randomData(rng, product(xShape));
  const wData = randomData(rng, product(wShape));
  const dyData = randomData(rng, product(yShape));
  const biasData = c.bias ? randomData(rng, O) : undefined;
  const [x, w, dy] = [up(xData, xShape), up(wData, wShape), up(dyData, yShape)];
  const bias = biasData ? up(biasData, [O]) : undefined;
  const outs: DeviceArray[] = [];
  try {
    // forward + epilogue
    const y = conv2d(rt, x, w, { ...geom, bias, activation: c.activation, slope: c.slope });
    outs.push(y);
    const yRef = conv2dRef(f64(xData), xShape, f64(wData), wShape, {
      ...(geom as ConvGeom),
      bias: biasData && f64(biasData),
      activation: c.activation,
      slope: c.slope,
    });
    expect([...y.shape], `${c.label}: forward shape`).toEqual(yRef.shape);
    expectClose(await down(y), yRef.out, tolFromAbsSum(yRef.absSum, REL, ABS), `${c.label}: conv2d`, yRef.shape);

    // backward-data
    const dx = conv2dBackwardData(rt, dy, w, xShape, geom);
    outs.push(dx);
    const dxRef = conv2dBackwardDataRef(f64(dyData), yShape, f64(wData), wShape, xShape, geom as ConvGeom);
    expect([...dx.shape], `${c.label}: dx shape`).toEqual(xShape);
    expectClose(await down(dx), dxRef.out, tolFromAbsSum(dxRef.absSum, REL, ABS), `${c.label}: conv2dBackwardData`, xShape);

    // backward-filter
    const dw = conv2dBackwardFilter(rt, x, dy, wShape, geom);
    outs.push(dw);
    const dwRef = conv2dBackwardFilterRef(f64(xData), xShape, f64(dyData), yShape, wShape, geom as ConvGeom);
    expect([...dw.shape], `${c.label}: dw shape`).toEqual(wShape);
    expectClose(await down(dw), dwRef.out, tolFromAbsSum(dwRef.absSum, REL, ABS), `${c.label}: conv2dBackwardFilter`, wShape);

    // backward-bias
    const db = conv2dBackwardBias(rt, dy);
    outs.push(db);
    const dbRef = conv2dBackwardBiasRef(f64(dyData), yShape);
    expect([...db.shape], `${c.label}: db shape`).toEqual([O]);
    expectClose(await down(db), dbRef.out, tolFromAbsSum(dbRef.absSum, REL, ABS), `${c.label}: conv2dBackwardBias`, [O]);

    // inputs untouched
    expect(await down(x), `${c.label}: x modified`).toEqual(xData);
    expect(await down(w), `${c.label}: w modified`).toEqual(wData);
    expect(await down(dy), `${c.label}: dy modified`).toEqual(dyData);
  } finally {
    for (const a of [x, w, dy, bias, ...outs]) if (a) rt.release(a.buffer);
  }
}

describe(`conv2d fwd/bwd-data/bwd-filter/bwd-bias vs float64 reference: ${RANDOM_CASES.length} seeded random geometries (seed ${SEED})`, () => {
  RANDOM_CASES.forEach((c, i) => {
    it(c.label, async () => runCase(c, new Rng(SEED + 1000 + i)));
  });
});

describe('conv2d edge geometries: stride > kernel, padding >= kernel, dilation 2, 1-sized, non-square', () => {
  FIXED_CASES.forEach((c, i) => {
    it(c.label, async () => runCase(c, new Rng(SEED + 5000 + i)));
  });
});

describe('conv2d epilogue: bias + every activation', () => {
  const geoms: Omit<ConvCase, 'label' | 'bias' | 'activation' | 'slope'>[] = [
    { xShape: [2, 3, 7, 5], wShape: [5, 3, 3, 3], geom: { padding: 1 } },
    { xShape: [1, 4, 9, 9], wShape: [3, 4, 4, 4], geom: { stride: 2, padding: 1 } },
    { xShape: [3, 2, 6, 6], wShape: [7, 2, 1, 1], geom: {} },
  ];
  const variants: { activation: Act; slope?: number }[] = [
    ...ACTIVATIONS.map((activation) => ({ activation })),
    { activation: 'leaky_relu', slope: 0.2 },
  ];
  let k = 0;
  for (const g of geoms) {
    for (const v of variants) {
      const c = withLabel({ ...g, bias: true, ...v }, 'epilogue');
      const seed = SEED + 9000 + k++;
      it(c.label, async () => runCase(c, new Rng(seed)));
    }
  }
});

describe('conv2d hand-computed', () => {
  const x9 = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]); // 3x3: [[1,2,3],[4,5,6],[7,8,9]]
  const w4 = Float32Array.from([1, 2, 3, 4]); // 2x2: [[1,2],[3,4]]

  async function conv(xData: Float32Array, xShape: number[], wData: Float32Array, wShape: number[], params: Parameters<typeof conv2d>[3]) {
    const x = up(xData, xShape);
    const w = up(wData, wShape);
    const y = conv2d(rt, x, w, params);
    const shape = [...y.shape];
    const values = Array.from(await down(y));
    for (const a of [x, w, y]) rt.release(a.buffer);
    return { shape, values };
  }

  it('3x3 input, 2x2 kernel, valid', async () => {
    // y[i,j] = x[i,j]*1 + x[i,j+1]*2 + x[i+1,j]*3 + x[i+1,j+1]*4
    expect(await conv(x9, [1, 1, 3, 3], w4, [1, 1, 2, 2], {})).toEqual({ shape: [1, 1, 2, 2], values: [37, 47, 67, 77] });
  });

  it('stride 2, padding 1', async () => {
    // windows start at rows/cols -1 and 1: [[x00*4, x01*3+x02*4], [x10*2+x20*4, 5+12+24+36]]
    expect(await conv(x9, [1, 1, 3, 3], w4, [1, 1, 2, 2], { stride: 2, padding: 1 })).toEqual({
      shape: [1, 1, 2, 2],
      values: [4, 18, 36, 77],
    });
  });

  it('dilation 2', async () => {
    // taps at the four corners: 1*1 + 3*2 + 7*3 + 9*4
    expect(await conv(x9, [1, 1, 3, 3], w4, [1, 1, 2, 2], { dilation: 2 })).toEqual({ shape: [1, 1, 1, 1], values: [64] });
  });

  it('2 in / 2 out channels with bias and relu', async () => {
    const x = Float32Array.from([...x9, 1, 1, 1, 1, 1, 1, 1, 1, 1]); // channel 1 all ones
    // out 0: [[1,2],[3,4]] on c0, all -1 on c1; out 1: -1 at (1,1) on c0, zeros on c1
    const w = Float32Array.from([1, 2, 3, 4, -1, -1, -1, -1, 0, 0, 0, -1, 0, 0, 0, 0]);
    const xd = up(x, [1, 2, 3, 3]);
    const wd = up(w, [2, 2, 2, 2]);
    const bias = up(Float32Array.from([-40, 7]), [2]);
    const y = conv2d(rt, xd, wd, { bias, activation: 'relu' });
    // out 0: [37,47,67,77] - 4 - 40 = [-7,3,23,33] -> [0,3,23,33]
    // out 1: -[5,6,8,9] + 7 = [2,1,-1,-2] -> [2,1,0,0]
    expect([...y.shape]).toEqual([1, 2, 2, 2]);
    expect(Array.from(await down(y))).toEqual([0, 3, 23, 33, 2, 1, 0, 0]);
    for (const a of [xd, wd, bias, y]) rt.release(a.buffer);
  });

  it('backward-data, backward-filter and backward-bias of the 3x3 / 2x2 case with dy = 1', async () => {
    const x = up(x9, [1, 1, 3, 3]);
    const w = up(w4, [1, 1, 2, 2]);
    const dy = up(Float32Array.from([1, 1, 1, 1]), [1, 1, 2, 2]);
    const dx = conv2dBackwardData(rt, dy, w, [1, 1, 3, 3]);
    const dw = conv2dBackwardFilter(rt, x, dy, [1, 1, 2, 2]);
    // dx: the kernel stamped at the four output positions
    expect(Array.from(await down(dx))).toEqual([1, 3, 2, 4, 10, 6, 3, 7, 4]);
    // dw[kh,kw]: sum of the 2x2 window of x starting at (kh,kw)
    expect(Array.from(await down(dw))).toEqual([12, 16, 24, 28]);
    const dy2 = up(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), [2, 2, 1, 2]);
    const db = conv2dBackwardBias(rt, dy2);
    expect(Array.from(await down(db))).toEqual([1 + 2 + 5 + 6, 3 + 4 + 7 + 8]);
    for (const a of [x, w, dy, dx, dw, dy2, db]) rt.release(a.buffer);
  });

  it('backward-data with stride 2 leaves uncovered input rows/cols at zero', async () => {
    // x 4x4, k 1x1, stride 2 -> y 2x2 reads x[0,0], x[0,2], x[2,0], x[2,2]
    const w = up(Float32Array.from([3]), [1, 1, 1, 1]);
    const dy = up(Float32Array.from([1, 2, 3, 4]), [1, 1, 2, 2]);
    const dx = conv2dBackwardData(rt, dy, w, [1, 1, 4, 4], { stride: 2 });
    expect(Array.from(await down(dx))).toEqual([3, 0, 6, 0, 0, 0, 0, 0, 9, 0, 12, 0, 0, 0, 0, 0]);
    for (const a of [w, dy, dx]) rt.release(a.buffer);
  });
});

describe('conv2d shape errors name the op and both shapes', () => {
  const re = (op: string, ...shapes: number[][]) =>
    new RegExp(
      `^(?=[\\s\\S]*${op})` +
        shapes.map((s) => `(?=[\\s\\S]*\\[${s.join(',\\s*')}\\])`).join(''),
    );
  it('channel mismatch between x and w', () => {
    const x = up(new Float32Array(75), [1, 3, 5, 5]);
    const w = up(new Float32Array(72), [2, 4, 3, 3]);
    try {
      expect(() => conv2d(rt, x, w)).toThrow(re('conv2d', [1, 3, 5, 5], [2, 4, 3, 3]));
    } finally {
      rt.release(x.buffer);
      rt.release(w.buffer);
    }
  });
});

describe('the conv2d references agree with each other (float64, no GPU)', () => {
  // <conv(x, w), dy> = <x, dX(dy, w)> = <w, dW(x, dy)>, and <bias broadcast, dy> = <1, dB(dy)>:
  // the backward references are the adjoints of the forward one, so a wrong reference cannot
  // silently agree with a wrong kernel.
  const geoms: [number[], number[], ConvGeom][] = [
    [[2, 3, 7, 6], [4, 3, 3, 2], { stride: [2, 1], padding: [1, 2], dilation: [1, 2] }],
    [[1, 2, 5, 5], [3, 2, 1, 1], { stride: 3, padding: 2 }],
    [[1, 1, 9, 4], [2, 1, 4, 3], { dilation: 2, padding: 3 }],
  ];
  geoms.forEach(([xShape, wShape, g], i) => {
    it(`adjoint identities x${fmtShape(xShape)} w${fmtShape(wShape)}`, () => {
      const rng = new Rng(77 + i);
      const x = f64(randomData(rng, product(xShape)));
      const w = f64(randomData(rng, product(wShape)));
      const y = conv2dRef(x, xShape, w, wShape, g);
      const dy = f64(randomData(rng, product(y.shape)));
      const lhs = dot(y.out, dy);
      const dx = conv2dBackwardDataRef(dy, y.shape, w, wShape, xShape, g);
      const dw = conv2dBackwardFilterRef(x, xShape, dy, y.shape, wShape, g);
      expect(dot(x, dx.out)).toBeCloseTo(lhs, 10);
      expect(dot(w, dw.out)).toBeCloseTo(lhs, 10);
      const ones = new Float64Array(wShape[0]).fill(1);
      const yb = conv2dRef(x, xShape, w, wShape, { ...g, bias: ones });
      const db = conv2dBackwardBiasRef(dy, y.shape);
      expect(dot(yb.out, dy) - lhs).toBeCloseTo(dot(ones, db.out), 10);
    });
  });
});
