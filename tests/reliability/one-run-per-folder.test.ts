/**
 * One run per folder, through the CLI: while a `train` runs, a second `train --resume` of its
 * folder and a new `train --out` into it are refused with a message naming the process; after the
 * first stops, the folder resumes.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { webgan } from './crash';

const root = mkdtempSync(join(tmpdir(), 'webgan-one-run-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('a second train into a folder in use is refused; the folder resumes once the first has stopped', async () => {
  const dir = join(root, 'run');
  const flags = ['--preset', 'ring8', '--g-hidden', '16,16', '--d-hidden', '16,16', '--steps', '100000', '--checkpoint-every', '50'];
  let second: Awaited<ReturnType<typeof webgan>> | null = null;
  let third: Awaited<ReturnType<typeof webgan>> | null = null;
  let holder = 0;
  const first = await webgan(['train', ...flags, '--out', dir], async (pid) => {
    const lock = join(dir, 'train.lock');
    const deadline = Date.now() + 60_000;
    while (!existsSync(join(dir, 'checkpoint', 'latest.json')) && Date.now() < deadline) await sleep(20);
    holder = JSON.parse(readFileSync(lock, 'utf8')).pid;
    second = await webgan(['train', '--resume', dir]);
    third = await webgan(['train', ...flags, '--out', dir]);
    process.kill(pid, 'SIGINT');
  });
  expect(holder).toBeGreaterThan(0);
  for (const refused of [second!, third!]) {
    expect(refused.code).toBe(1);
    expect(refused.output).toContain(`webgan: ${dir} is in use by another training process (pid ${holder}, since `);
  }
  // Ctrl-C: the first run checkpoints, exits 130 and releases the folder.
  expect(first.code).toBe(130);
  expect(existsSync(join(dir, 'train.lock'))).toBe(false);
  const stepAtStop = Number(/interrupted at step (\d+)/.exec(first.output)![1]);
  const resumed = await webgan(['train', '--resume', dir, '--steps', String(stepAtStop + 3)]);
  expect(resumed.code, resumed.output).toBe(0);
  expect(resumed.output).toContain(`resumed ${dir} at step ${stepAtStop}`);
}, 180_000);
