/**
 * matmul against the float64 reference (tests/helpers/reference.ts).
 *
 * Tolerance rule: every output element must satisfy
 *     |got - ref| <= 1e-5 * S + 1e-6,   S = sum_k |a_mk * b_kn| (+ |bias_n| when there is a bias)
 * with S computed in float64 from the same float32-rounded inputs the GPU sees. The activations
 * (relu, leaky_relu, tanh, sigmoid) are 1-Lipschitz, so the same bound holds after the epilogue;
 * the 1e-6 absolute term covers the rounding of tanh/sigmoid themselves.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, matmul, toArray, type DeviceArray, type Runtime } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import {
  ACTIVATIONS,
  Rng,
  expectClose,
  f64,
  fmtShape,
  matmulRef,
  product,
  randomData,
  randomDim,
  tolFromAbsSum,
  type Act,
} from '../helpers/reference';

const REL = 1e-5;
const ABS = 1e-6;
const SEED = 0x5eed_3a7;

let rt: Runtime;
beforeAll(async () => {
  rt = await initNode();
});

const up = (data: Float32Array, shape: number[]): DeviceArray => fromArray(rt, data, shape);
const down = async (a: DeviceArray): Promise<Float32Array> => (await toArray(rt, a)) as Float32Array;

interface MatmulCase {
  label: string;
  aShape: number[];
  bShape: number[];
  transposeA: boolean;
  transposeB: boolean;
  bias: boolean;
  activation?: Act;
  slope?: number;
  /** value range of a and b */
  scale?: number;
}

function makeCase(
  batchA: number | null,
  batchB: number | null,
  M: number,
  K: number,
  N: number,
  transposeA: boolean,
  transposeB: boolean,
  bias: boolean,
  activation?: Act,
  slope?: number,
  scale?: number,
): Omit<MatmulCase, 'label'> & { label: string } {
  const aMat = transposeA ? [K, M] : [M, K];
  const bMat = transposeB ? [N, K] : [K, N];
  const aShape = batchA === null ? aMat : [batchA, ...aMat];
  const bShape = batchB === null ? bMat : [batchB, ...bMat];
  const epi = `${bias ? ' +bias' : ''}${activation ? ` ${activation}${slope !== undefined ? `(${slope})` : ''}` : ''}`;
  const label =
    `a${fmtShape(aShape)}${transposeA ? 'ᵀ' : ''} x b${fmtShape(bShape)}${transposeB ? 'ᵀ' : ''}` +
    ` (M=${M} K=${K} N=${N})${epi}`;
  return { label, aShape, bShape, transposeA, transposeB, bias, activation, slope, scale };
}

/** Seeded random shapes: awkward sizes, every batch-broadcast layout, both transposes, epilogues. */
function randomCases(seed: number, count: number): MatmulCase[] {
  const rng = new Rng(seed);
  const cases: MatmulCase[] = [];
  const layouts = ['2d', 'same', 'a-batched', 'b-batched', 'a-batch1', 'b-batch1', 'both-batch1'] as const;
  while (cases.length < count) {
    const layout = layouts[cases.length % layouts.length];
    const M = randomDim(rng, 129);
    const K = randomDim(rng, 129);
    const N = randomDim(rng, 129);
    const B = rng.pick([1, 2, 3, 5, 7]);
    // Keep lavapipe fast: at most ~1.2M multiply-adds per case.
    if (B * M * N * K > 1_200_000) continue;
    const [ba, bb]: [number | null, number | null] =
      layout === '2d' ? [null, null]
      : layout === 'same' ? [B, B]
      : layout === 'a-batched' ? [B, null]
      : layout === 'b-batched' ? [null, B]
      : layout === 'a-batch1' ? [1, B]
      : layout === 'b-batch1' ? [B, 1]
      : [1, 1];
    const activation = rng.bool(0.5) ? rng.pick(ACTIVATIONS) : undefined;
    const slope = activation === 'leaky_relu' && rng.bool(0.5) ? 0.2 : undefined;
    const c = makeCase(ba, bb, M, K, N, rng.bool(0.4), rng.bool(0.4), rng.bool(0.4), activation, slope);
    cases.push({ ...c, label: `#${cases.length} ${c.label}` });
  }
  return cases;
}

const fixedCases: MatmulCase[] = [
  // 1-sized everything
  makeCase(null, null, 1, 1, 1, false, false, false),
  makeCase(1, 1, 1, 1, 1, true, true, true, 'relu'),
  // vectors
  makeCase(null, null, 1, 65, 1, false, false, false),
  makeCase(null, null, 129, 1, 127, false, false, true),
  makeCase(3, null, 1, 33, 129, false, true, false),
  // long K
  makeCase(null, null, 3, 2000, 5, false, false, false),
  makeCase(null, null, 17, 1999, 13, true, false, true, 'leaky_relu'),
  makeCase(null, null, 1, 2048, 1, false, true, false),
  makeCase(2, 2, 5, 1025, 7, true, true, false),
  makeCase(1, 3, 4, 1537, 9, false, false, true, 'tanh'),
].map((c, i) => ({ ...c, label: `fixed#${i} ${c.label}` }));

const RANDOM_CASES = randomCases(SEED, 56);

/** Runs one case on the GPU and checks values, output shape, and that the inputs are untouched. */
async function runCase(c: MatmulCase, rng: Rng): Promise<void> {
  const scale = c.scale ?? 1;
  const aData = randomData(rng, product(c.aShape), -scale, scale);
  const bData = randomData(rng, product(c.bShape), -scale, scale);
  const N = c.transposeB ? c.bShape[c.bShape.length - 2] : c.bShape[c.bShape.length - 1];
  const biasData = c.bias ? randomData(rng, N) : undefined;
  const ref = matmulRef(f64(aData), c.aShape, f64(bData), c.bShape, {
    transposeA: c.transposeA,
    transposeB: c.transposeB,
    bias: biasData && f64(biasData),
    activation: c.activation,
    slope: c.slope,
  });
  const a = up(aData, c.aShape);
  const b = up(bData, c.bShape);
  const bias = biasData ? up(biasData, [N]) : undefined;
  const out = matmul(rt, a, b, {
    transposeA: c.transposeA,
    transposeB: c.transposeB,
    bias,
    activation: c.activation,
    slope: c.slope,
  });
  try {
    expect([...out.shape], c.label).toEqual(ref.shape);
    expectClose(await down(out), ref.out, tolFromAbsSum(ref.absSum, REL, ABS), c.label, ref.shape);
    expect(await down(a), `${c.label}: input a modified`).toEqual(aData);
    expect(await down(b), `${c.label}: input b modified`).toEqual(bData);
  } finally {
    for (const x of [a, b, bias, out]) if (x) rt.release(x.buffer);
  }
}

describe(`matmul vs float64 reference: ${RANDOM_CASES.length} seeded random shapes (seed ${SEED})`, () => {
  RANDOM_CASES.forEach((c, i) => {
    it(c.label, async () => runCase(c, new Rng(SEED + 1000 + i)));
  });
});

describe('matmul edge shapes: 1-sized dims, vectors, long K (up to 2048)', () => {
  fixedCases.forEach((c, i) => {
    it(c.label, async () => runCase(c, new Rng(SEED + 5000 + i)));
  });
});

describe('matmul epilogue: bias + every activation', () => {
  const shapes: [number | null, number | null, number, number, number, boolean, boolean][] = [
    [null, null, 7, 13, 5, false, false],
    [null, null, 33, 17, 65, true, false],
    [2, 2, 31, 3, 129, false, true],
    [3, null, 1, 63, 17, true, true],
  ];
  const variants: { activation: Act; slope?: number }[] = [
    ...ACTIVATIONS.map((activation) => ({ activation })),
    { activation: 'leaky_relu', slope: 0.2 },
  ];
  let k = 0;
  for (const s of shapes) {
    for (const v of variants) {
      for (const bias of [true, false]) {
        // scale 2 puts pre-activations well into both sides of tanh / sigmoid
        const c = makeCase(s[0], s[1], s[2], s[3], s[4], s[5], s[6], bias, v.activation, v.slope, 2);
        const seed = SEED + 9000 + k++;
        it(c.label, async () => runCase(c, new Rng(seed)));
      }
    }
  }

  it('tanh and sigmoid saturate without NaN for pre-activations of |x| ~ 50..200', async () => {
    for (const activation of ['tanh', 'sigmoid'] as const) {
      const c = makeCase(null, null, 9, 40, 11, false, false, true, activation, undefined, 5);
      await runCase({ ...c, label: `large ${c.label}` }, new Rng(SEED + 9900));
    }
  });
});

describe('matmul hand-computed', () => {
  it('[2,3] x [3,2]', async () => {
    const a = up(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const b = up(Float32Array.from([7, 8, 9, 10, 11, 12]), [3, 2]);
    const out = matmul(rt, a, b);
    expect([...out.shape]).toEqual([2, 2]);
    expect(Array.from(await down(out))).toEqual([58, 64, 139, 154]);
    for (const x of [a, b, out]) rt.release(x.buffer);
  });

  it('[2,3] x ([2,3])ᵀ + bias, leaky_relu slope 0.5', async () => {
    const a = up(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const bt = up(Float32Array.from([7, 9, 11, 8, 10, 12]), [2, 3]); // b stored [N, K]
    const bias = up(Float32Array.from([-60, 100]), [2]);
    const out = matmul(rt, a, bt, { transposeB: true, bias, activation: 'leaky_relu', slope: 0.5 });
    // [[58, 64], [139, 154]] + [-60, 100] = [[-2, 164], [79, 254]] -> leaky: -2 * 0.5 = -1
    expect(Array.from(await down(out))).toEqual([-1, 164, 79, 254]);
    for (const x of [a, bt, bias, out]) rt.release(x.buffer);
  });

  it('([3,2])ᵀ x [3,1], and batched a [2,1,2] x shared b [2,1]', async () => {
    const at = up(Float32Array.from([1, 4, 2, 5, 3, 6]), [3, 2]); // a = [[1,2,3],[4,5,6]] stored [K, M]
    const b = up(Float32Array.from([1, 0, -1]), [3, 1]);
    const out = matmul(rt, at, b, { transposeA: true });
    expect([...out.shape]).toEqual([2, 1]);
    expect(Array.from(await down(out))).toEqual([-2, -2]);

    const a3 = up(Float32Array.from([1, 2, 3, 4]), [2, 1, 2]);
    const b2 = up(Float32Array.from([1, 10]), [2, 1]);
    const out3 = matmul(rt, a3, b2);
    expect([...out3.shape]).toEqual([2, 1, 1]);
    expect(Array.from(await down(out3))).toEqual([21, 43]);
    for (const x of [at, b, out, a3, b2, out3]) rt.release(x.buffer);
  });

  it('a [1,2,2] broadcast over b [3,2,1]', async () => {
    const a = up(Float32Array.from([1, 2, 3, 4]), [1, 2, 2]);
    const b = up(Float32Array.from([1, 0, 0, 1, 1, 1]), [3, 2, 1]);
    const out = matmul(rt, a, b);
    expect([...out.shape]).toEqual([3, 2, 1]);
    expect(Array.from(await down(out))).toEqual([1, 3, 2, 4, 3, 7]);
    for (const x of [a, b, out]) rt.release(x.buffer);
  });
});

describe('matmul shape errors name the op and both shapes', () => {
  // Lookaheads: the message must contain the op name and both shapes, in any order.
  const re = (...shapes: number[][]) =>
    new RegExp('^(?=[\\s\\S]*matmul)' + shapes.map((s) => `(?=[\\s\\S]*\\[${s.join(',\\s*')}\\])`).join(''));
  const check = (aShape: number[], bShape: number[], opts: { transposeA?: boolean; transposeB?: boolean } = {}) => {
    const a = up(new Float32Array(product(aShape)), aShape);
    const b = up(new Float32Array(product(bShape)), bShape);
    try {
      expect(() => matmul(rt, a, b, opts)).toThrow(re(aShape, bShape));
    } finally {
      rt.release(a.buffer);
      rt.release(b.buffer);
    }
  };
  it('inner dimensions differ (batched)', () => check([2, 3, 4], [2, 5, 6]));
  it('inner dimensions differ (2-D)', () => check([3, 4], [5, 2]));
  it('inner dimensions differ after transposeB', () => check([3, 4], [6, 5], { transposeB: true }));
  it('inner dimensions differ after transposeA', () => check([3, 4], [4, 2], { transposeA: true }));
  it('batch sizes differ and neither is 1', () => check([2, 3, 4], [3, 4, 5]));
});
