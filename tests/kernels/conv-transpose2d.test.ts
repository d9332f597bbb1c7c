/**
 * convTranspose2d forward (with bias + activation epilogue), backward-data and backward-filter
 * against the float64 references (tests/helpers/reference.ts), PyTorch ConvTranspose2d semantics:
 * weight [Cin, Cout, KH, KW], OH = (H-1)*s - 2p + d*(KH-1) + output_padding + 1.
 *
 * Tolerance rule, per output element, for all three ops:
 *     |got - ref| <= 1e-5 * S + 1e-6
 * where S is the sum of |products| making up that element, in float64 from the same
 * float32-rounded inputs (forward: sum |x*w| over every input element scattering to it, + |bias|;
 * backward-data: sum |dy*w|; backward-filter: sum |x*dy| over n,h,w). Activations are 1-Lipschitz,
 * so the bound carries through the epilogue; 1e-6 covers tanh / sigmoid rounding and exact zeros
 * (output positions no input reaches, e.g. the output_padding rows with stride > kernel).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  convTranspose2d,
  convTranspose2dBackwardData,
  convTranspose2dBackwardFilter,
  fromArray,
  toArray,
  type DeviceArray,
  type Runtime,
} from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import {
  ACTIVATIONS,
  Rng,
  conv2dBackwardDataRef,
  convTOutSize,
  convTranspose2dBackwardDataRef,
  convTranspose2dBackwardFilterRef,
  convTranspose2dRef,
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
  type ConvTGeom,
} from '../helpers/reference';

const REL = 1e-5;
const ABS = 1e-6;
const SEED = 0x7c0417;
/** Multiply-add budget per case (N*Cin*H*W*Cout*KH*KW), to keep lavapipe fast. */
const MAX_MACS = 300_000;

let rt: Runtime;
beforeAll(async () => {
  rt = await initNode();
});

const up = (data: Float32Array, shape: number[]): DeviceArray => fromArray(rt, data, shape);
const down = async (a: DeviceArray): Promise<Float32Array> => (await toArray(rt, a)) as Float32Array;

type P2 = number | [number, number];
interface Geom {
  stride?: P2;
  padding?: P2;
  dilation?: P2;
  outputPadding?: P2;
}
interface ConvTCase {
  label: string;
  xShape: number[];
  wShape: number[];
  geom: Geom;
  bias: boolean;
  activation?: Act;
  slope?: number;
}

function describeGeom(g: Geom): string {
  const f = (v: P2 | undefined) => (v === undefined ? 'dflt' : typeof v === 'number' ? `${v}` : `(${v[0]},${v[1]})`);
  return `s=${f(g.stride)} p=${f(g.padding)} d=${f(g.dilation)} op=${f(g.outputPadding)}`;
}

function outShape(c: Pick<ConvTCase, 'xShape' | 'wShape' | 'geom'>): number[] {
  const [N, , H, W] = c.xShape;
  const [, Cout, KH, KW] = c.wShape;
  const [sh, sw] = pair(c.geom.stride, 1);
  const [ph, pw] = pair(c.geom.padding, 0);
  const [dh, dw] = pair(c.geom.dilation, 1);
  const [oh, ow] = pair(c.geom.outputPadding, 0);
  return [N, Cout, convTOutSize(H, KH, sh, ph, dh, oh), convTOutSize(W, KW, sw, pw, dw, ow)];
}

/** PyTorch's rule: output_padding < max(stride, dilation) per dimension; output not empty. */
function valid(c: Pick<ConvTCase, 'xShape' | 'wShape' | 'geom'>): boolean {
  const [s, d, op] = [pair(c.geom.stride, 1), pair(c.geom.dilation, 1), pair(c.geom.outputPadding, 0)];
  const [, , OH, OW] = outShape(c);
  return OH >= 1 && OW >= 1 && op[0] < Math.max(s[0], d[0]) && op[1] < Math.max(s[1], d[1]);
}

const macs = (c: Pick<ConvTCase, 'xShape' | 'wShape'>) => product(c.xShape) * c.wShape[1] * c.wShape[2] * c.wShape[3];

function withLabel(c: Omit<ConvTCase, 'label'>, prefix: string): ConvTCase {
  const epi = `${c.bias ? ' +bias' : ''}${c.activation ? ` ${c.activation}${c.slope !== undefined ? `(${c.slope})` : ''}` : ''}`;
  return {
    ...c,
    label: `${prefix} x${fmtShape(c.xShape)} w${fmtShape(c.wShape)} ${describeGeom(c.geom)} -> y${fmtShape(outShape(c))}${epi}`,
  };
}

function randomCases(seed: number, count: number): ConvTCase[] {
  const rng = new Rng(seed);
  const cases: ConvTCase[] = [];
  while (cases.length < count) {
    const N = rng.pick([1, 1, 2, 3]);
    const Cin = randomDim(rng, 17);
    const Cout = randomDim(rng, 17);
    const KH = rng.int(1, 5);
    const KW = rng.bool(0.7) ? KH : rng.int(1, 5);
    const H = randomDim(rng, 17);
    const W = rng.bool(0.6) ? H : randomDim(rng, 17);
    const s: [number, number] = [rng.int(1, 3), rng.int(1, 3)];
    const p: [number, number] = [rng.int(0, 3), rng.int(0, 3)];
    const d: [number, number] = [rng.int(1, 2), rng.int(1, 2)];
    // output_padding: often 0, otherwise anything below max(stride, dilation)
    const op: [number, number] = [0, 1].map((i) => (rng.bool(0.5) ? 0 : rng.int(0, Math.max(s[i], d[i]) - 1))) as [number, number];
    const square = rng.bool(0.6);
    const geom: Geom = square
      ? { stride: s[0], padding: p[0], dilation: d[0], outputPadding: Math.min(op[0], Math.max(s[0], d[0]) - 1) }
      : { stride: s, padding: p, dilation: d, outputPadding: op };
    if (square && geom.outputPadding === 0 && rng.bool(0.5)) delete geom.outputPadding;
    if (square && rng.bool(0.15)) delete geom.dilation;
    const activation = rng.bool(0.5) ? rng.pick(ACTIVATIONS) : undefined;
    const c: Omit<ConvTCase, 'label'> = {
      xShape: [N, Cin, H, W],
      wShape: [Cin, Cout, KH, KW],
      geom,
      bias: rng.bool(0.5),
      activation,
      slope: activation === 'leaky_relu' && rng.bool(0.5) ? 0.2 : undefined,
    };
    if (!valid(c)) continue; // geometrically invalid: redraw
    if (macs(c) > MAX_MACS) continue;
    cases.push(withLabel(c, `#${cases.length}`));
  }
  return cases;
}

const fixed = (xShape: number[], wShape: number[], geom: Geom, bias = false, activation?: Act) => ({
  xShape,
  wShape,
  geom,
  bias,
  activation,
});
const FIXED_CASES: ConvTCase[] = [
  fixed([1, 1, 1, 1], [1, 1, 1, 1], {}), // everything 1
  fixed([2, 16, 1, 1], [16, 8, 4, 4], { stride: 1, padding: 0 }, true, 'relu'), // DCGAN G first layer 1x1 -> 4x4
  fixed([2, 8, 4, 4], [8, 3, 4, 4], { stride: 2, padding: 1 }, true, 'tanh'), // DCGAN G layer 4x4 -> 8x8
  fixed([1, 3, 5, 5], [3, 2, 3, 3], { stride: 2, padding: 1, outputPadding: 1 }), // output_padding 1
  fixed([1, 2, 4, 3], [2, 3, 3, 3], { stride: 3, padding: 1, outputPadding: 2 }), // output_padding 2, stride 3
  fixed([1, 2, 3, 4], [2, 2, 1, 1], { stride: 3, outputPadding: 2 }), // stride > kernel: zero rows between
  fixed([2, 3, 4, 4], [3, 2, 2, 2], { stride: 3, padding: 1, outputPadding: 1 }), // stride > kernel 2x2
  fixed([1, 2, 4, 4], [2, 3, 3, 3], { stride: 2, padding: 3 }), // padding == kernel
  fixed([1, 2, 6, 5], [2, 2, 2, 2], { stride: 3, padding: 3 }), // padding > kernel
  fixed([1, 3, 5, 6], [3, 2, 3, 3], { dilation: 2, padding: 1, outputPadding: 1 }), // op < dilation (stride 1)
  fixed([1, 2, 5, 5], [2, 3, 5, 5], { dilation: 2, stride: 2, padding: 2, outputPadding: 1 }),
  fixed([2, 2, 4, 3], [2, 3, 1, 3], { stride: [1, 3], padding: [0, 1], dilation: [2, 1], outputPadding: [1, 2] }), // all non-square
  fixed([1, 33, 3, 3], [33, 65, 1, 1], {}), // 1x1, many channels
  fixed([1, 1, 1, 13], [1, 1, 5, 1], { padding: [2, 0] }), // H = 1, kernel taller than the input
].map((c, i) => withLabel(c, `fixed#${i}`));

const RANDOM_CASES = randomCases(SEED, 56);

async function runCase(c: ConvTCase, rng: Rng): Promise<void> {
  const { xShape, wShape, geom } = c;
  const yShape = outShape(c);
  const Cout = wShape[1];
  const xData = randomData(rng, product(xShape));
  const wData = randomData(rng, product(wShape));
  const dyData = randomData(rng, product(yShape));
  const biasData = c.bias ? randomData(rng, Cout) : undefined;
  const [x, w, dy] = [up(xData, xShape), up(wData, wShape), up(dyData, yShape)];
  const bias = biasData ? up(biasData, [Cout]) : undefined;
  const outs: DeviceArray[] = [];
  try {
    const y = convTranspose2d(rt, x, w, { ...geom, bias, activation: c.activation, slope: c.slope });
    outs.push(y);
    const yRef = convTranspose2dRef(f64(xData), xShape, f64(wData), wShape, {
      ...(geom as ConvTGeom),
      bias: biasData && f64(biasData),
      activation: c.activation,
      slope: c.slope,
    });
    expect([...y.shape], `${c.label}: forward shape`).toEqual(yRef.shape);
    expectClose(await down(y), yRef.out, tolFromAbsSum(yRef.absSum, REL, ABS), `${c.label}: convTranspose2d`, yRef.shape);

    const dx = convTranspose2dBackwardData(rt, dy, w, geom);
    outs.push(dx);
    const dxRef = convTranspose2dBackwardDataRef(f64(dyData), yShape, f64(wData), wShape, xShape, geom as ConvTGeom);
    expect([...dx.shape], `${c.label}: dx shape`).toEqual(xShape);
    expectClose(await down(dx), dxRef.out, tolFromAbsSum(dxRef.absSum, REL, ABS), `${c.label}: convTranspose2dBackwardData`, xShape);

    const dw = convTranspose2dBackwardFilter(rt, x, dy, wShape, geom);
    outs.push(dw);
    const dwRef = convTranspose2dBackwardFilterRef(f64(xData), xShape, f64(dyData), yShape, wShape, geom as ConvTGeom);
    expect([...dw.shape], `${c.label}: dw shape`).toEqual(wShape);
    expectClose(await down(dw), dwRef.out, tolFromAbsSum(dwRef.absSum, REL, ABS), `${c.label}: convTranspose2dBackwardFilter`, wShape);

    expect(await down(x), `${c.label}: x modified`).toEqual(xData);
    expect(await down(w), `${c.label}: w modified`).toEqual(wData);
    expect(await down(dy), `${c.label}: dy modified`).toEqual(dyData);
  } finally {
    for (const a of [x, w, dy, bias, ...outs]) if (a) rt.release(a.buffer);
  }
}

describe(`convTranspose2d fwd/bwd-data/bwd-filter vs float64 reference: ${RANDOM_CASES.length} seeded random geometries (seed ${SEED})`, () => {
  RANDOM_CASES.forEach((c, i) => {
    it(c.label, async () => runCase(c, new Rng(SEED + 1000 + i)));
  });
});

describe('convTranspose2d edge geometries: output_padding 1/2, stride > kernel, padding >= kernel, dilation 2', () => {
  FIXED_CASES.forEach((c, i) => {
    it(c.label, async () => runCase(c, new Rng(SEED + 5000 + i)));
  });
});

describe('convTranspose2d epilogue: bias + every activation', () => {
  const geoms: Omit<ConvTCase, 'label' | 'bias' | 'activation' | 'slope'>[] = [
    { xShape: [2, 4, 3, 3], wShape: [4, 3, 4, 4], geom: { stride: 2, padding: 1 } },
    { xShape: [1, 3, 5, 4], wShape: [3, 5, 3, 3], geom: { stride: 2, padding: 1, outputPadding: 1 } },
    { xShape: [3, 5, 2, 2], wShape: [5, 2, 1, 1], geom: {} },
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

describe('convTranspose2d output size follows PyTorch: (H-1)s - 2p + d(K-1) + op + 1', () => {
  // [H, K, s, p, d, op, OH], OH worked out by hand from the formula
  const table: [number, number, number, number, number, number, number][] = [
    [1, 1, 1, 0, 1, 0, 1],
    [2, 3, 2, 0, 1, 0, 5],
    [2, 3, 2, 1, 1, 1, 4],
    [1, 4, 1, 0, 1, 0, 4], // DCGAN: 1x1 latent -> 4x4
    [4, 4, 2, 1, 1, 0, 8], // DCGAN: doubling
    [5, 3, 3, 1, 1, 2, 15],
    [3, 3, 1, 1, 2, 0, 5],
    [4, 3, 1, 1, 2, 1, 7], // op 1 allowed by dilation 2 at stride 1
    [7, 1, 3, 0, 1, 2, 21],
    [6, 5, 2, 2, 2, 1, 16],
    [3, 2, 3, 2, 1, 0, 4],
    [13, 5, 1, 3, 1, 0, 11],
  ];
  for (const [H, K, s, p, d, op, OH] of table) {
    it(`H=${H} K=${K} s=${s} p=${p} d=${d} op=${op} -> ${OH}`, async () => {
      // Non-square on purpose: W = 2, kernel width 1, padding [p, 0], op [op, 0], so OW = (2-1)*s + 1.
      const geom: Geom = { stride: s, padding: [p, 0], dilation: d, outputPadding: [op, 0] };
      const xShape = [1, 1, H, 2];
      const wShape = [1, 2, K, 1];
      const rng = new Rng(H * 1000 + K * 100 + s * 10 + p);
      const xData = randomData(rng, product(xShape));
      const wData = randomData(rng, product(wShape));
      const x = up(xData, xShape);
      const w = up(wData, wShape);
      const y = convTranspose2d(rt, x, w, geom);
      try {
        expect([...y.shape]).toEqual([1, 2, OH, s + 1]);
        const ref = convTranspose2dRef(f64(xData), xShape, f64(wData), wShape, geom as ConvTGeom);
        expect(ref.shape).toEqual([1, 2, OH, s + 1]);
        expectClose(await down(y), ref.out, tolFromAbsSum(ref.absSum, REL, ABS), `H=${H} K=${K} s=${s} p=${p} d=${d} op=${op}`, ref.shape);
      } finally {
        for (const a of [x, w, y]) rt.release(a.buffer);
      }
    });
  }
});

describe('convTranspose2d hand-computed', () => {
  const x4 = Float32Array.from([1, 2, 3, 4]); // 2x2: [[1,2],[3,4]]
  const w9 = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]); // 3x3: [[1,2,3],[4,5,6],[7,8,9]]
  // Full stride-2 output: x[i,j] * w stamped at (2i, 2j), overlaps summed.
  const full5x5 = [
    [1, 2, 5, 4, 6],
    [4, 5, 14, 10, 12],
    [10, 14, 36, 24, 30],
    [12, 15, 34, 20, 24],
    [21, 24, 55, 32, 36],
  ];

  async function convT(xData: Float32Array, xShape: number[], wData: Float32Array, wShape: number[], params: Parameters<typeof convTranspose2d>[3]) {
    const x = up(xData, xShape);
    const w = up(wData, wShape);
    const y = convTranspose2d(rt, x, w, params);
    const shape = [...y.shape];
    const values = Array.from(await down(y));
    for (const a of [x, w, y]) rt.release(a.buffer);
    return { shape, values };
  }

  it('2x2 input, 3x3 kernel, stride 2 -> 5x5', async () => {
    expect(await convT(x4, [1, 1, 2, 2], w9, [1, 1, 3, 3], { stride: 2 })).toEqual({
      shape: [1, 1, 5, 5],
      values: full5x5.flat(),
    });
  });

  it('stride 2, padding 1 crops one from each side -> 3x3', async () => {
    expect(await convT(x4, [1, 1, 2, 2], w9, [1, 1, 3, 3], { stride: 2, padding: 1 })).toEqual({
      shape: [1, 1, 3, 3],
      values: [5, 14, 10, 14, 36, 24, 15, 34, 20],
    });
  });

  it('stride 2, padding 1, output_padding 1 keeps one more row/col at the bottom/right -> 4x4', async () => {
    expect(await convT(x4, [1, 1, 2, 2], w9, [1, 1, 3, 3], { stride: 2, padding: 1, outputPadding: 1 })).toEqual({
      shape: [1, 1, 4, 4],
      values: [5, 14, 10, 12, 14, 36, 24, 30, 15, 34, 20, 24, 24, 55, 32, 36],
    });
  });

  it('1x1 kernel, stride 3, output_padding 2: zeros between and after', async () => {
    const r = await convT(x4, [1, 1, 2, 2], Float32Array.from([2]), [1, 1, 1, 1], { stride: 3, outputPadding: 2 });
    expect(r.shape).toEqual([1, 1, 6, 6]);
    const expected = new Array(36).fill(0);
    expected[0] = 2;
    expected[3] = 4;
    expected[18] = 6;
    expected[21] = 8;
    expect(r.values).toEqual(expected);
  });

  it('weight layout is [in, out, kh, kw]', async () => {
    // Cin 1 -> Cout 2: out channel c is x * w[0, c]
    expect(await convT(Float32Array.from([1, 2]), [1, 1, 1, 2], Float32Array.from([3, 5]), [1, 2, 1, 1], {})).toEqual({
      shape: [1, 2, 1, 2],
      values: [3, 6, 5, 10],
    });
    // Cin 2 -> Cout 1: sum over input channels
    expect(await convT(Float32Array.from([1, 2]), [1, 2, 1, 1], Float32Array.from([3, 5]), [2, 1, 1, 1], {})).toEqual({
      shape: [1, 1, 1, 1],
      values: [13],
    });
  });

  it('bias + relu on the stride-2 case', async () => {
    const x = up(x4, [1, 1, 2, 2]);
    const w = up(w9, [1, 1, 3, 3]);
    const bias = up(Float32Array.from([-20]), [1]);
    const y = convTranspose2d(rt, x, w, { stride: 2, bias, activation: 'relu' });
    expect(Array.from(await down(y))).toEqual(full5x5.flat().map((v) => Math.max(v - 20, 0)));
    for (const a of [x, w, bias, y]) rt.release(a.buffer);
  });

  it('backward-data and backward-filter, stride 2, padding 0 and 1, dy = 1', async () => {
    const x = up(x4, [1, 1, 2, 2]);
    const w = up(w9, [1, 1, 3, 3]);
    const dy5 = up(new Float32Array(25).fill(1), [1, 1, 5, 5]);
    const dy3 = up(new Float32Array(9).fill(1), [1, 1, 3, 3]);
    const dx5 = convTranspose2dBackwardData(rt, dy5, w, { stride: 2 });
    const dw5 = convTranspose2dBackwardFilter(rt, x, dy5, [1, 1, 3, 3], { stride: 2 });
    const dx3 = convTranspose2dBackwardData(rt, dy3, w, { stride: 2, padding: 1 });
    const dw3 = convTranspose2dBackwardFilter(rt, x, dy3, [1, 1, 3, 3], { stride: 2, padding: 1 });
    // no cropping: every tap lands inside, dx = sum(w) = 45, dw = sum(x) = 10
    expect([...dx5.shape]).toEqual([1, 1, 2, 2]);
    expect(Array.from(await down(dx5))).toEqual([45, 45, 45, 45]);
    expect(Array.from(await down(dw5))).toEqual(new Array(9).fill(10));
    // padding 1: x[0,0] keeps taps kh,kw in {1,2}: 5+6+8+9; x[0,1]: kh {1,2}, kw {0,1}: 4+5+7+8; ...
    expect([...dx3.shape]).toEqual([1, 1, 2, 2]);
    expect(Array.from(await down(dx3))).toEqual([28, 24, 16, 12]);
    // dw[kh,kw] sums x[h,w] over h in R(kh), w in R(kw) with R(0) = {1}, R(1) = {0,1}, R(2) = {0}
    expect(Array.from(await down(dw3))).toEqual([4, 7, 3, 6, 10, 4, 2, 3, 1]);
    for (const a of [x, w, dy5, dy3, dx5, dw5, dx3, dw3]) rt.release(a.buffer);
  });
});

describe('the convTranspose2d references agree with each other and with conv2d backward-data (float64, no GPU)', () => {
  const geoms: [number[], number[], ConvTGeom][] = [
    [[2, 3, 4, 5], [3, 2, 3, 2], { stride: [2, 3], padding: [1, 0], dilation: [1, 2], outputPadding: [1, 2] }],
    [[1, 2, 3, 3], [2, 3, 1, 1], { stride: 3, outputPadding: 2 }],
    [[1, 1, 5, 2], [1, 2, 4, 3], { dilation: 2, padding: 3, outputPadding: 1 }],
  ];
  geoms.forEach(([xShape, wShape, g], i) => {
    it(`adjoint identities and conv2d-backward-data equivalence x${fmtShape(xShape)} w${fmtShape(wShape)}`, () => {
      const rng = new Rng(99 + i);
      const x = f64(randomData(rng, product(xShape)));
      const w = f64(randomData(rng, product(wShape)));
      const y = convTranspose2dRef(x, xShape, w, wShape, g);
      const dy = f64(randomData(rng, product(y.shape)));
      const lhs = dot(y.out, dy);
      const dx = convTranspose2dBackwardDataRef(dy, y.shape, w, wShape, xShape, g);
      const dw = convTranspose2dBackwardFilterRef(x, xShape, dy, y.shape, wShape, g);
      expect(dot(x, dx.out)).toBeCloseTo(lhs, 10);
      expect(dot(w, dw.out)).toBeCloseTo(lhs, 10);
      // convTranspose2d(x, w) is conv2d's backward-data with x as dy and w read as [O=Cin, C=Cout, ...]
      const viaConv = conv2dBackwardDataRef(x, xShape, w, wShape, y.shape, g);
      expectClose(viaConv.out, y.out, 1e-12, 'convT ref vs conv2d bwd-data ref');
    });
  });
});
