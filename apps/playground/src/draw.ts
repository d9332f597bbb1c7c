/**
 * Canvas drawing for the playground: the 2D field (decision heat map, real and generated points),
 * loss curves, and the grid of generated digits. Pure functions of what they are given.
 */
import type { DecisionMap, LossPoint } from './live-run';

const REAL_COLOR = '#1b9e57';
const FAKE_COLOR = '#7b3fbf';

/**
 * The plane as GAN Lab shows it: each cell tinted by what D says there — green where D believes
 * "real", purple where it believes "fake" — with real points (green) and generated points (purple).
 */
export function drawField(canvas: HTMLCanvasElement, map: DecisionMap | null, extent: number, real: Float32Array, fake: Float32Array): void {
  const ctx = canvas.getContext('2d')!;
  const side = canvas.width;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, side, side);
  if (map) {
    const image = ctx.createImageData(map.resolution, map.resolution);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of map.values) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    for (let i = 0; i < map.values.length; i++) {
      // Probabilities are shown as they are; a critic's scores on their own range.
      const t = map.kind === 'probability' ? map.values[i] : hi > lo ? (map.values[i] - lo) / (hi - lo) : 0.5;
      const [r, g, b] = blend(t);
      image.data.set([r, g, b, 255], 4 * i);
    }
    const cells = document.createElement('canvas');
    cells.width = map.resolution;
    cells.height = map.resolution;
    cells.getContext('2d')!.putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(cells, 0, 0, side, side);
  }
  const toPixel = (v: number) => ((v + extent) / (2 * extent)) * side;
  const dots = (points: Float32Array, color: string, radius: number) => {
    ctx.fillStyle = color;
    for (let i = 0; i + 1 < points.length; i += 2) {
      ctx.beginPath();
      ctx.arc(toPixel(points[i]), side - toPixel(points[i + 1]), radius, 0, 2 * Math.PI);
      ctx.fill();
    }
  };
  ctx.globalAlpha = 0.55;
  dots(real, REAL_COLOR, 2);
  ctx.globalAlpha = 0.8;
  dots(fake, FAKE_COLOR, 2);
  ctx.globalAlpha = 1;
}

/** t = 0 (fake) → light purple, 0.5 → white, 1 (real) → light green. */
function blend(t: number): [number, number, number] {
  const fake = [214, 196, 236];
  const real = [196, 234, 208];
  const white = [255, 255, 255];
  const clamped = Math.min(1, Math.max(0, t));
  const [from, to, u] = clamped < 0.5 ? [fake, white, clamped * 2] : [white, real, (clamped - 0.5) * 2];
  return [0, 1, 2].map((k) => Math.round(from[k] + (to[k] - from[k]) * u)) as [number, number, number];
}

/** D's and G's losses against the step, each on the chart's shared y range. */
export function drawLosses(canvas: HTMLCanvasElement, history: readonly LossPoint[]): void {
  const ctx = canvas.getContext('2d')!;
  const { width, height } = canvas;
  const pad = { left: 52, right: 12, top: 12, bottom: 24 };
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  ctx.strokeStyle = '#999';
  ctx.strokeRect(pad.left, pad.top, width - pad.left - pad.right, height - pad.top - pad.bottom);
  ctx.fillStyle = '#444';
  ctx.font = '12px sans-serif';
  if (history.length === 0) {
    ctx.fillText('losses appear once training starts', pad.left + 8, pad.top + 20);
    return;
  }
  const finite = history.flatMap((p) => [p.d, p.g]).filter(Number.isFinite);
  let lo = finite.length ? Math.min(...finite) : 0;
  let hi = finite.length ? Math.max(...finite) : 1;
  if (hi - lo < 1e-6) {
    lo -= 0.5;
    hi += 0.5;
  }
  const first = history[0].step;
  const last = Math.max(history[history.length - 1].step, first + 1);
  const x = (step: number) => pad.left + ((step - first) / (last - first)) * (width - pad.left - pad.right);
  const y = (v: number) => pad.top + (1 - (v - lo) / (hi - lo)) * (height - pad.top - pad.bottom);
  ctx.fillText(hi.toPrecision(3), 4, pad.top + 10);
  ctx.fillText(lo.toPrecision(3), 4, height - pad.bottom);
  ctx.fillText(`step ${first}`, pad.left, height - 6);
  const lastLabel = `step ${history[history.length - 1].step}`;
  ctx.fillText(lastLabel, width - pad.right - ctx.measureText(lastLabel).width, height - 6);
  // Single-step losses are noisy: each curve is drawn faintly as read, and solid as an exponential
  // moving average (weight 0.1 per point) so that the trend is visible.
  const line = (key: 'd' | 'g', color: string) => {
    const raw = history.map((p) => p[key]);
    // Bias-corrected (as Adam's moments): without the correction the first points would drag
    // the curve toward the start for dozens of points.
    let sum = 0;
    let weight = 0;
    const smooth = raw.map((v) => {
      if (!Number.isFinite(v)) {
        sum = 0;
        weight = 0;
        return Number.NaN;
      }
      sum = 0.9 * sum + 0.1 * v;
      weight = 0.9 * weight + 0.1;
      return sum / weight;
    });
    ctx.strokeStyle = color;
    for (const [values, alpha, lineWidth] of [[raw, 0.25, 1], [smooth, 1, 1.75]] as const) {
      ctx.globalAlpha = alpha;
      ctx.lineWidth = lineWidth;
      ctx.beginPath();
      let pen = false;
      values.forEach((v, i) => {
        if (!Number.isFinite(v)) {
          pen = false;
          return;
        }
        if (pen) ctx.lineTo(x(history[i].step), y(v));
        else ctx.moveTo(x(history[i].step), y(v));
        pen = true;
      });
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
  };
  line('d', '#1f5fbf');
  line('g', '#d9730d');
  // The legend sits in the axis row, between the step labels, where no curve can cover it.
  const legendX = width / 2 - 40;
  ctx.fillStyle = '#1f5fbf';
  ctx.fillText('— D loss', legendX, height - 6);
  ctx.fillStyle = '#d9730d';
  ctx.fillText('— G loss', legendX + 64, height - 6);
}

/** count images [count, 1, size, size] in [−1, 1] as a grid of `columns`, scaled to the canvas. */
export function drawDigits(canvas: HTMLCanvasElement, images: Float32Array, count: number, size: number, columns: number): void {
  const rows = Math.ceil(count / columns);
  const gap = 2;
  const width = columns * (size + gap) + gap;
  const height = rows * (size + gap) + gap;
  const image = new ImageData(width, height);
  image.data.fill(255);
  for (let i = 0; i < width * height; i++) image.data.set([64, 64, 64], 4 * i);
  for (let n = 0; n < count; n++) {
    const ox = gap + (n % columns) * (size + gap);
    const oy = gap + Math.floor(n / columns) * (size + gap);
    for (let r = 0; r < size; r++) {
      for (let c = 0; c < size; c++) {
        const v = Math.round((Math.min(1, Math.max(-1, images[n * size * size + r * size + c])) + 1) * 127.5);
        image.data.set([v, v, v, 255], 4 * ((oy + r) * width + ox + c));
      }
    }
  }
  const cells = document.createElement('canvas');
  cells.width = width;
  cells.height = height;
  cells.getContext('2d')!.putImageData(image, 0, 0);
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = '#404040';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const scale = Math.min(canvas.width / width, canvas.height / height);
  ctx.drawImage(cells, 0, 0, width * scale, height * scale);
}
