/**
 * Shape and layout ops: permute/transpose, slice, concat/stack, pad, squeeze/unsqueeze/flatten,
 * gather by int32 indices, topk, where, clamp. Each gradient is another op of this file.
 */
import {
  concat as concatKernel,
  gather as gatherKernel,
  gatherBackward,
  getRuntime,
  pad as padKernel,
  permute as permuteKernel,
  slice as sliceKernel,
  clamp as clampKernel,
  where as whereKernel,
  topKIndices,
} from '@webgan/kernels';
import { record } from '../record';
import { fmt, fromDeviceArray, type Tensor } from '../tensor';
import { compare, mul, reshape, sub, sumTo } from './arithmetic';

const rt = getRuntime;

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return record('permute', [x], permuteKernel(rt(), x.deviceArray('permute'), perm), (g) => [permute(g, inverse)]);
}

/** Swaps two dims (default: the last two). */
export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  const rank = x.rank;
  const a = dim0 < 0 ? dim0 + rank : dim0;
  const b = dim1 < 0 ? dim1 + rank : dim1;
  if (a < 0 || b < 0 || a >= rank || b >= rank) throw new Error(`transpose: dims ${dim0}, ${dim1} out of range for shape ${fmt(x.shape)}`);
  const perm = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  return permute(x, perm);
}

/** The block starting at `begin` with `size` per dim (-1: to the end). */
export function slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
  const out = sliceKernel(rt(), x.deviceArray('slice'), begin, size);
  return record('slice', [x], out, (g) => [pad(g, x.shape.map((d, i) => [begin[i], d - begin[i] - out.shape[i]] as [number, number]))]);
}

export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  const out = concatKernel(rt(), xs.map((x) => x.deviceArray('concat')), axis);
  const a = axis < 0 ? axis + out.shape.length : axis;
  return record('concat', xs, out, (g) => {
    let start = 0;
    return xs.map((x) => {
      const begin = g.shape.map((_, i) => (i === a ? start : 0));
      const size = g.shape.map((d, i) => (i === a ? x.shape[a] : d));
      start += x.shape[a];
      return x.requiresGrad ? slice(g, begin, size) : null;
    });
  });
}

/** Joins tensors of the same shape along a new axis. */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new Error('stack: needs at least one tensor');
  const a = axis < 0 ? axis + xs[0].rank + 1 : axis;
  const expanded = xs.map((x) => unsqueeze(x, a));
  const out = concat(expanded, a);
  for (const e of expanded) e.dispose();
  return out;
}

/** Pads each dim with [before, after] elements of `value` (gradient: the inner slice). */
export function pad(x: Tensor, padding: readonly (readonly [number, number])[], value = 0): Tensor {
  return record('pad', [x], padKernel(rt(), x.deviceArray('pad'), padding, value), (g) => [
    slice(g, padding.map(([before]) => before), x.shape),
  ]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = axis < 0 ? axis + x.rank + 1 : axis;
  if (a < 0 || a > x.rank) throw new Error(`unsqueeze: axis ${axis} out of range for shape ${fmt(x.shape)}`);
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const a = axis < 0 ? axis + x.rank : axis;
  if (x.shape[a] !== 1) throw new Error(`squeeze: dim ${axis} of shape ${fmt(x.shape)} is not 1`);
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

/** Flattens dims start..end (inclusive) into one. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  const s = startDim < 0 ? startDim + x.rank : startDim;
  const e = endDim < 0 ? endDim + x.rank : endDim;
  const merged = x.shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
  return reshape(x, [...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
}

/** Picks slices along `axis` by int32 indices (labels, embeddings); gradient scatters back. */
export function gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
  return record('gather', [x], gatherKernel(rt(), x.deviceArray('gather'), indices.deviceArray('gather'), axis), (g, [sIdx]) => [
    gatherBackwardOp(g, sIdx, axis, x.shape),
  ], { save: [indices] });
}

/**
 * The k largest elements of a 1-D tensor, largest first (ties: lower index first), as PyTorch's
 * `topk(x, k)`: `values` is differentiable (a gather, so its gradient flows back to the chosen
 * elements only), `indices` is int32.
 */
export function topk(x: Tensor, k: number): { values: Tensor; indices: Tensor } {
  if (x.rank !== 1) throw new Error(`topk: x must be 1-D, got ${fmt(x.shape)}`);
  const indices = fromDeviceArray(topKIndices(rt(), x.deviceArray('topk'), k));
  return { values: gather(x, indices, 0), indices };
}

/** Scatter-add of `g` by indices into zeros(shape): gather's gradient, itself differentiable. */
function gatherBackwardOp(g: Tensor, indices: Tensor, axis: number, shape: readonly number[]): Tensor {
  return record('gatherBackward', [g], gatherBackward(rt(), g.deviceArray(), indices.deviceArray(), axis, shape), (gg, [sIdx]) => [gather(gg, sIdx, axis)], {
    save: [indices],
  });
}

/** cond ? a : b elementwise, broadcasting (cond nonzero = true). */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  return record('where', [a, b], whereKernel(rt(), cond.deviceArray('where'), a.deviceArray('where'), b.deviceArray('where')), (g, [sc]) => {
    const chosen = compare('ne', sc, 0);
    const ga = mul(g, chosen);
    chosen.dispose();
    const gb = sub(g, ga);
    const ra = a.requiresGrad ? sumTo(ga, a.shape) : null;
    const rb = b.requiresGrad ? sumTo(gb, b.shape) : null;
    ga.dispose();
    gb.dispose();
    return [ra, rb];
  }, { save: [cond] });
}

/** Limits values to [min, max]; gradient passes where the value was inside. */
export function clamp(x: Tensor, min: number, max: number): Tensor {
  return record('clamp', [x], clampKernel(rt(), x.deviceArray('clamp'), min, max), (g, [sx]) => {
    const above = compare('ge', sx, min);
    const below = compare('le', sx, max);
    const inside = mul(above, below);
    above.dispose();
    below.dispose();
    const r = mul(g, inside);
    inside.dispose();
    return [r];
  }, { save: [x] });
}
