/**
 * Learning-rate schedules (torch.optim.lr_scheduler's closed forms): each sets every param
 * group's lr from its base lr and the number of scheduler steps taken. Call `step()` once per
 * epoch (or per iteration, as you count). State: `lastEpoch`, which a checkpoint stores.
 */
import type { BaseHyper, Optimizer } from './optimizer';

export abstract class LRScheduler {
  readonly baseLrs: number[];
  /** Scheduler steps taken (PyTorch's last_epoch; 0 right after construction). */
  lastEpoch = 0;

  constructor(readonly optimizer: Optimizer<BaseHyper>) {
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
  }

  /** The factor (or value) for epoch `epoch` of a group with base lr `base`. */
  protected abstract lrAt(base: number, epoch: number): number;

  step(): void {
    this.lastEpoch++;
    this.apply();
  }

  /** Current learning rate of each group. */
  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  stateDict(): { last_epoch: number; base_lrs: number[] } {
    return { last_epoch: this.lastEpoch, base_lrs: [...this.baseLrs] };
  }

  loadStateDict(state: { last_epoch: number; base_lrs?: number[] }): void {
    if (!Number.isSafeInteger(state.last_epoch) || state.last_epoch < 0) throw new Error(`${this.constructor.name}.loadStateDict: last_epoch must be a non-negative integer, got ${state.last_epoch}`);
    if (state.base_lrs) {
      if (state.base_lrs.length !== this.baseLrs.length) throw new Error(`${this.constructor.name}.loadStateDict: ${state.base_lrs.length} base lrs for ${this.baseLrs.length} param groups`);
      this.baseLrs.splice(0, this.baseLrs.length, ...state.base_lrs);
    }
    this.lastEpoch = state.last_epoch;
    this.apply();
  }

  /** Sets each group's lr for lastEpoch; subclasses call it once their fields are set. */
  protected apply(): void {
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = this.lrAt(this.baseLrs[i], this.lastEpoch);
    });
  }
}

/** lr = base · gamma^floor(epoch / stepSize). */
export class StepLR extends LRScheduler {
  constructor(optimizer: Optimizer<BaseHyper>, readonly stepSize: number, readonly gamma = 0.1) {
    if (!Number.isInteger(stepSize) || stepSize <= 0) throw new Error(`StepLR: stepSize must be a positive integer, got ${stepSize}`);
    super(optimizer);
    this.apply();
  }
  protected lrAt(base: number, epoch: number): number {
    return base * this.gamma ** Math.floor(epoch / this.stepSize);
  }
}

/** lr = etaMin + (base − etaMin)·(1 + cos(π·epoch/tMax))/2, held at etaMin after tMax. */
export class CosineAnnealingLR extends LRScheduler {
  constructor(optimizer: Optimizer<BaseHyper>, readonly tMax: number, readonly etaMin = 0) {
    if (!(tMax > 0)) throw new Error(`CosineAnnealingLR: tMax must be > 0, got ${tMax}`);
    super(optimizer);
    this.apply();
  }
  protected lrAt(base: number, epoch: number): number {
    const t = Math.min(epoch, this.tMax);
    return this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * t) / this.tMax))) / 2;
  }
}

/**
 * Linear warm-up (PyTorch's LinearLR): the factor goes linearly from startFactor to endFactor over
 * totalIters steps, then stays at endFactor.
 */
export class LinearLR extends LRScheduler {
  constructor(optimizer: Optimizer<BaseHyper>, readonly startFactor = 1 / 3, readonly endFactor = 1, readonly totalIters = 5) {
    if (!(startFactor > 0 && startFactor <= 1) || !(endFactor >= 0 && endFactor <= 1)) {
      throw new Error(`LinearLR: startFactor must be in (0, 1] and endFactor in [0, 1], got ${startFactor}, ${endFactor}`);
    }
    if (!Number.isInteger(totalIters) || totalIters <= 0) throw new Error(`LinearLR: totalIters must be a positive integer, got ${totalIters}`);
    super(optimizer);
    this.apply();
  }
  protected lrAt(base: number, epoch: number): number {
    const t = Math.min(epoch, this.totalIters);
    return base * (this.startFactor + ((this.endFactor - this.startFactor) * t) / this.totalIters);
  }
}
