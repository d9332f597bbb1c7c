/**
 * Soak runs: MNIST MLP training for many steps with memory recorded every 100 steps (GPU bytes in
 * use, bytes pooled for reuse, buffers ever created, live tensors, process RSS), then checked
 * against stated bounds. CI runs 500 steps; `pnpm reliability soak` runs 5,000.
 */
import { join } from 'node:path';
import { presetConfig } from '../../packages/gan/src/train/config';
import { runTraining, type MetricsLine } from '../../packages/gan/src/train/run';
import { metricsLines } from '../helpers/run-folder';

/** Bounds a healthy run stays within, from the first record (step 100) to the last. */
export const SOAK_BOUNDS = {
  /** GPU bytes in use may differ by at most this fraction. */
  gpuBytesInUse: 0.01,
  /** Live tensors may not grow at all. */
  liveTensors: 0,
  /**
   * New GPU buffers and pooled bytes after step 100: none. Measured: the buffer count and pool
   * stay exactly constant through sample grids and checkpoints (the pool serves them all).
   */
  buffersCreated: 0,
  pooledBytes: 0,
  /** Process RSS may grow by at most this much (V8 heap settling, Dawn's caches). */
  rssBytes: 64 * 2 ** 20,
};

export interface SoakReport {
  steps: number;
  first: MetricsLine;
  last: MetricsLine;
  gpuBytesChange: number;
  liveTensorsGrowth: number;
  buffersCreatedGrowth: number;
  pooledBytesGrowth: number;
  rssGrowth: number;
  stepsPerSecond: number;
  violations: string[];
}

export async function runSoak(out: string, steps: number, log: (line: string) => void = () => {}): Promise<SoakReport> {
  const config = { ...presetConfig('mnist-mlp'), steps, logEvery: 100, sampleEvery: 1000, checkpointEvery: 1000, evalSamples: 500 };
  const summary = await runTraining({ config, out, resume: false, log });
  const lines = metricsLines(out);
  return soakReport(lines, summary.steps_per_s as number);
}

export function soakReport(lines: MetricsLine[], stepsPerSecond: number): SoakReport {
  const first = lines[0];
  const last = lines[lines.length - 1];
  const r: SoakReport = {
    steps: last.step,
    first,
    last,
    gpuBytesChange: (last.gpu_bytes_in_use - first.gpu_bytes_in_use) / first.gpu_bytes_in_use,
    liveTensorsGrowth: Math.max(...lines.map((l) => l.live_tensors)) - first.live_tensors,
    buffersCreatedGrowth: last.buffers_created - first.buffers_created,
    pooledBytesGrowth: Math.max(...lines.map((l) => l.gpu_bytes_pooled)) - first.gpu_bytes_pooled,
    rssGrowth: last.rss_bytes - first.rss_bytes,
    stepsPerSecond,
    violations: [],
  };
  const b = SOAK_BOUNDS;
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (Math.abs(r.gpuBytesChange) > b.gpuBytesInUse) r.violations.push(`GPU bytes in use changed ${(r.gpuBytesChange * 100).toFixed(2)}% from step ${first.step} to ${last.step} (bound ${b.gpuBytesInUse * 100}%)`);
  if (r.liveTensorsGrowth > b.liveTensors) r.violations.push(`live tensors grew by ${r.liveTensorsGrowth} (bound ${b.liveTensors})`);
  if (r.buffersCreatedGrowth > b.buffersCreated) r.violations.push(`${r.buffersCreatedGrowth} GPU buffers created after step ${first.step} (bound ${b.buffersCreated})`);
  if (r.pooledBytesGrowth > b.pooledBytes) r.violations.push(`pooled GPU bytes grew by ${mib(r.pooledBytesGrowth)} (bound ${mib(b.pooledBytes)})`);
  if (r.rssGrowth > b.rssBytes) r.violations.push(`process RSS grew by ${mib(r.rssGrowth)} (bound ${mib(b.rssBytes)})`);
  return r;
}

export function formatSoak(r: SoakReport): string {
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;
  const row = (l: MetricsLine) => `step ${String(l.step).padStart(5)}: GPU in use ${mib(l.gpu_bytes_in_use)}, pooled ${mib(l.gpu_bytes_pooled)}, buffers created ${l.buffers_created}, live tensors ${l.live_tensors}, RSS ${mib(l.rss_bytes)}`;
  return [
    row(r.first),
    row(r.last),
    `GPU in use ${(r.gpuBytesChange * 100).toFixed(3)}%, live tensors +${r.liveTensorsGrowth}, buffers created +${r.buffersCreatedGrowth}, pooled +${mib(r.pooledBytesGrowth)}, RSS ${r.rssGrowth >= 0 ? '+' : ''}${mib(r.rssGrowth)}; ${r.stepsPerSecond.toFixed(1)} steps/s`,
    r.violations.length ? `VIOLATIONS:\n  ${r.violations.join('\n  ')}` : 'within every bound',
  ].join('\n');
}

export const soakFolder = (root: string) => join(root, 'soak');
