/**
 * Sample sheets: a batch of NCHW float images tiled into one 8-bit image (for encodePng), and a
 * nearest-neighbour upscale so that 28-pixel digits are large enough to look at.
 */

/** An 8-bit image, interleaved (HWC), rows top to bottom. */
export interface ImageGrid {
  pixels: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** Options of {@link imageGrid}. */
export interface ImageGridOptions {
  /** Images per row; default ceil(√count), a near-square sheet. */
  columns?: number;
  /** Background pixels around and between images; default 2. */
  padding?: number;
  /** The values that map to 0 and 255; default [-1, 1], a tanh generator's output range. */
  range?: readonly [number, number];
}

/**
 * Background level of the padding: dark gray rather than black, so that the edges of images with
 * black backgrounds (MNIST digits) remain visible.
 */
export const GRID_BACKGROUND = 64;

/**
 * Tiles `count` images (float32 NCHW, channels 1 or 3, height×width each) row by row into a grid
 * with `padding` background pixels around every image. Values map linearly from `range` to 0..255,
 * rounded and clamped (NaN → 0). `images` may hold more than `count` images; the rest are ignored.
 */
export function imageGrid(
  images: Float32Array,
  count: number,
  channels: 1 | 3,
  height: number,
  width: number,
  options: ImageGridOptions = {},
): ImageGrid {
  const { padding = 2, range = [-1, 1] } = options;
  const columns = options.columns ?? Math.ceil(Math.sqrt(count));
  const positive = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new RangeError(`imageGrid: ${name} must be an integer ≥ ${min}, got ${v}`);
  };
  positive('count', count, 1);
  positive('height', height, 1);
  positive('width', width, 1);
  positive('columns', columns, 1);
  positive('padding', padding, 0);
  if (channels !== 1 && channels !== 3) throw new RangeError(`imageGrid: channels must be 1 or 3, got ${String(channels)}`);
  const [lo, hi] = range;
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) throw new RangeError(`imageGrid: range must be finite with lo < hi, got [${lo}, ${hi}]`);
  const plane = height * width;
  if (images.length < count * channels * plane) {
    throw new RangeError(`imageGrid: ${count} images of ${channels}×${height}×${width} need ${count * channels * plane} values, got ${images.length}`);
  }
  const rows = Math.ceil(count / columns);
  const gw = columns * width + (columns + 1) * padding;
  const gh = rows * height + (rows + 1) * padding;
  const pixels = new Uint8Array(gw * gh * channels).fill(GRID_BACKGROUND);
  const k = 255 / (hi - lo);
  for (let n = 0; n < count; n++) {
    const ox = padding + (n % columns) * (width + padding);
    const oy = padding + Math.floor(n / columns) * (height + padding);
    for (let c = 0; c < channels; c++) {
      const src = (n * channels + c) * plane;
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const v = Math.round((images[src + y * width + x] - lo) * k);
          // Explicit clamp: Uint8Array stores would wrap out-of-range values, and NaN would not compare.
          pixels[((oy + y) * gw + ox + x) * channels + c] = v > 255 ? 255 : v > 0 ? v : 0;
        }
      }
    }
  }
  return { pixels, width: gw, height: gh, channels };
}

/** Enlarges an image by an integer factor, each pixel becoming a factor×factor block. */
export function upscale(grid: ImageGrid, factor: number): ImageGrid {
  if (!Number.isInteger(factor) || factor < 1) throw new RangeError(`upscale: factor must be a positive integer, got ${factor}`);
  const { width, height, channels, pixels } = grid;
  if (pixels.length !== width * height * channels) throw new RangeError(`upscale: expected ${width}×${height}×${channels} bytes, got ${pixels.length}`);
  const w = width * factor;
  const out = new Uint8Array(w * height * factor * channels);
  for (let y = 0; y < height; y++) {
    // Build one enlarged row, then copy it to the factor output rows it covers.
    const first = y * factor * w * channels;
    for (let x = 0; x < width; x++) {
      const from = (y * width + x) * channels;
      for (let r = 0; r < factor; r++) out.set(pixels.subarray(from, from + channels), first + (x * factor + r) * channels);
    }
    for (let r = 1; r < factor; r++) out.copyWithin(first + r * w * channels, first, first + w * channels);
  }
  return { pixels: out, width: w, height: height * factor, channels };
}
