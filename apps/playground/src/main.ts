/**
 * The playground page: finds WebGPU (or says what to do without it), then trains a GAN live —
 * 2D points with the discriminator's view of the plane, or MNIST digits — with play, pause,
 * single step and reset. Everything runs in this page on the browser's WebGPU adapter.
 */
import { init, type Runtime } from '@webgan/kernels';
import { mnistData, toyData, type DataSource } from '@webgan/gan';
import { drawDigits, drawField, drawLosses } from './draw';
import { decodeDigits } from './mnist-file';
import { LiveRun, type DecisionMap } from './live-run';
import { LOSS_LABELS, defaultSettings, settingsProblem, type PlaygroundLoss, type PlaygroundSettings } from './settings';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** Training runs in chunks of about this long between screen updates. */
const CHUNK_MS = 100;
/** Views (samples, heat map) refresh at most this often while running. */
const VIEW_INTERVAL_MS = { '2d': 250, mnist: 1000 };
const FIELD_EXTENT = { ring8: 1.6, grid25: 5.5 };
const HEAT_RESOLUTION = 48;
const FAKE_POINTS = 1000;
const DIGITS = 64;

function setStatus(status: 'loading' | 'ready' | 'running' | 'no-webgpu' | 'error'): void {
  document.body.dataset.status = status;
}

function showNoWebGpu(reason: string): void {
  $('no-webgpu-reason').textContent = reason;
  $('no-webgpu').hidden = false;
  $('app').hidden = true;
  $('adapter').textContent = 'none';
  setStatus('no-webgpu');
}

function describeAdapter(runtime: Runtime): string {
  const a = runtime.adapter;
  const name = [a.vendor, a.architecture, a.device, a.description].filter((s) => s && s.length > 0).join(' · ') || 'unnamed adapter';
  return a.isFallbackAdapter ? `${name} (software, CPU speed)` : name;
}

class Playground {
  private settings: PlaygroundSettings = defaultSettings('2d');
  private live: LiveRun | null = null;
  private running = false;
  private loop: Promise<void> | null = null;
  private mnist: DataSource | null = null;
  private lastView = 0;
  private map: DecisionMap | null = null;
  private fake: Float32Array = new Float32Array(0);
  private rateWindow: { time: number; step: number }[] = [];
  /** Serialises actions: a reset or a step never overlaps training or another action. */
  private busy: Promise<unknown> = Promise.resolve();

  constructor() {
    const loss = $<HTMLSelectElement>('loss');
    for (const [value, label] of Object.entries(LOSS_LABELS)) loss.add(new Option(label, value));
    this.showSettings();
    $('mode').addEventListener('change', () => this.changeStructure({ ...defaultSettings($<HTMLSelectElement>('mode').value as '2d' | 'mnist', this.settings.loss), dataset: this.settings.dataset, model: this.settings.model }));
    $('loss').addEventListener('change', () => {
      const lossName = $<HTMLSelectElement>('loss').value as PlaygroundLoss;
      this.changeStructure({ ...defaultSettings(this.settings.mode, lossName), dataset: this.settings.dataset, model: this.settings.model });
    });
    $('dataset').addEventListener('change', () => this.changeStructure({ ...this.settings, dataset: $<HTMLSelectElement>('dataset').value as 'ring8' | 'grid25' }));
    $('model').addEventListener('change', () => this.changeStructure({ ...this.settings, model: $<HTMLSelectElement>('model').value as 'mlp' | 'dcgan' }));
    for (const id of ['lr-g', 'lr-d', 'n-critic']) $(id).addEventListener('input', () => this.retune());
    $('play').addEventListener('click', () => (this.running ? this.pause() : this.play()));
    $('step').addEventListener('click', () => this.act(() => this.singleStep()));
    $('reset').addEventListener('click', () => this.act(() => this.reset()));
  }

  async start(): Promise<void> {
    await this.act(() => this.reset());
  }

  private act(action: () => Promise<void>): Promise<void> {
    const next = this.busy.then(action).catch((error: unknown) => this.fail(error));
    this.busy = next;
    return next;
  }

  private showSettings(): void {
    const s = this.settings;
    $<HTMLSelectElement>('mode').value = s.mode;
    $<HTMLSelectElement>('dataset').value = s.dataset;
    $<HTMLSelectElement>('model').value = s.model;
    $<HTMLSelectElement>('loss').value = s.loss;
    $<HTMLInputElement>('lr-g').value = String(s.lrG);
    $<HTMLInputElement>('lr-d').value = String(s.lrD);
    $<HTMLInputElement>('n-critic').value = String(s.nCritic);
    $('dataset-field').hidden = s.mode !== '2d';
    $('model-field').hidden = s.mode !== 'mnist';
    $('field-view').hidden = s.mode !== '2d';
    $('digits-view').hidden = s.mode !== 'mnist';
    $('penalty-field').hidden = s.loss !== 'wgan-gp';
    $('settings-problem').textContent = '';
  }

  /** Mode, data, model and loss change the networks: a fresh run, playing on if it was playing. */
  private changeStructure(next: PlaygroundSettings): void {
    const wasRunning = this.running;
    this.settings = next;
    this.showSettings();
    void this.act(async () => {
      await this.stopLoop();
      await this.reset();
      if (wasRunning) this.play();
    });
  }

  /** Learning rates and critic steps apply live, from the next step on. */
  private retune(): void {
    const next = {
      ...this.settings,
      lrG: Number($<HTMLInputElement>('lr-g').value),
      lrD: Number($<HTMLInputElement>('lr-d').value),
      nCritic: Number($<HTMLInputElement>('n-critic').value),
    };
    const problem = settingsProblem(next);
    $('settings-problem').textContent = problem ?? '';
    if (problem) return;
    this.settings = next;
    this.live?.retune(next);
  }

  private async data(): Promise<DataSource> {
    if (this.settings.mode === '2d') return toyData(this.settings.dataset, this.settings.seed);
    if (!this.mnist) {
      const response = await fetch('mnist-train.bin');
      if (!response.ok) throw new Error(`could not download the MNIST digits: mnist-train.bin answered ${response.status} ${response.statusText}`);
      this.mnist = mnistData(decodeDigits(new Uint8Array(await response.arrayBuffer()), 'mnist-train.bin'));
    }
    return this.mnist;
  }

  private async reset(): Promise<void> {
    await this.stopLoop();
    this.live?.dispose();
    this.live = null;
    $('error').hidden = true;
    setStatus('loading');
    const data = await this.data();
    this.live = new LiveRun(this.settings, data);
    this.rateWindow = [];
    $('rate').textContent = '–';
    $('loss-d').textContent = '–';
    $('loss-g').textContent = '–';
    $('penalty').textContent = '–';
    $('step-count').textContent = '0';
    await this.refreshViews();
    setStatus('ready');
  }

  private play(): void {
    if (this.running || !this.live) return;
    this.running = true;
    $('play').textContent = 'Pause';
    $<HTMLButtonElement>('step').disabled = true;
    setStatus('running');
    this.loop = this.trainLoop().catch((error: unknown) => this.fail(error));
  }

  private pause(): void {
    void this.act(() => this.stopLoop());
  }

  private async stopLoop(): Promise<void> {
    this.running = false;
    await this.loop;
    this.loop = null;
    $('play').textContent = 'Play';
    $<HTMLButtonElement>('step').disabled = false;
    if (document.body.dataset.status === 'running') setStatus('ready');
  }

  private async singleStep(): Promise<void> {
    if (this.running || !this.live) return;
    const point = await this.live.runSteps(1);
    this.showLosses(point);
    await this.refreshViews();
  }

  private async trainLoop(): Promise<void> {
    let chunk = 1;
    while (this.running && this.live) {
      const live = this.live;
      const started = performance.now();
      const point = await live.runSteps(chunk);
      const took = performance.now() - started;
      // Size the next chunk so that a chunk takes about CHUNK_MS: the page stays responsive
      // while each readback's wait is shared by several steps.
      chunk = Math.max(1, Math.min(50, Math.round(chunk * (CHUNK_MS / Math.max(took, 1)))));
      this.showLosses(point);
      this.trackRate(point.step);
      if (performance.now() - this.lastView >= VIEW_INTERVAL_MS[this.settings.mode]) await this.refreshViews();
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  private showLosses(point: { step: number; d: number; g: number; penalty: number | null }): void {
    $('step-count').textContent = String(point.step);
    $('loss-d').textContent = point.d.toFixed(4);
    $('loss-g').textContent = point.g.toFixed(4);
    if (point.penalty !== null) $('penalty').textContent = point.penalty.toFixed(4);
    drawLosses($<HTMLCanvasElement>('losses'), this.live!.history);
    const m = this.live!.memory();
    $('gpu-memory').textContent = `${(m.bytesInUse / 2 ** 20).toFixed(1)} MiB in ${m.liveTensors} tensors`;
  }

  private trackRate(step: number): void {
    const now = performance.now();
    this.rateWindow.push({ time: now, step });
    while (this.rateWindow.length > 2 && now - this.rateWindow[0].time > 3000) this.rateWindow.shift();
    const first = this.rateWindow[0];
    if (now - first.time > 200) $('rate').textContent = (((step - first.step) * 1000) / (now - first.time)).toFixed(1);
  }

  private async refreshViews(): Promise<void> {
    const live = this.live;
    if (!live) return;
    this.lastView = performance.now();
    if (this.settings.mode === '2d') {
      const extent = FIELD_EXTENT[this.settings.dataset];
      this.fake = await live.samples(FAKE_POINTS);
      this.map = await live.decisionMap(HEAT_RESOLUTION, extent);
      drawField($<HTMLCanvasElement>('field'), this.map, extent, live.realPoints, this.fake);
    } else {
      const images = await live.samples(DIGITS);
      drawDigits($<HTMLCanvasElement>('digits'), images, DIGITS, 28, 8);
    }
    drawLosses($<HTMLCanvasElement>('losses'), live.history);
  }

  private fail(error: unknown): void {
    this.running = false;
    const message = error instanceof Error ? error.message : String(error);
    $('error-message').textContent = message;
    $('error').hidden = false;
    $('play').textContent = 'Play';
    $<HTMLButtonElement>('step').disabled = false;
    setStatus('error');
    console.error('webgan playground:', error);
  }
}

async function main(): Promise<void> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) {
    showNoWebGpu('This browser does not offer WebGPU (navigator.gpu is missing).');
    return;
  }
  let runtime: Runtime;
  try {
    runtime = await init({ gpu });
  } catch (error) {
    showNoWebGpu(`The browser has WebGPU but gave no usable adapter: ${error instanceof Error ? error.message : String(error)}`);
    return;
  }
  $('adapter').textContent = describeAdapter(runtime);
  $('app').hidden = false;
  const playground = new Playground();
  await playground.start();
}

void main();
