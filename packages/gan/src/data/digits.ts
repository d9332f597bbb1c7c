/**
 * MNIST digit sets in memory and the fixed split every webgan tool uses: a seeded shuffle of the
 * 10,000 bundled digits, then 8,000 for training and 2,000 held out for testing (the classifier's
 * accuracy, the FID floor). No file access here, so browsers share it; `./mnist.ts` reads the
 * bundled files under Node.
 */
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

/** The fixed train (8,000) / test (2,000) split of a set of all 10,000 bundled digits. */
export function splitDigits(all: DigitSet): { train: DigitSet; test: DigitSet } {
  const order = seededPermutation(all.count, MNIST_SPLIT_SEED);
  return { train: subset(all, order.subarray(0, MNIST_TRAIN_COUNT)), test: subset(all, order.subarray(MNIST_TRAIN_COUNT)) };
}
