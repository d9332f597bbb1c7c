/**
 * Exponential moving average of the generator's weights (Yazıcı et al. 2019; used by ProGAN and
 * StyleGAN): ema ← decay·ema + (1 − decay)·θ after every generator step; buffers (BatchNorm's
 * running statistics) are copied. Samples and metrics use the EMA generator when enabled.
 */
import { add, mul, noGrad, tidy } from '@webgan/core';
import type { Module } from '@webgan/nn';

export function updateEma(ema: Module, model: Module, decay: number): void {
  const target = ema.stateDict();
  const source = model.stateDict();
  const params = new Set(ema.parameters());
  noGrad(() => {
    for (const [key, t] of target) {
      const s = source.get(key);
      if (!s || !('copy_' in t) || !('copy_' in s)) continue;
      if (params.has(t)) {
        const next = tidy(() => add(mul(t, decay), mul(s, 1 - decay)));
        t.copy_(next);
        next.dispose();
      } else {
        t.copy_(s);
      }
    }
  });
  // Counters (num_batches_tracked) follow the model.
  const counters = new Map([...source].filter(([, v]) => !('copy_' in v)));
  if (counters.size) ema.loadStateDict(counters, false);
}
