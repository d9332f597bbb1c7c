/**
 * The register-blocked GEMM skeleton shared by matmul and every convolution pass:
 *   C[batch, row, col] = epilogue( Σ_k A(row, k) · B(k, col) )
 * Each invocation owns `rowsPerThread` rows × `colsPerThread` columns (vec4 accumulators). The
 * column block comes from the workgroup id, so every B load is uniform across the workgroup —
 * on lavapipe that is a scalar load broadcast to all SIMD lanes, while A loads differ per lane.
 * Problems (matmul, conv forward / backward-data / backward-filter) supply how to load A and B
 * (plain strides or an implicit im2col gather), the K loop nest, and where C goes.
 */
import type { KernelProgram } from '../runtime/program';
import { ACTIVATION_HELPERS, activationExpr, type Activation } from './activation';

export interface GemmTiling {
  rowsPerThread: number;
  /** Multiple of 4. */
  colsPerThread: number;
  workgroupSize: number;
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
  /**
   * Statements run once per thread row i (0 ≤ i < rowsPerThread), after `row{i}` (the row, clamped
   * into range) and `bz` (the batch index) are defined; they define what `a(i)` needs.
   */
  rowSetup(i: number): string;
  /**
   * The K loop nest: opening lines (loops, and per-row values computed between loops, for rows
   * 0 .. rowsPerThread-1) and the closing braces.
   */
  kLoopOpen(rowsPerThread: number): string;
  kLoopClose: string;
  /** Per-row statements at the top of the innermost loop body (e.g. validity of an im2col tap). */
  rowInner?(i: number): string;
  /** f32 expression of A(row i, k) inside the loop. */
  a(i: number): string;
  /**
   * vec4f expression of B(k, col .. col+3) where `col` is a WGSL u32 expression. Columns ≥ cols
   * must not read out of bounds (clamp them); their values are never stored. One loop body then
   * serves the last, partial column block too, which halves what LLVM has to compile.
   */
  b(col: string): string;
  /** Statement storing f32 `value` at C(row `row`, column `col`) of batch `bz`. */
  store(row: string, col: string, value: string): string;
  /**
   * Trip counts of the K loops, read in WGSL as `bounds.<name>`. They travel as uniforms rather
   * than literals on purpose: LLVM (lavapipe) fully unrolls nested loops with constant bounds,
   * which made a 3×3×3 convolution take 20 s to compile, for no speed gain.
   */
  loopBounds: Readonly<Record<string, number>>;
}

/** vec4f of four scalar loads at `index(col + t)`, clamping columns past the last into range. */
export function fourColumns(col: string, cols: number, index: (c: string) => string, array: string): string {
  const at = (t: number) => `${array}[${index(`min(${col} + ${t}u, ${cols - 1}u)`)}]`;
  return `vec4f(${at(0)}, ${at(1)}, ${at(2)}, ${at(3)})`;
}

export function gemmProgram(problem: GemmProblem, tiling: GemmTiling, epilogue: GemmEpilogue = {}) {
  const { rowsPerThread: TM, colsPerThread: TN, workgroupSize: WG } = tiling;
  if (TN % 4 !== 0) throw new Error(`gemm tiling: colsPerThread ${TN} is not a multiple of 4`);
  const vecs = TN / 4;
  const rowsPerGroup = WG * TM;
  const workgroups = [Math.ceil(problem.rows / rowsPerGroup), Math.ceil(problem.cols / TN), problem.batch] as const;
  const activation = epilogue.activation ?? 'none';
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);

  const fmas = range(TM).flatMap((i) => range(vecs).map((j) => `acc${i}_${j} = fma(a${i}, b${j}, acc${i}_${j});`)).join('\n      ');
  const loadB = range(vecs).map((j) => `let b${j} = ${problem.b(`(col0 + ${4 * j}u)`)};`).join('\n      ');
  const simpleLoop = (open: string, close: string) => `
    ${open}
      ${problem.rowInner ? range(TM).map((i) => problem.rowInner!(i)).join('\n      ') : ''}
      ${range(TM).map((i) => `let a${i} = vec4f(${problem.a(i)});`).join('\n      ')}
      ${loadB}
      ${fmas}
    ${close}`;
  const loop = simpleLoop(problem.kLoopOpen(TM), problem.kLoopClose);

  const stores = range(TM).flatMap((i) =>
    range(vecs).flatMap((j) =>
      range(4).map((t) => {
        const col = `col0 + ${4 * j + t}u`;
        const biased = epilogue.bias ? `acc${i}_${j}[${t}] + ${epilogue.bias}[${col}]` : `acc${i}_${j}[${t}]`;
        return `if (${col} < ${problem.cols}u) { ${problem.store(`rowRaw${i}`, col, activationExpr(activation, `(${biased})`, epilogue.slope))} }`;
      }),
    ).map((s) => `if (rowRaw${i} < ${problem.rows}u) { ${s} }`),
  );

  const boundNames = Object.keys(problem.loopBounds);
  const boundSlots = Math.max(4, Math.ceil(boundNames.length / 4) * 4);
  const uniforms = new Uint32Array(boundSlots);
  boundNames.forEach((name, k) => (uniforms[k] = problem.loopBounds[name]));
  const boundFields = Array.from({ length: boundSlots }, (_, k) => `${boundNames[k] ?? `_pad${k}`}: u32`).join(', ');
  const program: KernelProgram = {
    name: problem.name,
    key: `${problem.name}|${problem.key}|${TM}x${TN}x${WG}|${activation}|${epilogue.slope ?? ''}|${epilogue.bias ?? ''}`,
    bindings: [...problem.inputs.map(() => 'read' as const), 'read_write'],
    uniformBytes: uniforms.byteLength,
    source: () => `
${problem.inputs.map(([name, type], b) => `@group(0) @binding(${b}) var<storage, read> ${name}: array<${type}>;`).join('\n')}
@group(0) @binding(${problem.inputs.length}) var<storage, read_write> out: array<f32>;
struct LoopBounds { ${boundFields} }
@group(0) @binding(${problem.inputs.length + 1}) var<uniform> bounds: LoopBounds;
${activation === 'tanh' || activation === 'sigmoid' ? ACTIVATION_HELPERS : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
  let bz = wid.z;
  let col0 = wid.y * ${TN}u;
  ${range(TM).map((i) => `let rowRaw${i} = wid.x * ${rowsPerGroup}u + ${i * WG}u + lane;
  let row${i} = min(rowRaw${i}, ${problem.rows - 1}u);
  ${problem.rowSetup(i)}`).join('\n  ')}
  ${range(TM).flatMap((i) => range(vecs).map((j) => `var acc${i}_${j} = vec4f(0.0);`)).join('\n  ')}
  ${loop}
  ${stores.join('\n  ')}
}`,
  };
  return { program, workgroups, uniforms };
}
