/**
 * Evaluation of a trained generator, as summary.json reports it.
 *  2D mixtures (PacGAN's protocol): 2,500 samples; modes covered, high-quality fraction, KL of
 *    the mode histogram from uniform, modes holding ≥ 1% of the samples.
 *  MNIST: features and logits of the metrics' classifier on generated digits; Fréchet distance
 *    to the 8,000 training digits (FID-style), with the real-data floor (2,000 held-out test
 *    digits vs the same training digits) beside it; classifier score (IS-style); the class
 *    histogram and classes covered (≥ 1% of the samples); conditional accuracy for conditional
 *    models (samples asked for class c that the classifier calls c).
 */
import { noGrad, tensor, tidy } from '@webgan/core';
import { bundledMnistSplit, type DigitSet } from '../data/mnist';
import { classHistogram, classifierScore, classesCovered, conditionalAccuracy } from './classifier-scores';
import { loadMnistClassifier } from './classifier-weights';
import { frechetDistanceOfFeatures } from './frechet';
import { CLASSIFIER_FEATURES, type MnistClassifier } from './mnist-classifier';
import { grid25Modes, modeMetrics, ring8Modes } from './modes2d';

export interface ClassifierOutputs {
  features: Float32Array;
  logits: Float32Array;
  count: number;
}

/** Classifier features [n, 64] and logits [n, 10] of images in [0, 1], [n, 1, 28, 28] flat. */
export async function classify(model: MnistClassifier, images01: Float32Array, count: number): Promise<ClassifierOutputs> {
  const features = new Float32Array(count * CLASSIFIER_FEATURES);
  const logits = new Float32Array(count * 10);
  for (let start = 0; start < count; start += 500) {
    const m = Math.min(500, count - start);
    const [f, l] = noGrad(() => tidy(() => {
      const x = tensor(images01.subarray(start * 784, (start + m) * 784), [m, 1, 28, 28]);
      const feat = model.embed(x);
      return [feat, model.head.forward(feat)];
    }));
    features.set((await f.data()) as Float32Array, start * CLASSIFIER_FEATURES);
    logits.set((await l.data()) as Float32Array, start * 10);
    f.dispose();
    l.dispose();
  }
  return { features, logits, count };
}

let reference: { classifier: MnistClassifier; train: ClassifierOutputs; floor: number } | null = null;

/** The classifier and its features of the training digits, computed once per process. */
export async function mnistReference(): Promise<{ classifier: MnistClassifier; train: ClassifierOutputs; floor: number }> {
  if (reference) return reference;
  const classifier = await loadMnistClassifier();
  const { train, test } = bundledMnistSplit();
  const trainOut = await classify(classifier, train.images, train.count);
  const testOut = await classify(classifier, test.images, test.count);
  const floor = frechetDistanceOfFeatures(testOut.features, test.count, trainOut.features, train.count, CLASSIFIER_FEATURES);
  reference = { classifier, train: trainOut, floor };
  return reference;
}

export interface MnistMetrics {
  fid: number;
  fid_real_floor: number;
  classifier_score: number;
  classes_covered: number;
  class_histogram: number[];
  conditional_accuracy?: number;
}

/** Metrics of generated digits (values in [−1, 1]); requestedLabels for conditional samples. */
export async function mnistMetrics(samples: Float32Array, count: number, requestedLabels?: Int32Array): Promise<MnistMetrics> {
  const ref = await mnistReference();
  const images01 = samples.map((v) => (v + 1) / 2);
  const out = await classify(ref.classifier, images01, count);
  const histogram = classHistogram(out.logits, count, 10);
  const metrics: MnistMetrics = {
    fid: frechetDistanceOfFeatures(out.features, count, ref.train.features, ref.train.count, CLASSIFIER_FEATURES),
    fid_real_floor: ref.floor,
    classifier_score: classifierScore(out.logits, count, 10).mean,
    classes_covered: classesCovered(histogram, 0.01),
    class_histogram: Array.from(histogram),
  };
  if (requestedLabels) metrics.conditional_accuracy = conditionalAccuracy(out.logits, count, 10, requestedLabels);
  return metrics;
}

/** Real test digits scored the same way (the reference row of reports). */
export async function realDigitMetrics(set: DigitSet): Promise<MnistMetrics> {
  return mnistMetrics(set.images.map((v) => v * 2 - 1), set.count);
}

export interface ToyMetrics {
  modes_covered: number;
  modes_total: number;
  high_quality_fraction: number;
  mode_kl: number;
  modes_with_1pct: number;
}

export function toyMetrics(name: 'ring8' | 'grid25', samples: Float32Array, count: number): ToyMetrics {
  const m = modeMetrics(samples, count, name === 'ring8' ? ring8Modes() : grid25Modes());
  return { modes_covered: m.modesCovered, modes_total: m.numModes, high_quality_fraction: m.highQualityFraction, mode_kl: m.modeKl, modes_with_1pct: m.modesWith1pct };
}
