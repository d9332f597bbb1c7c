/** A 500-step soak (CI's share; `pnpm reliability soak` runs 5,000): memory stays flat. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initNode } from '@webgan/kernels/node';
import { formatSoak, runSoak } from './soak';

const root = mkdtempSync(join(tmpdir(), 'webgan-soak-'));
beforeAll(async () => {
  await initNode({ tuningFile: false });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('500 MNIST MLP steps: GPU bytes within 1%, no live-tensor growth, buffers and RSS within bounds', async () => {
  const report = await runSoak(join(root, 'soak'), 500);
  expect(report.first.step).toBe(100);
  expect(report.last.step).toBe(500);
  expect(report.violations, formatSoak(report)).toEqual([]);
}, 300_000);
