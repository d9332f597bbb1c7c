/** RMSprop with smoothing constant alpha, momentum, centering and L2 weight decay (torch.optim.RMSprop). */
import type { Tensor } from '@webgan/core';
import { allocArray, getRuntime, rmspropUpdate, type DeviceArray, type OptimOptions } from '@webgan/kernels';
import { Optimizer, type ParamGroup, type ParamGroupInput } from './optimizer';
import { checkHyper, num } from './hyper';

export interface RmspropOptions {
  lr: number;
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  centered: boolean;
}

export class RMSprop extends Optimizer<RmspropOptions> {
  /** 1-element stand-ins for the state buffers a configuration does not use (bindings must be distinct). */
  private placeholders: DeviceArray[] = [];

  constructor(params: Iterable<Tensor> | Iterable<ParamGroupInput<RmspropOptions>>, options: Partial<RmspropOptions> = {}) {
    super(params, { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, ...options });
  }
  protected validate(g: ParamGroup<RmspropOptions>): void {
    checkHyper('RMSprop', { lr: [g.lr, 0], alpha: [g.alpha, 0, 1.0000001], eps: [g.eps, 0], weightDecay: [g.weightDecay, 0], momentum: [g.momentum, 0] });
  }
  protected stateNames(g: ParamGroup<RmspropOptions>): string[] {
    return ['square_avg', ...(g.momentum > 0 ? ['momentum_buffer'] : []), ...(g.centered ? ['grad_avg'] : [])];
  }
  protected update(g: ParamGroup<RmspropOptions>, flat: { params: DeviceArray; grads: DeviceArray; state: Map<string, DeviceArray> }, options: OptimOptions, _step: number): void {
    if (this.placeholders.length === 0) this.placeholders = [0, 1].map(() => allocArray(getRuntime(), [1], 'float32', 'rmsprop.placeholder'));
    rmspropUpdate(getRuntime(), flat.params, flat.grads, flat.state.get('square_avg')!, flat.state.get('grad_avg') ?? this.placeholders[0], flat.state.get('momentum_buffer') ?? this.placeholders[1], {
      lr: g.lr, alpha: g.alpha, eps: g.eps, weightDecay: g.weightDecay, momentum: g.momentum, centered: g.centered,
    }, options);
  }
  protected groupHyper(g: ParamGroup<RmspropOptions>): Record<string, unknown> {
    return { lr: g.lr, alpha: g.alpha, eps: g.eps, weight_decay: g.weightDecay, momentum: g.momentum, centered: g.centered, maximize: false };
  }
  protected hyperFromSaved(s: Record<string, unknown>): Partial<RmspropOptions> {
    return { lr: num(s, 'lr'), alpha: num(s, 'alpha'), eps: num(s, 'eps'), weightDecay: num(s, 'weight_decay'), momentum: num(s, 'momentum'), centered: Boolean(s.centered) };
  }
  override dispose(): void {
    for (const p of this.placeholders) getRuntime().release(p.buffer);
    this.placeholders = [];
    super.dispose();
  }
}
