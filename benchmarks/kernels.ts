/**
 * Kernel benchmark: our WGSL kernels against tfjs's webgpu, wasm and cpu backends, in one process,
 * on the same Dawn adapter. Prints a table and writes benchmarks/results/kernels.json.
 *
 *   pnpm bench kernels [--runs=10] [--warmup=2] [--filter=conv] [--backends=ours,tfjs-webgpu] [--slow]
 *
 * A benchmark, not a test: a backend that fails (or lacks an op) gets null and a note, and the
 * other backends go on.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { BACKENDS, KERNEL_CASES, type Backend, type KernelCase, type Operand } from './kernel-cases';
import { cpuInfo } from './lib/machine';
import { initOurs, ourKernels, tuneOurs, type DeviceArray, type Runtime } from './lib/ours';
import { BENCHMARKS_DIR } from './lib/paths';
import { formatTable, round, writeJson } from './lib/report';
import { errorMessage, loadTfjs, tfjsCompletion, useTfjsBackend, type Tfjs, type TfjsBackendName } from './lib/tfjs';
import { measure, type TimingOptions } from './lib/timing';


interface Options {
  runs: number;
  warmup: number;
  filter?: string;
  backends: Backend[];
  /** Also run the cases a backend skips by default for taking minutes (one timed run each). */
  slow: boolean;
  out: string;
}

/** tfjs-cpu runs the big cases at 0.5–2.5 s each: its timed runs are capped to this many ms. */
const CPU_BUDGET_MS = 4000;
const CPU_MIN_RUNS = 3;
/** A relative error above this marks the row: the timing of a wrong result means little. */
const MISMATCH = 1e-3;

interface Cell {
  ms: number | null;
  runs?: number;
  /** Fastest and slowest timed run. */
  spread?: [number, number];
  error?: string;
  /** First output, in our layout, from the last timed run. */
  output?: Float32Array;
}

type Results = Map<string, Partial<Record<Backend, Cell>>>;

/** What the run learns about its setup on the way, for the JSON. */
interface RunInfo {
  adapter?: Record<string, unknown>;
  tfjsVersion?: string;
  tfjsLoadErrors?: string[];
  syncFloorMs: Partial<Record<Backend, number | null>>;
}

export async function kernelBenchmark(args: string[]): Promise<number> {
  const options = parseArgs(args);
  const cases = KERNEL_CASES.filter((c) => !options.filter || c.name.includes(options.filter));
  if (cases.length === 0) throw new Error(`no kernel case matches --filter=${options.filter}`);
  const cpu = cpuInfo();
  console.log(`kernel benchmark: ${cases.length} cases on ${options.backends.join(', ')}`);
  console.log(`cpu: ${cpu.model}, fp32 peak ${cpu.peakGflops.toFixed(0)} GFLOP/s (${cpu.peakRule})\n`);

  const started = performance.now();
  const loadBefore = loadavg()[0];
  if (loadBefore > cpu.cores / 2) {
    console.log(`warning: load average ${loadBefore.toFixed(1)} on ${cpu.cores} cores: other work is running, timings will be noisy\n`);
  }
  const results: Results = new Map(cases.map((c) => [c.name, {}]));
  const set = (c: KernelCase, backend: Backend, cell: Cell) => {
    results.get(c.name)![backend] = cell;
    const what = cell.ms !== null ? `${cell.ms.toFixed(2)} ms (median of ${cell.runs})` : `null: ${cell.error}`;
    console.log(`  ${backend.padEnd(11)} ${c.name.padEnd(34)} ${what}`);
  };
  const host = new Map(cases.map((c) => [c.name, hostInputs(c)]));
  const meta: RunInfo = { syncFloorMs: {} };

  if (options.backends.includes('ours')) await runOurs(cases, host, options, set, meta);
  const tfjsBackends = options.backends.filter((b): b is Exclude<Backend, 'ours'> => b !== 'ours');
  if (tfjsBackends.length > 0) await runTfjs(cases, host, options, tfjsBackends, set, meta);

  const rows = cases.map((c) => row(c, results.get(c.name)!, cpu.peakGflops));
  const load = { before: round(loadBefore, 2), after: round(loadavg()[0], 2) };
  const report = {
    date: new Date().toISOString(),
    adapter: meta.adapter ?? null,
    cpu: { model: cpu.model, cores: cpu.cores, clock_ghz: cpu.clockGHz, peak_gflops: round(cpu.peakGflops, 4), peak_rule: cpu.peakRule },
    software: { node: process.version, tfjs: meta.tfjsVersion ?? null },
    // 1-minute load averages: "before" above cores/2 means other work shared the CPU; "after"
    // includes the benchmark's own threads (lavapipe uses every core).
    load_average: load,
    method: {
      timed_run: 'enqueue the op, then wait for the device to finish it; readback excluded; median reported',
      completion: {
        ours: 'rt.sync(): submit the pending batch, await queue.onSubmittedWorkDone()',
        'tfjs-webgpu': 'backend.endComputePassEncoder(); backend.submitQueue(); await backend.device.queue.onSubmittedWorkDone()',
        'tfjs-wasm': 'synchronous: the op call itself',
        'tfjs-cpu': 'synchronous: the op call itself',
      },
      warmup: options.warmup,
      runs: options.runs,
      warmup_rule: 'warm-up stops early once a warm-up run took over 1 s',
      tfjs_cpu: `1 warm-up; timed runs capped to ~${CPU_BUDGET_MS} ms per case, at least ${CPU_MIN_RUNS}; cases marked skipped take minutes per run (--slow: 1 run, no warm-up)`,
      flops: 'matmul 2MNK; every conv pass 2·N·O·OH·OW·C·KH·KW; batchnorm and leaky ReLU report bytes (inputs read once + outputs written once)',
      sync_floor_ms: meta.syncFloorMs,
    },
    notes: [
      ...(loadBefore > cpu.cores / 2 ? [`load average ${loadBefore.toFixed(1)} at the start: other work shared the CPU, timings are noisy`] : []),
      ...(meta.tfjsLoadErrors ?? []),
      'tfjs-wasm runs single-threaded (SIMD): its threaded build needs browser Workers, which Node lacks.',
      'tfjs-webgpu runs with its default flags (WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE=true, submit every 15 dispatches).',
      'tfjs inputs are NHWC (filters [KH,KW,in,out]) copies of the same data; outputs are checked against the reference in our layout.',
    ],
    rows,
  };
  writeJson(options.out, report);
  console.log(`\n${table(rows)}\n`);
  console.log(`fp32 peak ${cpu.peakGflops.toFixed(0)} GFLOP/s = ${cpu.peakRule}; "err" = max |ours - ref| / max |ref|`);
  console.log(`wrote ${options.out} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return 0;
}

// ------------------------------------------------------------------------------------- ours

async function runOurs(
  cases: KernelCase[], host: Map<string, Record<string, Float32Array>>, options: Options,
  set: (c: KernelCase, b: Backend, cell: Cell) => void, meta: RunInfo,
): Promise<void> {
  let rt: Runtime;
  try {
    rt = await initOurs(join(BENCHMARKS_DIR, 'results', 'gemm-tuning.json'));
  } catch (error) {
    for (const c of cases) set(c, 'ours', { ms: null, error: `initNode: ${errorMessage(error)}` });
    return;
  }
  meta.adapter = { ...rt.adapter };
  meta.syncFloorMs.ours = await syncFloor(() => rt.sync());
  const timing: TimingOptions = { warmup: options.warmup, runs: options.runs };

  for (const c of cases) {
    const kernels = ourKernels(c.kernels);
    const inputs: Record<string, DeviceArray> = {};
    try {
      for (const [name, operand] of Object.entries(c.inputs)) inputs[name] = kernels.fromArray(rt, host.get(c.name)![name], operand.shape);
      const release = (outs: DeviceArray[]) => outs.forEach((o) => rt.release(o.buffer));
      // One untimed run records the case's GEMM problems; tuning then picks their tilings.
      release(c.ours(kernels, rt, inputs));
      await tuneOurs(rt);
      const { measurement, last } = await measure(() => c.ours(kernels, rt, inputs), () => rt.sync(), release, timing);
      const output = Float32Array.from(await kernels.toArray(rt, last[0]));
      release(last);
      set(c, 'ours', { ms: measurement.medianMs, runs: measurement.runs, spread: [measurement.minMs, measurement.maxMs], output });
    } catch (error) {
      set(c, 'ours', { ms: null, error: errorMessage(error) });
    } finally {
      for (const a of Object.values(inputs)) if (!a.buffer.released) rt.release(a.buffer);
    }
  }
}

// ------------------------------------------------------------------------------------- tfjs

async function runTfjs(
  cases: KernelCase[], host: Map<string, Record<string, Float32Array>>, options: Options,
  backends: Exclude<Backend, 'ours'>[], set: (c: KernelCase, b: Backend, cell: Cell) => void, meta: RunInfo,
): Promise<void> {
  let tfjs: Tfjs;
  try {
    tfjs = await loadTfjs();
  } catch (error) {
    for (const b of backends) for (const c of cases) set(c, b, { ms: null, error: `tfjs-core: ${errorMessage(error)}` });
    return;
  }
  const { tf } = tfjs;
  meta.tfjsVersion = tf.version_core;
  meta.tfjsLoadErrors = Object.entries(tfjs.loadErrors).map(([what, why]) => `tfjs ${what} failed to load: ${why}`);

  for (const backend of backends) {
    const name = backend.slice('tfjs-'.length) as TfjsBackendName;
    try {
      await useTfjsBackend(tfjs, name);
    } catch (error) {
      for (const c of cases) set(c, backend, { ms: null, error: errorMessage(error) });
      continue;
    }
    const complete = tfjsCompletion(tf);
    if (complete) meta.syncFloorMs[backend] = await syncFloor(complete);
    if (name === 'webgpu') {
      const info = (tf.backend() as unknown as { adapterInfo?: { vendor?: string; architecture?: string } }).adapterInfo;
      meta.adapter = { ...meta.adapter, tfjs_webgpu: { vendor: info?.vendor, architecture: info?.architecture } };
    }
    const timing: TimingOptions =
      name === 'cpu'
        ? { warmup: 1, runs: options.runs, budgetMs: CPU_BUDGET_MS, minRuns: CPU_MIN_RUNS }
        : { warmup: options.warmup, runs: options.runs };

    for (const c of cases) {
      const skip = c.skip?.[backend];
      if (skip && !options.slow) {
        set(c, backend, { ms: null, error: `skipped (--slow runs it): ${skip}` });
        continue;
      }
      const caseTiming = skip ? { warmup: 0, runs: 1 } : timing;
      const data = host.get(c.name)!;
      let inputs: Record<string, Tensor> | undefined;
      try {
        inputs = tf.tidy(() => {
          const made: Record<string, Tensor> = {};
          for (const [key, op] of Object.entries(c.inputs)) {
            const t = tf.tensor(data[key], op.shape);
            made[key] = op.tfjsPerm ? tf.transpose(t, op.tfjsPerm) : t;
          }
          return made;
        });
        const given = inputs;
        const { measurement, last } = await measure(
          () => tf.tidy(() => c.tfjs(tf, given)), complete, (outs) => tf.dispose(outs), caseTiming,
        );
        const first = tf.tidy(() => (c.tfjsOutPerm ? tf.transpose(last[0], c.tfjsOutPerm) : last[0].clone()));
        const output = Float32Array.from(await first.data());
        tf.dispose([first, ...last]);
        set(c, backend, { ms: measurement.medianMs, runs: measurement.runs, spread: [measurement.minMs, measurement.maxMs], output });
      } catch (error) {
        set(c, backend, { ms: null, error: errorMessage(error) });
      } finally {
        if (inputs) tf.dispose(Object.values(inputs));
      }
    }
  }
}

// ------------------------------------------------------------------------------------ rows

function row(c: KernelCase, cells: Partial<Record<Backend, Cell>>, peakGflops: number) {
  const ms = (b: Backend) => cells[b]?.ms ?? null;
  const ours = ms('ours');
  const webgpu = ms('tfjs-webgpu');
  const gflops = (t: number | null) => (c.flops && t ? c.flops / t / 1e6 : null);
  const notes = BACKENDS.filter((b) => cells[b]?.error).map((b) => `${b}: ${cells[b]!.error}`);
  const check = checkOutputs(cells);
  if (check && (check.ours ?? 0) > MISMATCH) notes.push(`ours differs from ${check.reference}: relative error ${check.ours}`);
  return {
    name: c.name,
    shape: c.shape,
    flops: c.flops ?? null,
    bytes: c.bytes ?? null,
    ours_ms: round(ours, 4),
    tfjs_webgpu_ms: round(webgpu, 4),
    tfjs_wasm_ms: round(ms('tfjs-wasm'), 4),
    tfjs_cpu_ms: round(ms('tfjs-cpu'), 4),
    runs: Object.fromEntries(BACKENDS.filter((b) => cells[b]?.runs).map((b) => [b, cells[b]!.runs])),
    min_max_ms: Object.fromEntries(BACKENDS.filter((b) => cells[b]?.spread).map((b) => [b, cells[b]!.spread!.map((v) => round(v, 4))])),
    gflops_ours: round(gflops(ours)),
    gflops_tfjs_webgpu: round(gflops(webgpu)),
    peak_share_ours: c.flops && ours ? round(gflops(ours)! / peakGflops) : null,
    gbps_ours: c.bytes && ours ? round(c.bytes / ours / 1e6) : null,
    speedup_vs_tfjs_webgpu: ours && webgpu ? round(webgpu / ours) : null,
    check,
    notes,
  };
}

type Row = ReturnType<typeof row>;

/**
 * Max |x - ref| / max |ref| of each backend's first output, the reference being tfjs-cpu (plain
 * JavaScript), else tfjs-wasm, else tfjs-webgpu.
 */
function checkOutputs(cells: Partial<Record<Backend, Cell>>) {
  const reference = (['tfjs-cpu', 'tfjs-wasm', 'tfjs-webgpu'] as const).find((b) => cells[b]?.output);
  if (!reference) return null;
  const ref = cells[reference]!.output!;
  let scale = 0;
  for (const v of ref) scale = Math.max(scale, Math.abs(v));
  const error = (b: Backend): number | null => {
    const out = cells[b]?.output;
    if (!out || b === reference) return null;
    if (out.length !== ref.length) return Infinity;
    let worst = 0;
    for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i] - ref[i]));
    return round(worst / (scale || 1), 2);
  };
  const errors = { ours: error('ours'), tfjs_webgpu: error('tfjs-webgpu'), tfjs_wasm: error('tfjs-wasm') };
  return Object.values(errors).some((e) => e !== null) ? { reference, ...errors } : null;
}

function table(rows: Row[]): string {
  const pct = (v: number | null) => (v === null ? null : `${(v * 100).toFixed(1)}%`);
  const x = (v: number | null) => (v === null ? null : `${v.toFixed(2)}x`);
  const e = (v: number | null | undefined) => (v === null || v === undefined ? null : v.toExponential(0));
  return formatTable(
    ['op', 'shape', 'ours ms', 'webgpu ms', 'wasm ms', 'cpu ms', 'GFLOP/s', 'peak', 'GB/s', 'vs webgpu', 'err'],
    rows.map((r) => [
      r.name, r.shape, r.ours_ms, r.tfjs_webgpu_ms, r.tfjs_wasm_ms, r.tfjs_cpu_ms,
      r.gflops_ours, pct(r.peak_share_ours), r.gbps_ours, x(r.speedup_vs_tfjs_webgpu), e(r.check?.ours),
    ]),
  );
}

// --------------------------------------------------------------------------------- helpers

/** The cost of an empty wait: what every timed run pays on top of the kernel itself. */
async function syncFloor(complete: () => Promise<void>): Promise<number | null> {
  try {
    const { measurement } = await measure(() => undefined, complete, () => {}, { warmup: 3, runs: 20 });
    return round(measurement.medianMs, 3);
  } catch {
    return null;
  }
}

/** Deterministic host data for a case's inputs (same values for every backend). */
function hostInputs(c: KernelCase): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [name, operand] of Object.entries(c.inputs)) out[name] = fill(operand, hash(`${c.name}/${name}`));
  return out;
}

function fill(operand: Operand, seed: number): Float32Array {
  const n = operand.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  const kind = operand.fill ?? 'uniform';
  if (kind === 'ones') data.fill(1);
  if (kind === 'uniform' || kind === 'scale') {
    // mulberry32: small, fast, and good enough for benchmark inputs.
    let s = seed >>> 0;
    for (let i = 0; i < n; i++) {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = Math.imul(s ^ (s >>> 15), 1 | s);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      data[i] = kind === 'uniform' ? 2 * u - 1 : 0.5 + u;
    }
  }
  return data;
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

function parseArgs(args: string[]): Options {
  const options: Options = {
    runs: 10, warmup: 2, backends: [...BACKENDS], slow: false, out: join(BENCHMARKS_DIR, 'results', 'kernels.json'),
  };
  for (const arg of args) {
    const [key, value = ''] = arg.replace(/^--/, '').split('=', 2);
    if (key === 'runs' || key === 'warmup') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < (key === 'runs' ? 1 : 0)) throw new Error(`--${key} needs a whole number, got '${value}'`);
      options[key] = n;
    } else if (key === 'filter') {
      options.filter = value;
    } else if (key === 'backends') {
      const list = value.split(',').filter(Boolean);
      const unknown = list.filter((b) => !(BACKENDS as readonly string[]).includes(b));
      if (unknown.length > 0) throw new Error(`--backends: unknown ${unknown.join(', ')} (known: ${BACKENDS.join(', ')})`);
      options.backends = list as Backend[];
    } else if (key === 'slow') {
      options.slow = true;
    } else if (key === 'out') {
      options.out = value;
    } else {
      throw new Error(`unknown option '${arg}' (known: --runs=N --warmup=N --filter=TEXT --backends=${BACKENDS.join(',')} --slow --out=FILE)`);
    }
  }
  return options;
}
