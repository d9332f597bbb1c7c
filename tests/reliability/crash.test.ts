/**
 * kill -9 at random moments and inside checkpoint writes, CI's share (3 trials; `pnpm reliability
 * crash` runs 12, half of them inside writes): the last complete checkpoint always loads,
 * `--resume` continues from it to exactly the uninterrupted run's weights, and a half-written
 * file never replaces a good one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initNode } from '@webgan/kernels/node';
import { crashTrial, referenceRun } from './crash';

const root = mkdtempSync(join(tmpdir(), 'webgan-crash-'));
beforeAll(async () => {
  await initNode({ tuningFile: false });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('3 kill -9 trials (2 at random moments, 1 inside a checkpoint write): every checkpoint loads and every resume ends on the uninterrupted weights', async () => {
  const reference = await referenceRun(join(root, 'reference'));
  let state = 20_261_124;
  const random = () => ((state = (state * 1_103_515_245 + 12_345) >>> 0) / 2 ** 32);
  for (let t = 0; t < 3; t++) {
    const trial = await crashTrial(join(root, `trial-${t}`), reference.trainMs * 0.9, reference.tensors, random, t === 2 ? 'in-write' : 'random');
    expect(trial.problems, `trial ${t} (killed ${trial.killedAfterMs} ms in)`).toEqual([]);
    expect(trial.identical).toBe(true);
  }
}, 300_000);
