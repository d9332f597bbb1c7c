/**
 * DCGAN generators and discriminators (Radford et al. 2015): transposed convolutions with
 * BatchNorm and ReLU up to a tanh image; strided convolutions with leaky ReLU 0.2 down to a
 * logit. `imageSize` 28 is the MNIST architecture:
 *   G: z → convT 128 k7 → BN → ReLU → convT 64 k4 s2 p1 → BN → ReLU → convT C k4 s2 p1 → tanh
 *   D: conv 64 k4 s2 p1 → leaky → conv 128 k4 s2 p1 → norm → leaky → conv k7 → logit
 * 32 and 64 follow the paper's pattern (4×4 start, doubling per layer).
 * Conditional variants embed the label: into z for G; for D as an extra input channel (cGAN,
 * Mirza & Osindero 2014) or by projection (Miyato & Koyama 2018: the logit gains
 * ⟨embed(y), φ(x)⟩ with φ(x) the features under the last layer); AC-GAN's D (Odena et al. 2017)
 * outputs class logits beside its logit.
 */
import { concat, reshape, tidy, type Tensor } from '@webgan/core';
import { BatchNorm2d, Conv2d, ConvTranspose2d, Embedding, Flatten, LayerNorm, LeakyReLU, Module, ReLU, Sequential, Tanh, spectralNorm } from '@webgan/nn';
import { MinibatchStd } from './minibatch-std';
import { projectLabels, projectionEmbedding } from './projection';

export type ImageSize = 28 | 32 | 64;
export const IMAGE_SIZES: readonly ImageSize[] = [28, 32, 64];

export interface DcganGeneratorOptions {
  latentDim: number;
  channels: number;
  imageSize: ImageSize;
  /** Base width (the paper's ngf); 64 for 28 px. */
  width: number;
  numClasses?: number;
}

export class DcganGenerator extends Module {
  readonly net: Sequential;
  readonly embed: Embedding | null;
  readonly inputDim: number;
  constructor(readonly options: DcganGeneratorOptions) {
    super();
    const { latentDim, channels, imageSize, width, numClasses } = options;
    const embedDim = numClasses ? numClasses : 0;
    this.embed = numClasses ? this.registerModule('label_embedding', new Embedding(numClasses, embedDim)) : null;
    this.inputDim = latentDim + embedDim;
    const z = this.inputDim;
    const up = (cin: number, cout: number) => [new ConvTranspose2d(cin, cout, 4, { stride: 2, padding: 1, bias: false }), new BatchNorm2d(cout), new ReLU()];
    let layers: Module[];
    if (imageSize === 28) {
      layers = [
        new ConvTranspose2d(z, 2 * width, 7, { bias: false }), new BatchNorm2d(2 * width), new ReLU(),
        ...up(2 * width, width),
        new ConvTranspose2d(width, channels, 4, { stride: 2, padding: 1 }), new Tanh(),
      ];
    } else {
      const doublings = imageSize === 32 ? 2 : 3;
      let w = width * 2 ** doublings;
      layers = [new ConvTranspose2d(z, w, 4, { bias: false }), new BatchNorm2d(w), new ReLU()];
      for (let i = 0; i < doublings; i++) {
        layers.push(...up(w, w / 2));
        w /= 2;
      }
      layers.push(new ConvTranspose2d(w, channels, 4, { stride: 2, padding: 1 }), new Tanh());
    }
    this.net = this.registerModule('main', new Sequential(...layers));
  }
  /** z [N, latentDim] (and int32 labels [N] when conditional) → images [N, C, S, S] in [−1, 1]. */
  forward(z: Tensor, labels?: Tensor): Tensor {
    return tidy(() => {
      let input = z;
      if (this.embed) {
        if (!labels) throw new Error('DcganGenerator: this generator is conditional; pass labels');
        input = concat([z, this.embed.forward(labels)], 1);
      }
      return this.net.forward(reshape(input, [z.shape[0], this.inputDim, 1, 1]));
    });
  }
}

export interface DcganDiscriminatorOptions {
  channels: number;
  imageSize: ImageSize;
  width: number;
  /** Outputs per image: 1 logit, or 1 + numClasses for AC-GAN. */
  outputs: number;
  /** batch (the paper), layer (for gradient penalties, which need double backward), or none. */
  norm: 'batch' | 'layer' | 'none';
  spectralNorm?: boolean;
  minibatchStd?: boolean;
  /** Conditional D: the label's embedding enters as an extra image channel ('channel', cGAN) or by projection. */
  numClasses?: number;
  conditioning?: 'channel' | 'projection';
}

export class DcganDiscriminator extends Module {
  readonly net: Sequential;
  readonly embed: Embedding | null;
  readonly projection: Embedding | null;
  constructor(readonly options: DcganDiscriminatorOptions) {
    super();
    const { channels, imageSize, width, outputs, numClasses } = options;
    const projected = Boolean(numClasses) && options.conditioning === 'projection';
    this.embed = numClasses && !projected ? this.registerModule('label_embedding', new Embedding(numClasses, imageSize * imageSize)) : null;
    const sn = <M extends Module>(m: M): M => (options.spectralNorm ? spectralNorm(m) : m);
    const norm = (c: number, size: number): Module[] => (options.norm === 'batch' ? [new BatchNorm2d(c)] : options.norm === 'layer' ? [new LayerNorm([c, size, size])] : []);
    const down = (cin: number, cout: number, outSize: number, normed: boolean): Module[] => [
      sn(new Conv2d(cin, cout, 4, { stride: 2, padding: 1, bias: !normed || options.norm === 'none' })),
      ...(normed ? norm(cout, outSize) : []),
      new LeakyReLU(0.2),
    ];
    const cin = channels + (this.embed ? 1 : 0);
    const layers: Module[] = [];
    let size: number;
    let w: number;
    if (imageSize === 28) {
      layers.push(...down(cin, width, 14, false), ...down(width, 2 * width, 7, true));
      size = 7;
      w = 2 * width;
    } else {
      const halvings = imageSize === 32 ? 3 : 4;
      size = imageSize / 2;
      w = width;
      layers.push(...down(cin, w, size, false));
      for (let i = 1; i < halvings; i++) {
        size /= 2;
        layers.push(...down(w, 2 * w, size, true));
        w *= 2;
      }
    }
    if (options.minibatchStd) {
      layers.push(new MinibatchStd());
      w += 1;
    }
    layers.push(sn(new Conv2d(w, outputs, size)), new Flatten());
    this.net = this.registerModule('main', new Sequential(...layers));
    // One vector per class against the flattened features the last conv sees.
    this.projection = projected ? this.registerModule('label_projection', projectionEmbedding(numClasses!, w * size * size)) : null;
  }
  /** images [N, C, S, S] (and labels when conditional) → [N, outputs]. */
  forward(x: Tensor, labels?: Tensor): Tensor {
    if (!this.embed && !this.projection) return this.net.forward(x);
    if (!labels) throw new Error('DcganDiscriminator: this discriminator is conditional; pass labels');
    return tidy(() => {
      if (this.projection) return projectLabels(this.net, 2, this.projection, x, labels);
      const s = this.options.imageSize;
      const plane = reshape(this.embed!.forward(labels), [x.shape[0], 1, s, s]);
      return this.net.forward(concat([x, plane], 1));
    });
  }
}
