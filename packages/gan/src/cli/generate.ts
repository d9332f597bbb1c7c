/**
 * Commands that use a trained run: `sample` (a PNG grid, by class, or latent walks), `eval` (the
 * summary metrics of the latest checkpoint), `export` (N samples as PNG files or an IDX file, for
 * data augmentation).
 */
import { mkdirSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Generator, add, mul, noGrad, slice, concat, tensor, tidy, type Tensor } from '@webgan/core';
import { initNode } from '@webgan/kernels/node';
import { writeFileAtomic } from '@webgan/nn/node';
import { encodeIdx } from '../data/idx';
import { imageGrid, upscale } from '../image/grid';
import { encodePng } from '../image/png';
import { mnistMetrics, toyMetrics } from '../metrics/evaluate';
import { openRun } from '../train/load-run';
import type { GanTrainer } from '../train/trainer';
import { UsageError, flagHelp, parseFlags, type FlagSpec } from './flags';

function runDir(command: string, flags: Record<string, unknown>, positional: string[]): string {
  const dir = (flags.run as string | undefined) ?? positional[0];
  if (!dir) throw new UsageError(`${command}: pass the run folder (--run DIR)`);
  return dir;
}

/** The --class a command was given, checked against the run's model. */
function requestedClass(command: string, trainer: GanTrainer, cls: number | undefined, dir: string): number | undefined {
  if (cls === undefined) return undefined;
  const { conditional, numClasses } = trainer.models;
  if (!conditional) throw new UsageError(`${command}: --class needs a conditional model; ${dir} is not conditional`);
  if (cls < 0 || cls >= numClasses) throw new UsageError(`${command}: --class must be 0..${numClasses - 1}, got ${cls}`);
  return cls;
}

/** Images [n, C, H, W] in [−1, 1] from latents z (and labels). */
async function generateImages(trainer: GanTrainer, z: Tensor, labels: Int32Array | null): Promise<Float32Array> {
  const G = trainer.sampleGenerator;
  G.eval();
  const y = noGrad(() => tidy(() => trainer.generate(G, z, labels ? tensor(labels, [labels.length]) : null)));
  const values = (await y.data()) as Float32Array;
  y.dispose();
  return values;
}

const SAMPLE_SPEC: Record<string, FlagSpec> = {
  run: { kind: 'string', help: 'the run folder' },
  out: { kind: 'string', help: 'PNG file to write (default RUN/sample.png)' },
  count: { kind: 'integer', help: 'images in the grid (default 64)' },
  class: { kind: 'integer', help: 'conditional models: the class to draw' },
  interpolate: { kind: 'boolean', help: 'latent walks: each row goes linearly between two random latents' },
  seed: { kind: 'integer', help: 'latent seed (default 0)' },
  help: { kind: 'boolean', help: 'show this help' },
};

export async function sampleCommand(args: string[]): Promise<number> {
  const { flags, positional } = parseFlags('sample', args, SAMPLE_SPEC);
  if (flags.help) {
    console.log(`usage: webgan sample --run DIR [--out FILE.png] [--count N] [--class K] [--interpolate]\n${flagHelp(SAMPLE_SPEC)}`);
    return 0;
  }
  const dir = runDir('sample', flags, positional);
  const count = (flags.count as number | undefined) ?? 64;
  if (count < 1 || count > 1024) throw new UsageError(`sample: --count must be 1..1024, got ${count}`);
  await initNode();
  const trainer = await openRun(dir);
  const { conditional, numClasses } = trainer.models;
  const cls = requestedClass('sample', trainer, flags.class as number | undefined, dir);
  if (trainer.data.kind !== 'image') throw new UsageError(`sample: ${dir} is a 2D run; its samples/ folder has its scatter plots`);
  const gen = new Generator((flags.seed as number | undefined) ?? 0);
  const latentDim = trainer.config.latentDim;
  let z: Tensor;
  let columns: number | undefined;
  if (flags.interpolate) {
    // Rows of 8 steps between two latents each.
    columns = 8;
    const rows = Math.max(1, Math.round(count / columns));
    z = tidy(() => {
      const a = trainer.prior.sample(rows, gen);
      const b = trainer.prior.sample(rows, gen);
      const parts: Tensor[] = [];
      for (let r = 0; r < rows; r++) {
        const ar = slice(a, [r, 0], [1, latentDim]);
        const br = slice(b, [r, 0], [1, latentDim]);
        for (let i = 0; i < columns!; i++) {
          const t = i / (columns! - 1);
          parts.push(add(mul(ar, 1 - t), mul(br, t)));
        }
      }
      return concat(parts, 0);
    });
  } else {
    z = trainer.prior.sample(count, gen);
  }
  const n = z.shape[0];
  const labels = conditional ? Int32Array.from({ length: n }, (_, i) => cls ?? i % numClasses) : null;
  const images = await generateImages(trainer, z, labels);
  z.dispose();
  const [c, h, w] = trainer.data.sampleShape;
  const grid = upscale(imageGrid(images, n, c as 1 | 3, h, w, { columns: columns ?? (conditional && cls === undefined ? numClasses : undefined) }), h <= 32 ? 3 : 2);
  const out = (flags.out as string | undefined) ?? join(dir, 'sample.png');
  await writeFileAtomic(out, encodePng(grid.pixels, grid.width, grid.height, grid.channels));
  console.log(`wrote ${out} (${n} samples${cls !== undefined ? ` of class ${cls}` : ''}${flags.interpolate ? ', latent walks' : ''})`);
  trainer.dispose();
  return 0;
}

const EVAL_SPEC: Record<string, FlagSpec> = {
  run: { kind: 'string', help: 'the run folder' },
  samples: { kind: 'integer', help: 'samples to score (default: the run’s evalSamples)' },
  help: { kind: 'boolean', help: 'show this help' },
};

export async function evalCommand(args: string[]): Promise<number> {
  const { flags, positional } = parseFlags('eval', args, EVAL_SPEC);
  if (flags.help) {
    console.log(`usage: webgan eval --run DIR\n${flagHelp(EVAL_SPEC)}`);
    return 0;
  }
  const dir = runDir('eval', flags, positional);
  await initNode();
  const trainer = await openRun(dir);
  const n = (flags.samples as number | undefined) ?? trainer.config.evalSamples;
  let metrics: object;
  if (trainer.data.kind === '2d') metrics = toyMetrics(trainer.data.name as 'ring8' | 'grid25', await trainer.sample(n), n);
  else {
    const labels = trainer.models.conditional ? Int32Array.from({ length: n }, (_, i) => i % trainer.models.numClasses) : undefined;
    metrics = await mnistMetrics(await trainer.sample(n, { labels }), n, labels);
  }
  console.log(JSON.stringify({ run: dir, step: trainer.step, samples: n, ...metrics }, null, 2));
  trainer.dispose();
  return 0;
}

const EXPORT_SPEC: Record<string, FlagSpec> = {
  run: { kind: 'string', help: 'the run folder' },
  out: { kind: 'string', help: 'folder to write into (new or empty)' },
  count: { kind: 'integer', help: 'samples to export (default 1000)' },
  format: { kind: 'string', help: 'png (one file per sample) or idx (images + labels files)' },
  class: { kind: 'integer', help: 'conditional models: export only this class' },
  seed: { kind: 'integer', help: 'latent seed (default 0)' },
  help: { kind: 'boolean', help: 'show this help' },
};

export async function exportCommand(args: string[]): Promise<number> {
  const { flags, positional } = parseFlags('export', args, EXPORT_SPEC);
  if (flags.help) {
    console.log(`usage: webgan export --run DIR --out DIR [--count N] [--format png|idx]\n${flagHelp(EXPORT_SPEC)}`);
    return 0;
  }
  const dir = runDir('export', flags, positional);
  const out = flags.out as string | undefined;
  if (!out) throw new UsageError('export: pass --out DIR');
  const format = (flags.format as string | undefined) ?? 'png';
  if (format !== 'png' && format !== 'idx') throw new UsageError(`export: --format must be png or idx, got '${format}'`);
  const count = (flags.count as number | undefined) ?? 1000;
  if (count < 1 || count > 1_000_000) throw new UsageError(`export: --count must be 1..1000000, got ${count}`);
  if (existsSync(out) && readdirSync(out).length > 0) throw new UsageError(`export: --out ${out} is not empty; nothing was written`);
  await initNode();
  const trainer = await openRun(dir);
  if (trainer.data.kind !== 'image') throw new UsageError(`export: ${dir} is a 2D run; export writes images`);
  const { conditional, numClasses } = trainer.models;
  const cls = requestedClass('export', trainer, flags.class as number | undefined, dir);
  mkdirSync(out, { recursive: true });
  const [c, h, w] = trainer.data.sampleShape;
  const per = c * h * w;
  const labels = conditional ? Int32Array.from({ length: count }, (_, i) => cls ?? i % numClasses) : null;
  const gen = new Generator((flags.seed as number | undefined) ?? 0);
  const all = new Uint8Array(count * per);
  for (let start = 0; start < count; start += 500) {
    const m = Math.min(500, count - start);
    const z = trainer.prior.sample(m, gen);
    const images = await generateImages(trainer, z, labels ? labels.slice(start, start + m) : null);
    z.dispose();
    for (let i = 0; i < m * per; i++) all[start * per + i] = Math.max(0, Math.min(255, Math.round(((images[i] + 1) / 2) * 255)));
  }
  if (format === 'idx') {
    if (c !== 1) throw new UsageError('export: IDX holds grayscale images; this run has color images (use --format png)');
    await writeFileAtomic(join(out, 'images-idx3-ubyte'), encodeIdx([count, h, w], all));
    if (labels) await writeFileAtomic(join(out, 'labels-idx1-ubyte'), encodeIdx([count], Uint8Array.from(labels)));
  } else {
    for (let i = 0; i < count; i++) {
      const img = all.subarray(i * per, (i + 1) * per);
      // NCHW → HWC for PNG.
      const hwc = new Uint8Array(per);
      for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) hwc[p * c + ch] = img[ch * h * w + p];
      const name = `${String(i).padStart(6, '0')}${labels ? `-class${labels[i]}` : ''}.png`;
      await writeFileAtomic(join(out, name), encodePng(hwc, w, h, c as 1 | 3));
    }
  }
  console.log(`wrote ${count} samples to ${out} as ${format}`);
  trainer.dispose();
  return 0;
}
