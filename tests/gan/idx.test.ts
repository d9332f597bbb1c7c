/**
 * IDX reading and writing (packages/gan/src/data/idx.ts): round trips for every element type,
 * decoding of hand-built big-endian bytes, each validation error with its numbers, gzip handling,
 * loadIdxImages with labels given, found next to the images (compressed or not) or absent, and a
 * seeded mutation fuzz that allows only DataFormatError to escape.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DataFormatError } from '../../packages/gan/src/data/errors';
import { decodeIdx, encodeIdx, findIdxLabelsFile, loadIdxImages, readIdxFile } from '../../packages/gan/src/data/idx';
import type { IdxData } from '../../packages/gan/src/data/idx';
import { mulberry32 } from '../../packages/gan/src/data/shuffle';

/** Header bytes built by hand: magic 0 0 type ndims, then big-endian uint32 dims. */
function header(type: number, dims: number[]): number[] {
  return [0, 0, type, dims.length, ...dims.flatMap((d) => [d >>> 24, (d >>> 16) & 255, (d >>> 8) & 255, d & 255])];
}

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an exception');
}

describe('decodeIdx / encodeIdx', () => {
  it('decodes hand-built big-endian files of every type', () => {
    const u8 = decodeIdx(Uint8Array.from([...header(0x08, [2, 3]), 1, 2, 3, 250, 251, 252]));
    expect(u8.dims).toEqual([2, 3]);
    expect(u8.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(u8.data)).toEqual([1, 2, 3, 250, 251, 252]);
    const i8 = decodeIdx(Uint8Array.from([...header(0x09, [2]), 0xff, 0x7f]));
    expect(i8.data).toBeInstanceOf(Int8Array);
    expect(Array.from(i8.data)).toEqual([-1, 127]);
    const i16 = decodeIdx(Uint8Array.from([...header(0x0b, [2]), 0xff, 0xfe, 0x01, 0x02]));
    expect(i16.data).toBeInstanceOf(Int16Array);
    expect(Array.from(i16.data)).toEqual([-2, 258]);
    const i32 = decodeIdx(Uint8Array.from([...header(0x0c, [1]), 0x80, 0, 0, 1]));
    expect(Array.from(i32.data)).toEqual([-2147483647]);
    const f32 = decodeIdx(Uint8Array.from([...header(0x0d, [1, 1, 1, 2]), 0x3f, 0x80, 0, 0, 0xc0, 0x49, 0x0f, 0xdb]));
    expect(f32.dims).toEqual([1, 1, 1, 2]);
    expect(f32.data).toBeInstanceOf(Float32Array);
    expect(Array.from(f32.data)).toEqual([1, Math.fround(-Math.PI)]);
    const f64 = decodeIdx(Uint8Array.from([...header(0x0e, [1]), 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18]));
    expect(f64.data).toBeInstanceOf(Float64Array);
    expect(f64.data[0]).toBe(Math.PI);
  });

  it('round-trips every element type and shape', () => {
    const rng = mulberry32(5);
    const make: Array<(n: number) => IdxData> = [
      (n) => Uint8Array.from({ length: n }, () => Math.floor(rng() * 256)),
      (n) => Int8Array.from({ length: n }, () => Math.floor(rng() * 256) - 128),
      (n) => Int16Array.from({ length: n }, () => Math.floor(rng() * 65536) - 32768),
      (n) => Int32Array.from({ length: n }, () => Math.floor(rng() * 2 ** 32) - 2 ** 31),
      (n) => Float32Array.from({ length: n }, () => (rng() - 0.5) * 1e6),
      (n) => Float64Array.from({ length: n }, () => (rng() - 0.5) * 1e300),
    ];
    for (const dims of [[7], [3, 5], [2, 3, 4], [1, 2, 1, 3], [0, 5]]) {
      for (const m of make) {
        const data = m(dims.reduce((a, b) => a * b, 1));
        const back = decodeIdx(encodeIdx(dims, data));
        expect(back.dims).toEqual(dims);
        expect(back.data.constructor).toBe(data.constructor);
        expect(Array.from(back.data)).toEqual(Array.from(data));
      }
    }
    // encodeIdx writes exactly the hand-built layout.
    expect(Array.from(encodeIdx([2], Float32Array.from([1, -2])))).toEqual([...header(0x0d, [2]), 0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0]);
    // A subarray view encodes its own elements, not the whole buffer.
    const view = Uint8Array.from([9, 8, 7, 6]).subarray(1, 3);
    expect(Array.from(encodeIdx([2], view))).toEqual([...header(0x08, [2]), 8, 7]);
  });

  const cases: Array<[string, number[], RegExp]> = [
    ['too short', [0, 0, 8], /too short for an IDX header \(3 bytes\)/],
    ['bad magic', [1, 0, 8, 1, 0, 0, 0, 0], /not an IDX file \(bad magic 0x01000801\)/],
    ['gzip', [0x1f, 0x8b, 8, 0, 0], /gzip-compressed; decompress it first/],
    ['unknown type', header(0x0a, [1]).concat([0]), /unknown IDX data type 0x0a/],
    ['0 dimensions', [0, 0, 8, 0], /0 dimensions not supported \(1 to 4\)/],
    ['5 dimensions', header(0x08, [1, 1, 1, 1, 1]).concat([0]), /5 dimensions not supported/],
    ['truncated header', [0, 0, 8, 3, 0, 0, 0, 1, 0, 0], /header truncated: 3 dimensions need 16 bytes, the file has 10/],
    ['dimension over 2^24', header(0x08, [2, 2 ** 24 + 1]), /dimension 1 is 16777217, over 2\^24/],
    ['too many elements', header(0x0d, [2 ** 24, 17]), /16777216×17 = 285212672 elements, over 2\^28/],
    ['too few bytes', header(0x08, [3, 28, 28]).concat(new Array<number>(2350).fill(0)), /dims 3×28×28 of 1-byte uint8 need 2352 data bytes, found 2350/],
    ['too many bytes', header(0x0b, [2, 2]).concat(new Array<number>(9).fill(0)), /dims 2×2 of 2-byte int16 need 8 data bytes, found 9/],
  ];
  for (const [name, bytes, message] of cases) {
    it(`rejects: ${name}`, () => {
      const e = thrown(() => decodeIdx(Uint8Array.from(bytes), 'x.idx'));
      expect(e).toBeInstanceOf(DataFormatError);
      expect(e.message.startsWith('x.idx: ')).toBe(true);
      expect(e.message).toMatch(message);
    });
  }

  it('encodeIdx rejects dims that do not describe the data', () => {
    expect(() => encodeIdx([2, 3], new Uint8Array(5))).toThrow(/dims 2×3 = 6 elements but data has 5/);
    expect(() => encodeIdx([], new Uint8Array(0))).toThrow(/0 dimensions not supported/);
    expect(() => encodeIdx([1, 1, 1, 1, 1], new Uint8Array(1))).toThrow(/5 dimensions not supported/);
    expect(() => encodeIdx([1.5], new Uint8Array(1))).toThrow(/bad dims/);
  });
});

describe('files: readIdxFile, findIdxLabelsFile, loadIdxImages', () => {
  const dir = mkdtempSync(join(tmpdir(), 'webgan-idx-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const rng = mulberry32(9);
  const N = 5;
  const pixels = Uint8Array.from({ length: N * 4 * 3 }, () => Math.floor(rng() * 256));
  const labels = Uint8Array.from({ length: N }, () => Math.floor(rng() * 10));
  const imagesIdx = encodeIdx([N, 4, 3], pixels);
  const labelsIdx = encodeIdx([N], labels);
  const write = (name: string, bytes: Uint8Array) => {
    writeFileSync(join(dir, name), bytes);
    return join(dir, name);
  };
  const checkImages = (set: ReturnType<typeof loadIdxImages>) => {
    expect([set.count, set.height, set.width]).toEqual([N, 4, 3]);
    expect(set.images).toBeInstanceOf(Float32Array);
    expect(Array.from(set.images)).toEqual(Array.from(pixels, (p) => Math.fround(p / 255)));
  };

  it('plain files: labels found next to the images', () => {
    const img = write('train-images-idx3-ubyte', imagesIdx);
    const lab = write('train-labels-idx1-ubyte', labelsIdx);
    const set = loadIdxImages(img);
    checkImages(set);
    expect(set.labelsPath).toBe(lab);
    expect(set.labels).toBeInstanceOf(Int32Array);
    expect(Array.from(set.labels!)).toEqual(Array.from(labels));
  });

  it('gzipped files: by suffix and magic, labels found compressed or not', () => {
    const img = write('t10k-images-idx3-ubyte.gz', gzipSync(imagesIdx));
    expect(findIdxLabelsFile(img)).toBeNull();
    const plainLabels = write('t10k-labels-idx1-ubyte', labelsIdx);
    expect(findIdxLabelsFile(img)).toBe(plainLabels);
    const gzLabels = write('t10k-labels-idx1-ubyte.gz', gzipSync(labelsIdx));
    // The same suffix as the images file wins.
    expect(findIdxLabelsFile(img)).toBe(gzLabels);
    const set = loadIdxImages(img);
    checkImages(set);
    expect(Array.from(set.labels!)).toEqual(Array.from(labels));
    // Gzip content under a name without .gz, and the Kaggle-style dotted names.
    const dotted = write('val-images.idx3-ubyte', gzipSync(imagesIdx));
    write('val-labels.idx1-ubyte.gz', gzipSync(labelsIdx));
    checkImages(loadIdxImages(dotted));
    expect(loadIdxImages(dotted).labels).not.toBeNull();
    // A .gz name whose content was already decompressed (as browsers do) still reads.
    expect(readIdxFile(write('already-unzipped.gz', imagesIdx)).dims).toEqual([N, 4, 3]);
  });

  it('without a labels file, labels are null; an explicit labels path is used', () => {
    const img = write('digits.idx', imagesIdx);
    const set = loadIdxImages(img);
    checkImages(set);
    expect(set.labels).toBeNull();
    expect(set.labelsPath).toBeNull();
    const lab = write('my-labels', encodeIdx([N], Int32Array.from(labels)));
    expect(Array.from(loadIdxImages(img, lab).labels!)).toEqual(Array.from(labels));
  });

  it('label count mismatch names both counts and files', () => {
    const img = write('a-images-idx3-ubyte', imagesIdx);
    const lab = write('a-labels-idx1-ubyte', encodeIdx([N + 2], new Uint8Array(N + 2)));
    const e = thrown(() => loadIdxImages(img));
    expect(e).toBeInstanceOf(DataFormatError);
    expect(e.message).toBe(`${img} has ${N} images but ${lab} has ${N + 2} labels`);
  });

  it('rejects images that are not uint8 [N, H, W] and labels that are not integer [N]', () => {
    const f = write('floats', encodeIdx([2, 2, 2], new Float32Array(8)));
    expect(() => loadIdxImages(f)).toThrow(/floats: expected uint8 images \[N, H, W\], got float32 \[2, 2, 2\]/);
    const flat = write('flat', encodeIdx([8], new Uint8Array(8)));
    expect(() => loadIdxImages(flat)).toThrow(/expected uint8 images \[N, H, W\], got uint8 \[8\]/);
    const empty = write('empty', encodeIdx([0, 2, 2], new Uint8Array(0)));
    expect(() => loadIdxImages(empty)).toThrow(/no images/);
    const img = write('b-images-idx3-ubyte', imagesIdx);
    const badLabels = write('b-labels', encodeIdx([N], new Float32Array(N)));
    expect(() => loadIdxImages(img, badLabels)).toThrow(/b-labels: expected integer labels \[N\], got float32 \[5\]/);
  });

  it('corrupt gzip is a DataFormatError naming the file', () => {
    const gz = gzipSync(imagesIdx);
    const bad = write('bad.gz', gz.subarray(0, gz.length - 9));
    const e = thrown(() => readIdxFile(bad));
    expect(e).toBeInstanceOf(DataFormatError);
    expect(e.message).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: is not a valid gzip stream`));
    const inner = write('inner-bad.gz', gzipSync(Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 9, 1])));
    expect(() => readIdxFile(inner)).toThrow(/inner-bad\.gz: dims 9 of 1-byte uint8 need 9 data bytes, found 1/);
  });
});

describe('mutation fuzz', () => {
  it('≥ 500 mutated IDX files either decode consistently or throw DataFormatError, quickly', () => {
    const rng = mulberry32(77);
    const int = (n: number) => Math.floor(rng() * n);
    const bases = [
      encodeIdx([6, 5, 4], Uint8Array.from({ length: 120 }, (_, i) => i)),
      encodeIdx([3, 7], Float32Array.from({ length: 21 }, (_, i) => i / 3)),
      encodeIdx([10], Int16Array.from({ length: 10 }, (_, i) => i - 5)),
    ];
    let decoded = 0;
    let rejected = 0;
    const t0 = performance.now();
    for (let i = 0; i < 900; i++) {
      const base = bases[i % bases.length];
      let input: Uint8Array;
      const kind = int(4);
      if (kind === 0) {
        input = base.slice();
        for (let k = 1 + int(3); k > 0; k--) input[int(input.length)] ^= 1 << int(8);
      } else if (kind === 1) {
        input = base.subarray(0, int(base.length + 1));
      } else if (kind === 2) {
        const at = int(base.length + 1);
        input = Uint8Array.from([...base.subarray(0, at), ...Array.from({ length: 1 + int(8) }, () => int(256)), ...base.subarray(at)]);
      } else {
        // Header bytes (magic, type, ndims, dims) set to random values: the validation paths.
        input = base.slice();
        input[int(Math.min(16, input.length))] = [0, 1, 2, 3, 4, 5, 8, 9, 0x0b, 0x0c, 0x0d, 0x0e, 0xff][int(13)];
      }
      try {
        const a = decodeIdx(input, 'fuzz');
        expect(a.data.length).toBe(a.dims.reduce((x, y) => x * y, 1));
        decoded++;
      } catch (e) {
        if (!(e instanceof DataFormatError)) throw new Error(`mutation ${i} threw a non-DataFormatError: ${String(e)}`);
        rejected++;
      }
    }
    expect(decoded).toBeGreaterThan(30);
    expect(rejected).toBeGreaterThan(300);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});
