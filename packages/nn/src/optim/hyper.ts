/** Hyper-parameter checks shared by the optimizers: errors name the optimizer, the value and the bound. */
export function checkHyper(optimizer: string, values: Record<string, [value: number, min: number, maxExclusive?: number]>): void {
  for (const [name, [v, min, max]] of Object.entries(values)) {
    if (!Number.isFinite(v) || v < min || (max !== undefined && v >= max)) {
      throw new Error(`${optimizer}: ${name} must be a finite number >= ${min}${max !== undefined ? ` and < ${max}` : ''}, got ${v}`);
    }
  }
}

/** A finite number from a saved param group, or an error naming the key. */
export function num(saved: Record<string, unknown>, key: string): number {
  const v = saved[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`loadStateDict: param group entry '${key}' must be a finite number, got ${JSON.stringify(v)}`);
  return v;
}
