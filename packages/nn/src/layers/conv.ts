/**
 * Conv2d and ConvTranspose2d with PyTorch's layouts: Conv2d weight [out, in, kh, kw],
 * ConvTranspose2d weight [in, out, kh, kw], bias [out].
 */
import { conv2d, convTranspose2d, type Tensor } from '@webgan/core';
import { defaultLayerInit_, type InitOptions } from '../init';
import { Module } from '../module';
import { checkPositive, empty, fmtShape } from '../tensor-util';

type Pair = number | readonly [number, number];
const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

export interface Conv2dOptions extends InitOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  bias?: boolean;
}

export interface ConvTranspose2dOptions extends Conv2dOptions {
  outputPadding?: Pair;
}

abstract class ConvBase extends Module {
  readonly initKind = 'conv';
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  constructor(layer: string, readonly inChannels: number, readonly outChannels: number, kernelSize: Pair, options: Conv2dOptions, weightShape: (k: [number, number]) => number[]) {
    super();
    this.kernelSize = pair(kernelSize);
    this.stride = pair(options.stride ?? 1);
    this.padding = pair(options.padding ?? 0);
    this.dilation = pair(options.dilation ?? 1);
    checkPositive(layer, { inChannels, outChannels, kernelHeight: this.kernelSize[0], kernelWidth: this.kernelSize[1], strideY: this.stride[0], strideX: this.stride[1], dilationY: this.dilation[0], dilationX: this.dilation[1] });
    if (this.padding.some((p) => !Number.isInteger(p) || p < 0)) throw new Error(`${layer}: padding must be non-negative integers, got ${this.padding}`);
    const weight = this.registerParameter('weight', empty(weightShape(this.kernelSize)))!;
    const bias = options.bias === false ? this.registerParameter('bias', null) : this.registerParameter('bias', empty([outChannels]));
    defaultLayerInit_(weight, bias, options);
  }
  get weight(): Tensor {
    return this.tensor('weight');
  }
  get bias(): Tensor | null {
    return this.hasParameter('bias') ? this.tensor('bias') : null;
  }
  protected checkInput(layer: string, x: Tensor): void {
    if (x.rank !== 4 || x.shape[1] !== this.inChannels) {
      throw new Error(`${layer}(${this.inChannels}, ${this.outChannels}): input ${fmtShape(x.shape)} must be [N, ${this.inChannels}, H, W]`);
    }
  }
  protected config(): string {
    return `${this.inChannels}, ${this.outChannels}, kernel=${this.kernelSize}, stride=${this.stride}, padding=${this.padding}${this.dilation.some((d) => d !== 1) ? `, dilation=${this.dilation}` : ''}, bias=${this.bias !== null}`;
  }
}

export class Conv2d extends ConvBase {
  constructor(inChannels: number, outChannels: number, kernelSize: Pair, options: Conv2dOptions = {}) {
    super('Conv2d', inChannels, outChannels, kernelSize, options, (k) => [outChannels, inChannels, k[0], k[1]]);
  }
  forward(x: Tensor): Tensor {
    this.checkInput('Conv2d', x);
    return conv2d(x, this.weight, this.bias ?? undefined, { stride: this.stride, padding: this.padding, dilation: this.dilation });
  }
  override describe(): string {
    return `Conv2d(${this.config()})`;
  }
}

export class ConvTranspose2d extends ConvBase {
  readonly outputPadding: [number, number];
  constructor(inChannels: number, outChannels: number, kernelSize: Pair, options: ConvTranspose2dOptions = {}) {
    super('ConvTranspose2d', inChannels, outChannels, kernelSize, options, (k) => [inChannels, outChannels, k[0], k[1]]);
    this.outputPadding = pair(options.outputPadding ?? 0);
    for (let i = 0; i < 2; i++) {
      if (this.outputPadding[i] >= Math.max(this.stride[i], this.dilation[i]) || this.outputPadding[i] < 0) {
        throw new Error(`ConvTranspose2d: outputPadding ${this.outputPadding} must be non-negative and smaller than stride ${this.stride} or dilation ${this.dilation}`);
      }
    }
  }
  forward(x: Tensor): Tensor {
    this.checkInput('ConvTranspose2d', x);
    return convTranspose2d(x, this.weight, this.bias ?? undefined, { stride: this.stride, padding: this.padding, dilation: this.dilation, outputPadding: this.outputPadding });
  }
  override describe(): string {
    return `ConvTranspose2d(${this.config()}${this.outputPadding.some((p) => p) ? `, outputPadding=${this.outputPadding}` : ''})`;
  }
}
