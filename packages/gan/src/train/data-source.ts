/**
 * Training data as a fixed pool of samples with a stateless batch order: batch b of a run is
 * determined by (seed, b) alone (epoch = b div batchesPerEpoch, a seeded permutation per epoch),
 * so a resumed run draws exactly the batches the uninterrupted run would have drawn, with no
 * sampler state to save.
 */
import { tensor, type Tensor } from '@webgan/core';
import type { DigitSet } from '../data/digits';
import { seededPermutation } from '../data/shuffle';
import { grid25Modes, ring8Modes, sampleMixture } from '../metrics/modes2d';
import { mulberry32 } from '../data/shuffle';

export interface DataSource {
  name: string;
  /** '2d' points or images [C, H, W]. */
  kind: '2d' | 'image';
  /** Per-sample shape: [2] or [C, H, W]. */
  sampleShape: number[];
  count: number;
  /** Samples, row-major; images scaled to [−1, 1] (the generator's tanh range). */
  values: Float32Array;
  labels: Int32Array | null;
  numClasses: number;
}

/** PacGAN's toy sets hold 100,000 samples; so does ours. */
export const TOY_POOL_SIZE = 100_000;

export function toyData(name: 'ring8' | 'grid25', seed: number): DataSource {
  const modes = name === 'ring8' ? ring8Modes() : grid25Modes();
  const values = Float32Array.from(sampleMixture(modes, TOY_POOL_SIZE, mulberry32(seed ^ 0x5eed)));
  return { name, kind: '2d', sampleShape: [2], count: TOY_POOL_SIZE, values, labels: null, numClasses: 0 };
}

/** MNIST digits as GAN training data: pixels scaled to [−1, 1], labels kept. */
export function mnistData(train: DigitSet): DataSource {
  const values = train.images.map((v) => v * 2 - 1);
  return { name: 'mnist', kind: 'image', sampleShape: [1, 28, 28], count: train.count, values, labels: train.labels, numClasses: 10 };
}

export class BatchSampler {
  private readonly perEpoch: number;
  private cachedEpoch = -1;
  private order: Uint32Array = new Uint32Array(0);
  private readonly sampleSize: number;
  private scratch: Float32Array | undefined;

  constructor(readonly data: DataSource, readonly batchSize: number, readonly seed: number) {
    if (batchSize > data.count) throw new Error(`batch size ${batchSize} exceeds the ${data.count} samples of ${data.name}`);
    this.perEpoch = Math.floor(data.count / batchSize);
    this.sampleSize = data.sampleShape.reduce((a, b) => a * b, 1);
  }

  /** Sample indices of batch number b. */
  indices(b: number): Uint32Array {
    const epoch = Math.floor(b / this.perEpoch);
    if (epoch !== this.cachedEpoch) {
      this.order = seededPermutation(this.data.count, (this.seed * 7919 + epoch) >>> 0);
      this.cachedEpoch = epoch;
    }
    const start = (b % this.perEpoch) * this.batchSize;
    return this.order.subarray(start, start + this.batchSize);
  }

  /** Batch b as tensors: x [B, ...sampleShape] and int32 labels [B] when the data has them. */
  batch(b: number): { x: Tensor; labels: Tensor | null } {
    const idx = this.indices(b);
    // One host buffer for every batch (tensor() copies it to the GPU at once): a fresh 200 KB
    // array per step counts as external memory and was triggering a full GC in most steps.
    this.scratch ??= new Float32Array(idx.length * this.sampleSize);
    const out = this.scratch;
    for (let i = 0; i < idx.length; i++) out.set(this.data.values.subarray(idx[i] * this.sampleSize, (idx[i] + 1) * this.sampleSize), i * this.sampleSize);
    const x = tensor(out, [idx.length, ...this.data.sampleShape]);
    const labels = this.data.labels ? tensor(Int32Array.from(idx, (j) => this.data.labels![j]), [idx.length]) : null;
    return { x, labels };
  }
}
