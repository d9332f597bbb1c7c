/**
 * Trains the metrics' MNIST classifier on the 8,000 training digits of the fixed split and
 * reports its accuracy on the 2,000 held-out ones. `pnpm webgan train-classifier` runs it and
 * writes the weights the metrics load (packages/gan/assets/mnist-classifier.safetensors).
 */
import { crossEntropy, manualSeed, noGrad, tensor, tidy, type Tensor } from '@webgan/core';
import { Adam } from '@webgan/nn';
import { bundledMnistSplit, MNIST_PIXELS, type DigitSet } from '../data/mnist';
import { mulberry32, seededPermutation } from '../data/shuffle';
import { MnistClassifier } from './mnist-classifier';

export interface ClassifierTraining {
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** Random shifts of up to this many pixels (augmentation; the data set is small). */
  maxShift: number;
  log?: (line: string) => void;
}

export const DEFAULT_CLASSIFIER_TRAINING: ClassifierTraining = { epochs: 12, batchSize: 64, lr: 2e-3, seed: 1, maxShift: 2 };

/** Copies image `index` shifted by (dy, dx) into `out` at `at` (zeros fill the border). */
function shiftedImage(set: DigitSet, index: number, dy: number, dx: number, out: Float32Array, at: number): void {
  const src = index * MNIST_PIXELS;
  for (let y = 0; y < 28; y++) {
    const sy = y - dy;
    for (let x = 0; x < 28; x++) {
      const sx = x - dx;
      out[at + y * 28 + x] = sy >= 0 && sy < 28 && sx >= 0 && sx < 28 ? set.images[src + sy * 28 + sx] : 0;
    }
  }
}

/** Images [N,1,28,28] of `set` rows `indices`, as a tensor. */
export function imageBatch(set: DigitSet, indices: ArrayLike<number>, shift?: () => [number, number]): Tensor {
  const data = new Float32Array(indices.length * MNIST_PIXELS);
  for (let i = 0; i < indices.length; i++) {
    const [dy, dx] = shift ? shift() : [0, 0];
    shiftedImage(set, indices[i], dy, dx, data, i * MNIST_PIXELS);
  }
  return tensor(data, [indices.length, 1, 28, 28]);
}

/** Fraction of `set` that `model` classifies correctly (eval mode, batches of 500). */
export async function classifierAccuracy(model: MnistClassifier, set: DigitSet): Promise<number> {
  model.eval();
  let correct = 0;
  for (let start = 0; start < set.count; start += 500) {
    const idx = Array.from({ length: Math.min(500, set.count - start) }, (_, i) => start + i);
    const logits = noGrad(() => tidy(() => model.forward(imageBatch(set, idx))));
    const values = await logits.data();
    logits.dispose();
    for (let i = 0; i < idx.length; i++) {
      let best = 0;
      for (let c = 1; c < 10; c++) if (values[i * 10 + c] > values[i * 10 + best]) best = c;
      if (best === set.labels[idx[i]]) correct++;
    }
  }
  return correct / set.count;
}

export async function trainMnistClassifier(options: Partial<ClassifierTraining> = {}): Promise<{ model: MnistClassifier; testAccuracy: number; trainSeconds: number }> {
  const o = { ...DEFAULT_CLASSIFIER_TRAINING, ...options };
  const { train, test } = bundledMnistSplit();
  manualSeed(o.seed);
  const model = new MnistClassifier();
  const opt = new Adam(model.parameters(), { lr: o.lr });
  const rng = mulberry32(o.seed);
  const shift = (): [number, number] => [Math.round((rng() * 2 - 1) * o.maxShift), Math.round((rng() * 2 - 1) * o.maxShift)];
  const started = performance.now();
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    model.train();
    // Cosine decay over the run: a small data set overfits less with a falling learning rate.
    opt.paramGroups[0].lr = (o.lr * (1 + Math.cos((Math.PI * epoch) / o.epochs))) / 2;
    const order = seededPermutation(train.count, o.seed * 1000 + epoch);
    let lossSum: Tensor | null = null;
    const batches = Math.floor(train.count / o.batchSize);
    for (let b = 0; b < batches; b++) {
      const idx = order.subarray(b * o.batchSize, (b + 1) * o.batchSize);
      const loss = tidy(() => {
        const x = imageBatch(train, idx, o.maxShift > 0 ? shift : undefined);
        const labels = tensor(Int32Array.from(idx, (j) => train.labels[j]), [idx.length]);
        const l = crossEntropy(model.forward(x), labels);
        l.backward();
        return l;
      });
      opt.step();
      opt.zeroGrad();
      if (b === batches - 1) lossSum = loss;
      else loss.dispose();
    }
    const last = lossSum ? await lossSum.item() : NaN;
    lossSum?.dispose();
    const acc = await classifierAccuracy(model, test);
    o.log?.(`epoch ${epoch + 1}/${o.epochs}: last batch loss ${last.toFixed(4)}, test accuracy ${(acc * 100).toFixed(2)}%, ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  const trainSeconds = (performance.now() - started) / 1000;
  const testAccuracy = await classifierAccuracy(model, test);
  opt.dispose();
  return { model, testAccuracy, trainSeconds };
}
