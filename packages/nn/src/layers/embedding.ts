/**
 * Embedding: a lookup table [numEmbeddings, embeddingDim] indexed by int32 ids (class labels of
 * conditional GANs); gradients scatter-add back into the rows used.
 */
import { gather, reshape, type Tensor } from '@webgan/core';
import { normal_, type InitOptions } from '../init';
import { Module } from '../module';
import { checkPositive, empty, fmtShape } from '../tensor-util';

export class Embedding extends Module {
  readonly initKind = 'embedding';
  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, options: InitOptions = {}) {
    super();
    checkPositive('Embedding', { numEmbeddings, embeddingDim });
    // PyTorch's default: N(0, 1).
    normal_(this.registerParameter('weight', empty([numEmbeddings, embeddingDim]))!, 0, 1, options);
  }
  get weight(): Tensor {
    return this.tensor('weight');
  }
  /** indices: int32 of any shape → [...indices.shape, embeddingDim]. */
  forward(indices: Tensor): Tensor {
    if (indices.dtype !== 'int32') throw new Error(`Embedding(${this.numEmbeddings}, ${this.embeddingDim}): indices must be int32, got ${indices.dtype} ${fmtShape(indices.shape)}`);
    const flat = indices.rank === 1 ? indices : reshape(indices, [indices.size]);
    const rows = gather(this.weight, flat, 0);
    if (flat !== indices) flat.dispose();
    if (indices.rank === 1) return rows;
    const out = reshape(rows, [...indices.shape, this.embeddingDim]);
    rows.dispose();
    return out;
  }
  override describe(): string {
    return `Embedding(${this.numEmbeddings}, ${this.embeddingDim})`;
  }
}
