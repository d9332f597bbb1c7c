/**
 * Batched matrix multiplication with either operand transposed and a fused bias + activation
 * epilogue: C = act(op(A)·op(B) + bias).
 */
import type { Runtime } from '../runtime/runtime';
import type { Activation } from '../wgsl/activation';
import { fourColumns, gemmProgram, type GemmProblem } from '../wgsl/gemm';
import { chooseGemmTiling } from '../wgsl/tiling';
import { allocArray, assertFloat, formatShape, guarded, type DeviceArray } from './array';

/** Bias (one value per output column) and activation fused into a kernel's output. */
export interface Epilogue {
  bias?: DeviceArray;
  activation?: Activation;
  /** leaky_relu's negative slope (default 0.01). */
  slope?: number;
}

export interface MatmulOptions extends Epilogue {
  transposeA?: boolean;
  transposeB?: boolean;
}

export function checkBias(op: string, bias: DeviceArray | undefined, channels: number): void {
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== channels)) {
    throw new Error(`${op}: bias ${formatShape(bias.shape)} must have shape [${channels}]`);
  }
}

/**
 * a: [M,K] or [batch,M,K] ([K,M] / [batch,K,M] with transposeA); b: [K,N] or [batch,K,N]
 * ([N,K] / [batch,N,K] with transposeB). A batch of 1 (or a 2-D operand) broadcasts.
 */
export const matmul = guarded(function matmul(runtime: Runtime, a: DeviceArray, b: DeviceArray, options: MatmulOptions = {}): DeviceArray {
  const { transposeA = false, transposeB = false } = options;
  assertFloat('matmul', 'a', a);
  assertFloat('matmul', 'b', b);
  for (const [name, x] of [['a', a], ['b', b]] as const) {
    if (x.shape.length !== 2 && x.shape.length !== 3) throw new Error(`matmul: ${name} ${formatShape(x.shape)} must be 2-D or 3-D`);
  }
  const batchA = a.shape.length === 3 ? a.shape[0] : 1;
  const batchB = b.shape.length === 3 ? b.shape[0] : 1;
  const [a0, a1] = a.shape.slice(-2);
  const [b0, b1] = b.shape.slice(-2);
  const [M, Ka] = transposeA ? [a1, a0] : [a0, a1];
  const [Kb, N] = transposeB ? [b1, b0] : [b0, b1];
  if (Ka !== Kb) {
    throw new Error(`matmul: inner dimensions differ: a ${formatShape(a.shape)} (k=${Ka}) vs b ${formatShape(b.shape)} (k=${Kb})`);
  }
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) {
    throw new Error(`matmul: batch sizes differ: a ${formatShape(a.shape)} vs b ${formatShape(b.shape)}`);
  }
  checkBias('matmul', options.bias, N);
  const K = Ka;
  const batch = Math.max(batchA, batchB);
  const outShape = a.shape.length === 2 && b.shape.length === 2 ? [M, N] : [batch, M, N];
  const out = allocArray(runtime, outShape, 'float32', 'matmul');
  if (M === 0 || N === 0 || batch === 0) return out;

  const aBatchStride = batchA === 1 ? 0 : M * K;
  const bBatchStride = batchB === 1 ? 0 : K * N;
  const vectorB = !transposeB && N % 4 === 0;
  const quadA = !transposeA && K % 4 === 0;
  const quadB = transposeB && K % 4 === 0;
  const problem: GemmProblem = {
    name: 'matmul',
    key: `${batch}|${M}|${N}|${K}|${transposeA}|${transposeB}|${aBatchStride}|${bBatchStride}`,
    rows: M,
    cols: N,
    batch,
    inputs: [['a', 'f32'], ['b', vectorB ? 'vec4f' : 'f32'], ...(options.bias ? [['bias', 'f32'] as const] : []), ...(quadA ? [['aQuads', 'vec4f'] as const] : []), ...(quadB ? [['bQuads', 'vec4f'] as const] : [])],
    rowSetup: (i) => `let aRow${i} = bz * ${aBatchStride}u + row${i} * ${transposeA ? 1 : K}u;`,
    kLoopOpen: () => '',
    kLoopClose: '',
    innerLoop: 'k',
    loopBounds: { k: K },
    a: (i) => `a[aRow${i} + k * ${transposeA ? M : 1}u]`,
    aQuad: quadA ? (i, k) => `aQuads[(aRow${i} + ${k}) / 4u]` : undefined,
    bAlongK: quadB ? (k, col) => `bQuads[(bz * ${bBatchStride}u + min(${col}, ${N - 1}u) * ${K}u + ${k}) / 4u]` : undefined,
    b: (col) => {
      const base = `bz * ${bBatchStride}u`;
      if (vectorB) return `b[(${base} + k * ${N}u + min(${col}, ${N - 4}u)) / 4u]`;
      return fourColumns(col, N, (c) => (transposeB ? `${base} + (${c}) * ${K}u + k` : `${base} + k * ${N}u + ${c}`), 'b');
    },
    flatK: K,
    aAt: (row, k) => `a[bz * ${aBatchStride}u + (${row}) * ${transposeA ? 1 : K}u + (${k}) * ${transposeA ? M : 1}u]`,
    bAt: (k, col) => {
      const index = `bz * ${bBatchStride}u + ${transposeB ? `(${col}) * ${K}u + ${k}` : `(${k}) * ${N}u + ${col}`}`;
      return vectorB ? `b[(${index}) / 4u][(${index}) % 4u]` : `b[${index}]`;
    },
    bQuadAt: vectorB ? (k, col) => `b[(bz * ${bBatchStride}u + (${k}) * ${N}u + min(${col}, ${N - 4}u)) / 4u]` : undefined,
    aContiguousAlong: transposeA ? 'row' : 'k',
    bContiguousAlong: transposeB ? 'k' : 'col',
    store: (row, col, value) => `out[bz * ${M * N}u + ${row} * ${N}u + ${col}] = ${value};`,
    storeQuad: N % 4 === 0 ? (row, col, value) => `out[(bz * ${M * N}u + ${row} * ${N}u + ${col}) / 4u] = ${value};` : undefined,
  };
  const epilogue = { bias: options.bias ? 'bias' : undefined, activation: options.activation, slope: options.slope };
  const buffers = [a.buffer, b.buffer, ...(options.bias ? [options.bias.buffer] : []), ...(quadA ? [a.buffer] : []), ...(quadB ? [b.buffer] : []), out.buffer];
  const { program, workgroups, uniforms } = gemmProgram(problem, chooseGemmTiling(runtime, problem, epilogue, buffers), epilogue);
  runtime.dispatch(program, buffers, workgroups, uniforms);
  return out;
});
