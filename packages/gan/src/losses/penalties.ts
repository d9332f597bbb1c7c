/**
 * Critic regularisers:
 *   weight clipping (WGAN, Arjovsky et al. 2017): every critic parameter clamped to [−c, c];
 *   gradient penalty (WGAN-GP, Gulrajani et al. 2017): λ·E[(‖∇ₓ̂ D(x̂)‖ − 1)²] on random
 *     interpolates x̂ = ε·x_real + (1 − ε)·x_fake, ε ~ U(0, 1) per sample;
 *   R1 (Mescheder et al. 2018): γ/2·E[‖∇ₓ D(x_real)‖²].
 * Both gradient penalties differentiate ∇ₓD with respect to D's weights — a gradient of a
 * gradient — so they call grad(..., { createGraph: true }) and the critic must be built from
 * twice-differentiable ops (LayerNorm, not BatchNorm).
 */
import { add, clamp, grad, mean, mul, noGrad, rand, sqrt, square, sub, sum, tidy, type Generator, type Tensor } from '@webgan/core';
import type { Module } from '@webgan/nn';

/** Clamps every parameter of `critic` to [−c, c] in place. */
export function clipWeights(critic: Module, c: number): void {
  if (!(c > 0)) throw new Error(`clipWeights: the clip value must be > 0, got ${c}`);
  noGrad(() => {
    for (const p of critic.parameters()) {
      const clipped = clamp(p, -c, c);
      p.copy_(clipped);
      clipped.dispose();
    }
  });
}

/** Per-sample squared gradient norms ‖∇ₓ D(x)‖² of a batch [N, ...] → [N]. */
function squaredGradNorms(critic: (x: Tensor) => Tensor, x: Tensor): Tensor {
  const out = critic(x);
  const [g] = grad(sum(out), [x], { createGraph: true });
  const axes = g!.shape.map((_, i) => i).slice(1);
  return sum(square(g!), axes);
}

/** WGAN-GP's penalty λ·mean((‖∇D(x̂)‖ − 1)²); differentiable w.r.t. the critic's parameters. */
export function gradientPenalty(critic: (x: Tensor) => Tensor, real: Tensor, fake: Tensor, lambda = 10, generator?: Generator): Tensor {
  if (real.shape.join() !== fake.shape.join()) throw new Error(`gradientPenalty: real [${real.shape.join(',')}] and fake [${fake.shape.join(',')}] batches differ in shape`);
  return tidy(() => {
    const epsShape = real.shape.map((d, i) => (i === 0 ? d : 1));
    const eps = rand(epsShape, { generator });
    const r = real.detach();
    const f = fake.detach();
    const interpolates = add(mul(eps, r), mul(sub(1, eps), f));
    interpolates.requiresGrad = true;
    // +1e-12 inside the root keeps the gradient finite when a gradient is exactly zero.
    const norms = sqrt(add(squaredGradNorms(critic, interpolates), 1e-12));
    return mul(mean(square(sub(norms, 1))), lambda);
  });
}

/** R1: γ/2·mean(‖∇ₓ D(x_real)‖²). */
export function r1Penalty(critic: (x: Tensor) => Tensor, real: Tensor, gamma = 10): Tensor {
  return tidy(() => {
    const x = real.detach();
    x.requiresGrad = true;
    return mul(mean(squaredGradNorms(critic, x)), gamma / 2);
  });
}
