/**
 * Spreading a 1-D range of work over the 2-D workgroup grid: WebGPU caps each dimension at
 * `maxComputeWorkgroupsPerDimension` (65535 by default), which a 1-D grid of 64-wide groups
 * passes at 4M elements.
 */
import type { Workgroups } from '../runtime/program';

const MAX_GROUPS_PER_DIMENSION = 65535;

export interface Grid1d {
  workgroups: Workgroups;
  /** Invocations per row of the grid: the flat index is `gid.x + gid.y * rowStride`. */
  rowStride: number;
}

/** Workgroups covering `count` invocations with `workgroupSize`-wide groups. */
export function grid1d(count: number, workgroupSize: number): Grid1d {
  const groups = Math.max(1, Math.ceil(count / workgroupSize));
  if (groups <= MAX_GROUPS_PER_DIMENSION) return { workgroups: [groups, 1], rowStride: groups * workgroupSize };
  const rows = Math.ceil(groups / MAX_GROUPS_PER_DIMENSION);
  const cols = Math.ceil(groups / rows);
  return { workgroups: [cols, rows], rowStride: cols * workgroupSize };
}

/** WGSL statement declaring `name` as the flat invocation index of a `grid1d` dispatch. */
export function flatIndex(grid: Grid1d, name = 'i'): string {
  return `let ${name} = gid.x + gid.y * ${grid.rowStride}u;`;
}
