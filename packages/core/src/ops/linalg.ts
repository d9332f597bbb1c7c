/**
 * matmul with either operand transposed, and linear (x·Wᵀ + b, PyTorch's layout) with the bias
 * fused into the GEMM. Gradients are matmuls with transposes:
 *   C = op(A)·op(B):  dA = g·op(B)ᵀ (arranged back into A's layout), dB likewise.
 */
import { getRuntime, matmul as matmulKernel } from '@webgan/kernels';
import { record } from '../record';
import { fmt, type Tensor } from '../tensor';
import { sum, sumTo } from './arithmetic';
import { activationGradient, type FusedActivation } from './unary';

const rt = getRuntime;

export interface MatmulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
}

/** [.., M, K] · [.., K, N] → [.., M, N] (batch of 1 or 2-D broadcasts). */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const tA = options.transposeA ?? false;
  const tB = options.transposeB ?? false;
  const result = matmulKernel(rt(), a.deviceArray('matmul'), b.deviceArray('matmul'), { transposeA: tA, transposeB: tB });
  return record('matmul', [a, b], result, (g, [sa, sb]) => {
    // With op(A) = A (or Aᵀ): d op(A) = g·op(B)ᵀ, and dA is that (or its transpose).
    const ga = a.requiresGrad ? (tA ? matmul(sb, g, { transposeA: tB, transposeB: true }) : matmul(g, sb, { transposeB: !tB })) : null;
    const gb = b.requiresGrad ? (tB ? matmul(g, sa, { transposeA: true, transposeB: tA }) : matmul(sa, g, { transposeA: !tA })) : null;
    return [ga && reduceBatch(ga, a.shape), gb && reduceBatch(gb, b.shape)];
  }, { save: [a, b] });
}

/** Sums a batched gradient over a broadcast batch (2-D or batch-1 operand). */
function reduceBatch(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.join() === shape.join()) return g;
  const out = g.rank === 3 && shape.length === 2 ? sum(g, 0) : sumTo(g, shape);
  g.dispose();
  return out;
}

/**
 * y = x·Wᵀ + b with W [out, in] (PyTorch's nn.Linear layout), x [.., in]; with `activation`,
 * y = f(x·Wᵀ + b) in the same kernel (the GEMM's epilogue), and the backward pass takes f′ from y.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor, activation?: FusedActivation): Tensor {
  if (x.rank !== 2) throw new Error(`linear: x ${fmt(x.shape)} must be [batch, features] (flatten first)`);
  if (weight.rank !== 2 || weight.shape[1] !== x.shape[1]) {
    throw new Error(`linear: x ${fmt(x.shape)} has ${x.shape[1]} features but weight ${fmt(weight.shape)} expects ${weight.shape[1]}`);
  }
  if (activation?.kind === 'leaky_relu' && !((activation.slope ?? 0.01) > 0)) {
    throw new Error(`linear: a fused leaky_relu needs a positive slope (its output must tell the input's sign), got ${activation.slope}`);
  }
  const inputs = bias ? [x, weight, bias] : [x, weight];
  const result = matmulKernel(rt(), x.deviceArray('linear'), weight.deviceArray('linear'), {
    transposeB: true,
    bias: bias?.deviceArray('linear'),
    activation: activation?.kind,
    slope: activation?.slope,
  });
  return record('linear', inputs, result, (g, [sx, sw], y) => {
    const dz = activation ? activationGradient(activation, g, y!) : g;
    const grads = [
      x.requiresGrad ? matmul(dz, sw) : null,
      weight.requiresGrad ? matmul(dz, sx, { transposeA: true }) : null,
      bias?.requiresGrad ? sum(dz, 0) : null,
    ];
    if (dz !== g) dz.dispose();
    return grads;
  }, { save: [x, weight], saveOutput: activation !== undefined });
}
