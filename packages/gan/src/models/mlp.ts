/**
 * MLP generator and discriminator (Goodfellow et al. 2014's setting): fully connected layers with
 * leaky ReLU; the generator ends in tanh for images in [−1, 1] or is linear for 2D toy data.
 */
import { concat, reshape, tidy, type Tensor } from '@webgan/core';
import { BatchNorm1d, Embedding, LayerNorm, LeakyReLU, Linear, Maxout, Module, Sequential, Tanh, spectralNorm } from '@webgan/nn';
import { MinibatchStd } from './minibatch-std';
import { projectLabels, projectionEmbedding } from './projection';

/** A conditional model's label embedding (width min(classes, 16)), registered as label_embedding. */
function labelEmbedding(module: Module, numClasses?: number): { embed: Embedding | null; embedDim: number } {
  if (!numClasses) return { embed: null, embedDim: 0 };
  const embedDim = Math.min(numClasses, 16);
  return { embed: module.registerModule('label_embedding', new Embedding(numClasses, embedDim)), embedDim };
}

/** net(x), or net([x, embed(labels)]) for a conditional model. */
function forwardWithLabels(what: string, net: Sequential, embed: Embedding | null, x: Tensor, labels?: Tensor): Tensor {
  if (!embed) return net.forward(x);
  if (!labels) throw new Error(`${what} is conditional; pass labels`);
  return tidy(() => net.forward(concat([x, embed.forward(labels)], 1)));
}

export interface MlpGeneratorOptions {
  latentDim: number;
  hidden: number[];
  outFeatures: number;
  /** tanh for images in [−1, 1]; none for unbounded data (2D mixtures). */
  output: 'tanh' | 'linear';
  /** Conditional: the label's embedding (numClasses × embedDim) is concatenated to z. */
  numClasses?: number;
  /** BatchNorm after each hidden layer (as in PacGAN's toy generator). */
  norm?: 'none' | 'batch';
  /** Per-sample output shape (e.g. [1, 28, 28] for images); default [outFeatures]. */
  sampleShape?: number[];
}

export class MlpGenerator extends Module {
  readonly net: Sequential;
  readonly embed: Embedding | null;
  constructor(readonly options: MlpGeneratorOptions) {
    super();
    const { embed, embedDim } = labelEmbedding(this, options.numClasses);
    this.embed = embed;
    const layers: Module[] = [];
    let width = options.latentDim + embedDim;
    for (const h of options.hidden) {
      layers.push(new Linear(width, h));
      if (options.norm === 'batch') layers.push(new BatchNorm1d(h));
      layers.push(new LeakyReLU(0.2));
      width = h;
    }
    layers.push(new Linear(width, options.outFeatures));
    if (options.output === 'tanh') layers.push(new Tanh());
    this.net = this.registerModule('main', new Sequential(...layers));
  }
  forward(z: Tensor, labels?: Tensor): Tensor {
    const shape = this.options.sampleShape;
    if (!shape || shape.length === 1) return forwardWithLabels('MlpGenerator: this generator', this.net, this.embed, z, labels);
    return tidy(() => reshape(forwardWithLabels('MlpGenerator: this generator', this.net, this.embed, z, labels), [z.shape[0], ...shape]));
  }
}

export interface MlpDiscriminatorOptions {
  inFeatures: number;
  hidden: number[];
  /** Outputs: 1 adversarial logit, plus numClasses class logits for AC-GAN. */
  outputs: number;
  spectralNorm?: boolean;
  minibatchStd?: boolean;
  /** Conditional: the label embedding is concatenated to the input ('input', cGAN) or projected onto the last hidden features. */
  numClasses?: number;
  conditioning?: 'input' | 'projection';
  /** LayerNorm after hidden layers (twice differentiable, so fine under a gradient penalty). */
  norm?: 'none' | 'layer';
  /** Maxout with this many pieces as the hidden activation (PacGAN's toy D uses 5); 1 = leaky ReLU 0.2. */
  maxoutPieces?: number;
}

export class MlpDiscriminator extends Module {
  readonly net: Sequential;
  readonly embed: Embedding | null;
  readonly projection: Embedding | null;
  constructor(readonly options: MlpDiscriminatorOptions) {
    super();
    const projected = options.conditioning === 'projection';
    const { embed, embedDim } = labelEmbedding(this, projected ? undefined : options.numClasses);
    this.embed = embed;
    const sn = <M extends Module>(m: M): M => (options.spectralNorm ? spectralNorm(m) : m);
    const layers: Module[] = [];
    let width = options.inFeatures + embedDim;
    options.hidden.forEach((h, i) => {
      if (options.minibatchStd && i === options.hidden.length - 1) {
        layers.push(new MinibatchStd());
        width += 1;
      }
      const pieces = options.maxoutPieces ?? 1;
      layers.push(sn(new Linear(width, h * pieces)));
      if (options.norm === 'layer') layers.push(new LayerNorm(h * pieces));
      layers.push(pieces > 1 ? new Maxout(pieces) : new LeakyReLU(0.2));
      width = h;
    });
    layers.push(sn(new Linear(width, options.outputs)));
    this.net = this.registerModule('main', new Sequential(...layers));
    this.projection = projected && options.numClasses ? this.registerModule('label_projection', projectionEmbedding(options.numClasses, width)) : null;
  }
  /** x [N, inFeatures], or [N, ...] with that many values per sample (images are flattened). */
  forward(x: Tensor, labels?: Tensor): Tensor {
    if (x.rank > 2) return tidy(() => this.forward(reshape(x, [x.shape[0], x.size / x.shape[0]]), labels));
    if (!this.projection) return forwardWithLabels('MlpDiscriminator: this discriminator', this.net, this.embed, x, labels);
    if (!labels) throw new Error('MlpDiscriminator: this discriminator is conditional; pass labels');
    return tidy(() => projectLabels(this.net, 1, this.projection!, x, labels));
  }
}
