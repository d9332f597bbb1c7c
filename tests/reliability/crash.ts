/**
 * Crash trials: a `webgan train` process is killed with SIGKILL at a random moment (checkpoints are
 * written every 2 steps, so many kills land inside a write), then the run folder must hold a
 * complete latest checkpoint whose every file loads, and `--resume` must finish the run with
 * exactly the weights of a run that was never killed.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkpointTensors } from '../helpers/run-folder';

export const REPO = resolve(import.meta.dirname, '..', '..');

/** The run every trial makes: MNIST MLP, 15 MB checkpoints every 2 steps. */
export const CRASH_RUN_FLAGS = ['--preset', 'mnist-mlp', '--steps', '40', '--checkpoint-every', '2', '--log-every', '5', '--sample-every', '1000', '--eval-samples', '100'];

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Starts `webgan <args>`; `whenRunning` may kill it. */
export function webgan(args: string[], whenRunning?: (pid: number) => Promise<void>): Promise<CliResult> {
  const child = spawn(process.execPath, [join(REPO, 'scripts', 'run.mjs'), join('packages', 'gan', 'src', 'cli', 'main.ts'), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const done = new Promise<CliResult>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, output })));
  if (whenRunning) void whenRunning(child.pid!);
  return done;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface CrashTrial {
  /** Milliseconds after the first checkpoint appeared. */
  killedAfterMs: number;
  /** A temp file of an atomic write was left behind: the kill landed inside a write. */
  killedDuringWrite: boolean;
  checkpointStepAtKill: number;
  resumedFrom: number;
  /** The resumed run's final weights equal the uninterrupted run's. */
  identical: boolean;
  problems: string[];
}

const tempFiles = (dir: string): string[] => {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.includes('.tmp-')) found.push(join(d, e.name));
    }
  };
  if (existsSync(dir)) walk(dir);
  return found;
};

/**
 * One kill-and-resume trial in `out` against the reference weights. 'random': SIGKILL at a random
 * moment of the training; 'in-write': after a random delay, SIGKILL as soon as a checkpoint temp
 * file appears, i.e. inside an atomic write.
 */
export async function crashTrial(out: string, killWindowMs: number, reference: Map<string, number[]>, random: () => number, mode: 'random' | 'in-write' = 'random'): Promise<CrashTrial> {
  const problems: string[] = [];
  // Kills aimed at a write come in the first half of the training, so that writes are still to
  // come even when this run is slower than the reference (a busy machine).
  const delay = Math.floor(random() * killWindowMs * (mode === 'in-write' ? 0.5 : 1));
  let killFailed = '';
  let killedAfterMs = -1;
  const killed = await webgan(['train', ...CRASH_RUN_FLAGS, '--out', out], async (pid) => {
    const latest = join(out, 'checkpoint', 'latest.json');
    const deadline = Date.now() + 120_000;
    while (!existsSync(latest) && Date.now() < deadline) await sleep(10);
    const started = Date.now();
    await sleep(delay);
    if (mode === 'in-write') {
      const until = Date.now() + 10_000;
      while (tempFiles(join(out, 'checkpoint')).length === 0 && Date.now() < until) await sleep(1);
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch (e) {
      killFailed = (e as NodeJS.ErrnoException).code ?? String(e);
    }
    killedAfterMs = Date.now() - started;
  });
  if (killFailed) problems.push(`the kill failed (${killFailed}): the run had ended before the chosen moment`);
  if (killed.signal !== 'SIGKILL') problems.push(`the training process was not killed (exit ${killed.code}): ${killed.output.slice(-300)}`);
  const killedDuringWrite = tempFiles(join(out, 'checkpoint')).length > 0;
  if (mode === 'in-write' && !killedDuringWrite) problems.push('the kill was aimed inside a checkpoint write, but no temp file was left (the write had finished)');
  if (!existsSync(join(out, 'train.lock'))) problems.push('no stale train.lock left by the killed process');
  let checkpointStepAtKill = -1;
  try {
    const whole = await checkpointTensors(out);
    checkpointStepAtKill = whole.step;
    for (const [name, values] of whole.tensors) if (!values.every(Number.isFinite)) problems.push(`checkpoint ${name} holds non-finite values`);
  } catch (e) {
    problems.push(`the latest checkpoint does not load: ${(e as Error).message}`);
  }
  const resumed = await webgan(['train', '--resume', out]);
  if (resumed.code !== 0) problems.push(`--resume failed (exit ${resumed.code}): ${resumed.output.slice(-500)}`);
  const match = /resumed .* at step (\d+)/.exec(resumed.output);
  const resumedFrom = match ? Number(match[1]) : -1;
  if (resumedFrom !== checkpointStepAtKill) problems.push(`resumed from step ${resumedFrom}, but the latest checkpoint was step ${checkpointStepAtKill}`);
  if (!/took over the lock of process \d+ .* which is no longer running/.test(resumed.output)) problems.push('the resumed run did not report taking over the stale lock');
  let identical = false;
  try {
    const final = await checkpointTensors(out);
    identical = final.step === 40 && final.tensors.size === reference.size
      && [...reference].every(([k, v]) => { const w = final.tensors.get(k); return w !== undefined && w.length === v.length && w.every((x, i) => Object.is(x, v[i])); });
    if (!identical) problems.push('the resumed run ended with weights different from the uninterrupted run');
  } catch (e) {
    problems.push(`the final checkpoint does not load: ${(e as Error).message}`);
  }
  if (existsSync(join(out, 'train.lock'))) problems.push('train.lock left behind after the resumed run finished');
  const leftovers = tempFiles(out);
  if (leftovers.length) problems.push(`temp files left after the resumed run: ${leftovers.join(', ')}`);
  if (killedDuringWrite && !/removed \d+ temp file\(s\) of writes a killed process never finished/.test(resumed.output)) problems.push('the resumed run did not report removing the killed write\'s temp file');
  return { killedAfterMs, killedDuringWrite, checkpointStepAtKill, resumedFrom, identical, problems };
}

/** The uninterrupted run: its final weights and how long its training took (ms). */
export async function referenceRun(out: string): Promise<{ tensors: Map<string, number[]>; trainMs: number }> {
  const result = await webgan(['train', ...CRASH_RUN_FLAGS, '--out', out]);
  if (result.code !== 0) throw new Error(`the reference run failed (exit ${result.code}): ${result.output.slice(-500)}`);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { wall_s: number };
  return { tensors: (await checkpointTensors(out)).tensors, trainMs: summary.wall_s * 1000 };
}
