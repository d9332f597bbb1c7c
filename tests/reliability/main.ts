/**
 * The long reliability runs, whose results go in the README:
 *   pnpm reliability soak  [--steps 5000]     memory over a long MNIST MLP run
 *   pnpm reliability crash [--trials 12]      kill -9 at random moments, then --resume
 *   pnpm reliability fuzz  [--count 10000]    mutated safetensors, IDX and PNG files
 * Each prints its figures and exits non-zero if a bound or check fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initNode } from '@webgan/kernels/node';
import { crashTrial, referenceRun } from './crash';
import { FUZZ_TARGETS, formatFuzz, fuzzTarget } from './fuzz';
import { formatSoak, runSoak } from './soak';

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer, got '${args[i + 1]}'`);
  return v;
}

async function soak(args: string[], root: string): Promise<boolean> {
  const steps = option(args, 'steps', 5000);
  console.log(`soak: ${steps} MNIST MLP steps, memory every 100 steps`);
  const report = await runSoak(join(root, 'soak'), steps);
  console.log(formatSoak(report));
  return report.violations.length === 0;
}

async function crash(args: string[], root: string): Promise<boolean> {
  const trials = option(args, 'trials', 12);
  const reference = await referenceRun(join(root, 'reference'));
  console.log(`crash: reference run trained in ${(reference.trainMs / 1000).toFixed(1)} s; ${trials} trials, killed at a random moment of the training (odd trials: inside a checkpoint write)`);
  let seed = 7;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) >>> 0) / 2 ** 32);
  let failed = 0;
  let duringWrite = 0;
  for (let t = 0; t < trials; t++) {
    const r = await crashTrial(join(root, `trial-${t}`), reference.trainMs * 0.9, reference.tensors, random, t % 2 === 1 ? 'in-write' : 'random');
    if (r.killedDuringWrite) duringWrite++;
    if (r.problems.length) failed++;
    console.log(`trial ${String(t + 1).padStart(2)}: killed ${String(r.killedAfterMs).padStart(5)} ms in${r.killedDuringWrite ? ' (inside a checkpoint write)' : ''}, latest checkpoint step ${r.checkpointStepAtKill}, resumed from ${r.resumedFrom}, final weights ${r.identical ? 'identical' : 'DIFFERENT'}${r.problems.length ? `\n  ${r.problems.join('\n  ')}` : ''}`);
  }
  console.log(`${trials - failed}/${trials} trials recovered exactly; ${duringWrite} kills landed inside a checkpoint write`);
  return failed === 0;
}

async function fuzz(args: string[]): Promise<boolean> {
  const count = option(args, 'count', 10_000);
  let ok = true;
  for (const target of FUZZ_TARGETS) {
    const report = fuzzTarget(target, count, 1);
    console.log(formatFuzz(report));
    ok &&= report.failures.length === 0;
  }
  return ok;
}

const [command, ...rest] = process.argv.slice(2);
const commands: Record<string, (args: string[], root: string) => Promise<boolean>> = { soak, crash, fuzz };
if (!command || !commands[command]) {
  console.error('usage: pnpm reliability soak [--steps N] | crash [--trials N] | fuzz [--count N]');
  process.exit(2);
}
await initNode({ tuningFile: false });
const root = mkdtempSync(join(tmpdir(), `webgan-${command}-`));
try {
  process.exitCode = (await commands[command](rest, root)) ? 0 : 1;
} finally {
  rmSync(root, { recursive: true, force: true });
}
