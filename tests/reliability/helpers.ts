/** Shared pieces of the reliability suite: small configurations and checkpoint inspection. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSafetensorsFile } from '@webgan/nn/node';
import { presetConfig, type TrainConfig } from '../../packages/gan/src/train/config';
import type { MetricsLine } from '../../packages/gan/src/train/run';

export const tinyToy = (overrides: Partial<TrainConfig> = {}): TrainConfig => ({
  ...presetConfig('ring8'),
  gHidden: [16, 16],
  dHidden: [16, 16],
  latentDim: 4,
  batchSize: 32,
  steps: 40,
  logEvery: 10,
  sampleEvery: 1000,
  checkpointEvery: 10,
  evalSamples: 500,
  ...overrides,
});

export const metricsLines = (dir: string): MetricsLine[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

export const latestStep = (dir: string): number => JSON.parse(readFileSync(join(dir, 'checkpoint', 'latest.json'), 'utf8')).step;

/** Every tensor of the latest checkpoint, by file/name, as numbers. */
export async function checkpointTensors(dir: string): Promise<Map<string, number[]>> {
  const latest = JSON.parse(readFileSync(join(dir, 'checkpoint', 'latest.json'), 'utf8')).dir;
  const out = new Map<string, number[]>();
  for (const f of ['generator', 'discriminator', 'ema', 'optimizer_g', 'optimizer_d']) {
    const path = join(dir, 'checkpoint', latest, `${f}.safetensors`);
    if (!existsSync(path)) continue;
    const { tensors } = await loadSafetensorsFile(path);
    for (const [k, v] of tensors) out.set(`${f}/${k}`, Array.from(v.data as ArrayLike<number | bigint>, Number));
  }
  return out;
}
