/** Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay), torch.optim's rules. */
import type { Tensor } from '@webgan/core';
import { adamUpdate, getRuntime, type DeviceArray, type OptimOptions } from '@webgan/kernels';
import { Optimizer, type ParamGroup, type ParamGroupInput } from './optimizer';
import { checkHyper, num } from './hyper';

export interface AdamOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  /** Keeps the running maximum of the second moment (Reddi et al. 2018). */
  amsgrad: boolean;
}

abstract class AdamBase extends Optimizer<AdamOptions> {
  protected abstract readonly decoupled: boolean;
  protected validate(g: ParamGroup<AdamOptions>): void {
    if (!Array.isArray(g.betas) || g.betas.length !== 2) throw new Error(`${this.constructor.name}: betas must be [beta1, beta2], got ${JSON.stringify(g.betas)}`);
    checkHyper(this.constructor.name, { lr: [g.lr, 0], beta1: [g.betas[0], 0, 1], beta2: [g.betas[1], 0, 1], eps: [g.eps, 0], weightDecay: [g.weightDecay, 0] });
  }
  protected stateNames(g: ParamGroup<AdamOptions>): string[] {
    return g.amsgrad ? ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] : ['exp_avg', 'exp_avg_sq'];
  }
  protected update(g: ParamGroup<AdamOptions>, flat: { params: DeviceArray; grads: DeviceArray; state: Map<string, DeviceArray> }, options: OptimOptions, step: number): void {
    adamUpdate(getRuntime(), flat.params, flat.grads, flat.state.get('exp_avg')!, flat.state.get('exp_avg_sq')!, {
      lr: g.lr, beta1: g.betas[0], beta2: g.betas[1], eps: g.eps, weightDecay: g.weightDecay, decoupled: this.decoupled, step,
    }, { ...options, maxV: g.amsgrad ? flat.state.get('max_exp_avg_sq') : undefined });
  }
  protected groupHyper(g: ParamGroup<AdamOptions>): Record<string, unknown> {
    return { lr: g.lr, betas: [...g.betas], eps: g.eps, weight_decay: g.weightDecay, amsgrad: g.amsgrad, maximize: false };
  }
  protected hyperFromSaved(s: Record<string, unknown>): Partial<AdamOptions> {
    const betas = s.betas;
    if (!Array.isArray(betas) || betas.length !== 2 || betas.some((b) => typeof b !== 'number')) throw new Error(`loadStateDict: param group entry 'betas' must be two numbers, got ${JSON.stringify(betas)}`);
    return { lr: num(s, 'lr'), betas: [betas[0], betas[1]], eps: num(s, 'eps'), weightDecay: num(s, 'weight_decay'), amsgrad: Boolean(s.amsgrad) };
  }
}

export class Adam extends AdamBase {
  protected readonly decoupled = false;
  constructor(params: Iterable<Tensor> | Iterable<ParamGroupInput<AdamOptions>>, options: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, ...options });
  }
}

export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  constructor(params: Iterable<Tensor> | Iterable<ParamGroupInput<AdamOptions>>, options: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, ...options });
  }
}
