/**
 * @webgan/gan: GAN losses, penalties, models, the trainer, in-memory datasets and metrics — the
 * part that runs unchanged in browsers and under Node. File formats, run folders, checkpoints and
 * the `webgan` CLI need Node: `@webgan/gan/node`.
 */
export { GanTrainer, type StepLosses } from './train/trainer';
export { CONFIG_KEYS, PRESETS, presetConfig, validateConfig, type TrainConfig } from './train/config';
export { buildModels, type GanModels } from './train/models';
export { updateEma } from './train/ema';
export { BatchSampler, TOY_POOL_SIZE, mnistData, toyData, type DataSource } from './train/data-source';
export { MNIST_PIXELS, MNIST_SIZE, splitDigits, subset, type DigitSet } from './data/digits';
export { LOSS_NAMES, discriminatorLoss, generatorLoss, type LossName } from './losses/adversarial';
export { clipWeights, gradientPenalty, r1Penalty } from './losses/penalties';
export { DcganDiscriminator, DcganGenerator, IMAGE_SIZES, type ImageSize } from './models/dcgan';
export { MlpDiscriminator, MlpGenerator } from './models/mlp';
export { MinibatchStd } from './models/minibatch-std';
export { projectLabels, projectionEmbedding } from './models/projection';
export { grid25Modes, modeMetrics, ring8Modes, sampleMixture, type MixtureModes, type ModeMetrics } from './metrics/modes2d';
export { frechetDistance, frechetDistanceOfFeatures } from './metrics/frechet';
export { classHistogram, classifierScore, classesCovered, conditionalAccuracy } from './metrics/classifier-scores';
export { imageGrid, upscale, type ImageGrid } from './image/grid';
