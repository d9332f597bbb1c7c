/**
 * A training run and its folder:
 *   config.json          the full configuration
 *   metrics.jsonl        one line per logged step: losses, step time, GPU memory
 *   samples/step-XXXXXX.png   sample grids (scatter plots for 2D data) from fixed latents
 *   loss-curves.svg      the losses over the run
 *   checkpoint/          see checkpoint.ts
 *   summary.json         preset, steps, wall time, steps/s and the final metrics
 *   report.html          grids, curves and metrics on one page
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, accessSync, constants, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Generator, memory, tensor, noGrad, tidy, type Tensor } from '@webgan/core';
import { GpuDeviceLostError, getRuntime } from '@webgan/kernels';
import { writeFileAtomic } from '@webgan/nn/node';
import { encodePng } from '../image/png';
import { imageGrid, upscale } from '../image/grid';
import { scatterPlot } from '../image/plot';
import { mnistMetrics, toyMetrics } from '../metrics/evaluate';
import { validateConfig, withNewerDefaults, type TrainConfig } from './config';
import { latestCheckpoint, loadCheckpoint, removeAbandonedTempFiles, saveCheckpoint } from './checkpoint';
import { loadData } from './load-data';
import { writeReport } from './report';
import { GanTrainer, type Divergence } from './trainer';
import { LOCK_FILE, acquireRunLock } from './run-lock';
import type { DataSource } from './data-source';

export interface RunOptions {
  config: TrainConfig;
  out: string;
  /** Continue the run in `out` (its config, overridden by `config.steps`). */
  resume: boolean;
  log?: (line: string) => void;
  /** Live progress line (overwritten in place on a terminal). */
  progress?: (line: string) => void;
  /** Called once the inputs are checked, before the first GPU work (the CLI starts the GPU here). */
  initGpu?: () => Promise<unknown>;
  /** Called after every completed step (after its samples and checkpoint), for tests and tools. */
  onStep?: (trainer: GanTrainer) => void | Promise<void>;
}

/** Rollbacks allowed in one process before --on-nan rollback gives up and stops. */
export const MAX_ROLLBACKS = 5;

export class TrainingDivergedError extends Error {
  constructor(message: string, readonly divergence: Divergence) {
    super(message);
    this.name = 'TrainingDivergedError';
  }
}

export interface MetricsLine {
  step: number;
  loss_d: number;
  loss_g: number;
  penalty?: number;
  step_ms: number;
  gpu_bytes_in_use: number;
  /** Bytes held in the buffer pool for reuse, and buffers ever created: flat in a healthy run. */
  gpu_bytes_pooled: number;
  buffers_created: number;
  live_tensors: number;
  rss_bytes: number;
}

const stepName = (step: number) => `step-${String(step).padStart(6, '0')}`;

/** Checks `out` before anything is written: usable, and not holding another run unless resuming. */
export function prepareRunFolder(out: string, resume: boolean): void {
  if (resume) {
    if (!existsSync(join(out, 'config.json'))) throw new Error(`--resume ${out}: no run there (config.json is missing)`);
  } else if (existsSync(out)) {
    if (existsSync(join(out, 'config.json'))) throw new Error(`--out ${out} already holds a run; pass --resume ${out} to continue it, or choose another folder`);
    if (readdirSync(out).some((name) => name !== LOCK_FILE)) throw new Error(`--out ${out} is not empty; choose an empty or new folder`);
  }
  try {
    mkdirSync(join(out, 'samples'), { recursive: true });
    accessSync(out, constants.W_OK);
  } catch (e) {
    throw new Error(`--out ${out} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Fixed latents (and labels) for sample grids: the same images at every step of a run. */
function fixedInputs(trainer: GanTrainer, count: number): { z: Tensor; labels: Tensor | null } {
  const { config, models: { conditional, numClasses } } = trainer;
  const z = trainer.prior.sample(count, new Generator(config.seed + 777));
  const labels = conditional ? tensor(Int32Array.from({ length: count }, (_, i) => Math.floor(i / Math.ceil(count / numClasses)) % numClasses), [count]) : null;
  return { z, labels };
}

async function writeSamples(trainer: GanTrainer, data: DataSource, inputs: { z: Tensor; labels: Tensor | null }, path: string): Promise<void> {
  let png: Uint8Array;
  if (data.kind === '2d') {
    const fake = await trainer.sample(2500);
    const extent = data.name === 'grid25' ? 6 : 1.6;
    const real = data.values.subarray(0, 2 * 2500);
    png = pngOf(scatterPlot([{ points: real, rgb: [150, 150, 150], size: 3 }, { points: fake, rgb: [214, 39, 40], size: 3 }], extent));
  } else {
    const G = trainer.sampleGenerator;
    G.eval();
    const images = noGrad(() => tidy(() => trainer.generate(G, inputs.z, inputs.labels)));
    G.train();
    const values = (await images.data()) as Float32Array;
    images.dispose();
    const [c, h, w] = data.sampleShape;
    const count = inputs.z.shape[0];
    const grid = imageGrid(values, count, c as 1 | 3, h, w, { columns: inputs.labels ? Math.ceil(count / 10) : undefined });
    png = pngOf(upscale(grid, h <= 32 ? 3 : 2));
  }
  await writeFileAtomic(path, png);
}

const pngOf = (g: { pixels: Uint8Array; width: number; height: number; channels: 1 | 3 }) => encodePng(g.pixels, g.width, g.height, g.channels);

function readMetricsLines(path: string, upToStep: number): MetricsLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as MetricsLine).filter((m) => m.step <= upToStep);
}

const formatDuration = (s: number) => (s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`);

/** Runs (or resumes) training to config.steps, writing the run folder. Returns summary.json's object. */
export async function runTraining(options: RunOptions): Promise<Record<string, unknown>> {
  const log = options.log ?? (() => {});
  const { out } = options;
  let config = options.config;
  let data: DataSource | null = null;
  if (options.resume) {
    if (!existsSync(join(out, 'config.json'))) throw new Error(`--resume ${out}: no run there (config.json is missing)`);
  } else {
    // Everything that can be refused is checked before the folder is touched.
    validateConfig(config);
    data = loadData(config);
    try {
      mkdirSync(out, { recursive: true });
    } catch (e) {
      throw new Error(`--out ${out} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  const lock = acquireRunLock(out, log);
  try {
    const abandoned = await removeAbandonedTempFiles(out);
    if (abandoned.length) log(`${out}: removed ${abandoned.length} temp file(s) of writes a killed process never finished (the files they were replacing are intact)`);
    let resumeFrom: Awaited<ReturnType<typeof latestCheckpoint>> | null = null;
    if (options.resume) {
      resumeFrom = await latestCheckpoint(out);
      config = { ...withNewerDefaults(resumeFrom.state.config), steps: options.config.steps };
      validateConfig(config);
      data = loadData(config);
    }
    prepareRunFolder(out, options.resume);
    await options.initGpu?.();
    return await train(options, config, data!, resumeFrom);
  } finally {
    lock.release();
  }
}

async function train(options: RunOptions, config: TrainConfig, data: DataSource, resumeFrom: Awaited<ReturnType<typeof latestCheckpoint>> | null): Promise<Record<string, unknown>> {
  const log = options.log ?? (() => {});
  const { out } = options;
  const trainer = new GanTrainer(config, data);
  if (resumeFrom) {
    await loadCheckpoint(resumeFrom.dir, resumeFrom.state, trainer);
    log(`resumed ${out} at step ${trainer.step} (checkpoint ${resumeFrom.dir})`);
  }
  const writeConfig = () => writeFileAtomic(join(out, 'config.json'), new TextEncoder().encode(JSON.stringify(config, null, 2) + '\n'));
  await writeConfig();
  // A new run starts with a checkpoint of its initial state: there is always a good one to
  // resume or roll back to, even if the first steps diverge or the process dies.
  if (!resumeFrom) await saveCheckpoint(out, trainer);
  const metricsPath = join(out, 'metrics.jsonl');
  // Lines logged after the checkpoint we resume from belong to a future that is recomputed.
  let history = readMetricsLines(metricsPath, trainer.step);
  writeFileSync(metricsPath, history.map((l) => JSON.stringify(l) + '\n').join(''));
  const inputs = fixedInputs(trainer, trainer.models.conditional ? 100 : 64);

  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.once('SIGINT', onSigint);
  const runtime = getRuntime();
  const startStep = trainer.step;
  const started = performance.now();
  let lastLogTime = started;
  let lastLogStep = startStep;
  let last = { d: NaN, g: NaN };
  const rollbacks: { at_step: number; diverged_at: number; to_step: number; lr_g: number; lr_d: number }[] = [];

  /** Stops with a message, or rolls back to the last good checkpoint with halved learning rates. */
  const recover = async (bad: Divergence, foundAt: number): Promise<void> => {
    const good = await latestCheckpoint(out).catch(() => null);
    const what = `the first NaN or infinity came at step ${bad.step}; by step ${foundAt} the ${bad.sources.join(', ')} held such values (last losses read: D ${last.d}, G ${last.g})`;
    if (config.onNan === 'stop' || !good || rollbacks.length >= MAX_ROLLBACKS) {
      const why = config.onNan === 'rollback' ? (good ? ` after ${rollbacks.length} rollbacks` : ' and there is no checkpoint to roll back to') : '';
      const where = good ? `the last good checkpoint, ${good.dir} (step ${good.state.step}), is kept` : 'no checkpoint was written';
      throw new TrainingDivergedError(`training diverged: ${what}. Stopped${why}; ${where}. Train again with lower learning rates (--lr-g, --lr-d) or with --on-nan rollback.`, bad);
    }
    await loadCheckpoint(good.dir, good.state, trainer);
    config.lrG /= 2;
    config.lrD /= 2;
    trainer.clearNonFinite();
    rollbacks.push({ at_step: foundAt, diverged_at: bad.step, to_step: trainer.step, lr_g: config.lrG, lr_d: config.lrD });
    history = history.filter((l) => l.step <= trainer.step);
    writeFileSync(metricsPath, history.map((l) => JSON.stringify(l) + '\n').join(''));
    await writeConfig();
    lastLogTime = performance.now();
    lastLogStep = trainer.step;
    log(`\n${what}; rolled back to step ${trainer.step} (${good.dir}) with learning rates halved: G ${config.lrG}, D ${config.lrD}`);
  };

  try {
    while (trainer.step < config.steps && !interrupted) {
      const losses = trainer.trainStep();
      const step = trainer.step;
      const logNow = step % config.logEvery === 0 || step === config.steps;
      const checkpointNow = step % config.checkpointEvery === 0 || step === config.steps;
      if (logNow) {
        const [d, g, p] = [await losses.d.item(), await losses.g.item(), losses.penalty ? await losses.penalty.item() : undefined];
        const now = performance.now();
        const mem = memory();
        const line: MetricsLine = {
          step, loss_d: d, loss_g: g, ...(p !== undefined ? { penalty: p } : {}),
          step_ms: (now - lastLogTime) / (step - lastLogStep), gpu_bytes_in_use: mem.bytesInUse, gpu_bytes_pooled: mem.bytesPooled,
          buffers_created: mem.buffersCreated, live_tensors: mem.liveTensors, rss_bytes: process.memoryUsage().rss,
        };
        lastLogTime = now;
        lastLogStep = step;
        last = { d, g };
        history.push(line);
        writeFileSync(metricsPath, JSON.stringify(line) + '\n', { flag: 'a' });
      } else {
        await runtime.settle();
      }
      losses.d.dispose();
      losses.g.dispose();
      losses.penalty?.dispose();
      // The GPU-side NaN/Inf flag is read only here: at each log and before each checkpoint,
      // which therefore never saves a diverged state.
      if (logNow || checkpointNow) {
        if (checkpointNow) trainer.checkParameters();
        const bad = await trainer.nonFinite();
        if (bad) {
          await recover(bad, step);
          continue;
        }
      }
      if (step % config.sampleEvery === 0 || step === config.steps) await writeSamples(trainer, data, inputs, join(out, 'samples', `${stepName(step)}.png`));
      if (checkpointNow) await saveCheckpoint(out, trainer);
      await options.onStep?.(trainer);
      const elapsed = (performance.now() - started) / 1000;
      const rate = (step - startStep) / elapsed;
      const width = 24;
      const filled = Math.round((step / config.steps) * width);
      options.progress?.(`step ${step}/${config.steps} [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${rate.toFixed(1)} steps/s ETA ${formatDuration((config.steps - step) / Math.max(rate, 1e-9))}  D ${last.d.toFixed(4)} G ${last.g.toFixed(4)}`);
    }
    if (interrupted) {
      trainer.checkParameters();
      const bad = await trainer.nonFinite();
      if (bad) {
        log(`\ninterrupted at step ${trainer.step}, after the run diverged at step ${bad.step} (NaN or infinity in the ${bad.sources.join(', ')}): no checkpoint written; the last good one stays latest`);
      } else {
        await saveCheckpoint(out, trainer);
        log(`\ninterrupted at step ${trainer.step}: checkpoint written; continue with --resume ${out}`);
      }
      return { interrupted: true, step: trainer.step };
    }
  } catch (error) {
    if (error instanceof GpuDeviceLostError || runtime.isLost) {
      const good = await latestCheckpoint(out).catch(() => null);
      const reason = error instanceof GpuDeviceLostError ? error.reason : 'unknown';
      throw new Error(
        `the GPU device was lost during step ${trainer.step + 1} (${reason}); no more GPU work can run in this process. ` +
          (good ? `The latest checkpoint, ${good.dir} (step ${good.state.step}), is intact on disk` : 'No checkpoint had been written') +
          `; continue with: webgan train --resume ${out}`,
      );
    }
    throw error;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  const wallSeconds = (performance.now() - started) / 1000;
  log('');
  log(`trained ${config.steps - startStep} steps in ${wallSeconds.toFixed(1)} s; evaluating`);
  const summary: Record<string, unknown> = {
    preset: config.preset,
    steps: config.steps,
    wall_s: Number(wallSeconds.toFixed(2)),
    steps_per_s: Number(((config.steps - startStep) / wallSeconds).toFixed(3)),
    ...(startStep > 0 ? { resumed_from_step: startStep } : {}),
    ...(rollbacks.length ? { rollbacks } : {}),
  };
  if (data.kind === '2d') {
    Object.assign(summary, toyMetrics(data.name as 'ring8' | 'grid25', await trainer.sample(2500), 2500));
  } else if (data.name === 'mnist' || (data.sampleShape[1] === 28 && data.sampleShape[0] === 1)) {
    const n = config.evalSamples;
    const labels = trainer.models.conditional ? Int32Array.from({ length: n }, (_, i) => i % trainer.models.numClasses) : undefined;
    Object.assign(summary, await mnistMetrics(await trainer.sample(n, { labels }), n, labels));
  }
  await writeFileAtomic(join(out, 'summary.json'), new TextEncoder().encode(JSON.stringify(summary, null, 2) + '\n'));
  writeReport(out, config, summary, history);
  inputs.z.dispose();
  inputs.labels?.dispose();
  trainer.dispose();
  return summary;
}
