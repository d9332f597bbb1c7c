/**
 * Tensors and autograd in a few lines: a gradient, a gradient of a gradient, and a tidy scope.
 *   node scripts/run.mjs examples/autograd.ts
 */
import { initNode } from '@webgan/kernels/node';
import { grad, linear, memory, mean, mul, pow, randn, manualSeed, sub, sum, tanh, tensor, tidy } from '@webgan/core';

export async function autogradExample(): Promise<Record<string, number[]>> {
  await initNode();

  // d/dx Σ x² = 2x
  const x = tensor([1, 2, 3], [3], { requiresGrad: true });
  const y = tidy(() => sum(mul(x, x))); // the intermediate x·x is disposed, y is returned
  y.backward();
  const dx = Array.from(await x.grad!.data());

  // Gradients of gradients: the slope of ‖∇ₓ f‖ with respect to weights, as WGAN-GP needs.
  manualSeed(0);
  const w = randn([1, 3], { requiresGrad: true });
  const penalty = tidy(() => {
    const input = randn([4, 3], { requiresGrad: true });
    const out = tanh(linear(input, w));
    const [dInput] = grad(sum(out), [input], { createGraph: true });
    const norms = pow(sum(mul(dInput!, dInput!), 1), 0.5);
    return mean(pow(sub(norms, 1), 2)); // everything else created here is disposed
  });
  penalty.backward();
  const dw = Array.from(await w.grad!.data());

  for (const t of [x, y, w, penalty]) t.dispose();
  return { dx, dw, liveTensors: [memory().liveTensors] };
}

if (process.argv[1]?.includes('autograd')) {
  console.log(await autogradExample());
}
