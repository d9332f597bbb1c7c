/**
 * A folder of PNG images as a training set: every `*.png` directly in the folder, converted to a
 * fixed channel count, center-cropped to a square and resized to size×size, as float32 in [0, 1].
 *
 * Conventions (chosen once so that every tool sees the same data):
 *  - files are taken in code-unit order of their names (not locale order, which varies between
 *    machines), so image i is the same file everywhere; `.png` matches case-insensitively;
 *  - alpha is composited onto black: GAN image sets (MNIST included) put content on a dark
 *    background, and a transparent pixel then carries no signal (value 0);
 *  - grayscale is ITU-R BT.601 luma, 0.299 R + 0.587 G + 0.114 B; gray sources are replicated to
 *    RGB;
 *  - the largest centered square is kept (offsets rounded down), so nothing is stretched;
 *  - shrinking averages areas (each output pixel is the mean of the input area it covers, partial
 *    pixels weighted by their overlap), which does not alias; enlarging is bilinear with pixel
 *    centres at half-integers (PyTorch's align_corners=false), clamped at the border.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodePng } from '../image/png';
import type { DecodedPng } from '../image/png';
import { DataFormatError } from './errors';

/** Options of {@link loadPngFolder}. */
export interface PngFolderOptions {
  /** Output side in pixels (images are square). */
  size: number;
  /** 1: grayscale (BT.601 luma); 3: RGB. */
  channels: 1 | 3;
}

/** A loaded image folder. */
export interface PngFolder {
  /** [count, channels, size, size] row-major, values in [0, 1]. */
  images: Float32Array;
  count: number;
  /** The files read, in image order (paths joined onto the folder). */
  files: string[];
  size: number;
  channels: 1 | 3;
}

/**
 * Loads every `*.png` directly in `dir` (not recursive) as described in this module's header.
 * Throws {@link DataFormatError} when there is no PNG, or when a file fails to decode (the message
 * starts with that file's path); I/O errors propagate as Node reports them.
 */
export function loadPngFolder(dir: string, options: PngFolderOptions): PngFolder {
  const { size, channels } = options;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`loadPngFolder: size must be a positive integer, got ${size}`);
  if (channels !== 1 && channels !== 3) throw new RangeError(`loadPngFolder: channels must be 1 or 3, got ${String(channels)}`);
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((e) => /\.png$/i.test(e.name) && (e.isFile() || (e.isSymbolicLink() && statSync(join(dir, e.name)).isFile())))
    .map((e) => e.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (names.length === 0) throw new DataFormatError(`${dir}: no .png files`);
  const per = channels * size * size;
  const images = new Float32Array(names.length * per);
  const files = names.map((n) => join(dir, n));
  files.forEach((file, i) => {
    const png = decodePng(readFileSync(file), file);
    const planar = toPlanarFloat(png, channels);
    images.set(resizeImage(planar, channels, png.height, png.width, size), i * per);
  });
  return { images, count: names.length, files, size, channels };
}

/**
 * A decoded PNG as float32 planes [channels, H, W] in [0, 1]: alpha composited onto black, color
 * reduced to BT.601 luma for 1 channel, gray replicated for 3.
 */
export function toPlanarFloat(png: DecodedPng, channels: 1 | 3): Float32Array {
  const { width, height, pixels } = png;
  const n = width * height;
  const src = png.channels;
  const out = new Float32Array(channels * n);
  const hasAlpha = src === 2 || src === 4;
  for (let p = 0; p < n; p++) {
    const o = p * src;
    const a = hasAlpha ? pixels[o + src - 1] / 255 : 1;
    const r = (pixels[o] / 255) * a;
    const g = src >= 3 ? (pixels[o + 1] / 255) * a : r;
    const b = src >= 3 ? (pixels[o + 2] / 255) * a : r;
    if (channels === 1) {
      out[p] = src >= 3 ? 0.299 * r + 0.587 * g + 0.114 * b : r;
    } else {
      out[p] = r;
      out[n + p] = g;
      out[2 * n + p] = b;
    }
  }
  return out;
}

/** Per output index: the first input index and the weights of consecutive inputs from there. */
interface Tap {
  start: number;
  weights: number[];
}

/** 1-D resampling taps from `from` samples to `to`: area averaging down, bilinear up. */
function axisTaps(from: number, to: number): Tap[] {
  const taps: Tap[] = [];
  const scale = from / to;
  for (let i = 0; i < to; i++) {
    if (from === to) {
      taps.push({ start: i, weights: [1] });
    } else if (from > to) {
      // (i·from)/to rather than i·scale: exact at integer boundaries, so no sliver taps.
      const lo = (i * from) / to;
      const hi = ((i + 1) * from) / to;
      const start = Math.floor(lo);
      const weights: number[] = [];
      for (let j = start; j < Math.min(hi, from); j++) weights.push((Math.min(hi, j + 1) - Math.max(lo, j)) / scale);
      taps.push({ start, weights });
    } else {
      const s = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), from - 1);
      const j = Math.floor(s);
      const t = s - j;
      taps.push(j + 1 < from ? { start: j, weights: [1 - t, t] } : { start: j, weights: [1] });
    }
  }
  return taps;
}

/**
 * Center-crops planar images [C, H, W] to their largest centered square (offsets rounded down) and
 * resizes that to size×size: area averaging when shrinking, bilinear (align_corners=false) when
 * enlarging, a copy when the square already has that size. Returns [C, size, size].
 */
export function resizeImage(pixels: Float32Array, C: number, H: number, W: number, size: number): Float32Array {
  if (pixels.length !== C * H * W) throw new RangeError(`resizeImage: expected ${C}×${H}×${W} = ${C * H * W} values, got ${pixels.length}`);
  if (!Number.isInteger(size) || size < 1 || H < 1 || W < 1) throw new RangeError(`resizeImage: bad sizes H=${H} W=${W} size=${size}`);
  const side = Math.min(H, W);
  const top = Math.floor((H - side) / 2);
  const left = Math.floor((W - side) / 2);
  const taps = axisTaps(side, size);
  // Separable: rows first into a float64 buffer [C, side, size], then columns.
  const tmp = new Float64Array(C * side * size);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < side; y++) {
      const row = (c * H + top + y) * W + left;
      for (let x = 0; x < size; x++) {
        const { start, weights } = taps[x];
        let acc = 0;
        for (let k = 0; k < weights.length; k++) acc += weights[k] * pixels[row + start + k];
        tmp[(c * side + y) * size + x] = acc;
      }
    }
  }
  const out = new Float32Array(C * size * size);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < size; y++) {
      const { start, weights } = taps[y];
      for (let x = 0; x < size; x++) {
        let acc = 0;
        for (let k = 0; k < weights.length; k++) acc += weights[k] * tmp[(c * side + start + k) * size + x];
        out[(c * size + y) * size + x] = acc;
      }
    }
  }
  return out;
}
