/** Small training configurations and readers of a run folder, shared by the run and reliability tests. */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadSafetensorsFile } from '@webgan/nn/node';
import { latestCheckpoint } from '../../packages/gan/src/train/checkpoint';
import { presetConfig, type TrainConfig } from '../../packages/gan/src/train/config';
import type { MetricsLine } from '../../packages/gan/src/train/run';

/** A ring8 run with tiny networks: a step takes milliseconds. */
export const tinyToyConfig = (overrides: Partial<TrainConfig> = {}): TrainConfig => ({
  ...presetConfig('ring8'),
  gHidden: [16, 16],
  dHidden: [16, 16],
  latentDim: 4,
  batchSize: 32,
  steps: 12,
  logEvery: 2,
  sampleEvery: 6,
  checkpointEvery: 6,
  evalSamples: 500,
  ...overrides,
});

export const metricsLines = (dir: string): MetricsLine[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

export const latestStep = (dir: string): number => JSON.parse(readFileSync(join(dir, 'checkpoint', 'latest.json'), 'utf8')).step;

/**
 * The run's latest checkpoint (found and validated as a resume would) with every tensor of every
 * file in it, keyed `file/name` (e.g. `generator/main.0.weight`); throws naming a file that does
 * not load.
 */
export async function checkpointTensors(runDir: string): Promise<{ step: number; tensors: Map<string, number[]> }> {
  const { dir, state } = await latestCheckpoint(runDir);
  const tensors = new Map<string, number[]>();
  for (const file of readdirSync(dir).filter((n) => n.endsWith('.safetensors')).sort()) {
    const { tensors: loaded } = await loadSafetensorsFile(join(dir, file));
    for (const [k, v] of loaded) tensors.set(`${file.replace(/\.safetensors$/, '')}/${k}`, Array.from(v.data as ArrayLike<number | bigint>, Number));
  }
  return { step: state.step, tensors };
}
