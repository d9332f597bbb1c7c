/**
 * loadPngFolder and resizeImage (packages/gan/src/data/image-folder.ts). PNGs of different sizes
 * and channel counts are written to a temp folder with encodePng; the loaded values are checked
 * against direct 2-D references written here from the documented rules (center crop, area
 * integration when shrinking, bilinear with half-pixel centres when enlarging, BT.601 luma, alpha
 * over black), not against the module's separable implementation.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataFormatError } from '../../packages/gan/src/data/errors';
import { loadPngFolder, resizeImage } from '../../packages/gan/src/data/image-folder';
import { mulberry32 } from '../../packages/gan/src/data/shuffle';
import { encodePng } from '../../packages/gan/src/image/png';

/** A float64 [C][H][W] image from interleaved 8-bit pixels: alpha over black, then gray or RGB. */
function reference(pixels: Uint8Array, W: number, H: number, srcCh: number, outCh: 1 | 3): number[][][] {
  const planes: number[][][] = Array.from({ length: outCh }, () => Array.from({ length: H }, () => new Array<number>(W).fill(0)));
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = pixels.subarray((y * W + x) * srcCh, (y * W + x + 1) * srcCh);
      const a = srcCh === 4 ? p[3] / 255 : 1;
      const rgb = srcCh === 1 ? [p[0], p[0], p[0]] : [p[0], p[1], p[2]];
      const [r, g, b] = rgb.map((v) => (v / 255) * a);
      if (outCh === 1) planes[0][y][x] = 0.299 * r + 0.587 * g + 0.114 * b;
      else [r, g, b].forEach((v, c) => (planes[c][y][x] = v));
    }
  }
  return planes;
}

/** Center crop, then the documented resize rule, evaluated directly in 2-D. */
function referenceResize(plane: number[][], n: number): number[][] {
  const H = plane.length;
  const W = plane[0].length;
  const s = Math.min(H, W);
  const top = Math.floor((H - s) / 2);
  const left = Math.floor((W - s) / 2);
  const at = (y: number, x: number) => plane[top + y][left + x];
  const out = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  const r = s / n;
  const overlap = (p: number, i: number) => Math.max(0, Math.min(p + 1, (i + 1) * r) - Math.max(p, i * r));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (s >= n) {
        // Integral of the piecewise-constant image over the output pixel's area, divided by the area.
        let acc = 0;
        for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) acc += at(y, x) * overlap(y, i) * overlap(x, j);
        out[i][j] = acc / (r * r);
      } else {
        const sy = Math.min(Math.max((i + 0.5) * r - 0.5, 0), s - 1);
        const sx = Math.min(Math.max((j + 0.5) * r - 0.5, 0), s - 1);
        const [y0, x0] = [Math.floor(sy), Math.floor(sx)];
        const [y1, x1] = [Math.min(y0 + 1, s - 1), Math.min(x0 + 1, s - 1)];
        const [ty, tx] = [sy - y0, sx - x0];
        out[i][j] = (1 - ty) * ((1 - tx) * at(y0, x0) + tx * at(y0, x1)) + ty * ((1 - tx) * at(y1, x0) + tx * at(y1, x1));
      }
    }
  }
  return out;
}

function expectImage(got: Float32Array, offset: number, want: number[][][], tol = 1e-6): void {
  const C = want.length;
  const n = want[0].length;
  let worst = 0;
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) worst = Math.max(worst, Math.abs(got[offset + (c * n + y) * n + x] - want[c][y][x]));
    }
  }
  expect(worst).toBeLessThan(tol);
}

describe('loadPngFolder', () => {
  const root = mkdtempSync(join(tmpdir(), 'webgan-pngs-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const rng = mulberry32(11);
  const rand = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rng() * 256));
  // name → [pixels, width, height, channels]
  const files: Record<string, [Uint8Array, number, number, 1 | 3 | 4]> = {
    'a.png': [rand(40 * 30 * 3), 40, 30, 3], // wide RGB: crop 5 columns each side, shrink 30 → 28/enlarge → 32
    'b.png': [rand(28 * 28), 28, 28, 1], // gray at the target size: a copy at 28
    'c.png': [rand(10 * 14 * 4), 10, 14, 4], // tall RGBA: crop 2 rows top and bottom, enlarge 10 → 28/32
    'D.PNG': [rand(57 * 57), 57, 57, 1], // upper-case suffix; odd shrink ratio 57 → 28
  };
  const dir = join(root, 'images');
  mkdirSync(dir);
  for (const [name, [px, w, h, c]] of Object.entries(files)) writeFileSync(join(dir, name), encodePng(px, w, h, c));
  writeFileSync(join(dir, 'notes.txt'), 'not an image');
  mkdirSync(join(dir, 'nested.png'));
  writeFileSync(join(dir, 'nested.png', 'inner.png'), encodePng(rand(4), 2, 2, 1));
  const order = ['D.PNG', 'a.png', 'b.png', 'c.png'];

  for (const [size, channels] of [[28, 1], [32, 3]] as const) {
    it(`size ${size}, ${channels} channel(s): shape, order, and values against the 2-D reference`, () => {
      const set = loadPngFolder(dir, { size, channels });
      expect(set.count).toBe(4);
      expect(set.files).toEqual(order.map((n) => join(dir, n)));
      expect(set.images.length).toBe(4 * channels * size * size);
      expect([set.size, set.channels]).toEqual([size, channels]);
      const per = channels * size * size;
      order.forEach((name, i) => {
        const [px, w, h, c] = files[name];
        const want = reference(px, w, h, c, channels).map((plane) => referenceResize(plane, size));
        expectImage(set.images, i * per, want);
      });
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of set.images) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(hi).toBeLessThanOrEqual(1);
    });
  }

  it('a gray image at its own size is copied exactly; gray becomes identical RGB planes', () => {
    const [px] = files['b.png'];
    const gray = loadPngFolder(dir, { size: 28, channels: 1 });
    expect(Array.from(gray.images.subarray(2 * 784, 3 * 784))).toEqual(Array.from(px, (v) => Math.fround(v / 255)));
    const rgb = loadPngFolder(dir, { size: 28, channels: 3 });
    const b = rgb.images.subarray(2 * 3 * 784, 3 * 3 * 784);
    expect(Array.from(b.subarray(0, 784))).toEqual(Array.from(b.subarray(784, 1568)));
    expect(Array.from(b.subarray(0, 784))).toEqual(Array.from(b.subarray(1568)));
  });

  it('alpha composites onto black', () => {
    const d = join(root, 'alpha');
    mkdirSync(d);
    // Opaque white, half-transparent white, fully transparent white, opaque red.
    writeFileSync(join(d, 'x.png'), encodePng(Uint8Array.from([255, 255, 255, 255, 255, 255, 255, 51, 255, 255, 255, 0, 255, 0, 0, 255]), 2, 2, 4));
    const rgb = loadPngFolder(d, { size: 2, channels: 3 });
    expect(Array.from(rgb.images)).toEqual([1, 0.2, 0, 1, 1, 0.2, 0, 0, 1, 0.2, 0, 0].map(Math.fround));
    const gray = loadPngFolder(d, { size: 2, channels: 1 });
    expect(Array.from(gray.images)).toEqual([1, 0.2, 0, 0.299].map(Math.fround));
  });

  it('errors: no PNGs, a file that fails to decode, bad options', () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    expect(() => loadPngFolder(empty, { size: 8, channels: 1 })).toThrow(new DataFormatError(`${empty}: no .png files`));
    writeFileSync(join(empty, 'readme.txt'), 'x');
    expect(() => loadPngFolder(empty, { size: 8, channels: 1 })).toThrow(`${empty}: no .png files`);
    const broken = join(root, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'good.png'), encodePng(rand(16), 4, 4, 1));
    writeFileSync(join(broken, 'bad.png'), new Uint8Array([1, 2, 3]));
    let caught: unknown;
    try {
      loadPngFolder(broken, { size: 8, channels: 1 });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(DataFormatError);
    expect((caught as Error).message).toBe(`${join(broken, 'bad.png')}: not a PNG (bad signature)`);
    expect(() => loadPngFolder(dir, { size: 0, channels: 1 })).toThrow(RangeError);
    expect(() => loadPngFolder(dir, { size: 8, channels: 2 as 1 })).toThrow(/channels must be 1 or 3/);
  });
});

describe('resizeImage', () => {
  const rng = mulberry32(12);
  it('keeps constant images constant and preserves the mean when area averaging', () => {
    for (const [H, W, n] of [[7, 7, 3], [5, 9, 12], [30, 20, 7], [1, 1, 4], [6, 6, 6]]) {
      const out = resizeImage(new Float32Array(2 * H * W).fill(0.375), 2, H, W, n);
      expect(out.length).toBe(2 * n * n);
      for (const v of out) expect(v).toBeCloseTo(0.375, 6);
    }
    const s = 29;
    const img = Float32Array.from({ length: s * s }, () => rng());
    const out = resizeImage(img, 1, s, s, 8);
    const mean = (a: Float32Array) => a.reduce((x, y) => x + y, 0) / a.length;
    expect(mean(out)).toBeCloseTo(mean(img), 5);
  });

  it('matches the 2-D reference on a non-square multi-channel image, shrinking and enlarging', () => {
    const [C, H, W] = [3, 13, 20]; // odd crop margin: offset rounds down
    const img = Float32Array.from({ length: C * H * W }, () => rng());
    const planes = Array.from({ length: C }, (_, c) => Array.from({ length: H }, (_, y) => Array.from(img.subarray((c * H + y) * W, (c * H + y + 1) * W))));
    for (const n of [1, 4, 5, 13, 20, 31]) expectImage(resizeImage(img, C, H, W, n), 0, planes.map((p) => referenceResize(p, n)));
  });

  it('rejects a buffer of the wrong length', () => {
    expect(() => resizeImage(new Float32Array(5), 1, 2, 2, 4)).toThrow(/expected 1×2×2 = 4 values, got 5/);
  });
});
