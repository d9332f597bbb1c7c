/**
 * The GEMM skeleton shared by matmul and every convolution pass:
 *   C[batch, row, col] = epilogue( Σ_k A(row, k) · B(k, col) )
 * Problems (matmul, conv forward / backward-data / backward-filter) say how to read A and B (plain
 * strides or an implicit im2col gather) and where C goes. A tiling picks the main loop:
 *  - 'registers' (this file): each invocation owns `rowsPerThread` rows × `colsPerThread` columns
 *    (vec4 accumulators) and loads its own A values; the column block comes from the workgroup
 *    id, so every lane of a workgroup reads the same B values. No barriers: what wins on CPU
 *    adapters. On lavapipe (Mesa 25.0) every storage load is a bounds-checked scalar load per
 *    SIMD lane, even when all lanes read one address, so with `subgroupShare` the shared operand
 *    is loaded once per subgroup and handed round with subgroupBroadcast.
 *  - 'workgroup-memory' (`gemm-workgroup-tiled.ts`): a workgroup stages K slices of A and B in
 *    workgroup memory with coalesced loads, then accumulates from there: what wins on GPUs.
 * Both share the bindings, the uniform block of loop bounds and the epilogue (bias, activation,
 * store), assembled here around the variant's main loop.
 */
import type { KernelProgram } from '../runtime/program';
import { ACTIVATION_HELPERS, activationExpr, type Activation } from './activation';
import { workgroupTiledMainLoop, workgroupTilingError } from './gemm-workgroup-tiled';

/** Register blocking (see the file comment); `kind` may be left out. */
export interface RegisterGemmTiling {
  kind?: 'registers';
  rowsPerThread: number;
  /** Multiple of 4. */
  colsPerThread: number;
  workgroupSize: number;
  /**
   * What consecutive invocations (SIMD lanes on a CPU) step along. 'rows' (default): each lane
   * its own rows, the column block from the workgroup id, so every lane of a workgroup reads the
   * same B values and its own A values. 'cols': the rows come from the workgroup id, so A values
   * (and an im2col tap's address arithmetic) are the same for all lanes, and lanes take
   * consecutive groups of 4 columns; a lane's colsPerThread / 4 column groups lie workgroupSize
   * groups apart.
   */
  lanes?: 'rows' | 'cols';
  /**
   * Load the operand every lane shares (B with lanes along rows, A along columns) once per
   * subgroup instead of once per lane: the innermost K loop runs in chunks of 8, lane l loads the
   * chunk's k = k0 + l, and subgroupBroadcast hands each k's value to all lanes. On lavapipe
   * every storage load is 8 branchy scalar loads, one per lane, even when all lanes read the same
   * address; with this the shared operand costs 1/8 of that. Needs the `subgroups` feature with
   * subgroups of at least 8 invocations (`Runtime.subgroupMinSize`).
   */
  subgroupShare?: boolean;
}

/** The K chunk of a subgroup-shared main loop: lanes 0..7 of a subgroup each load one k of it. */
export const SUBGROUP_K_CHUNK = 8;

/**
 * Workgroup-memory tiling: workgroupSize / workgroupCols rows of threads × workgroupCols columns
 * of threads, each owning rowsPerThread × colsPerThread outputs, compute one tile of C while
 * kTile-deep slices of A and B pass through workgroup memory.
 */
export interface WorkgroupMemoryGemmTiling {
  kind: 'workgroup-memory';
  rowsPerThread: number;
  /** Multiple of 4. */
  colsPerThread: number;
  /** Invocations per workgroup; at most 256 (WebGPU's default maxComputeInvocationsPerWorkgroup). */
  workgroupSize: number;
  /** Threads along the column axis of the tile; divides workgroupSize. */
  workgroupCols: number;
  /** K depth of the slice staged per pair of barriers. */
  kTile: number;
}

export type GemmTiling = RegisterGemmTiling | WorkgroupMemoryGemmTiling;

/** A short name for a tiling, unique per tiling: pipeline keys, test names, tuning reports. */
export function tilingLabel(t: GemmTiling): string {
  if (t.kind === 'workgroup-memory') {
    return `workgroup-memory ${t.workgroupSize / t.workgroupCols}x${t.workgroupCols} threads of ${t.rowsPerThread}x${t.colsPerThread}, k${t.kTile}`;
  }
  return `registers ${t.rowsPerThread}x${t.colsPerThread}x${t.workgroupSize}${t.lanes === 'cols' ? ' lanes-cols' : ''}${t.subgroupShare ? ' subgroup-share' : ''}`;
}

/** Why `tiling` cannot be used (tuning files may hold anything), or undefined when it can. */
export function gemmTilingError(tiling: GemmTiling): string | undefined {
  const { rowsPerThread: TM, colsPerThread: TN, workgroupSize: WG } = tiling;
  if (![TM, TN, WG].every((v) => Number.isInteger(v) && v > 0)) return 'every size must be a positive integer';
  if (TN % 4 !== 0) return `colsPerThread ${TN} is not a multiple of 4`;
  if (tiling.kind === 'workgroup-memory') return workgroupTilingError(tiling);
  if (tiling.kind !== undefined && tiling.kind !== 'registers') return `unknown kind ${JSON.stringify(tiling.kind)}`;
  if (tiling.lanes !== undefined && tiling.lanes !== 'rows' && tiling.lanes !== 'cols') return `unknown lanes ${JSON.stringify(tiling.lanes)}`;
  if (tiling.subgroupShare !== undefined && typeof tiling.subgroupShare !== 'boolean') return `subgroupShare must be a boolean, got ${JSON.stringify(tiling.subgroupShare)}`;
  return undefined;
}

export interface GemmEpilogue {
  /** Name of an input binding holding one bias value per column. */
  bias?: string;
  activation?: Activation;
  slope?: number;
}

export interface GemmProblem {
  name: string;
  /** Everything the generated source depends on besides tiling and epilogue. */
  key: string;
  rows: number;
  cols: number;
  batch: number;
  /** Input bindings in order: [name, element type]; the output binding `out` follows them. */
  inputs: readonly (readonly [string, 'f32' | 'vec4f'])[];

  // --- The register-blocked main loop's view: a loop nest over K with per-row state. ---
  /**
   * Statements run once per thread row i (0 ≤ i < rowsPerThread), after `row{i}` (the row, clamped
   * into range) and `bz` (the batch index) are defined; they define what `a(i)` needs.
   */
  rowSetup(i: number): string;
  /**
   * The outer K loops: opening lines (loops, and per-row values computed between loops, for rows
   * 0 .. rowsPerThread-1; empty when K is a single loop) and their closing braces.
   */
  kLoopOpen(rowsPerThread: number): string;
  kLoopClose: string;
  /**
   * The innermost K loop's variable: the main loop writes that loop itself (plain, or in chunks
   * for subgroup sharing), from 0 to `bounds.<innerLoop>`; `a` and `b` read it.
   */
  innerLoop: string;
  /** f32 expression of A(row i, k) inside the loop. */
  a(i: number): string;
  /**
   * When A is contiguous along the innermost k in memory and each row starts at a multiple of 4:
   * vec4f expression of A(row i, k .. k+3) for a u32 expression k that is a multiple of 4 (< the
   * trip count). Subgroup-shared main loops then load A four k at a time.
   */
  aQuad?(i: number, k: string): string;
  /**
   * When B is contiguous along the innermost k: vec4f expression of B(k .. k+3, col) for a u32
   * expression k that is a multiple of 4 (the trip count is one too) and a column expression that
   * may pass the last column (clamp it). Subgroup-shared main loops then load B four k at a time.
   */
  bAlongK?(k: string, col: string): string;
  /**
   * vec4f expression of B(k, col .. col+3) where `col` is a WGSL u32 expression. Columns ≥ cols
   * must not read out of bounds (clamp them); their values are never stored. One loop body then
   * serves the last, partial column block too, which halves what LLVM has to compile.
   */
  b(col: string): string;
  /**
   * Trip counts of the K loops (the innermost one's under its variable's name), read in WGSL as
   * `bounds.<name>`. They travel as uniforms rather than literals on purpose: LLVM (lavapipe)
   * fully unrolls nested loops with constant bounds, which made a 3×3×3 convolution take 20 s to
   * compile, for no speed gain.
   */
  loopBounds: Readonly<Record<string, number>>;

  // --- The flat view, for main loops that stage tiles of A and B (any row, any k). ---
  /** Total K: the flat k index runs over [0, flatK). */
  flatK: number;
  /**
   * f32 expression of A(row, k) for u32 expressions row < rows and k < flatK (`bz` is in scope).
   * Taps outside an image give 0. A and B must enumerate k in the same order.
   */
  aAt(row: string, k: string): string;
  /** f32 expression of B(k, col) for k < flatK and col < cols. */
  bAt(k: string, col: string): string;
  /**
   * vec4f of B(k, col .. col+3) for col a multiple of 4, clamping columns past the last into range;
   * when absent, four `bAt` loads are used.
   */
  bQuadAt?(k: string, col: string): string;
  /** Module-scope WGSL functions `aAt` / `bAt` expressions call (bindings are in scope, `bz` is not). */
  accessorFunctions?: string;
  /**
   * The index along which A (B) is contiguous in memory: tile loads give consecutive lanes
   * consecutive values of it, so their global loads coalesce.
   */
  aContiguousAlong: 'row' | 'k';
  bContiguousAlong: 'k' | 'col';

  /** Statement storing f32 `value` at C(row `row`, column `col`) of batch `bz`. */
  store(row: string, col: string, value: string): string;
  /**
   * When C's rows are contiguous and cols is a multiple of 4: statement storing vec4f `value` at
   * C(row, col .. col+3) for col a multiple of 4. The output is then bound as array<vec4f> and
   * every store goes through this (`store` is not used): on lavapipe one store per lane instead
   * of four, which matters most for short K (a weight gradient over a batch of 64).
   */
  storeQuad?(row: string, col: string, value: string): string;
}

/**
 * What a main-loop variant contributes to a GEMM kernel; bindings, uniforms and the epilogue are
 * assembled around it by `gemmProgram`.
 */
export interface GemmMainLoop {
  workgroupSize: number;
  workgroups: readonly [number, number, number];
  /** Uniform trip counts, read in WGSL as `bounds.<name>`. */
  loopBounds: Readonly<Record<string, number>>;
  /** Module-scope declarations: workgroup arrays, helper functions. */
  declarations: string;
  /** Whether the body uses subgroup operations (`enable subgroups;` and the `sl` builtin). */
  usesSubgroups?: boolean;
  /**
   * Statements of `main` (with `wid`, `lane` and `bz` in scope) that leave vec4f accumulators
   * `acc{i}_{j}` (i < rowsPerThread, j < colsPerThread / 4) holding C before the epilogue.
   */
  body: string;
  rowsPerThread: number;
  colsPerThread: number;
  /** u32 expression: the C row of accumulator row i; rows ≥ problem.rows are not stored. */
  row(i: number): string;
  /** u32 expression: the first of the four C columns of accumulator column j. */
  col(j: number): string;
}

/** vec4f of four scalar loads at `index(col + t)`, clamping columns past the last into range. */
export function fourColumns(col: string, cols: number, index: (c: string) => string, array: string): string {
  const at = (t: number) => `${array}[${index(`min(${col} + ${t}u, ${cols - 1}u)`)}]`;
  return `vec4f(${at(0)}, ${at(1)}, ${at(2)}, ${at(3)})`;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function registerBlockedMainLoop(problem: GemmProblem, tiling: RegisterGemmTiling): GemmMainLoop {
  const { rowsPerThread: TM, colsPerThread: TN, workgroupSize: WG } = tiling;
  const vecs = TN / 4;
  const lanesAlongCols = tiling.lanes === 'cols';
  const fmas = range(TM).flatMap((i) => range(vecs).map((j) => `acc${i}_${j} = fma(a${i}, b${j}, acc${i}_${j});`)).join('\n      ');
  // Row i and the first column of vec4 j of this invocation.
  const rowOf = (i: number) => (lanesAlongCols ? `wid.x * ${TM}u + ${i}u` : `wid.x * ${WG * TM}u + ${i * WG}u + lane`);
  const colOf = (j: number) => (lanesAlongCols ? `(wid.y * ${WG * TN}u + ${4 * j * WG}u + 4u * lane)` : `(col0 + ${4 * j}u)`);
  const k = problem.innerLoop;
  const bound = `bounds.${k}`;
  const aLoads = (inRange?: string) =>
    range(TM).map((i) => `let a${i} = vec4f(${inRange ? `select(0.0, ${problem.a(i)}, ${inRange})` : problem.a(i)});`).join('\n      ');
  const bLoads = (inRange?: string) =>
    range(vecs).map((j) => `let b${j} = ${inRange ? `select(vec4f(0.0), ${problem.b(colOf(j))}, ${inRange})` : problem.b(colOf(j))};`).join('\n      ');
  let innerLoop: string;
  // Four k per load where the problem allows it. On lavapipe a vec4 load is one trip of the
  // per-lane load loop instead of four: the [64,512]·[512,784]ᵀ matmul 2.9 → 2.3 ms.
  const quadA = tiling.subgroupShare === true && !lanesAlongCols && problem.aQuad !== undefined;
  const quadB = tiling.subgroupShare === true && !lanesAlongCols && problem.bAlongK !== undefined;

  if (!tiling.subgroupShare) {
    innerLoop = `for (var ${k} = 0u; ${k} < ${bound}; ${k}++) {
      ${aLoads()}
      ${bLoads()}
      ${fmas}
    }`;
  } else {
    // Lane sl of the subgroup loads the shared operand for k = chunk + sl (0 past the end); step
    // kk of the chunk takes lane kk's value. The other operand is zeroed past the end too, so an
    // infinity at the clamped k cannot turn 0 into NaN.
    //
    // With quads (lanes along rows only): each lane loads its A rows four k at a time (aQuad i_h:
    // k = chunk + 4h .. +3), and the chunk's B, TN columns × 8 k, as 2·TN quads: quad q = 2·column
    // + h is loaded by lane q mod 8 into its bQuad (q / 8). Quads past the end read as zeros.
    const quadLoads: string[] = [];
    if (quadA) {
      for (const i of range(TM)) {
        for (const h of range(SUBGROUP_K_CHUNK / 4)) {
          const start = `${k}Chunk + ${4 * h}u`;
          quadLoads.push(`let aQuad${i}_${h} = select(vec4f(0.0), ${problem.aQuad!(i, `min(${start}, ${bound} - 4u)`)}, ${start} < ${bound});`);
        }
      }
    }
    if (quadB) {
      const start = `${k}Chunk + 4u * (sl & 1u)`;
      for (const r of range(vecs)) {
        quadLoads.push(`let bQuad${r} = select(vec4f(0.0), ${problem.bAlongK!(`min(${start}, ${bound} - 4u)`, `col0 + (sl + ${8 * r}u) / 2u`)}, ${start} < ${bound});`);
      }
    } else {
      const shared = lanesAlongCols ? range(TM).map((i) => `shared${i}`) : range(vecs).map((j) => `shared${j}`);
      const sharedLoads = lanesAlongCols
        ? range(TM).map((i) => `shared${i} = select(0.0, ${problem.a(i)}, inRange);`)
        : range(vecs).map((j) => `shared${j} = select(vec4f(0.0), ${problem.b(colOf(j))}, inRange);`);
      quadLoads.push(`${shared.map((name) => `var ${name}: ${lanesAlongCols ? 'f32' : 'vec4f'};`).join(' ')}
      {
        let ${k} = min(${k}Chunk + sl, ${bound} - 1u);
        let inRange = ${k}Chunk + sl < ${bound};
        ${sharedLoads.join('\n        ')}
      }`);
    }
    const aStep = (kk: number) => {
      if (lanesAlongCols) return range(TM).map((i) => `let a${i} = vec4f(subgroupBroadcast(shared${i}, ${kk}u));`).join('\n      ');
      if (quadA) return range(TM).map((i) => `let a${i} = vec4f(aQuad${i}_${kk >> 2}[${kk & 3}]);`).join('\n      ');
      return aLoads('inRange');
    };
    const bStep = (kk: number) => {
      if (lanesAlongCols) return bLoads('inRange');
      if (quadB) {
        const value = (column: number) => {
          const q = 2 * column + (kk >> 2);
          return `subgroupBroadcast(bQuad${q >> 3}[${kk & 3}], ${q & 7}u)`;
        };
        return range(vecs).map((j) => `let b${j} = vec4f(${range(4).map((t) => value(4 * j + t)).join(', ')});`).join('\n      ');
      }
      return range(vecs).map((j) => `let b${j} = subgroupBroadcast(shared${j}, ${kk}u);`).join('\n      ');
    };
    const step = (kk: number) => `{
      let ${k} = min(${k}Chunk + ${kk}u, ${bound} - 1u);
      let inRange = ${k}Chunk + ${kk}u < ${bound};
      ${aStep(kk)}
      ${bStep(kk)}
      ${fmas}
    }`;
    innerLoop = `for (var ${k}Chunk = 0u; ${k}Chunk < ${bound}; ${k}Chunk += ${SUBGROUP_K_CHUNK}u) {
      ${quadLoads.join('\n      ')}
      ${range(SUBGROUP_K_CHUNK).map(step).join('\n      ')}
    }`;
  }
  const body = `
  let col0 = wid.y * ${TN}u;
  ${range(TM).map((i) => `let rowRaw${i} = ${rowOf(i)};
  let row${i} = min(rowRaw${i}, ${problem.rows - 1}u);
  ${problem.rowSetup(i)}`).join('\n  ')}
  ${range(TM).flatMap((i) => range(vecs).map((j) => `var acc${i}_${j} = vec4f(0.0);`)).join('\n  ')}
    ${problem.kLoopOpen(TM)}
    ${innerLoop}
    ${problem.kLoopClose}`;
  return {
    workgroupSize: WG,
    workgroups: lanesAlongCols
      ? [Math.ceil(problem.rows / TM), Math.ceil(problem.cols / (TN * WG)), problem.batch]
      : [Math.ceil(problem.rows / (WG * TM)), Math.ceil(problem.cols / TN), problem.batch],
    loopBounds: problem.loopBounds,
    declarations: '',
    usesSubgroups: tiling.subgroupShare === true,
    body,
    rowsPerThread: TM,
    colsPerThread: TN,
    row: (i) => `rowRaw${i}`,
    col: colOf,
  };
}

/** Bias, activation and the bounds-checked store of every accumulator: the same for all variants. */
function epilogueStores(problem: GemmProblem, loop: GemmMainLoop, epilogue: GemmEpilogue): string {
  const activation = epilogue.activation ?? 'none';
  const value = (i: number, j: number, t: number, col: string) => {
    const biased = epilogue.bias ? `acc${i}_${j}[${t}] + ${epilogue.bias}[${col}]` : `acc${i}_${j}[${t}]`;
    return activationExpr(activation, `(${biased})`, epilogue.slope);
  };
  return range(loop.rowsPerThread).map((i) => {
    const stores = problem.storeQuad
      ? range(loop.colsPerThread / 4).map((j) => {
        const col = loop.col(j);
        const quad = `vec4f(${range(4).map((t) => value(i, j, t, `${col} + ${t}u`)).join(', ')})`;
        return `if (${col} < ${problem.cols}u) { ${problem.storeQuad!(`rowOut${i}`, col, quad)} }`;
      })
      : range(loop.colsPerThread / 4).flatMap((j) =>
        range(4).map((t) => {
          const col = `${loop.col(j)} + ${t}u`;
          return `if (${col} < ${problem.cols}u) { ${problem.store(`rowOut${i}`, col, value(i, j, t, col))} }`;
        }),
      );
    return `{ let rowOut${i} = ${loop.row(i)};
  if (rowOut${i} < ${problem.rows}u) {
    ${stores.join('\n    ')}
  } }`;
  }).join('\n  ');
}

export interface GemmLaunch {
  program: KernelProgram;
  workgroups: readonly [number, number, number];
  uniforms: Uint32Array;
}

/**
 * Built launches by program key. The key determines the source (problems are specialised to
 * their shapes), and building one generates the main loop's WGSL: tens of kilobytes of strings
 * per matmul, which a training step would otherwise make (and collect) dozens of times over.
 */
const launches = new Map<string, GemmLaunch>();
const LAUNCH_CACHE_LIMIT = 2048;

export function gemmProgram(problem: GemmProblem, tiling: GemmTiling, epilogue: GemmEpilogue = {}): GemmLaunch {
  const error = gemmTilingError(tiling);
  if (error) throw new Error(`gemm tiling ${JSON.stringify(tiling)}: ${error}`);
  const activation = epilogue.activation ?? 'none';
  const key = `${problem.name}|${problem.key}|${tilingLabel(tiling)}|${activation}|${epilogue.slope ?? ''}|${epilogue.bias ?? ''}`;
  const cached = launches.get(key);
  if (cached) return cached;
  const loop = tiling.kind === 'workgroup-memory' ? workgroupTiledMainLoop(problem, tiling) : registerBlockedMainLoop(problem, tiling);

  const boundNames = Object.keys(loop.loopBounds);
  const boundSlots = Math.max(4, Math.ceil(boundNames.length / 4) * 4);
  const uniforms = new Uint32Array(boundSlots);
  boundNames.forEach((name, k) => (uniforms[k] = loop.loopBounds[name]));
  const boundFields = Array.from({ length: boundSlots }, (_, k) => `${boundNames[k] ?? `_pad${k}`}: u32`).join(', ');
  const program: KernelProgram = {
    name: problem.name,
    key,
    bindings: [...problem.inputs.map(() => 'read' as const), 'read_write'],
    uniformBytes: uniforms.byteLength,
    source: () => `${loop.usesSubgroups ? 'enable subgroups;' : ''}
${problem.inputs.map(([name, type], b) => `@group(0) @binding(${b}) var<storage, read> ${name}: array<${type}>;`).join('\n')}
@group(0) @binding(${problem.inputs.length}) var<storage, read_write> out: array<${problem.storeQuad ? 'vec4f' : 'f32'}>;
struct LoopBounds { ${boundFields} }
@group(0) @binding(${problem.inputs.length + 1}) var<uniform> bounds: LoopBounds;
${activation === 'tanh' || activation === 'sigmoid' ? ACTIVATION_HELPERS : ''}
${loop.declarations}
@compute @workgroup_size(${loop.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32${loop.usesSubgroups ? ', @builtin(subgroup_invocation_id) sl: u32' : ''}) {
  let bz = wid.z;
  ${loop.body}
  ${epilogueStores(problem, loop, epilogue)}
}`,
  };
  const launch = { program, workgroups: loop.workgroups, uniforms };
  if (launches.size >= LAUNCH_CACHE_LIMIT) launches.clear();
  launches.set(key, launch);
  return launch;
}
