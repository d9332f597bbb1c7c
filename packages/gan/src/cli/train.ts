/**
 * `webgan train`: a preset (or a JSON config) with any setting overridden by a flag; --out DIR
 * for a new run, --resume DIR to continue one (with --steps N the total to reach).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initNode } from '@webgan/kernels/node';
import { CONFIG_KEYS, PRESETS, presetConfig, type TrainConfig } from '../train/config';
import { runTraining } from '../train/run';
import { UsageError, flagHelp, parseFlags, type FlagSpec } from './flags';

const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

const ARRAY_KEYS = new Set(['betasG', 'betasD', 'gHidden', 'dHidden']);
const BOOLEAN_KEYS = new Set(['spectralNorm', 'minibatchStd']);
const STRING_KEYS = new Set(['preset', 'data', 'model', 'conditional', 'loss', 'penalty', 'dNorm', 'gNorm', 'onNan', 'latentPrior']);
const INTEGER_KEYS = new Set(['dMaxout', 'nCritic', 'steps', 'batchSize', 'latentDim', 'width', 'imageSize', 'seed', 'logEvery', 'sampleEvery', 'checkpointEvery', 'evalSamples', 'pac', 'lrDecaySteps', 'instanceNoiseSteps', 'topKSteps', 'latentComponents']);

function settingSpec(): Record<string, FlagSpec> {
  const spec: Record<string, FlagSpec> = {};
  for (const key of CONFIG_KEYS) {
    if (key === 'preset') continue;
    const kind = BOOLEAN_KEYS.has(key) ? 'boolean' : STRING_KEYS.has(key) || ARRAY_KEYS.has(key) ? 'string' : INTEGER_KEYS.has(key) ? 'integer' : 'number';
    spec[kebab(key)] = { kind, help: ARRAY_KEYS.has(key) ? `${key} (comma-separated numbers)` : key };
  }
  return spec;
}

export const TRAIN_SPEC: Record<string, FlagSpec> = {
  preset: { kind: 'string', help: `one of ${Object.keys(PRESETS).join(', ')} (default mnist-dcgan)` },
  config: { kind: 'string', help: 'a JSON file of settings (applied over the preset)' },
  out: { kind: 'string', help: 'the run folder to create (must be new or empty; default runs/PRESET-DATE-TIME)' },
  resume: { kind: 'string', help: 'a run folder to continue from its latest checkpoint' },
  ...settingSpec(),
  help: { kind: 'boolean', help: 'show this help' },
};

function applySetting(config: TrainConfig, key: keyof TrainConfig, value: unknown, source: string): void {
  if (ARRAY_KEYS.has(key) && typeof value === 'string') {
    const parts = value.split(',').map((v) => Number(v.trim()));
    if (parts.some((v) => !Number.isFinite(v))) throw new UsageError(`${source}: ${key} must be comma-separated numbers, got '${value}'`);
    value = parts;
  }
  (config as unknown as Record<string, unknown>)[key] = value;
}

/** The total steps a run folder was started with (its config.json), or null if unreadable. */
function runTotalSteps(dir: string): number | null {
  try {
    const steps = (JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { steps?: unknown }).steps;
    return Number.isSafeInteger(steps) ? (steps as number) : null;
  } catch {
    return null;
  }
}

export async function trainCommand(args: string[]): Promise<number> {
  const { flags, positional } = parseFlags('train', args, TRAIN_SPEC);
  if (flags.help) {
    console.log(`usage: webgan train --preset NAME --out DIR [settings]\n       webgan train --resume DIR [--steps N]\n\n${flagHelp(TRAIN_SPEC)}`);
    return 0;
  }
  if (positional.length) throw new UsageError(`train: unexpected argument '${positional[0]}' (settings are flags, e.g. --steps 500)`);
  const resume = flags.resume as string | undefined;
  const presetName = (flags.preset as string | undefined) ?? 'mnist-dcgan';
  const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
  const out = resume ?? (flags.out as string | undefined) ?? join('runs', `${presetName}-${stamp}`);
  if (resume && flags.out !== undefined && flags.out !== resume) throw new UsageError('train: --resume continues in its own folder; do not pass a different --out');
  const config = presetConfig(presetName);
  if (flags.config) {
    let file: Record<string, unknown>;
    try {
      file = JSON.parse(readFileSync(flags.config as string, 'utf8'));
    } catch (e) {
      throw new UsageError(`train: --config ${flags.config}: ${(e as Error).message}`);
    }
    for (const [k, v] of Object.entries(file)) {
      if (!CONFIG_KEYS.includes(k as keyof TrainConfig)) throw new UsageError(`train: --config ${flags.config}: unknown setting '${k}'`);
      applySetting(config, k as keyof TrainConfig, v, `--config ${flags.config}`);
    }
  }
  for (const key of CONFIG_KEYS) {
    const v = flags[kebab(key)];
    if (v !== undefined && key !== 'preset') applySetting(config, key, v, `--${kebab(key)}`);
  }
  if (resume) {
    const overrides = Object.keys(flags).filter((k) => !['resume', 'steps', 'out'].includes(k));
    if (overrides.length) throw new UsageError(`train: --resume takes only --steps; the run keeps its config (got --${overrides.join(', --')})`);
    // Without --steps a resumed run goes on to its own total, not to a preset's.
    if (flags.steps === undefined) config.steps = runTotalSteps(resume) ?? config.steps;
  }
  const isTty = process.stderr.isTTY;
  let lastPrinted = 0;
  const summary = await runTraining({
    config,
    out,
    resume: resume !== undefined,
    initGpu: () => initNode(),
    log: (line) => console.log(line),
    progress: (line) => {
      if (isTty) process.stderr.write(`\r${line}\x1b[K`);
      else if (Date.now() - lastPrinted > 10_000) {
        lastPrinted = Date.now();
        process.stderr.write(`${line}\n`);
      }
    },
  });
  if (summary.interrupted) return 130;
  console.log(JSON.stringify(summary, null, 2));
  console.log(`wrote ${out}/ (report.html, samples/, summary.json)`);
  return 0;
}
