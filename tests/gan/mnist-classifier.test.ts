/**
 * The metrics' MNIST classifier: the committed weights (packages/gan/assets, reproduced by
 * `pnpm webgan train-classifier`) load into the LeNet-style model and classify the 2,000
 * held-out digits of the fixed split with ≥ 97% accuracy; the split itself is fixed.
 */
import { beforeAll, expect, it } from 'vitest';
import { initNode } from '@webgan/kernels/node';
import { memory } from '@webgan/core';
import { bundledMnistSplit, loadBundledMnist } from '../../packages/gan/src/data/mnist';
import { loadMnistClassifier } from '../../packages/gan/src/metrics/classifier-weights';
import { classifierAccuracy } from '../../packages/gan/src/metrics/train-classifier';

beforeAll(async () => {
  await initNode({ tuningFile: false });
});

it('the bundled digits: 10,000 with about 1,000 per class, split 8,000 / 2,000 without overlap, the same every time', () => {
  const all = loadBundledMnist();
  expect(all.count).toBe(10_000);
  const perClass = Array.from({ length: 10 }, (_, c) => all.labels.filter((l) => l === c).length);
  expect(Math.min(...perClass)).toBeGreaterThan(800);
  const a = bundledMnistSplit();
  const b = bundledMnistSplit();
  expect([a.train.count, a.test.count]).toEqual([8000, 2000]);
  expect(a.test.images).toEqual(b.test.images);
  // Test images are not training images (no identical rows; digits are distinct scans).
  const key = (img: Float32Array, i: number) => Array.from(img.subarray(i * 784, i * 784 + 784)).join(',');
  const trainKeys = new Set(Array.from({ length: 8000 }, (_, i) => key(a.train.images, i)));
  const overlap = Array.from({ length: 2000 }, (_, i) => key(a.test.images, i)).filter((k) => trainKeys.has(k)).length;
  expect(overlap).toBeLessThan(5);
});

it('the committed classifier reaches ≥ 97% on the held-out 2,000 digits', async () => {
  const model = await loadMnistClassifier();
  const accuracy = await classifierAccuracy(model, bundledMnistSplit().test);
  expect(accuracy).toBeGreaterThanOrEqual(0.97);
  model.dispose();
  expect(memory().liveTensors).toBe(0);
});
