/** Builds the generator and discriminator a config describes, on the data's shapes. */
import { init, type Module } from '@webgan/nn';
import { DcganDiscriminator, DcganGenerator, type ImageSize } from '../models/dcgan';
import { MlpDiscriminator, MlpGenerator } from '../models/mlp';
import type { TrainConfig } from './config';
import type { DataSource } from './data-source';

export interface GanModels {
  generator: Module;
  discriminator: Module;
  /** Conditional models take int32 labels as their second input. */
  conditional: boolean;
  numClasses: number;
}

export function buildModels(config: TrainConfig, data: DataSource): GanModels {
  const conditional = config.conditional !== 'none';
  if (conditional && !data.labels) throw new Error(`config: conditional '${config.conditional}' needs labelled data; ${data.name} has no labels`);
  const numClasses = conditional ? data.numClasses : 0;
  const outputs = config.conditional === 'acgan' ? 1 + numClasses : 1;
  const dClasses = config.conditional === 'cgan' || config.conditional === 'projection' ? numClasses : undefined;
  const projection = config.conditional === 'projection';
  const gClasses = conditional ? numClasses : undefined;
  const features = data.sampleShape.reduce((a, b) => a * b, 1);
  if (config.model === 'mlp') {
    const generator = new MlpGenerator({ latentDim: config.latentDim, hidden: config.gHidden, outFeatures: features, output: data.kind === 'image' ? 'tanh' : 'linear', numClasses: gClasses, norm: config.gNorm, sampleShape: data.sampleShape });
    const discriminator = new MlpDiscriminator({
      inFeatures: features * config.pac, hidden: config.dHidden, outputs, spectralNorm: config.spectralNorm, minibatchStd: config.minibatchStd, numClasses: dClasses,
      norm: config.dNorm === 'layer' ? 'layer' : 'none', conditioning: projection ? 'projection' : 'input', maxoutPieces: config.dMaxout,
    });
    return { generator, discriminator, conditional, numClasses };
  }
  if (data.kind !== 'image') throw new Error(`config: model 'dcgan' needs image data; ${data.name} is 2D points (use model 'mlp')`);
  const [channels, height, width] = data.sampleShape;
  if (height !== width || height !== config.imageSize) throw new Error(`config: imageSize ${config.imageSize} does not match the data's ${height}×${width} images`);
  const imageSize = config.imageSize as ImageSize;
  const generator = new DcganGenerator({ latentDim: config.latentDim, channels, imageSize, width: config.width, numClasses: gClasses });
  const discriminator = new DcganDiscriminator({
    channels: channels * config.pac, imageSize, width: config.width, outputs, norm: config.dNorm, spectralNorm: config.spectralNorm, minibatchStd: config.minibatchStd, numClasses: dClasses,
    conditioning: projection ? 'projection' : 'channel',
  });
  // The DCGAN paper's initialisation.
  init.dcganInit_(generator);
  init.dcganInit_(discriminator);
  return { generator, discriminator, conditional, numClasses };
}
