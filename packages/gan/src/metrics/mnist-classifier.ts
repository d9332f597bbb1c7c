/**
 * The MNIST classifier the GAN metrics use as their feature extractor (FID-style distance on its
 * penultimate features, classifier score, class coverage, conditional accuracy). A LeNet-style
 * network with strided convolutions in place of pooling:
 *   conv 1→8 k5 p2 → ReLU → conv 8→16 k4 s2 p1 → ReLU → conv 16→32 k4 s2 p1 → ReLU
 *   → flatten (32·7·7) → linear 1568→64 → ReLU (the features) → linear 64→10 (logits).
 * Inputs are [N, 1, 28, 28] in [0, 1] (generator outputs in [−1, 1] are mapped first).
 */
import { Conv2d, Flatten, Linear, Module, ReLU, Sequential } from '@webgan/nn';
import type { Tensor } from '@webgan/core';

export const CLASSIFIER_FEATURES = 64;

export class MnistClassifier extends Module {
  readonly features: Sequential;
  readonly head: Linear;
  constructor() {
    super();
    this.features = this.registerModule('features', new Sequential(
      new Conv2d(1, 8, 5, { padding: 2 }),
      new ReLU(),
      new Conv2d(8, 16, 4, { stride: 2, padding: 1 }),
      new ReLU(),
      new Conv2d(16, 32, 4, { stride: 2, padding: 1 }),
      new ReLU(),
      new Flatten(),
      new Linear(32 * 7 * 7, CLASSIFIER_FEATURES),
      new ReLU(),
    ));
    this.head = this.registerModule('head', new Linear(CLASSIFIER_FEATURES, 10));
  }
  /** Logits [N, 10]. */
  forward(x: Tensor): Tensor {
    const f = this.features.forward(x);
    const logits = this.head.forward(f);
    f.dispose();
    return logits;
  }
  /** Penultimate features [N, 64]. */
  embed(x: Tensor): Tensor {
    return this.features.forward(x);
  }
}
