/**
 * Arithmetic with NumPy broadcasting (tensor ∘ tensor, tensor ∘ number) and the shape plumbing
 * its gradients need: a gradient of a broadcast input is summed back to the input's shape.
 */
import { binary, broadcastTo as broadcastKernel, getRuntime, reduce, scalarOp, unary } from '@webgan/kernels';
import { record } from '../record';
import { Tensor, fmt } from '../tensor';
import { log } from './unary';

const rt = getRuntime;

/** Sums `g` over the dims that broadcasting added or stretched, giving `shape`. */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.join() === shape.join()) return g.alias();
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let d = 0; d < g.rank; d++) if (d < lead || (shape[d - lead] === 1 && g.shape[d] !== 1)) axes.push(d);
  const summed = axes.length ? sum(g, axes, true) : g.alias();
  const out = reshape(summed, shape);
  summed.dispose();
  return out;
}

/** Shares storage with a new shape (same number of elements). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const inferred = shape.map((d) => (d === -1 ? x.size / known : d));
  if (shape.filter((d) => d === -1).length > 1 || inferred.some((d) => !Number.isInteger(d) || d < 0) || inferred.reduce((a, b) => a * b, 1) !== x.size) {
    throw new Error(`reshape: cannot reshape ${fmt(x.shape)} (${x.size} elements) to ${fmt(shape)}`);
  }
  const view = x.deviceArray('reshape');
  return record('reshape', [x], { ...view, shape: inferred }, (g) => [reshape(g, x.shape)], { storage: x.storage.retain() });
}

/** Repeats x along size-1 dims to `shape`. */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  if (x.shape.join() === shape.join()) return x.alias();
  return record('broadcastTo', [x], broadcastKernel(rt(), x.deviceArray('broadcastTo'), shape), (g) => [sumTo(g, x.shape)]);
}

type Operand = Tensor | number;

function binaryOp(
  name: 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min',
  a: Tensor,
  b: Tensor,
  grads: (g: Tensor, a: Tensor, b: Tensor, out: Tensor | undefined) => [Tensor | null, Tensor | null],
  saveOutput = false,
): Tensor {
  const result = binary(rt(), name, a.deviceArray(name), b.deviceArray(name));
  return record(name, [a, b], result, (g, [sa, sb], out) => {
    const [ga, gb] = grads(g, sa, sb, out);
    const ra = ga && a.requiresGrad ? sumTo(ga, a.shape) : null;
    const rb = gb && b.requiresGrad ? sumTo(gb, b.shape) : null;
    ga?.dispose();
    gb?.dispose();
    return [ra, rb];
  }, { save: [a, b], saveOutput });
}

function scalarOperand(name: Parameters<typeof scalarOp>[1], x: Tensor, s: number, grad: (g: Tensor, x: Tensor, out: Tensor | undefined) => Tensor, saveOutput = false): Tensor {
  return record(`${name}Scalar`, [x], scalarOp(rt(), name, x.deviceArray(name), s), (g, [sx], out) => [grad(g, sx, out)], { save: [x], saveOutput });
}

export function add(a: Operand, b: Operand): Tensor {
  if (typeof a === 'number') return add(b, a);
  if (typeof b === 'number') return scalarOperand('add', a, b, (g) => g.alias());
  return binaryOp('add', a, b, (g) => [g.alias(), g.alias()]);
}

export function sub(a: Operand, b: Operand): Tensor {
  if (typeof a === 'number' && typeof b === 'number') throw new Error('sub: at least one operand must be a tensor');
  if (typeof a === 'number') return scalarOperand('rsub', b as Tensor, a, (g) => neg(g));
  if (typeof b === 'number') return scalarOperand('add', a, -b, (g) => g.alias());
  return binaryOp('sub', a, b, (g) => [g.alias(), neg(g)]);
}

export function mul(a: Operand, b: Operand): Tensor {
  if (typeof a === 'number') return mul(b, a);
  if (typeof b === 'number') return scalarOperand('mul', a, b, (g) => mul(g, b));
  return binaryOp('mul', a, b, (g, sa, sb) => [mul(g, sb), mul(g, sa)]);
}

export function div(a: Operand, b: Operand): Tensor {
  if (typeof a === 'number' && typeof b === 'number') throw new Error('div: at least one operand must be a tensor');
  if (typeof b === 'number') return scalarOperand('mul', a as Tensor, 1 / b, (g) => mul(g, 1 / b));
  if (typeof a === 'number') {
    // d(s/x)/dx = −s/x² = −out/x
    return scalarOperand('rdiv', b, a, (g, x, out) => {
      const ratio = div(out!, x);
      const r = mul(g, ratio);
      ratio.dispose();
      const n = neg(r);
      r.dispose();
      return n;
    }, true);
  }
  return binaryOp('div', a, b, (g, sa, sb, out) => {
    const ga = div(g, sb);
    const t = div(out!, sb);
    const gt = mul(g, t);
    t.dispose();
    const gb = neg(gt);
    gt.dispose();
    return [ga, gb];
  }, true);
}

/** x^e, elementwise (e a number or a tensor; negative bases need integer exponents). */
export function pow(x: Tensor, e: Operand): Tensor {
  if (typeof e === 'number') {
    if (e === 1) return x.alias();
    return scalarOperand('pow', x, e, (g, sx) => {
      const d = e === 2 ? mul(sx, 2) : mulScalarPow(sx, e);
      const r = mul(g, d);
      d.dispose();
      return r;
    });
  }
  return binaryOp('pow', x, e, (g, sx, se, out) => {
    // d/dx = e·x^(e−1) = e·out/x ; d/de = out·ln x
    const eMinus1 = sub(se, 1);
    const xe1 = pow(sx, eMinus1);
    eMinus1.dispose();
    const dx = mul(se, xe1);
    xe1.dispose();
    const ga = mul(g, dx);
    dx.dispose();
    let gb: Tensor | null = null;
    if (e.requiresGrad) {
      const lnx = log(sx);
      const d = mul(out!, lnx);
      lnx.dispose();
      gb = mul(g, d);
      d.dispose();
    }
    return [ga, gb];
  }, true);
}

/** e·x^(e−1), differentiable. */
function mulScalarPow(x: Tensor, e: number): Tensor {
  const p = pow(x, e - 1);
  const r = mul(p, e);
  p.dispose();
  return r;
}

export function neg(x: Tensor): Tensor {
  return record('neg', [x], unary(rt(), 'neg', x.deviceArray('neg')), (g) => [neg(g)]);
}

export function maximum(a: Tensor, b: Tensor): Tensor {
  return binaryOp('max', a, b, (g, sa, sb) => selectGrads(g, sa, sb, 'ge'));
}

export function minimum(a: Tensor, b: Tensor): Tensor {
  return binaryOp('min', a, b, (g, sa, sb) => selectGrads(g, sa, sb, 'le'));
}

/** Gradient of max/min: to a where a wins (ties to a), else to b. */
function selectGrads(g: Tensor, a: Tensor, b: Tensor, op: 'ge' | 'le'): [Tensor, Tensor] {
  const mask = compare(op, a, b);
  const ga = mul(g, mask);
  const gb = sub(g, ga);
  mask.dispose();
  return [ga, gb];
}

/** Elementwise comparison giving float32 1/0 (not differentiable). */
export function compare(op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge', a: Tensor, b: Operand): Tensor {
  if (typeof b === 'number') {
    const scalar = scalarTensor(b);
    const out = compare(op, a, scalar);
    scalar.dispose();
    return out;
  }
  return record(op, [], binary(rt(), op, a.deviceArray(op), b.deviceArray(op)), () => []);
}

/** A 0-d tensor holding `value`. */
export function scalarTensor(value: number): Tensor {
  return record('scalar', [], { buffer: rt().upload(new Float32Array([value]), 'scalar'), shape: [], dtype: 'float32' }, () => []);
}

export function sum(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  const list = axes === undefined ? undefined : Array.isArray(axes) ? axes : [axes];
  return record('sum', [x], reduce(rt(), 'sum', x.deviceArray('sum'), list, keepDims), (g) => {
    const expanded = reshapeForBroadcast(g, x.shape, list);
    const out = broadcastTo(expanded, x.shape);
    expanded.dispose();
    return [out];
  });
}

/** g reshaped with the reduced axes put back as size 1, ready to broadcast to `shape`. */
export function reshapeForBroadcast(g: Tensor, shape: readonly number[], axes: readonly number[] | undefined): Tensor {
  const rank = shape.length;
  const reduced = new Set((axes ?? shape.map((_, i) => i)).map((a) => (a < 0 ? a + rank : a)));
  return reshape(g, shape.map((d, i) => (reduced.has(i) ? 1 : d)));
}


/** PyTorch-named comparisons (float32 1/0, not differentiable). */
export const eq = (a: Tensor, b: Operand): Tensor => compare('eq', a, b);
export const ne = (a: Tensor, b: Operand): Tensor => compare('ne', a, b);
export const lt = (a: Tensor, b: Operand): Tensor => compare('lt', a, b);
export const le = (a: Tensor, b: Operand): Tensor => compare('le', a, b);
export const gt = (a: Tensor, b: Operand): Tensor => compare('gt', a, b);
export const ge = (a: Tensor, b: Operand): Tensor => compare('ge', a, b);
