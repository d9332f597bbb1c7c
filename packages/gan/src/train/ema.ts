/**
 * Exponential moving average of the generator's weights (Yazıcı et al. 2019; used by ProGAN and
 * StyleGAN): ema ← decay·ema + (1 − decay)·θ after every generator step, one fused kernel launch
 * per parameter; buffers (BatchNorm's running statistics) are copied. Samples and metrics use the
 * EMA generator when enabled.
 */
import { emaUpdate, getRuntime } from '@webgan/kernels';
import { isTensorValue, type Module } from '@webgan/nn';

export function updateEma(ema: Module, model: Module, decay: number): void {
  const runtime = getRuntime();
  const target = ema.stateDict();
  const source = model.stateDict();
  const params = new Set(ema.parameters());
  const counters = new Map();
  for (const [key, t] of target) {
    const s = source.get(key);
    if (!s) throw new Error(`updateEma: the model has no '${key}'`);
    if (!isTensorValue(t) || !isTensorValue(s)) {
      counters.set(key, s);
      continue;
    }
    if (params.has(t)) {
      emaUpdate(runtime, t.deviceArray('updateEma'), s.deviceArray('updateEma'), decay);
      t.storage.markWritten();
    } else {
      t.copy_(s);
    }
  }
  if (counters.size) ema.loadStateDict(counters, false);
}
