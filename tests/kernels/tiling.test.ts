/**
 * Every GEMM tiling the tuner may choose — register-blocked and workgroup-memory, the CPU and the
 * GPU candidates alike — gives correct matmul and convolution results on odd shapes (tolerance
 * as in matmul.test.ts / conv2d.test.ts: 1e-5 · Σ|products| + 1e-6), and the tuner caches its
 * choice per adapter and problem in its store.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GEMM_TILING_CANDIDATES,
  canShareAcrossSubgroup,
  conv2d,
  conv2dBackwardData,
  conv2dBackwardFilter,
  conv2dGeometry,
  convLayout,
  convTranspose2d,
  fromArray,
  heuristicTiling,
  matmul,
  setGemmTiling,
  toArray,
  tuneGemms,
  useTuningStore,
  type DeviceArray,
  type GemmTiling,
  type RegisterGemmTiling,
  type Runtime,
} from '@webgan/kernels';
import { fileTuningStore, initNode } from '@webgan/kernels/node';
import {
  conv2dBackwardDataRef,
  conv2dBackwardFilterRef,
  conv2dRef,
  convTranspose2dRef,
  expectClose,
  f64,
  matmulRef,
  Rng,
  randomData,
  tolFromAbsSum,
  type ConvGeom,
} from '../helpers/reference';

let rt: Runtime;
beforeAll(async () => {
  rt = await initNode({ tuningFile: false });
});
afterEach(() => setGemmTiling(rt, undefined));

const rng = new Rng(20261123);
const upload = (data: Float32Array, shape: number[]) => fromArray(rt, data, shape);
async function check(got: DeviceArray, ref: { out: Float64Array; absSum: Float64Array; shape: number[] }, label: string) {
  const values = (await toArray(rt, got)) as Float32Array;
  expectClose(values, ref.out, tolFromAbsSum(ref.absSum, 1e-5, 1e-6), label, ref.shape);
  rt.release(got.buffer);
}

const label = (t: GemmTiling) =>
  t.kind === 'workgroup-memory'
    ? `workgroup-memory ${t.workgroupSize / t.workgroupCols}x${t.workgroupCols} threads of ${t.rowsPerThread}x${t.colsPerThread}, k${t.kTile}`
    : `registers ${t.rowsPerThread}x${t.colsPerThread}x${t.workgroupSize}${t.lanes === 'cols' ? ' lanes along columns' : ''}${t.subgroupShare ? ' subgroup-shared' : ''}`;

it('the candidates include both main loops', () => {
  expect(new Set(GEMM_TILING_CANDIDATES.map((t) => t.kind ?? 'registers'))).toEqual(new Set(['registers', 'workgroup-memory']));
});

/** conv2d and its two backward passes on random x and w against the float64 references; returns the device arrays (caller releases). */
async function checkConvPasses(xShape: number[], wShape: number[], params: ConvGeom, suffix: string) {
  const x = randomData(rng, xShape.reduce((a, b) => a * b, 1));
  const w = randomData(rng, wShape.reduce((a, b) => a * b, 1));
  const [X, Wt] = [upload(x, xShape), upload(w, wShape)];
  const yRef = conv2dRef(f64(x), xShape, f64(w), wShape, params);
  await check(conv2d(rt, X, Wt, params), yRef, `conv2d${suffix}`);
  const dy = randomData(rng, yRef.out.length);
  const DY = upload(dy, yRef.shape);
  await check(conv2dBackwardData(rt, DY, Wt, xShape, params), conv2dBackwardDataRef(f64(dy), yRef.shape, f64(w), wShape, xShape, params), `conv2d backward-data${suffix}`);
  await check(conv2dBackwardFilter(rt, X, DY, wShape, params), conv2dBackwardFilterRef(f64(x), xShape, f64(dy), yRef.shape, wShape, params), `conv2d backward-filter${suffix}`);
  return { X, Wt, DY, dy, yShape: yRef.shape };
}

describe.each(GEMM_TILING_CANDIDATES.map((t) => [label(t), t] as const))('tiling %s', (_, tiling) => {
  it('matmul: odd shapes, transposes, bias and activation', async () => {
    setGemmTiling(rt, tiling);
    // The 133x45x141 case spans several tiles of every candidate in each direction with partial
    // tiles at the ends, K not a multiple of any K slice, and a batched A against a broadcast B.
    // With K a multiple of 4 (A untransposed, B transposed), subgroup-shared loops load both
    // four k at a time: K = 20 ends on half a chunk, K = 24 on a whole one (batched A). With N a
    // multiple of 4 (not of any column block), C is stored four columns at a time.
    for (const [batch, M, K, N, tA, tB] of [
      [0, 37, 19, 13, false, false], [0, 5, 64, 33, true, false], [0, 70, 3, 9, false, true], [0, 1, 7, 1, true, true], [2, 133, 45, 141, false, false],
      [0, 37, 20, 13, false, true], [2, 45, 24, 29, false, true], [0, 29, 12, 44, true, false], [2, 37, 20, 44, false, true],
    ] as const) {
      const aShape = [...(batch ? [batch] : []), ...(tA ? [K, M] : [M, K])];
      const bShape = tB ? [N, K] : [K, N];
      const a = randomData(rng, Math.max(batch, 1) * M * K);
      const b = randomData(rng, K * N);
      const bias = randomData(rng, N);
      const [A, B, Bias] = [upload(a, aShape), upload(b, bShape), upload(bias, [N])];
      const got = matmul(rt, A, B, { transposeA: tA, transposeB: tB, bias: Bias, activation: 'leaky_relu', slope: 0.2 });
      const ref = matmulRef(f64(a), aShape, f64(b), bShape, { transposeA: tA, transposeB: tB, bias: f64(bias), activation: 'leaky_relu', slope: 0.2 });
      await check(got, ref, `matmul ${batch}x${M}x${K}x${N} tA=${tA} tB=${tB}`);
      for (const x of [A, B, Bias]) rt.release(x.buffer);
    }
  });

  it('conv2d forward, backward-data, backward-filter and conv-transpose2d', async () => {
    setGemmTiling(rt, tiling);
    const params = { stride: [2, 1] as [number, number], padding: [1, 2] as [number, number], dilation: [1, 2] as [number, number] };
    const { X, Wt, DY } = await checkConvPasses([3, 5, 9, 7], [6, 5, 3, 2], params, '');
    // Strided and undilated: the phased backward-data, with a kernel the stride does not divide
    // (phases with fewer taps than others).
    const sParams = { stride: 2, padding: 1 };
    const [sxShape, swShape] = [[2, 4, 9, 8], [7, 4, 3, 3]];
    const sw = randomData(rng, 7 * 4 * 9);
    const SW = upload(sw, swShape);
    const syShape = [2, 7, 5, 4]; // ⌊(9 + 2 − 3) / 2⌋ + 1 = 5, ⌊(8 + 2 − 3) / 2⌋ + 1 = 4
    const sdy = randomData(rng, 2 * 7 * 5 * 4);
    const SDY = upload(sdy, syShape);
    await check(conv2dBackwardData(rt, SDY, SW, sxShape, sParams), conv2dBackwardDataRef(f64(sdy), syShape, f64(sw), swShape, sxShape, sParams), 'conv2d backward-data, phased');
    for (const a of [SW, SDY]) rt.release(a.buffer);
    const tShape = [5, 3, 4, 4];
    const tw = randomData(rng, 5 * 3 * 16);
    const TW = upload(tw, tShape);
    const tParams = { stride: 2, padding: 1, outputPadding: 1 };
    const xt = randomData(rng, 2 * 5 * 4 * 3);
    const XT = upload(xt, [2, 5, 4, 3]);
    await check(convTranspose2d(rt, XT, TW, tParams), convTranspose2dRef(f64(xt), [2, 5, 4, 3], f64(tw), tShape, tParams), 'conv-transpose2d');
    for (const a of [X, Wt, DY, TW, XT]) rt.release(a.buffer);
  });

  it('the same passes on channels-last copies (four k per load where the loop allows)', async () => {
    setGemmTiling(rt, tiling);
    // Wide enough for lavapipe to take channels-last copies in every pass; the innermost loops
    // (C = 36, O = 44, N = 12) end on half a chunk of 8, and O is not a multiple of any column block.
    const [xShape, wShape] = [[12, 36, 11, 9], [44, 36, 3, 3]];
    const params = { stride: 2, padding: 1 };
    const g = conv2dGeometry('test', xShape, wShape, params);
    for (const pass of ['forward', 'backward-data', 'backward-filter'] as const) expect(convLayout(rt, pass, g), pass).toBe('channels-last');
    const { X, Wt, DY, dy, yShape } = await checkConvPasses(xShape, wShape, params, ', channels-last');
    // A transposed conv (its forward is the backward-data above) with a bias in the epilogue.
    const tw = randomData(rng, 44 * 36 * 9);
    const TW = upload(tw, wShape);
    const tb = randomData(rng, 36);
    const TB = upload(tb, [36]);
    const tParams = { stride: 2, padding: 1, outputPadding: [0, 0] as [number, number] };
    const tRef = convTranspose2dRef(f64(dy), yShape, f64(tw), wShape, { ...tParams, bias: f64(tb) });
    await check(convTranspose2d(rt, DY, TW, { ...tParams, bias: TB }), tRef, 'conv-transpose2d with bias, channels-last');
    for (const a of [X, Wt, DY, TW, TB]) rt.release(a.buffer);
  });
});

describe('subgroup-shared main loops', () => {
  const shared = GEMM_TILING_CANDIDATES.filter((t): t is RegisterGemmTiling => t.kind !== 'workgroup-memory' && t.subgroupShare === true);
  // A runtime whose device has no subgroups: only the adapter summary is consulted.
  const withoutSubgroups = () => ({ ...rt, adapter: { ...rt.adapter, subgroupMinSize: 0 } }) as unknown as Runtime;

  it('are candidates, and lavapipe (8-wide subgroups) runs them and picks them for wide layers', () => {
    expect(shared.length).toBeGreaterThan(0);
    expect(shared.some((t) => t.lanes === 'cols')).toBe(true);
    expect(rt.adapter.subgroupMinSize).toBe(8);
    expect(canShareAcrossSubgroup(rt)).toBe(true);
    expect(heuristicTiling(rt, 64, 512, 'matmul', '1')).toMatchObject({ subgroupShare: true });
    expect(heuristicTiling(rt, 3136, 128, 'conv2d', 'forward')).toMatchObject({ subgroupShare: true });
    // Channels-last copies: 2 × 12 blocks for every pass of a wide layer.
    for (const kind of ['forward|channels-last', 'backward-data-phased|channels-last', 'backward-filter|channels-last']) {
      expect(heuristicTiling(rt, 3136, 128, 'conv2d', kind, 64), kind).toMatchObject({ rowsPerThread: 2, colsPerThread: 12, subgroupShare: true });
    }
  });

  it('are not picked when the innermost loop is shorter than a chunk: lanes along columns instead', () => {
    // A first conv layer over one channel: forward (inner loop c = 1) and its weight gradient.
    expect(heuristicTiling(rt, 12544, 64, 'conv2d', 'forward|nchw', 1)).toMatchObject({ lanes: 'cols' });
    expect(heuristicTiling(rt, 12544, 64, 'conv2d', 'forward|nchw', 1)).not.toMatchObject({ subgroupShare: true });
    expect(heuristicTiling(rt, 16, 64, 'conv2d.backward-filter', 'backward-filter|nchw', 64)).toMatchObject({ lanes: 'cols' });
    expect(heuristicTiling(rt, 12544, 64, 'conv2d', 'forward|nchw', 8)).toMatchObject({ subgroupShare: true });
  });

  it('are refused, and never picked, where subgroups are missing', () => {
    const bare = withoutSubgroups();
    expect(canShareAcrossSubgroup(bare)).toBe(false);
    expect(() => setGemmTiling(bare, shared[0])).toThrow(/needs subgroups of at least 8 invocations; this device's smallest is none \(no subgroups feature\)/);
    for (const [rows, cols, name, kind] of [[64, 512, 'matmul', '1'], [3136, 128, 'conv2d', 'forward'], [1024, 128, 'conv2d', 'backward-filter']] as const) {
      expect(heuristicTiling(bare, rows, cols, name, kind)).not.toMatchObject({ subgroupShare: true });
    }
    // Nor are convolutions given channels-last copies (they pay only with four-k loads).
    const g = conv2dGeometry('test', [64, 64, 14, 14], [128, 64, 4, 4], { stride: 2, padding: 1 });
    for (const pass of ['forward', 'backward-data', 'backward-filter'] as const) {
      expect(convLayout(rt, pass, g), pass).toBe('channels-last');
      expect(convLayout(bare, pass, g), pass).toBe('nchw');
    }
  });

  it('channels-last copies only where the innermost loop is a multiple of 4 and the backward-data is phased', () => {
    const odd = conv2dGeometry('test', [64, 5, 14, 14], [130, 5, 4, 4], { stride: 2, padding: 1 });
    expect(convLayout(rt, 'forward', odd)).toBe('nchw'); // C = 5
    expect(convLayout(rt, 'backward-data', odd)).toBe('nchw'); // O = 130
    expect(convLayout(rt, 'backward-filter', odd)).toBe('channels-last'); // N = 64
    const unstrided = conv2dGeometry('test', [64, 64, 14, 14], [128, 64, 3, 3], { padding: 1 });
    expect(convLayout(rt, 'backward-data', unstrided)).toBe('nchw');
    expect(convLayout(rt, 'forward', unstrided)).toBe('channels-last');
  });

  it.each(shared.map((t) => [label(t), t] as const))('%s: an infinity at the last k stays infinite (the chunk past K adds 0, not NaN)', async (_, tiling) => {
    setGemmTiling(rt, tiling);
    const [M, K, N] = [5, 9, 6];
    const a = new Float32Array(M * K).fill(0.5);
    for (let i = 0; i < M; i++) a[i * K + K - 1] = Infinity;
    const b = new Float32Array(K * N).fill(1);
    const A = upload(a, [M, K]);
    const B = upload(b, [K, N]);
    const out = matmul(rt, A, B);
    expect(Array.from((await toArray(rt, out)) as Float32Array)).toEqual(new Array(M * N).fill(Infinity));
    for (const x of [A, B, out]) rt.release(x.buffer);
  });

  it.each(shared.map((t) => [label(t), t] as const))('%s: four k at a time (K = 12, B transposed), infinities at the last k of A and B stay infinite', async (_, tiling) => {
    setGemmTiling(rt, tiling);
    const [M, K, N] = [5, 12, 6];
    const a = new Float32Array(M * K).fill(0.5);
    for (let i = 0; i < M; i++) a[i * K + K - 1] = Infinity;
    const b = new Float32Array(N * K).fill(1);
    for (let j = 0; j < N; j++) b[j * K + K - 1] = Infinity;
    const A = upload(a, [M, K]);
    const B = upload(b, [N, K]);
    const out = matmul(rt, A, B, { transposeB: true });
    expect(Array.from((await toArray(rt, out)) as Float32Array)).toEqual(new Array(M * N).fill(Infinity));
    for (const x of [A, B, out]) rt.release(x.buffer);
  });
});

describe('tuneGemms', () => {
  it('times the candidates for each new problem once and caches the choice in the store', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'webgan-tuning-')), 'tuning.json');
    useTuningStore(rt, fileTuningStore(file));
    const a = upload(randomData(rng, 40 * 24), [40, 24]);
    const b = upload(randomData(rng, 24 * 20), [24, 20]);
    const before = matmul(rt, a, b);
    const reports = await tuneGemms(rt, 1);
    expect(reports.map((r) => r.problem)).toEqual(['matmul 40x20']);
    expect(reports[0].bestMs).toBeLessThanOrEqual(reports[0].heuristicMs);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(stored)).toHaveLength(1);
    expect(Object.keys(stored)[0]).toContain(rt.adapter.description);
    // Tuned: the same problem is not timed again, and results are unchanged.
    const after = matmul(rt, a, b);
    expect(await tuneGemms(rt, 1)).toEqual([]);
    expect(await toArray(rt, after)).toEqual(await toArray(rt, before));
    for (const x of [a, b, before, after]) rt.release(x.buffer);
  });
});
