/** SGD with momentum, dampening, Nesterov momentum and L2 weight decay (torch.optim.SGD). */
import type { Tensor } from '@webgan/core';
import { getRuntime, sgdUpdate, type DeviceArray, type OptimOptions } from '@webgan/kernels';
import { Optimizer, type ParamGroup, type ParamGroupInput } from './optimizer';
import { checkHyper, num } from './hyper';

export interface SgdOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

export class SGD extends Optimizer<SgdOptions> {
  constructor(params: Iterable<Tensor> | Iterable<ParamGroupInput<SgdOptions>>, options: Partial<SgdOptions> & { lr: number }) {
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...options });
  }
  protected validate(g: ParamGroup<SgdOptions>): void {
    checkHyper('SGD', { lr: [g.lr, 0], momentum: [g.momentum, 0], weightDecay: [g.weightDecay, 0], dampening: [g.dampening, -Infinity] });
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) throw new Error(`SGD: Nesterov momentum requires momentum > 0 and dampening 0, got momentum ${g.momentum}, dampening ${g.dampening}`);
  }
  protected stateNames(g: ParamGroup<SgdOptions>): string[] {
    return g.momentum !== 0 ? ['momentum_buffer'] : [];
  }
  protected override get savesStep(): boolean {
    return false;
  }
  protected update(g: ParamGroup<SgdOptions>, flat: { params: DeviceArray; grads: DeviceArray; state: Map<string, DeviceArray> }, options: OptimOptions, step: number): void {
    sgdUpdate(getRuntime(), flat.params, flat.grads, flat.state.get('momentum_buffer') ?? flat.params, {
      lr: g.lr, momentum: g.momentum, dampening: g.dampening, weightDecay: g.weightDecay, nesterov: g.nesterov, firstStep: step === 1,
    }, options);
  }
  protected groupHyper(g: ParamGroup<SgdOptions>): Record<string, unknown> {
    return { lr: g.lr, momentum: g.momentum, dampening: g.dampening, weight_decay: g.weightDecay, nesterov: g.nesterov, maximize: false };
  }
  protected hyperFromSaved(s: Record<string, unknown>): Partial<SgdOptions> {
    return { lr: num(s, 'lr'), momentum: num(s, 'momentum'), dampening: num(s, 'dampening'), weightDecay: num(s, 'weight_decay'), nesterov: Boolean(s.nesterov) };
  }
}
