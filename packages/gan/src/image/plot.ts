/**
 * Plots for run folders: a scatter plot of 2D samples over the real modes (PNG pixels) and loss
 * curves as SVG (vector text and axes without a font rasteriser).
 */
import type { ImageGrid } from './grid';

export interface ScatterSeries {
  /** x, y pairs. */
  points: Float32Array | Float64Array;
  rgb: [number, number, number];
  /** Square marker side in pixels. */
  size: number;
}

/** Scatter plot on a white square, axes through the origin; extent is the half-width shown. */
export function scatterPlot(series: ScatterSeries[], extent: number, side = 512): ImageGrid {
  const pixels = new Uint8Array(side * side * 3).fill(255);
  const put = (x: number, y: number, rgb: readonly number[]) => {
    if (x < 0 || y < 0 || x >= side || y >= side) return;
    const i = (y * side + x) * 3;
    pixels[i] = rgb[0];
    pixels[i + 1] = rgb[1];
    pixels[i + 2] = rgb[2];
  };
  const toPixel = (v: number) => Math.round(((v + extent) / (2 * extent)) * (side - 1));
  const mid = toPixel(0);
  for (let i = 0; i < side; i++) {
    put(i, mid, [210, 210, 210]);
    put(mid, i, [210, 210, 210]);
  }
  for (const s of series) {
    const half = Math.floor(s.size / 2);
    for (let p = 0; p + 1 < s.points.length; p += 2) {
      const px = toPixel(s.points[p]);
      const py = side - 1 - toPixel(s.points[p + 1]);
      for (let dy = -half; dy <= half; dy++) for (let dx = -half; dx <= half; dx++) put(px + dx, py + dy, s.rgb);
    }
  }
  return { pixels, width: side, height: side, channels: 3 };
}

export interface LineSeries {
  name: string;
  /** [x, y] pairs; non-finite y values are skipped. */
  points: [number, number][];
  color: string;
}

const escapeXml = (s: string): string => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** A line chart with labelled axes and a legend, as an SVG document. */
export function lineChartSvg(title: string, series: LineSeries[], xLabel: string, width = 720, height = 360): string {
  const left = 64;
  const right = 16;
  const top = 32;
  const bottom = 44;
  const all = series.flatMap((s) => s.points.filter(([, y]) => Number.isFinite(y)));
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  let [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (x: number) => left + ((x - x0) / (x1 - x0 || 1)) * (width - left - right);
  const sy = (y: number) => top + (1 - (y - y0) / (y1 - y0)) * (height - top - bottom);
  const ticks = (a: number, b: number) => Array.from({ length: 5 }, (_, i) => a + ((b - a) * i) / 4);
  const fmt = (v: number) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : Number(v.toPrecision(3)).toString());
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="13">${escapeXml(title)}</text>`,
    ...ticks(y0, y1).map((v) => `<line x1="${left}" x2="${width - right}" y1="${sy(v)}" y2="${sy(v)}" stroke="#e5e5e5"/><text x="${left - 6}" y="${sy(v) + 4}" text-anchor="end">${fmt(v)}</text>`),
    ...ticks(x0, x1).map((v) => `<text x="${sx(v)}" y="${height - bottom + 16}" text-anchor="middle">${fmt(Math.round(v))}</text>`),
    `<text x="${(left + width - right) / 2}" y="${height - 8}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    `<rect x="${left}" y="${top}" width="${width - left - right}" height="${height - top - bottom}" fill="none" stroke="#999"/>`,
  ];
  series.forEach((s, i) => {
    const d = s.points.filter(([, y]) => Number.isFinite(y)).map(([x, y], j) => `${j ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
    if (d) parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
    parts.push(`<rect x="${left + 10 + i * 130}" y="${top + 8}" width="12" height="3" fill="${s.color}"/><text x="${left + 26 + i * 130}" y="${top + 13}">${escapeXml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
