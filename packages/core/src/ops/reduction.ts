/**
 * Reductions beyond sum (which lives with arithmetic, since broadcasting gradients need it):
 * mean, max, min, and the log-sum-exp / softmax family built from them.
 */
import { getRuntime, reduce } from '@webgan/kernels';
import { record } from '../record';
import type { Tensor } from '../tensor';
import { add, broadcastTo, compare, div, mul, reshape, reshapeForBroadcast, sub, sum } from './arithmetic';
import { exp, log } from './unary';

const rt = getRuntime;

const axisList = (axes: number | number[] | undefined) => (axes === undefined ? undefined : Array.isArray(axes) ? axes : [axes]);

export function mean(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  const list = axisList(axes);
  const reduced = (list ?? x.shape.map((_, i) => i)).reduce((p, a) => p * x.shape[a < 0 ? a + x.rank : a], 1);
  return record('mean', [x], reduce(rt(), 'mean', x.deviceArray('mean'), list, keepDims), (g) => {
    const expanded = reshapeForBroadcast(g, x.shape, list);
    const spread = broadcastTo(expanded, x.shape);
    expanded.dispose();
    const out = mul(spread, 1 / reduced);
    spread.dispose();
    return [out];
  });
}

function extreme(op: 'max' | 'min', x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  const list = axisList(axes);
  return record(op, [x], reduce(rt(), op, x.deviceArray(op), list, keepDims), (g, [sx], out) => {
    // The gradient is shared equally by every element that attains the extreme.
    const outB = reshapeForBroadcast(out!, sx.shape, list);
    const hits = compare('eq', sx, outB);
    outB.dispose();
    const count = sum(hits, list, true);
    const share = div(hits, count);
    hits.dispose();
    count.dispose();
    const gB = reshapeForBroadcast(g, sx.shape, list);
    const r = mul(share, gB);
    share.dispose();
    gB.dispose();
    return [r];
  }, { save: [x], saveOutput: true });
}

export const max = (x: Tensor, axes?: number | number[], keepDims = false): Tensor => extreme('max', x, axes, keepDims);
export const min = (x: Tensor, axes?: number | number[], keepDims = false): Tensor => extreme('min', x, axes, keepDims);

/** log Σ exp(x) over `axis`, shifted by the max so it never overflows. */
export function logSumExp(x: Tensor, axis = -1, keepDims = false): Tensor {
  const m = max(x, axis, true);
  const fixed = m.detach();
  m.dispose();
  const shifted = sub(x, fixed);
  const e = exp(shifted);
  shifted.dispose();
  const s = sum(e, axis, true);
  e.dispose();
  const l = log(s);
  s.dispose();
  const withMax = add(l, fixed);
  l.dispose();
  fixed.dispose();
  if (keepDims) return withMax;
  const a = axis < 0 ? axis + x.rank : axis;
  const out = reshape(withMax, withMax.shape.filter((_, i) => i !== a));
  withMax.dispose();
  return out;
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const lse = logSumExp(x, axis, true);
  const out = sub(x, lse);
  lse.dispose();
  return out;
}

export function softmax(x: Tensor, axis = -1): Tensor {
  const ls = logSoftmax(x, axis);
  const out = exp(ls);
  ls.dispose();
  return out;
}
