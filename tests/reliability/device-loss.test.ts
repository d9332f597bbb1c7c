/**
 * Device loss mid-run, simulated with device.destroy(): training stops with an error that says
 * what happened and how to continue, the checkpoint already on disk is intact, the run folder is
 * unlocked, and after a new device `--resume` continues to exactly the weights of a run that was
 * never interrupted.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { getRuntime } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import { runTraining } from '../../packages/gan/src/train/run';
import { checkpointTensors, latestStep, metricsLines } from '../helpers/run-folder';
import { tinyToy } from './helpers';

const root = mkdtempSync(join(tmpdir(), 'webgan-device-loss-'));
beforeAll(async () => {
  await initNode({ tuningFile: false });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('a lost device stops the run with a clear error; the checkpoint on disk resumes exactly on a new device', async () => {
  const config = () => tinyToy({ steps: 30, logEvery: 5 });
  const straight = join(root, 'straight');
  await runTraining({ config: config(), out: straight, resume: false });

  const lost = join(root, 'lost');
  const run = runTraining({
    config: config(),
    out: lost,
    resume: false,
    onStep: (trainer) => {
      if (trainer.step === 13) getRuntime().device.destroy();
    },
  });
  await expect(run).rejects.toThrow(
    new RegExp(`^the GPU device was lost during step 14 \\(destroyed\\); no more GPU work can run in this process\\. The latest checkpoint, ${join(lost, 'checkpoint', 'step-000010')} \\(step 10\\), is intact on disk; continue with: webgan train --resume ${lost}$`),
  );
  expect(getRuntime().isLost).toBe(true);
  expect(existsSync(join(lost, 'train.lock'))).toBe(false);
  expect(latestStep(lost)).toBe(10);
  expect(metricsLines(lost).map((l) => l.step)).toEqual([5, 10]);

  await initNode({ tuningFile: false, force: true });
  const summary = await runTraining({ config: config(), out: lost, resume: true });
  expect(summary.resumed_from_step).toBe(10);
  expect(latestStep(lost)).toBe(30);
  const losses = (dir: string) => metricsLines(dir).map((l) => [l.step, l.loss_d, l.loss_g]);
  expect(losses(lost)).toEqual(losses(straight));
  expect((await checkpointTensors(lost)).tensors).toEqual((await checkpointTensors(straight)).tensors);
});
