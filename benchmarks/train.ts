/**
 * Training-step benchmark: one discriminator step + one generator step of the same GAN in webgan
 * and in tfjs (webgpu, wasm, cpu backends), in one process on the same adapter. Prints a table,
 * writes benchmarks/results/train.json and rewrites the README's training-step table.
 *
 *   pnpm bench train [--runs=10] [--warmup=3] [--models=mlp-gan,dcgan-small] [--backends=ours,tfjs-webgpu] [--profile] [--slow]
 *
 * --profile also prints where our step's GPU time goes, per kernel (timestamp queries); --slow
 * also runs tfjs-cpu's DCGAN step (minutes each).
 * A benchmark, not a test: a backend that cannot run a model gets null and the reason.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { initNode } from '@webgan/kernels/node';
import { bundledMnistData } from '../packages/gan/src/train/load-data';
import { GanTrainer } from '../packages/gan/src/train/trainer';
import { cpuInfo } from './lib/machine';
import { BENCHMARKS_DIR, WORKSPACE_ROOT } from './lib/paths';
import { formatTable, round, writeJson } from './lib/report';
import { errorMessage, loadTfjs, tfjsCompletion, useTfjsBackend, type TfjsBackendName } from './lib/tfjs';
import { measure, type Measurement } from './lib/timing';
import { BATCH, BETAS, LR, MODEL_DESCRIPTIONS, PER_SAMPLE_D, TRAIN_MODELS, ourConfig, tfGan, tfTrainStep, type TrainModelName } from './train-models';

type Backend = 'ours' | `tfjs-${TfjsBackendName}`;
const BACKENDS: readonly Backend[] = ['ours', 'tfjs-webgpu', 'tfjs-wasm', 'tfjs-cpu'];
/** tfjs-cpu: timed runs capped to about this long per model. */
const CPU_BUDGET_MS = 20_000;
/**
 * tfjs-cpu's DCGAN step takes minutes (its Conv2DBackpropFilter alone took 56 s a run in the
 * kernel suite), so it runs only with --slow.
 */
const SLOW: ReadonlySet<string> = new Set(['tfjs-cpu/dcgan-small']);

interface Options {
  runs: number;
  warmup: number;
  models: TrainModelName[];
  backends: Backend[];
  profile: boolean;
  slow: boolean;
  out: string;
}

interface Cell {
  ms: number | null;
  runs?: number;
  spread?: [number, number];
  error?: string;
}

export async function trainBenchmark(args: string[]): Promise<number> {
  const options = parseArgs(args);
  const cpu = cpuInfo();
  const loadBefore = loadavg()[0];
  console.log(`training-step benchmark: ${options.models.join(', ')} on ${options.backends.join(', ')} (batch ${BATCH}, ${options.warmup} warm-up + ${options.runs} timed steps)`);
  console.log(`cpu: ${cpu.model}, ${cpu.cores} cores, fp32 peak ${cpu.peakGflops.toFixed(0)} GFLOP/s (${cpu.peakRule})`);
  if (loadBefore > cpu.cores / 2) console.log(`warning: load average ${loadBefore.toFixed(1)} on ${cpu.cores} cores: other work is running, timings will be noisy`);
  const cells = new Map<TrainModelName, Partial<Record<Backend, Cell>>>(options.models.map((m) => [m, {}]));
  const set = (model: TrainModelName, backend: Backend, cell: Cell) => {
    cells.get(model)![backend] = cell;
    console.log(`  ${backend.padEnd(11)} ${model.padEnd(12)} ${cell.ms !== null ? `${cell.ms.toFixed(1)} ms/step (median of ${cell.runs})` : `null: ${cell.error}`}`);
  };
  const real = realBatches();
  const adapter: Record<string, unknown> = {};
  const profiles: Record<string, unknown> = {};

  if (options.backends.includes('ours')) {
    // As `webgan train` runs on a fresh machine: heuristic GEMM tilings, no tuning file.
    const rt = await initNode({ tuningFile: false });
    Object.assign(adapter, rt.adapter);
    for (const model of options.models) {
      try {
        const trainer = new GanTrainer(ourConfig(model), bundledMnistData());
        // Both sides must run the same algorithm: one pass of D over real and fake, or two.
        if (trainer.jointCriticPass !== PER_SAMPLE_D[model]) throw new Error(`${model}: our D step ${trainer.jointCriticPass ? 'joins' : 'separates'} real and fake, the tfjs model does not`);
        const step = () => trainer.trainStep();
        const done = (l: ReturnType<typeof step>) => { l.d.dispose(); l.g.dispose(); l.penalty?.dispose(); };
        const { measurement, last } = await measure(step, () => rt.sync(), done, { warmup: options.warmup, runs: options.runs });
        done(last);
        set(model, 'ours', cell(measurement));
        if (options.profile && rt.features.has('timestamp-query')) {
          const steps = 5;
          rt.startProfiling();
          for (let i = 0; i < steps; i++) done(step());
          const report = await rt.stopProfiling();
          const total = report.reduce((a, r) => a + r.totalMs, 0);
          profiles[model] = report.map((r) => ({ kernel: r.kernel, dispatches_per_step: r.dispatches / steps, ms_per_step: round(r.totalMs / steps), share: round(r.totalMs / total, 3) }));
          console.log(`\n  where our ${model} step's GPU time goes (${steps} steps, timestamp queries, ${(total / steps).toFixed(1)} ms/step):`);
          console.log(formatTable(['kernel', 'dispatches/step', 'ms/step', 'share'], report.slice(0, 15).map((r) => [r.kernel, r.dispatches / steps, (r.totalMs / steps).toFixed(2), `${((100 * r.totalMs) / total).toFixed(1)}%`])).replace(/^/gm, '    '));
          console.log();
        }
        trainer.dispose();
      } catch (error) {
        set(model, 'ours', { ms: null, error: errorMessage(error) });
      }
    }
  }

  const tfjsBackends = options.backends.filter((b) => b !== 'ours').map((b) => b.slice(5) as TfjsBackendName);
  if (tfjsBackends.length > 0) {
    const tfjs = await loadTfjs();
    const { tf } = tfjs;
    for (const name of tfjsBackends) {
      const backend: Backend = `tfjs-${name}`;
      try {
        await useTfjsBackend(tfjs, name);
      } catch (error) {
        for (const model of options.models) set(model, backend, { ms: null, error: errorMessage(error) });
        continue;
      }
      if (name === 'webgpu') {
        const info = (tf.backend() as unknown as { adapterInfo?: { vendor?: string; architecture?: string } }).adapterInfo;
        adapter.tfjs_webgpu = { vendor: info?.vendor, architecture: info?.architecture };
      }
      for (const model of options.models) {
        if (SLOW.has(`${backend}/${model}`) && !options.slow) {
          set(model, backend, { ms: null, error: 'skipped: minutes per step (--slow runs it)' });
          continue;
        }
        const gan = tfGan(tf, model);
        const optD = tf.train.adam(LR, BETAS[0], BETAS[1], 1e-8);
        const optG = tf.train.adam(LR, BETAS[0], BETAS[1], 1e-8);
        let i = 0;
        try {
          const { measurement } = await measure(() => tfTrainStep(tf, gan, optD, optG, real[i++ % real.length]), tfjsCompletion(tf), () => {}, {
            warmup: name === 'cpu' ? 1 : options.warmup, runs: options.runs,
            ...(name === 'cpu' ? { budgetMs: CPU_BUDGET_MS, minRuns: 3 } : {}),
          });
          set(model, backend, cell(measurement));
        } catch (error) {
          set(model, backend, { ms: null, error: errorMessage(error) });
        } finally {
          gan.dispose();
          optD.dispose();
          optG.dispose();
        }
      }
    }
  }

  const rows = options.models.map((model) => row(model, cells.get(model)!));
  const report = {
    date: new Date().toISOString(),
    adapter,
    cpu: { model: cpu.model, cores: cpu.cores, clock_ghz: cpu.clockGHz, peak_gflops: round(cpu.peakGflops, 4), peak_rule: cpu.peakRule },
    software: { node: process.version },
    load_average: { before: round(loadBefore, 2), after: round(loadavg()[0], 2) },
    method: {
      step: `one discriminator step then one generator step, batch ${BATCH}, non-saturating loss with logits, Adam lr ${LR}, betas (${BETAS.join(', ')}), a new real batch uploaded per step`,
      timed_run: 'enqueue one step, then wait for the device to finish it; no readback; median reported',
      warmup: options.warmup,
      runs: options.runs,
      tfjs_cpu: `1 warm-up; timed runs capped to ~${CPU_BUDGET_MS / 1000} s per model, at least 3`,
    },
    models: Object.fromEntries(options.models.map((m) => [m, MODEL_DESCRIPTIONS[m]])),
    rows,
    ...(Object.keys(profiles).length > 0 ? { profile: profiles } : {}),
  };
  writeJson(options.out, report);
  const x = (v: number | null) => (v === null ? null : `${v.toFixed(2)}x`);
  console.log(`\n${formatTable(['model', 'ours ms', 'images/s', 'webgpu ms', 'wasm ms', 'cpu ms', 'vs webgpu', 'vs wasm'], rows.map((r) => [r.model, r.ours_ms, r.ours_images_per_s, r.tfjs_webgpu_ms, r.tfjs_wasm_ms, r.tfjs_cpu_ms, x(r.speedup_vs_tfjs_webgpu), x(r.speedup_vs_tfjs_wasm)]))}\n`);
  for (const r of rows) for (const note of r.notes) console.log(`  ${r.model}: ${note}`);
  if (options.out === defaultOut() && options.backends.length === BACKENDS.length) updateReadme(rows, cpu.model, cpu.cores, String(adapter.description ?? 'unknown adapter'));
  console.log(`wrote ${options.out}`);
  return 0;
}

function cell(m: Measurement): Cell {
  return { ms: round(m.medianMs), runs: m.runs, spread: [round(m.minMs)!, round(m.maxMs)!] };
}

function row(model: TrainModelName, cells: Partial<Record<Backend, Cell>>) {
  const ms = (b: Backend) => cells[b]?.ms ?? null;
  const ratio = (b: Backend) => (ms('ours') && ms(b) ? round(ms(b)! / ms('ours')!) : null);
  return {
    model,
    ours_ms: ms('ours'),
    ours_images_per_s: ms('ours') ? round((1000 * BATCH) / ms('ours')!) : null,
    tfjs_webgpu_ms: ms('tfjs-webgpu'),
    tfjs_wasm_ms: ms('tfjs-wasm'),
    tfjs_cpu_ms: ms('tfjs-cpu'),
    speedup_vs_tfjs_webgpu: ratio('tfjs-webgpu'),
    speedup_vs_tfjs_wasm: ratio('tfjs-wasm'),
    runs: Object.fromEntries(Object.entries(cells).map(([b, c]) => [b, c?.runs ?? 0])),
    min_max_ms: Object.fromEntries(Object.entries(cells).filter(([, c]) => c?.spread).map(([b, c]) => [b, c!.spread])),
    notes: Object.entries(cells).filter(([, c]) => c?.error).map(([b, c]) => `${b}: ${c!.error}`),
  };
}

/** Real batches in [−1, 1] from the bundled digits, NHWC = NCHW for one channel. */
function realBatches(): Float32Array[] {
  const data = bundledMnistData();
  const per = BATCH * 784;
  return Array.from({ length: 8 }, (_, b) => data.values.slice(b * per, (b + 1) * per));
}

const README_START = '<!-- train-benchmark:start -->';
const README_END = '<!-- train-benchmark:end -->';

/** Rewrites the README's training-step table (between its markers) from a full run. */
function updateReadme(rows: ReturnType<typeof row>[], cpuModel: string, cores: number, adapter: string): void {
  const path = join(WORKSPACE_ROOT, 'README.md');
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf(README_START);
  const end = text.indexOf(README_END);
  if (start < 0 || end < start) return;
  const f = (v: number | null) => (v === null ? 'n/a' : String(v));
  const x = (v: number | null) => (v === null ? 'n/a' : `${v}×`);
  const table = [
    `Median ms per training step (one D step + one G step, batch ${BATCH}), \`pnpm bench train\` on ${cpuModel} (${cores} cores), adapter ${adapter}, ${new Date().toISOString().slice(0, 10)}:`,
    '',
    '| model | webgan | tfjs-webgpu | tfjs-wasm | tfjs-cpu | vs tfjs-webgpu | vs tfjs-wasm |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| \`${r.model}\` | ${f(r.ours_ms)} | ${f(r.tfjs_webgpu_ms)} | ${f(r.tfjs_wasm_ms)} | ${f(r.tfjs_cpu_ms)} | ${x(r.speedup_vs_tfjs_webgpu)} | ${x(r.speedup_vs_tfjs_wasm)} |`),
    ...rows.flatMap((r) => r.notes.map((n) => `\n${r.model}: ${n}`)),
  ].join('\n');
  writeFileSync(path, `${text.slice(0, start + README_START.length)}\n${table}\n${text.slice(end)}`);
}

const defaultOut = () => join(BENCHMARKS_DIR, 'results', 'train.json');

function parseArgs(args: string[]): Options {
  const options: Options = { runs: 10, warmup: 3, models: [...TRAIN_MODELS], backends: [...BACKENDS], profile: false, slow: false, out: defaultOut() };
  for (const arg of args) {
    const [flag, value] = arg.split('=', 2);
    const list = () => (value ?? '').split(',').filter(Boolean);
    if (flag === '--runs' && Number(value) >= 5) options.runs = Number(value);
    else if (flag === '--warmup' && Number(value) >= 1) options.warmup = Number(value);
    else if (flag === '--profile' && value === undefined) options.profile = true;
    else if (flag === '--slow' && value === undefined) options.slow = true;
    else if (flag === '--out' && value) options.out = value;
    else if (flag === '--models' && list().every((m) => TRAIN_MODELS.includes(m as TrainModelName))) options.models = list() as TrainModelName[];
    else if (flag === '--backends' && list().every((b) => BACKENDS.includes(b as Backend))) options.backends = list() as Backend[];
    else {
      throw new Error(`bench train: bad argument '${arg}' (--runs=N≥5, --warmup=N≥1, --models=${TRAIN_MODELS.join(',')}, --backends=${BACKENDS.join(',')}, --profile, --slow, --out=FILE)`);
    }
  }
  return options;
}

