/**
 * Losses, reduced by mean (PyTorch's default) or not. bceWithLogits runs a fused, overflow-free
 * kernel forward; its gradient g·(σ(x) − t) is one kernel too, or differentiable ops when the
 * backward pass is itself recorded.
 */
import { bceWithLogits as bceKernel, bceWithLogitsBackward, binary, cast, getRuntime } from '@webgan/kernels';
import { isGradEnabled } from '../autograd';
import { record } from '../record';
import { fmt, fromDeviceArray, type Tensor } from '../tensor';
import { add, mul, neg, reshape, sub, sum } from './arithmetic';
import { arange } from './creation';
import { logSoftmax, mean } from './reduction';
import { clamp, gather } from './shape';
import { log, sigmoid } from './unary';

const rt = getRuntime;

export type Reduction = 'mean' | 'sum' | 'none';

function reduceLoss(loss: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return loss;
  const out = reduction === 'mean' ? mean(loss) : sum(loss);
  loss.dispose();
  return out;
}

function checkSame(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.join() !== b.shape.join()) throw new Error(`${op}: input ${fmt(a.shape)} and target ${fmt(b.shape)} must have the same shape`);
}

/** Binary cross-entropy on logits: max(x,0) − x·t + log(1 + e^−|x|). */
export function bceWithLogits(logits: Tensor, targets: Tensor, reduction: Reduction = 'mean'): Tensor {
  checkSame('bceWithLogits', logits, targets);
  const loss = record('bceWithLogits', [logits, targets], bceKernel(rt(), logits.deviceArray('bceWithLogits'), targets.deviceArray('bceWithLogits')), (g, [sx, st]) => {
    // d/dx = σ(x) − t ; d/dt = −x
    let gx: Tensor | null = null;
    if (logits.requiresGrad && !isGradEnabled()) {
      gx = record('bceWithLogitsBackward', [], bceWithLogitsBackward(rt(), g.deviceArray(), sx.deviceArray(), st.deviceArray()), () => []);
    } else if (logits.requiresGrad) {
      const s = sigmoid(sx);
      const d = sub(s, st);
      s.dispose();
      gx = mul(g, d);
      d.dispose();
    }
    let gt: Tensor | null = null;
    if (targets.requiresGrad) {
      const negX = neg(sx);
      gt = mul(g, negX);
      negX.dispose();
    }
    return [gx, gt];
  }, { save: [logits, targets] });
  return reduceLoss(loss, reduction);
}

/** Binary cross-entropy on probabilities; logs clamped at −100 like PyTorch. */
export function bce(probabilities: Tensor, targets: Tensor, reduction: Reduction = 'mean'): Tensor {
  checkSame('bce', probabilities, targets);
  const lp = clampedLog(probabilities);
  const oneMinusP = sub(1, probabilities);
  const l1p = clampedLog(oneMinusP);
  oneMinusP.dispose();
  const a = mul(targets, lp);
  const oneMinusT = sub(1, targets);
  const b = mul(oneMinusT, l1p);
  oneMinusT.dispose();
  lp.dispose();
  l1p.dispose();
  const s = add(a, b);
  a.dispose();
  b.dispose();
  const loss = neg(s);
  s.dispose();
  return reduceLoss(loss, reduction);
}

function clampedLog(x: Tensor): Tensor {
  const l = log(x);
  const c = clamp(l, -100, Infinity);
  l.dispose();
  return c;
}

/** Mean squared error. */
export function mse(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  checkSame('mse', input, target);
  const d = sub(input, target);
  const sq = mul(d, d);
  d.dispose();
  return reduceLoss(sq, reduction);
}

/** Cross-entropy from logits [N, classes] and int32 labels [N]. */
export function crossEntropy(logits: Tensor, labels: Tensor, reduction: Reduction = 'mean'): Tensor {
  if (logits.rank !== 2) throw new Error(`crossEntropy: logits ${fmt(logits.shape)} must be [batch, classes]`);
  if (labels.dtype !== 'int32' || labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new Error(`crossEntropy: labels must be int32 [${logits.shape[0]}], got ${labels.dtype} ${fmt(labels.shape)}`);
  }
  const ls = logSoftmax(logits, 1);
  const picked = pickPerRow(ls, labels);
  ls.dispose();
  const loss = neg(picked);
  picked.dispose();
  return reduceLoss(loss, reduction);
}

/** out[i] = x[i, labels[i]] for x [N, C]: gather on the flattened matrix at i·C + label. */
function pickPerRow(x: Tensor, labels: Tensor): Tensor {
  const [N, C] = x.shape;
  const offsets = rowOffsets(N, C, labels);
  const flat = reshape(x, [N * C]);
  const picked = gather(flat, offsets, 0);
  flat.dispose();
  offsets.dispose();
  return picked;
}

/** Flat indices i·C + labels[i], as int32. */
function rowOffsets(N: number, C: number, labels: Tensor): Tensor {
  const runtime = rt();
  const base = arange(0, N * C, C);
  const labelsF = cast(runtime, labels.deviceArray('crossEntropy'), 'float32');
  const summed = binary(runtime, 'add', base.deviceArray(), labelsF);
  runtime.release(labelsF.buffer);
  base.dispose();
  const asInt = cast(runtime, summed, 'int32');
  runtime.release(summed.buffer);
  return fromDeviceArray(asInt);
}
