/**
 * Tile shapes per adapter. What wins on lavapipe (a CPU: tall register blocks, B loads shared by
 * the whole workgroup) differs from a real GPU; the choice is made here in one place.
 */
import type { Runtime } from '../runtime/runtime';
import type { GemmTiling } from './gemm';

const overrides = new WeakMap<Runtime, GemmTiling>();

/** Forces a tiling for every GEMM-based kernel on this runtime (benchmarks, tuning). */
export function setGemmTiling(runtime: Runtime, tiling: GemmTiling | undefined): void {
  if (tiling) overrides.set(runtime, tiling);
  else overrides.delete(runtime);
}

export function gemmTiling(runtime: Runtime, rows: number, cols: number): GemmTiling {
  const forced = overrides.get(runtime);
  if (forced) return forced;
  // Narrow outputs (few columns) waste most of a wide column block.
  const colsPerThread = cols <= 4 ? 4 : 8;
  const rowsPerThread = rows >= 256 ? 4 : rows >= 64 ? 2 : 1;
  return { rowsPerThread, colsPerThread, workgroupSize: 64 };
}
