/**
 * The workgroup-memory main loop of the GEMM skeleton (`gemm.ts`), the classic GPU GEMM:
 * a workgroup of WG_ROWS × WG_COLS threads computes a (WG_ROWS·TM) × (WG_COLS·TN) tile of C. For
 * each K slice of depth KT, all its threads load the A slice (tile rows × KT) and the B slice
 * (KT × tile columns) into workgroup memory — consecutive lanes reading consecutive addresses, so
 * the global loads coalesce — then, after a barrier, every thread accumulates its TM × TN outputs
 * from workgroup memory, which serves each loaded value to many threads.
 *
 * It reads A and B only through the problem's flat accessors (`aAt`, `bAt` at any row, k, col),
 * so matmul and every implicit-GEMM convolution pass get it without code of their own.
 */
import type { GemmMainLoop, GemmProblem, WorkgroupMemoryGemmTiling } from './gemm';

/** WebGPU's default limits, which every adapter offers. */
const MAX_WORKGROUP_STORAGE_BYTES = 16384;
const MAX_INVOCATIONS_PER_WORKGROUP = 256;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * Why a workgroup-memory tiling cannot run on every WebGPU adapter, or undefined when it can
 * (sizes, invocations, and workgroup memory counting the padding any problem may add).
 */
export function workgroupTilingError(tiling: WorkgroupMemoryGemmTiling): string | undefined {
  const { rowsPerThread: TM, colsPerThread: TN, workgroupSize: WG, workgroupCols: WGC, kTile: KT } = tiling;
  if (![TM, TN, WG, WGC, KT].every((v) => Number.isInteger(v) && v > 0)) return 'every size must be a positive integer';
  if (WG > MAX_INVOCATIONS_PER_WORKGROUP) return `workgroupSize ${WG} exceeds ${MAX_INVOCATIONS_PER_WORKGROUP} invocations`;
  if (WG % WGC !== 0) return `workgroupCols ${WGC} does not divide workgroupSize ${WG}`;
  const bytes = 4 * KT * ((WG / WGC) * TM + 1) + 16 * KT * ((WGC * TN) / 4 + 1);
  if (bytes > MAX_WORKGROUP_STORAGE_BYTES) return `needs up to ${bytes} bytes of workgroup memory, more than ${MAX_WORKGROUP_STORAGE_BYTES}`;
  return undefined;
}

function tileGeometry(problem: GemmProblem, tiling: WorkgroupMemoryGemmTiling) {
  const { rowsPerThread: TM, colsPerThread: TN, workgroupSize: WG, workgroupCols: WGC } = tiling;
  const tileRows = (WG / WGC) * TM;
  const tileQuads = (WGC * TN) / 4;
  // A slice loaded along k (B along k) writes workgroup memory with a stride of one row (one
  // column of quads): one element of padding per row keeps those writes off a single bank.
  const aStride = tileRows + (problem.aContiguousAlong === 'k' ? 1 : 0);
  const bStride = tileQuads + (problem.bContiguousAlong === 'k' ? 1 : 0);
  return { tileRows, tileQuads, aStride, bStride };
}

export function workgroupTiledMainLoop(problem: GemmProblem, tiling: WorkgroupMemoryGemmTiling): GemmMainLoop {
  const { rowsPerThread: TM, colsPerThread: TN, workgroupSize: WG, workgroupCols: WGC, kTile: KT } = tiling;
  const { tileRows, tileQuads, aStride, bStride } = tileGeometry(problem, tiling);
  const threadRows = WG / WGC;
  const K = problem.flatK;
  const kLast = Math.max(K - 1, 0);
  const vecs = TN / 4;

  // Each thread loads the same slots of every K slice: slot s covers element lane + s·WG of the
  // slice, numbered along the operand's contiguous index. Their coordinates are computed once.
  const aElements = KT * tileRows;
  const aSlots = range(Math.ceil(aElements / WG));
  const aAlongRows = problem.aContiguousAlong === 'row';
  const aSlotSetup = aSlots.map((s) => `let aSlot${s} = lane + ${s * WG}u;
  let aRowInTile${s} = aSlot${s} ${aAlongRows ? `% ${tileRows}u` : `/ ${KT}u`};
  let aKInTile${s} = aSlot${s} ${aAlongRows ? `/ ${tileRows}u` : `% ${KT}u`};
  let aRow${s} = min(rowBase + aRowInTile${s}, ${problem.rows - 1}u);`).join('\n  ');
  const aLoads = aSlots.map((s) => {
    const load = `{ let k = k0 + aKInTile${s};
      tileA[aKInTile${s} * ${aStride}u + aRowInTile${s}] = select(0.0, ${problem.aAt(`aRow${s}`, `min(k, ${kLast}u)`)}, k < ${K}u); }`;
    return aElements % WG === 0 ? load : `if (aSlot${s} < ${aElements}u) ${load}`;
  }).join('\n    ');

  const bQuads = KT * tileQuads;
  const bSlots = range(Math.ceil(bQuads / WG));
  const bAlongCols = problem.bContiguousAlong === 'col';
  const bSlotSetup = bSlots.map((s) => `let bSlot${s} = lane + ${s * WG}u;
  let bQuadInTile${s} = bSlot${s} ${bAlongCols ? `% ${tileQuads}u` : `/ ${KT}u`};
  let bKInTile${s} = bSlot${s} ${bAlongCols ? `/ ${tileQuads}u` : `% ${KT}u`};
  let bCol${s} = colBase + 4u * bQuadInTile${s};`).join('\n  ');
  const quadAt = (k: string, col: string) =>
    problem.bQuadAt?.(k, col) ?? `vec4f(${range(4).map((t) => problem.bAt(k, `min(${col} + ${t}u, ${problem.cols - 1}u)`)).join(', ')})`;
  const bLoads = bSlots.map((s) => {
    const load = `{ let k = k0 + bKInTile${s};
      let kIn = min(k, ${kLast}u);
      tileB[bKInTile${s} * ${bStride}u + bQuadInTile${s}] = select(vec4f(0.0), ${quadAt('kIn', `bCol${s}`)}, k < ${K}u); }`;
    return bQuads % WG === 0 ? load : `if (bSlot${s} < ${bQuads}u) ${load}`;
  }).join('\n    ');

  // Thread (ty, tx) owns rows ty + i·threadRows and column quads j·WGC + tx: strided, so that
  // neighbouring lanes read neighbouring quads of the B slice (no bank conflicts) and lanes of a
  // row share A values (broadcast).
  const fmas = range(TM).flatMap((i) => range(vecs).map((j) => `acc${i}_${j} = fma(a${i}, b${j}, acc${i}_${j});`)).join('\n      ');
  const body = `
  let tx = lane % ${WGC}u;
  let ty = lane / ${WGC}u;
  let rowBase = wid.x * ${tileRows}u;
  let colBase = wid.y * ${4 * tileQuads}u;
  ${aSlotSetup}
  ${bSlotSetup}
  ${range(TM).flatMap((i) => range(vecs).map((j) => `var acc${i}_${j} = vec4f(0.0);`)).join('\n  ')}
  for (var kSlice = 0u; kSlice < bounds.kSlices; kSlice++) {
    let k0 = kSlice * ${KT}u;
    ${aLoads}
    ${bLoads}
    workgroupBarrier();
    // A uniform trip count, not the literal kTile: LLVM (lavapipe) unrolls a literal-bound loop
    // whole, which made a 64×64 tile take 3–5 s to compile instead of about 0.5 s. Unrolling
    // by hand (4 steps per iteration) still cost 2–3× the compile time.
    for (var kk = 0u; kk < bounds.kTile; kk++) {
      ${range(TM).map((i) => `let a${i} = vec4f(tileA[kk * ${aStride}u + ty + ${i * threadRows}u]);`).join('\n      ')}
      ${range(vecs).map((j) => `let b${j} = tileB[kk * ${bStride}u + ${j * WGC}u + tx];`).join('\n      ')}
      ${fmas}
    }
    // The next slice overwrites the tiles: every thread must be done reading them.
    workgroupBarrier();
  }`;
  return {
    workgroupSize: WG,
    workgroups: [Math.ceil(problem.rows / tileRows), Math.ceil(problem.cols / (4 * tileQuads)), problem.batch],
    // Uniforms, not literals, for the reason given at GemmProblem.loopBounds and above.
    loopBounds: { kSlices: Math.ceil(K / KT), kTile: KT },
    declarations: `
var<workgroup> tileA: array<f32, ${KT * aStride}>;
var<workgroup> tileB: array<vec4f, ${KT * bStride}>;
${problem.accessorFunctions ?? ''}`,
    body,
    rowsPerThread: TM,
    colsPerThread: TN,
    row: (i) => `(rowBase + ty + ${i * threadRows}u)`,
    col: (j) => `(colBase + ${4 * j * WGC}u + 4u * tx)`,
  };
}
