/**
 * Tile shapes for the GEMM skeleton, per adapter and per problem, chosen by measurement.
 *
 * What wins on lavapipe (a CPU: register blocks sized to the SIMD registers, B loads shared by the
 * whole workgroup) is not what wins on a GPU (tiles staged in workgroup memory, coalesced loads:
 * `gemm-workgroup-tiled.ts`), and the best tile also depends on the problem's
 * shape. `chooseGemmTiling` returns a tuned tiling when one is cached for this adapter and problem,
 * otherwise a heuristic one, and remembers the problem; `tuneGemms` later times every candidate on
 * each remembered problem (on scratch buffers of the same sizes) and caches the fastest, in memory
 * and in the runtime's tuning store (a file under Node, so the next process starts tuned).
 */
import type { GpuBuffer } from '../runtime/buffer-pool';
import type { Runtime } from '../runtime/runtime';
import { SUBGROUP_K_CHUNK, gemmProgram, gemmTilingError, tilingLabel, type GemmEpilogue, type GemmProblem, type GemmTiling, type WorkgroupMemoryGemmTiling } from './gemm';

/** Persists tuned tilings; keys include the adapter description. */
export interface TuningStore {
  load(): Record<string, GemmTiling>;
  save(entries: Record<string, GemmTiling>): void;
}

// Measured on lavapipe (2-core Zen, AVX2): 4 rows × 8–12 columns per invocation wins; the best
// workgroup size depends on the shape (16 for a 64-row matmul, 32–64 for 512 rows). Larger blocks
// (8 × 16) were no faster and took 20 s to compile.
const CPU_CANDIDATES: GemmTiling[] = [
  { rowsPerThread: 4, colsPerThread: 8, workgroupSize: 64 },
  { rowsPerThread: 4, colsPerThread: 12, workgroupSize: 64 },
  { rowsPerThread: 4, colsPerThread: 12, workgroupSize: 32 },
  { rowsPerThread: 4, colsPerThread: 8, workgroupSize: 32 },
  { rowsPerThread: 4, colsPerThread: 8, workgroupSize: 16 },
  { rowsPerThread: 2, colsPerThread: 8, workgroupSize: 64 },
  { rowsPerThread: 2, colsPerThread: 12, workgroupSize: 32 },
  { rowsPerThread: 1, colsPerThread: 8, workgroupSize: 64 },
  { rowsPerThread: 8, colsPerThread: 8, workgroupSize: 8, lanes: 'cols' },
  { rowsPerThread: 8, colsPerThread: 8, workgroupSize: 16, lanes: 'cols' },
  { rowsPerThread: 6, colsPerThread: 8, workgroupSize: 8, lanes: 'cols' },
];
// With subgroups (lavapipe has them, 8 lanes wide): the shared operand is loaded once per
// subgroup instead of once per lane, which moves the balance to fewer rows per lane.
const CPU_SUBGROUP_CANDIDATES: GemmTiling[] = [
  { rowsPerThread: 2, colsPerThread: 12, workgroupSize: 32, subgroupShare: true },
  { rowsPerThread: 2, colsPerThread: 8, workgroupSize: 32, subgroupShare: true },
  { rowsPerThread: 2, colsPerThread: 8, workgroupSize: 64, subgroupShare: true },
  { rowsPerThread: 1, colsPerThread: 8, workgroupSize: 32, subgroupShare: true },
  { rowsPerThread: 2, colsPerThread: 4, workgroupSize: 32, subgroupShare: true },
  { rowsPerThread: 8, colsPerThread: 4, workgroupSize: 8, lanes: 'cols', subgroupShare: true },
];
// On GPUs, tiles staged in workgroup memory: per-lane A loads of register blocking do not coalesce.
// A 64×64 tile of 16×16 threads is the usual middle ground; 128 rows × 64 columns (8×4 outputs
// per thread) for large problems — conv rows are pixels, usually more than the channels in
// columns; a 32×32 tile of 8×8 threads keeps small layers (DCGAN's few channels) from leaving
// most of a big tile idle. All fit WebGPU's default 16 KiB of workgroup memory (2.2–8.5 KiB). A
// 128×128 tile (8×8 per thread) took 1.4–2 s to compile on lavapipe, where every candidate is
// compiled by the tests: left out until a GPU measurement shows it is worth that.
const WORKGROUP_TILE_64: WorkgroupMemoryGemmTiling = { kind: 'workgroup-memory', rowsPerThread: 4, colsPerThread: 4, workgroupSize: 256, workgroupCols: 16, kTile: 16 };
const WORKGROUP_TILE_128x64: WorkgroupMemoryGemmTiling = { kind: 'workgroup-memory', rowsPerThread: 8, colsPerThread: 4, workgroupSize: 256, workgroupCols: 16, kTile: 8 };
const WORKGROUP_TILE_32: WorkgroupMemoryGemmTiling = { kind: 'workgroup-memory', rowsPerThread: 4, colsPerThread: 4, workgroupSize: 64, workgroupCols: 8, kTile: 8 };
const GPU_CANDIDATES: GemmTiling[] = [
  WORKGROUP_TILE_64,
  WORKGROUP_TILE_128x64,
  WORKGROUP_TILE_32,
  { rowsPerThread: 4, colsPerThread: 4, workgroupSize: 64 },
  { rowsPerThread: 4, colsPerThread: 8, workgroupSize: 64 },
  { rowsPerThread: 2, colsPerThread: 4, workgroupSize: 128 },
  { rowsPerThread: 1, colsPerThread: 4, workgroupSize: 256 },
];

const sameTiling = (a: GemmTiling, b: GemmTiling) => tilingLabel(a) === tilingLabel(b);

/** Every tiling the tuner may pick, on any adapter (tests run each of them). */
export const GEMM_TILING_CANDIDATES: readonly GemmTiling[] = [...CPU_CANDIDATES, ...CPU_SUBGROUP_CANDIDATES, ...GPU_CANDIDATES].filter(
  (tiling, i, all) => all.findIndex((other) => sameTiling(other, tiling)) === i,
);

/** Whether tilings with `subgroupShare` can run here: subgroups enabled, never narrower than a K chunk. */
export function canShareAcrossSubgroup(runtime: Runtime): boolean {
  return runtime.adapter.subgroupMinSize >= SUBGROUP_K_CHUNK;
}

const runsHere = (runtime: Runtime, tiling: GemmTiling) => tiling.kind === 'workgroup-memory' || !tiling.subgroupShare || canShareAcrossSubgroup(runtime);

/** The tilings the tuner times on this runtime. */
function candidatesFor(runtime: Runtime): GemmTiling[] {
  if (!runtime.adapter.isFallbackAdapter) return GPU_CANDIDATES;
  return canShareAcrossSubgroup(runtime) ? [...CPU_CANDIDATES, ...CPU_SUBGROUP_CANDIDATES] : CPU_CANDIDATES;
}

interface Pending {
  problem: GemmProblem;
  epilogue: GemmEpilogue;
  bufferSizes: number[];
}

interface TuningState {
  tuned: Map<string, GemmTiling>;
  pending: Map<string, Pending>;
  store?: TuningStore;
  forced?: GemmTiling;
}

const states = new WeakMap<Runtime, TuningState>();

function stateOf(runtime: Runtime): TuningState {
  let state = states.get(runtime);
  if (!state) states.set(runtime, (state = { tuned: new Map(), pending: new Map() }));
  return state;
}

const tuningKey = (runtime: Runtime, problem: GemmProblem, epilogue: GemmEpilogue) =>
  `${runtime.adapter.description}|${problem.name}|${problem.key}|${epilogue.activation ?? 'none'}|${epilogue.bias ? 'bias' : ''}`;

/** Attaches a store of tuned tilings to a runtime and loads what it holds. */
export function useTuningStore(runtime: Runtime, store: TuningStore): void {
  const state = stateOf(runtime);
  state.store = store;
  // An entry this version cannot run (a hand edit, an older format) is tuned again instead.
  for (const [key, tiling] of Object.entries(store.load())) if (!gemmTilingError(tiling) && runsHere(runtime, tiling)) state.tuned.set(key, tiling);
}

/** Forces one tiling for every GEMM on this runtime (benchmarks, experiments); undefined clears it. */
export function setGemmTiling(runtime: Runtime, tiling: GemmTiling | undefined): void {
  if (tiling && !runsHere(runtime, tiling)) {
    throw new Error(`setGemmTiling: ${tilingLabel(tiling)} needs subgroups of at least ${SUBGROUP_K_CHUNK} invocations; this device's smallest is ${runtime.adapter.subgroupMinSize || 'none (no subgroups feature)'}`);
  }
  stateOf(runtime).forced = tiling;
}

/**
 * On CPU adapters, convolution backward passes with at least this many rows and columns run with
 * lanes along columns: an im2col gather's address arithmetic is then uniform across the SIMD
 * lanes. Measured on lavapipe for the DCGAN's [64,64,14,14] ↔ [64,128,7,7] layer: backward-data
 * 87 → 60 ms, backward-filter 98 → 71 ms; the forward pass (and matmul) stayed faster with lanes
 * along rows. So did wide matmuls of few rows (a linear layer at batch 64: [64, 512]·[512, 784]ᵀ
 * 4.95 → 4.1 ms).
 */
const LANES_ALONG_COLS: GemmTiling = { rowsPerThread: 8, colsPerThread: 8, workgroupSize: 8, lanes: 'cols' };

/** Subgroup-shared B (see `RegisterGemmTiling.subgroupShare`), for adapters that can run it. */
const SHARED_B_2x8x64: GemmTiling = { rowsPerThread: 2, colsPerThread: 8, workgroupSize: 64, subgroupShare: true };
const SHARED_B_2x12x32: GemmTiling = { rowsPerThread: 2, colsPerThread: 12, workgroupSize: 32, subgroupShare: true };

/**
 * The heuristic tiling used before (or without) tuning, for a problem named `name` whose key
 * starts with `kind` (its first two fields: the pass and, for convolutions, the layout) and whose
 * innermost K loop runs `innerLoop` times.
 */
export function heuristicTiling(runtime: Runtime, rows: number, cols: number, name = '', kind = '', innerLoop = Infinity): GemmTiling {
  if (!runtime.adapter.isFallbackAdapter) {
    // A tile much larger than C leaves most threads idle; a few columns (an RGB output, a critic's
    // single logit) are better served by register blocks of 4 columns.
    if (cols <= 8) return { rowsPerThread: 4, colsPerThread: 4, workgroupSize: 64 };
    if (rows >= 2048 && cols >= 64) return WORKGROUP_TILE_128x64;
    return rows >= 256 && cols >= 32 ? WORKGROUP_TILE_64 : WORKGROUP_TILE_32;
  }
  // An innermost K loop shorter than a chunk would leave most of every subgroup-shared chunk idle
  // (a first conv layer over 1 channel: 7 of 8). Lanes along columns serve those instead;
  // measured on lavapipe for a DCGAN's first conv, x[64,1,28,28] → [64,64,14,14]: forward
  // 23 → 5 ms, backward-filter 13 → 2.6 ms.
  const shortInner = innerLoop < SUBGROUP_K_CHUNK;
  if (shortInner && cols >= 64) return LANES_ALONG_COLS;
  if (canShareAcrossSubgroup(runtime) && rows >= 64 && cols >= 32 && !shortInner) {
    // Measured on lavapipe: the DCGAN layer's conv forward 70 → 54 ms, backward-data 64 → 53,
    // backward-filter 78 → 50; batch-64 linear layers ([64,784]·[784,512]ᵀ) 4.0 → 2.7 ms. On
    // channels-last copies (four k per load) 2 × 12 wins everywhere: forward 48 → 40 ms,
    // backward-data 49 → 46, backward-filter 48 → 45 against 2 × 8 × 64.
    const pixelRows = kind.startsWith('forward') || kind.startsWith('backward-data');
    return pixelRows && rows >= 1024 && !kind.includes('channels-last') ? SHARED_B_2x8x64 : SHARED_B_2x12x32;
  }
  if (kind.startsWith('backward-') && rows >= 64 && cols >= 64) return LANES_ALONG_COLS;
  // A first layer's weight gradient (taps of one channel as rows: 16 for 4 × 4): 13 → 2.6 ms.
  if (kind.startsWith('backward-filter') && cols >= 64) return LANES_ALONG_COLS;
  if (name === 'matmul' && rows <= 128 && cols >= 256) return LANES_ALONG_COLS;
  // Narrow outputs (few columns) waste most of a wide column block; few rows, most of a tall one.
  // A workgroup covers workgroupSize · rowsPerThread rows: keep that no taller than the problem.
  const colsPerThread = cols <= 4 ? 4 : 8;
  if (rows >= 1024) return { rowsPerThread: 4, colsPerThread, workgroupSize: 64 };
  if (rows >= 64) return { rowsPerThread: 4, colsPerThread, workgroupSize: 16 };
  return { rowsPerThread: 1, colsPerThread, workgroupSize: 32 };
}

const problemKind = (problem: GemmProblem) => problem.key.split('|').slice(0, 2).join('|');

/** The tiling to run `problem` with now; remembers untuned problems for `tuneGemms`. */
export function chooseGemmTiling(runtime: Runtime, problem: GemmProblem, epilogue: GemmEpilogue, buffers: readonly GpuBuffer[]): GemmTiling {
  const state = stateOf(runtime);
  if (state.forced) return state.forced;
  const key = tuningKey(runtime, problem, epilogue);
  const tuned = state.tuned.get(key);
  if (tuned) return tuned;
  if (!state.pending.has(key)) state.pending.set(key, { problem, epilogue, bufferSizes: buffers.map((b) => b.size) });
  return heuristicTiling(runtime, problem.rows, problem.cols, problem.name, problemKind(problem), problem.loopBounds[problem.innerLoop]);
}

export interface TuningReport {
  problem: string;
  best: GemmTiling;
  bestMs: number;
  heuristicMs: number;
}

/**
 * Times every candidate tiling on each GEMM problem seen since the last call that has no tuned
 * tiling yet, and caches the fastest. Run it once after a first training step: shapes stay fixed
 * afterwards, so each problem is tuned once per adapter (and never again with a store).
 */
export async function tuneGemms(runtime: Runtime, repetitions = 3): Promise<TuningReport[]> {
  const state = stateOf(runtime);
  const candidates = candidatesFor(runtime);
  const reports: TuningReport[] = [];
  await runtime.sync();
  for (const [key, { problem, epilogue, bufferSizes }] of state.pending) {
    // Zeroed: pooled memory may hold NaNs or denormals, which are slow on CPU adapters.
    const scratch = bufferSizes.map((size) => runtime.upload(new Uint8Array(size), 'tuning.scratch'));
    const heuristic = heuristicTiling(runtime, problem.rows, problem.cols, problem.name, problemKind(problem), problem.loopBounds[problem.innerLoop]);
    let best = heuristic;
    let bestMs = Infinity;
    let heuristicMs = Infinity;
    try {
      for (const tiling of candidates) {
        const { program, workgroups, uniforms } = gemmProgram(problem, tiling, epilogue);
        runtime.dispatch(program, scratch, workgroups, uniforms);
        await runtime.sync(); // compile and warm up outside the timing
        const started = performance.now();
        for (let r = 0; r < repetitions; r++) runtime.dispatch(program, scratch, workgroups, uniforms);
        await runtime.sync();
        const ms = (performance.now() - started) / repetitions;
        if (sameTiling(tiling, heuristic)) heuristicMs = ms;
        if (ms < bestMs) [best, bestMs] = [tiling, ms];
      }
    } finally {
      for (const buffer of scratch) runtime.release(buffer);
    }
    state.tuned.set(key, best);
    reports.push({ problem: `${problem.name} ${problem.rows}x${problem.cols}`, best, bestMs, heuristicMs });
  }
  state.pending.clear();
  state.store?.save(Object.fromEntries(state.tuned));
  return reports;
}

