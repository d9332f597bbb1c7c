/**
 * One live training run in the page: the trainer, its loss history, and the views the page draws
 * (generated points or digits, the discriminator's output over the plane). Nothing here touches
 * the DOM. Losses are read back once per chunk of steps, not per step: a readback waits for the
 * GPU, and waiting every step would cost most of the throughput.
 */
import { memory, noGrad, tensor, tidy, type MemoryInfo } from '@webgan/core';
import { GanTrainer, type DataSource, type StepLosses } from '@webgan/gan';
import { trainConfigFor, type PlaygroundSettings } from './settings';

export interface LossPoint {
  step: number;
  d: number;
  g: number;
  penalty: number | null;
}

/** The discriminator's output over a square of the plane, row-major from the top-left corner. */
export interface DecisionMap {
  resolution: number;
  extent: number;
  values: Float32Array;
  /** 'probability': sigmoid of D's logit (standard and hinge GANs); 'score': a WGAN critic's raw value. */
  kind: 'probability' | 'score';
}

/** Fixed latents for the views, so that successive frames show the same samples moving. */
const VIEW_SEED = 4242;

export class LiveRun {
  readonly trainer: GanTrainer;
  readonly history: LossPoint[] = [];
  /** Real points shown in 2D mode (a fixed subset of the pool). */
  readonly realPoints: Float32Array;
  private disposed = false;

  constructor(readonly settings: PlaygroundSettings, readonly data: DataSource) {
    this.trainer = new GanTrainer(trainConfigFor(settings), data);
    this.realPoints = data.kind === '2d' ? data.values.slice(0, 2 * 1000) : new Float32Array(0);
  }

  get step(): number {
    return this.trainer.step;
  }

  /** Learning rates and critic steps take effect at the next step; the trainer reads them each step. */
  retune(s: Pick<PlaygroundSettings, 'lrG' | 'lrD' | 'nCritic'>): void {
    this.trainer.config.lrG = s.lrG;
    this.trainer.config.lrD = s.lrD;
    this.trainer.config.nCritic = s.nCritic;
  }

  /** Runs `count` generator steps and reads back the last step's losses. */
  async runSteps(count: number): Promise<LossPoint> {
    this.assertLive();
    let last: StepLosses | null = null;
    try {
      for (let i = 0; i < count; i++) {
        if (last) release(last);
        last = this.trainer.trainStep();
      }
      const [d, g, p] = await Promise.all([last!.d.data(), last!.g.data(), last!.penalty ? last!.penalty.data() : Promise.resolve(null)]);
      const point: LossPoint = { step: this.trainer.step, d: d[0], g: g[0], penalty: p ? p[0] : null };
      this.history.push(point);
      return point;
    } finally {
      if (last) release(last);
    }
  }

  /** n generated samples from fixed latents, host copy: points [n, 2] or images [n, 1, 28, 28] in [−1, 1]. */
  async samples(n: number): Promise<Float32Array> {
    this.assertLive();
    return this.trainer.sample(n, { seed: VIEW_SEED });
  }

  /** D's output on a resolution × resolution grid over [−extent, extent]² (2D mode). */
  async decisionMap(resolution: number, extent: number): Promise<DecisionMap> {
    this.assertLive();
    const grid = new Float32Array(resolution * resolution * 2);
    for (let row = 0; row < resolution; row++) {
      for (let col = 0; col < resolution; col++) {
        const i = row * resolution + col;
        grid[2 * i] = -extent + ((col + 0.5) / resolution) * 2 * extent;
        grid[2 * i + 1] = extent - ((row + 0.5) / resolution) * 2 * extent;
      }
    }
    const D = this.trainer.models.discriminator;
    const out = noGrad(() => tidy(() => D.forward(tensor(grid, [resolution * resolution, 2]))));
    const raw = (await out.data()) as Float32Array;
    out.dispose();
    const kind = this.trainer.config.loss === 'wasserstein' ? 'score' : 'probability';
    const values = kind === 'probability' ? raw.map((v) => 1 / (1 + Math.exp(-v))) : Float32Array.from(raw);
    return { resolution, extent, values, kind };
  }

  memory(): MemoryInfo {
    return memory();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.trainer.dispose();
  }

  private assertLive(): void {
    if (this.disposed) throw new Error('this live run was reset');
  }
}

function release(losses: StepLosses): void {
  losses.d.dispose();
  losses.g.dispose();
  losses.penalty?.dispose();
}
