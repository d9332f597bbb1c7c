/**
 * @webgan/nn: layers, initialisers, optimizers and state dicts in PyTorch's vocabulary, on
 * @webgan/core. State dict keys and tensor layouts are PyTorch's, so weights move between the two
 * through safetensors files (`@webgan/nn/node` reads and writes them on Node).
 *
 *   const model = new Sequential(new Linear(2, 64), new LeakyReLU(0.2), new Linear(64, 1));
 *   const opt = new Adam(model.parameters(), { lr: 2e-4, betas: [0.5, 0.999] });
 *   const loss = mse(model.forward(x), y);
 *   loss.backward();
 *   opt.step();
 *   opt.zeroGrad();
 */
export { Module, isTensorValue, toHostArray, type StateDict, type StateValue, type LoadResult } from './module';
export { hostArray, int64Scalar, hostValues, BYTES_PER_ELEMENT, type HostArray, type HostDType } from './host-array';
export { Sequential } from './container';
export { Linear, type LinearOptions } from './layers/linear';
export { Conv2d, ConvTranspose2d, type Conv2dOptions, type ConvTranspose2dOptions } from './layers/conv';
export { BatchNorm1d, BatchNorm2d, LayerNorm, type BatchNormOptions, type LayerNormOptions } from './layers/normalization';
export { Embedding } from './layers/embedding';
export { Dropout } from './layers/dropout';
export { ReLU, LeakyReLU, Maxout, Tanh, Sigmoid } from './layers/activation';
export { Flatten, Unflatten } from './layers/reshape';
export { spectralNorm, type SpectralNormOptions } from './spectral-norm';
export * as init from './init';
export { Optimizer, type NonFiniteWatch, type OptimizerStateDict, type ParamGroup, type ParamGroupInput, type BaseHyper } from './optim/optimizer';
export { SGD, type SgdOptions } from './optim/sgd';
export { Adam, AdamW, type AdamOptions } from './optim/adam';
export { RMSprop, type RmspropOptions } from './optim/rmsprop';
export { LRScheduler, StepLR, CosineAnnealingLR, LinearLR } from './optim/lr-scheduler';
export { encodeSafetensors, decodeSafetensors, SafetensorsError } from './safetensors';
