/**
 * Divergence: NaN or Inf in a loss or gradient is flagged on the GPU every step and read only at
 * the logging interval and before checkpoints; `onNan: 'stop'` stops naming the step and the
 * loss, `onNan: 'rollback'` goes back to the last good checkpoint with halved learning rates; a
 * diverged state is never checkpointed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import { runTraining, TrainingDivergedError } from '../../packages/gan/src/train/run';
import { checkpointTensors, latestStep, metricsLines } from '../helpers/run-folder';
import { tinyToy } from './helpers';

const root = mkdtempSync(join(tmpdir(), 'webgan-diverge-'));
beforeAll(async () => {
  await initNode({ tuningFile: false });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const allFinite = (tensors: Map<string, number[]>) => [...tensors.values()].every((v) => v.every(Number.isFinite));

describe('divergence', () => {
  it('an absurd learning rate stops the run with a message naming the step and the loss; the last good checkpoint stays', async () => {
    const out = join(root, 'stop');
    let error: unknown;
    try {
      await runTraining({ config: tinyToy({ lrG: 1e30, lrD: 1e30 }), out, resume: false });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TrainingDivergedError);
    const message = (error as Error).message;
    const bad = (error as TrainingDivergedError).divergence;
    expect(bad.step).toBeGreaterThanOrEqual(1);
    expect(bad.step).toBeLessThanOrEqual(10);
    expect(message).toContain(`training diverged: the first NaN or infinity came at step ${bad.step}; by step 10 the `);
    expect(bad.sources.some((s) => /loss|gradients/.test(s))).toBe(true);
    expect(message).toMatch(/held such values \(last losses read: D (NaN|-?Infinity|[-\d.e+]+), G (NaN|-?Infinity|[-\d.e+]+)\)/);
    expect(message).toContain(`the last good checkpoint, ${join(out, 'checkpoint', 'step-000000')} (step 0), is kept`);
    expect(message).toContain('--on-nan rollback');
    expect(latestStep(out)).toBe(0);
    expect(allFinite((await checkpointTensors(out)).tensors)).toBe(true);
  });

  it('reads the flag only at log and checkpoint steps: other steps read nothing back', async () => {
    const out = join(root, 'quiet');
    const readbacks: number[] = [];
    let previous = 0;
    await runTraining({
      config: tinyToy({ steps: 30, logEvery: 10, checkpointEvery: 15 }),
      out,
      resume: false,
      onStep: (trainer) => {
        const now = getRuntime().stats().readbacks;
        if (trainer.step % 10 !== 0 && trainer.step % 15 !== 0 && trainer.step > 1) readbacks.push(now - previous);
        previous = now;
      },
    });
    expect(readbacks.length).toBe(30 - 1 - 3 - 2 + 1);
    expect(readbacks.every((n) => n === 0)).toBe(true);
  });

  it('rolls back to the last good checkpoint with halved learning rates and finishes', async () => {
    const out = join(root, 'rollback');
    const config = tinyToy({ steps: 40, onNan: 'rollback', lrG: 1e-3, lrD: 1e-3 });
    let poisoned = false;
    const logs: string[] = [];
    const summary = await runTraining({
      config,
      out,
      resume: false,
      log: (line) => logs.push(line),
      onStep: async (trainer) => {
        // After the checkpoint at step 20, poison one D weight once: the next steps' losses and
        // gradients become NaN, found at the log of step 30.
        if (trainer.step === 23 && !poisoned) {
          poisoned = true;
          const w = trainer.models.discriminator.parameters()[0];
          const values = (await w.data()) as Float32Array;
          values[0] = Number.NaN;
          getRuntime().write(w.deviceArray('poison').buffer, values);
        }
      },
    });
    expect(poisoned).toBe(true);
    const rollbacks = summary.rollbacks as { at_step: number; diverged_at: number; to_step: number; lr_g: number; lr_d: number }[];
    expect(rollbacks).toEqual([{ at_step: 30, diverged_at: 24, to_step: 20, lr_g: 5e-4, lr_d: 5e-4 }]);
    expect(logs.join('\n')).toContain('rolled back to step 20');
    expect(summary.steps).toBe(40);
    expect(Number.isFinite(summary.high_quality_fraction as number)).toBe(true);
    // The halved rates are the run's configuration from now on (a --resume keeps them).
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect([saved.lrG, saved.lrD]).toEqual([5e-4, 5e-4]);
    // metrics.jsonl holds one line per logged step of the surviving history, all finite.
    const lines = metricsLines(out);
    expect(lines.map((l) => l.step)).toEqual([10, 20, 30, 40]);
    expect(lines.every((l) => Number.isFinite(l.loss_d) && Number.isFinite(l.loss_g))).toBe(true);
    expect(latestStep(out)).toBe(40);
    expect(allFinite((await checkpointTensors(out)).tensors)).toBe(true);
  });

  it('gives up after repeated rollbacks and says so', async () => {
    const out = join(root, 'hopeless');
    await expect(runTraining({ config: tinyToy({ lrG: 1e30, lrD: 1e30, onNan: 'rollback' }), out, resume: false }))
      .rejects.toThrow(/training diverged: the first NaN or infinity came at step \d+; .*Stopped after 5 rollbacks; the last good checkpoint, .*step-000000 \(step 0\), is kept/);
    expect(latestStep(out)).toBe(0);
  });
});
