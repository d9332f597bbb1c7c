/**
 * imageGrid and upscale (packages/gan/src/image/grid.ts): the layout pixel by pixel on small
 * grids (padding, row-major placement, empty cells left as background), the value mapping
 * (range ends, rounding, clamping, NaN), interleaved RGB output, default columns, and errors.
 */
import { describe, expect, it } from 'vitest';
import { GRID_BACKGROUND, imageGrid, upscale } from '../../packages/gan/src/image/grid';
import { decodePng, encodePng } from '../../packages/gan/src/image/png';

const B = GRID_BACKGROUND;

describe('imageGrid', () => {
  it('places gray images row by row with padding, mapping [-1, 1] to 0..255', () => {
    const images = Float32Array.from([
      ...[-1, -1, -1, -1], // image 0
      ...[1, 0, 2, -3], // image 1: 0 → 127.5 rounds to 128; out of range clamps
      ...[NaN, -0.5, 0.5, 1], // image 2: NaN → 0; 63.75 → 64; 191.25 → 191
    ]);
    const g = imageGrid(images, 3, 1, 2, 2, { columns: 2, padding: 1 });
    expect([g.width, g.height, g.channels]).toEqual([7, 7, 1]);
    const rows = [
      [B, B, B, B, B, B, B],
      [B, 0, 0, B, 255, 128, B],
      [B, 0, 0, B, 255, 0, B],
      [B, B, B, B, B, B, B],
      [B, 0, 64, B, B, B, B],
      [B, 191, 255, B, B, B, B],
      [B, B, B, B, B, B, B],
    ];
    expect(Array.from(g.pixels)).toEqual(rows.flat());
  });

  it('interleaves RGB planes and honours range and padding 0', () => {
    // Two 1×2 RGB images, NCHW: image n, channel c, pixel x has value (n·6 + c·2 + x)/11.
    const images = Float32Array.from({ length: 12 }, (_, i) => i / 11);
    const g = imageGrid(images, 2, 3, 1, 2, { padding: 0, range: [0, 1] });
    expect([g.width, g.height, g.channels]).toEqual([4, 1, 3]);
    const want: number[] = [];
    for (let n = 0; n < 2; n++) for (let x = 0; x < 2; x++) for (let c = 0; c < 3; c++) want.push(Math.round(((n * 6 + c * 2 + x) / 11) * 255));
    expect(Array.from(g.pixels)).toEqual(want);
  });

  it('defaults to ceil(√count) columns and padding 2; ignores images past count', () => {
    const g = imageGrid(new Float32Array(12 * 28 * 28), 10, 1, 28, 28);
    expect([g.width, g.height]).toEqual([4 * 28 + 5 * 2, 3 * 28 + 4 * 2]);
    // Value 0 in [-1, 1] → 128 inside the first image; background in the padding and empty cells.
    expect(g.pixels[2 * g.width + 2]).toBe(128);
    expect(g.pixels[g.width + 1]).toBe(B);
    expect(g.pixels[(g.height - 3) * g.width + g.width - 3]).toBe(B);
    expect(g.pixels[(g.height - 3) * g.width + 2 + 28 + 2]).toBe(128);
    expect(imageGrid(new Float32Array(4), 1, 1, 2, 2).width).toBe(6);
  });

  it('the grid encodes as a PNG', () => {
    const g = imageGrid(Float32Array.from({ length: 5 * 3 * 4 * 6 }, (_, i) => Math.sin(i)), 5, 3, 4, 6, { columns: 3 });
    const back = decodePng(encodePng(g.pixels, g.width, g.height, g.channels));
    expect([back.width, back.height, back.channels]).toEqual([g.width, g.height, 3]);
    expect(Buffer.from(back.pixels).equals(Buffer.from(g.pixels))).toBe(true);
  });

  it('rejects bad arguments', () => {
    expect(() => imageGrid(new Float32Array(7), 2, 1, 2, 2)).toThrow(/2 images of 1×2×2 need 8 values, got 7/);
    expect(() => imageGrid(new Float32Array(8), 0, 1, 2, 2)).toThrow(/count must be an integer ≥ 1/);
    expect(() => imageGrid(new Float32Array(8), 2, 1, 2, 2, { columns: 0 })).toThrow(/columns/);
    expect(() => imageGrid(new Float32Array(8), 2, 1, 2, 2, { padding: -1 })).toThrow(/padding/);
    expect(() => imageGrid(new Float32Array(8), 2, 1, 2, 2, { range: [1, 1] })).toThrow(/lo < hi/);
    expect(() => imageGrid(new Float32Array(8), 2, 2 as 1, 2, 1)).toThrow(/channels must be 1 or 3/);
  });
});

describe('upscale', () => {
  it('repeats each gray pixel into a factor×factor block', () => {
    const g = upscale({ pixels: Uint8Array.from([10, 20, 30, 40]), width: 2, height: 2, channels: 1 }, 3);
    expect([g.width, g.height, g.channels]).toEqual([6, 6, 1]);
    const top = [10, 10, 10, 20, 20, 20];
    const bottom = [30, 30, 30, 40, 40, 40];
    expect(Array.from(g.pixels)).toEqual([top, top, top, bottom, bottom, bottom].flat());
  });

  it('keeps RGB pixels together; factor 1 copies', () => {
    const src = { pixels: Uint8Array.from([1, 2, 3, 4, 5, 6]), width: 2, height: 1, channels: 3 as const };
    const g = upscale(src, 2);
    expect([g.width, g.height]).toEqual([4, 2]);
    const row = [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6];
    expect(Array.from(g.pixels)).toEqual([...row, ...row]);
    const same = upscale(src, 1);
    expect(Array.from(same.pixels)).toEqual(Array.from(src.pixels));
    expect(same.pixels).not.toBe(src.pixels);
  });

  it('rejects bad factors and inconsistent images', () => {
    expect(() => upscale({ pixels: new Uint8Array(4), width: 2, height: 2, channels: 1 }, 0)).toThrow(/factor must be a positive integer/);
    expect(() => upscale({ pixels: new Uint8Array(4), width: 2, height: 2, channels: 1 }, 1.5)).toThrow(/factor/);
    expect(() => upscale({ pixels: new Uint8Array(3), width: 2, height: 2, channels: 1 }, 2)).toThrow(/expected 2×2×1 bytes, got 3/);
  });
});
