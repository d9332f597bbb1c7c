/**
 * Run folders written before a setting existed still resume and sample: the settings added since
 * (onNan, dMaxout, instanceNoise, instanceNoiseSteps, topK, topKSteps, latentPrior, latentComponents,
 * latentComponentStd) are filled with the defaults that reproduce the old behaviour.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initNode } from '@webgan/kernels/node';
import { runTraining } from '../../packages/gan/src/train/run';
import { openRun } from '../../packages/gan/src/train/load-run';
import { tinyToy } from '../reliability/helpers';

const root = mkdtempSync(join(tmpdir(), 'webgan-old-run-'));
beforeAll(async () => {
  await initNode({ tuningFile: false });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('a checkpoint whose config lacks the newer settings resumes and opens for sampling', async () => {
  const out = join(root, 'old');
  await runTraining({ config: tinyToy({ steps: 4, logEvery: 2, checkpointEvery: 2 }), out, resume: false });
  for (const file of [join(out, 'checkpoint', 'step-000004', 'state.json'), join(out, 'config.json')]) {
    const json = JSON.parse(readFileSync(file, 'utf8'));
    const config = json.config ?? json;
    for (const key of ['onNan', 'dMaxout', 'instanceNoise', 'instanceNoiseSteps', 'topK', 'topKSteps', 'latentPrior', 'latentComponents', 'latentComponentStd']) delete config[key];
    writeFileSync(file, JSON.stringify(json));
  }
  const summary = await runTraining({ config: tinyToy({ steps: 6 }), out, resume: true });
  expect(summary.resumed_from_step).toBe(4);
  const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  expect([saved.onNan, saved.dMaxout, saved.instanceNoise, saved.instanceNoiseSteps, saved.topK, saved.topKSteps, saved.latentPrior]).toEqual(['stop', 1, 0, 0, 1, 0, 'normal']);
  const trainer = await openRun(out);
  expect(trainer.step).toBe(6);
  expect((await trainer.sample(10)).length).toBe(20);
  trainer.dispose();
});
