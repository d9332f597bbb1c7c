/**
 * Checkpoints: everything a run needs to continue exactly — generator, discriminator, EMA
 * generator, both optimizers, the GPU generator's (seed, offset) and the step.
 *
 * Layout: checkpoint/step-XXXXXX/{generator,discriminator,ema,optimizer_g,optimizer_d}.safetensors
 * plus state.json, then checkpoint/latest.json naming that folder. Every file is written
 * atomically (temp + fsync + rename) and latest.json last, so a crash at any moment leaves
 * latest.json pointing at a complete checkpoint. The two newest checkpoints are kept.
 */
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { join } from 'node:path';
import { loadModule, loadOptimizer, saveModule, saveOptimizer, writeFileAtomic } from '@webgan/nn/node';
import type { TrainConfig } from './config';
import type { GanTrainer } from './trainer';

export interface CheckpointState {
  format: 'webgan-checkpoint-1';
  step: number;
  rng: { seed: number; offset: number };
  config: TrainConfig;
}

const KEEP = 2;
const stepDir = (step: number): string => `step-${String(step).padStart(6, '0')}`;
const encoder = new TextEncoder();

export async function saveCheckpoint(runDir: string, trainer: GanTrainer): Promise<string> {
  const root = join(runDir, 'checkpoint');
  const dir = join(root, stepDir(trainer.step));
  await mkdir(dir, { recursive: true });
  const { generator, discriminator } = trainer.models;
  await saveModule(join(dir, 'generator.safetensors'), generator);
  await saveModule(join(dir, 'discriminator.safetensors'), discriminator);
  if (trainer.ema) await saveModule(join(dir, 'ema.safetensors'), trainer.ema);
  await saveOptimizer(join(dir, 'optimizer_g.safetensors'), trainer.optG);
  await saveOptimizer(join(dir, 'optimizer_d.safetensors'), trainer.optD);
  const state: CheckpointState = { format: 'webgan-checkpoint-1', step: trainer.step, rng: trainer.generator.getState(), config: trainer.config };
  await writeFileAtomic(join(dir, 'state.json'), encoder.encode(JSON.stringify(state, null, 2)));
  await writeFileAtomic(join(root, 'latest.json'), encoder.encode(JSON.stringify({ step: trainer.step, dir: stepDir(trainer.step) })));
  // Older checkpoints go only after the new one is complete and named by latest.json.
  const existing = (await readdir(root)).filter((n) => /^step-\d{6}$/.test(n)).sort();
  for (const old of existing.slice(0, Math.max(0, existing.length - KEEP))) await rm(join(root, old), { recursive: true, force: true });
  return dir;
}

/** The newest complete checkpoint folder of a run, or an error saying what is wrong. */
export async function latestCheckpoint(runDir: string): Promise<{ dir: string; state: CheckpointState }> {
  const root = join(runDir, 'checkpoint');
  let latest: { step?: unknown; dir?: unknown };
  try {
    latest = JSON.parse(await readFile(join(root, 'latest.json'), 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${runDir}: no checkpoint to resume from (${join(root, 'latest.json')} is missing)` : `${join(root, 'latest.json')}: unreadable (${(e as Error).message})`);
  }
  if (typeof latest.dir !== 'string' || !/^step-\d{6}$/.test(latest.dir)) throw new Error(`${join(root, 'latest.json')}: does not name a checkpoint folder`);
  const dir = join(root, latest.dir);
  let state: CheckpointState;
  try {
    state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8'));
  } catch (e) {
    throw new Error(`${join(dir, 'state.json')}: unreadable (${(e as Error).message})`);
  }
  if (state.format !== 'webgan-checkpoint-1' || !Number.isSafeInteger(state.step) || !state.config) throw new Error(`${join(dir, 'state.json')}: not a webgan checkpoint state`);
  return { dir, state };
}

/** Restores a trainer (built from the same config) to the checkpoint's state. */
export async function loadCheckpoint(dir: string, state: CheckpointState, trainer: GanTrainer): Promise<void> {
  await loadModule(join(dir, 'generator.safetensors'), trainer.models.generator);
  await loadModule(join(dir, 'discriminator.safetensors'), trainer.models.discriminator);
  if (trainer.ema) await loadModule(join(dir, 'ema.safetensors'), trainer.ema);
  await loadOptimizer(join(dir, 'optimizer_g.safetensors'), trainer.optG);
  await loadOptimizer(join(dir, 'optimizer_d.safetensors'), trainer.optD);
  trainer.generator.setState(state.rng);
  trainer.step = state.step;
}

/** Names writeFileAtomic gives its temp files: `.NAME.tmp-PID-HEX`. */
const TEMP_FILE = /^\..+\.tmp-\d+-[0-9a-f]{12}$/;

/**
 * Deletes temp files that a killed process left mid-write anywhere in the run folder (their
 * targets were never replaced, so nothing of value is in them). Call only while holding the run's
 * lock, when no other process can be writing. Returns the paths removed.
 */
export async function removeAbandonedTempFiles(runDir: string): Promise<string[]> {
  const removed: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else if (e.isFile() && TEMP_FILE.test(e.name)) {
        await rm(path, { force: true });
        removed.push(path);
      }
    }
  };
  await walk(runDir);
  return removed;
}
