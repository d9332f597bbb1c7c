/**
 * The PNG encoder and decoder of packages/gan/src/image/png.ts.
 *
 * Test PNGs are built here independently of the decoder: scanlines packed at the file's bit depth,
 * filtered by this file's own implementation of the five PNG filters, deflated with node:zlib, and
 * chunked with a bit-by-bit CRC (not the table the module uses). The expected 8-bit pixels are
 * computed from the source samples by the rules of the PNG spec, not by decoding. Real PNGs from
 * other encoders (system files under /usr/share, when present) are checked against a reference
 * decoder written in Python's standard library. Every malformed case the decoder names is checked
 * for its message, and a seeded mutation fuzz checks that nothing but DataFormatError escapes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DataFormatError } from '../../packages/gan/src/data/errors';
import { mulberry32 } from '../../packages/gan/src/data/shuffle';
import { ImageFormatError, crc32, decodePng, encodePng } from '../../packages/gan/src/image/png';

const SIG = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]);
const NCH: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

function bitwiseCrc(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}

function cat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function pngChunk(type: string, data: Uint8Array, declaredLength = data.length): Uint8Array {
  const body = cat([Uint8Array.from(type, (c) => c.charCodeAt(0)), data]);
  const out = new Uint8Array(body.length + 8);
  const v = new DataView(out.buffer);
  v.setUint32(0, declaredLength);
  out.set(body, 4);
  v.setUint32(4 + body.length, bitwiseCrc(body));
  return out;
}

function ihdrData(w: number, h: number, depth: number, ct: number, interlace = 0, compression = 0, filter = 0): Uint8Array {
  const d = new Uint8Array(13);
  const v = new DataView(d.buffer);
  v.setUint32(0, w);
  v.setUint32(4, h);
  d.set([depth, ct, compression, filter, interlace], 8);
  return d;
}

const assemble = (chunks: Uint8Array[]) => cat([SIG, ...chunks]);
const IEND = () => pngChunk('IEND', new Uint8Array(0));

/** Packs samples MSB-first at the given bit depth (16-bit big-endian). */
function packRow(samples: number[], depth: number): Uint8Array {
  if (depth === 16) return Uint8Array.from(samples.flatMap((s) => [s >> 8, s & 255]));
  if (depth === 8) return Uint8Array.from(samples);
  const out = new Uint8Array(Math.ceil((samples.length * depth) / 8));
  samples.forEach((s, i) => {
    const bit = i * depth;
    out[bit >> 3] |= s << (8 - depth - (bit % 8));
  });
  return out;
}

function predictor(f: number, a: number, b: number, c: number): number {
  if (f === 0) return 0;
  if (f === 1) return a;
  if (f === 2) return b;
  if (f === 3) return Math.floor((a + b) / 2);
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** Filters unfiltered scanlines (encoding direction) with the filter chosen per row. */
function filterLines(lines: Uint8Array[], bpp: number, filterOf: (y: number) => number): Uint8Array {
  return cat(
    lines.map((line, y) => {
      const prev = y > 0 ? lines[y - 1] : new Uint8Array(line.length);
      const f = filterOf(y);
      const out = new Uint8Array(line.length + 1);
      out[0] = f;
      for (let i = 0; i < line.length; i++) {
        const a = i >= bpp ? line[i - bpp] : 0;
        const c = i >= bpp ? prev[i - bpp] : 0;
        out[i + 1] = (line[i] - predictor(f, a, prev[i], c)) & 255;
      }
      return out;
    }),
  );
}

interface Spec {
  w: number;
  h: number;
  depth: number;
  ct: number;
  /** Samples of pixel (x, y) at the file's bit depth. */
  px: (x: number, y: number) => number[];
  filter?: (y: number, pass: number) => number;
  plte?: Uint8Array;
  trns?: Uint8Array;
  interlace?: boolean;
}

/** The raw (filtered, not yet deflated) image data of a spec. */
function rawData(s: Spec): Uint8Array {
  const bpp = Math.max(1, (NCH[s.ct] * s.depth) >> 3);
  const parts: Uint8Array[] = [];
  (s.interlace ? ADAM7 : [[0, 0, 1, 1]]).forEach(([x0, y0, dx, dy], pass) => {
    const pw = Math.ceil((s.w - x0) / dx);
    const ph = Math.ceil((s.h - y0) / dy);
    if (pw <= 0 || ph <= 0) return;
    const lines = Array.from({ length: ph }, (_, y) => packRow(Array.from({ length: pw }, (_, x) => s.px(x0 + x * dx, y0 + y * dy)).flat(), s.depth));
    parts.push(filterLines(lines, bpp, (y) => (s.filter ? s.filter(y, pass) : (y + pass) % 5)));
  });
  return cat(parts);
}

function buildPng(s: Spec): Uint8Array {
  const chunks = [pngChunk('IHDR', ihdrData(s.w, s.h, s.depth, s.ct, s.interlace ? 1 : 0))];
  if (s.plte) chunks.push(pngChunk('PLTE', s.plte));
  if (s.trns) chunks.push(pngChunk('tRNS', s.trns));
  chunks.push(pngChunk('IDAT', deflateSync(rawData(s))), IEND());
  return assemble(chunks);
}

/** What a decoder must output for a spec, from the spec's rules. */
function expected(s: Spec): { channels: number; pixels: Uint8Array } {
  const key = s.trns && s.ct !== 3 ? Array.from({ length: s.trns.length / 2 }, (_, i) => s.trns![2 * i] * 256 + s.trns![2 * i + 1]) : null;
  const to8 = (v: number) => (s.depth === 16 ? v >> 8 : s.depth < 8 ? Math.round((v * 255) / (2 ** s.depth - 1)) : v);
  const out: number[] = [];
  let channels = 0;
  for (let y = 0; y < s.h; y++) {
    for (let x = 0; x < s.w; x++) {
      const smp = s.px(x, y);
      let p: number[];
      if (s.ct === 3) {
        const i = smp[0];
        p = [s.plte![3 * i], s.plte![3 * i + 1], s.plte![3 * i + 2]];
        if (s.trns) p.push(i < s.trns.length ? s.trns[i] : 255);
      } else {
        p = smp.map(to8);
        if (key) p.push(key.every((k, j) => k === smp[j]) ? 0 : 255);
      }
      channels = p.length;
      out.push(...p);
    }
  }
  return { channels, pixels: Uint8Array.from(out) };
}

function randomSpec(rng: () => number, w: number, h: number, depth: number, ct: number, extra: Partial<Spec> = {}): Spec {
  const max = 2 ** depth;
  const table = Array.from({ length: w * h }, () => Array.from({ length: NCH[ct] }, () => Math.floor(rng() * max)));
  return { w, h, depth, ct, px: (x, y) => table[y * w + x], ...extra };
}

function checkSpec(s: Spec): void {
  const got = decodePng(buildPng(s));
  const want = expected(s);
  expect([got.width, got.height, got.channels]).toEqual([s.w, s.h, want.channels]);
  expect(Buffer.from(got.pixels).equals(Buffer.from(want.pixels))).toBe(true);
}

describe('encodePng → decodePng round trip', () => {
  const rng = mulberry32(1);
  for (const channels of [1, 3, 4] as const) {
    for (const [w, h] of [[1, 1], [3, 7], [7, 3], [33, 17], [64, 2]]) {
      it(`${channels} channel(s), ${w}×${h}, random and smooth content`, () => {
        const random = Uint8Array.from({ length: w * h * channels }, () => Math.floor(rng() * 256));
        const smooth = Uint8Array.from({ length: w * h * channels }, (_, i) => (i * 3 + Math.floor(i / (w * channels)) * 7) & 255);
        for (const pixels of [random, smooth]) {
          const png = encodePng(pixels, w, h, channels);
          const got = decodePng(png);
          expect([got.width, got.height, got.channels]).toEqual([w, h, channels]);
          expect(Buffer.from(got.pixels).equals(Buffer.from(pixels))).toBe(true);
        }
      });
    }
  }

  it('writes the expected IHDR, a single IDAT and IEND, and picks non-trivial filters for smooth images', () => {
    const w = 40;
    const h = 10;
    const pixels = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i >> 1) & 255);
    const png = encodePng(pixels, w, h, 3);
    expect(Buffer.from(png.subarray(0, 8)).equals(Buffer.from(SIG))).toBe(true);
    const chunks = splitChunks(png);
    expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    expect(Array.from(chunks[0].data)).toEqual(Array.from(ihdrData(w, h, 8, 2)));
    const raw = inflateSync(chunks[1].data);
    const filters = Array.from({ length: h }, (_, y) => raw[y * (w * 3 + 1)]);
    expect(filters.some((f) => f !== 0)).toBe(true);
  });

  it('rejects arguments that do not describe an image', () => {
    expect(() => encodePng(new Uint8Array(5), 2, 2, 1)).toThrow(/expected 2×2×1 = 4 bytes, got 5/);
    expect(() => encodePng(new Uint8Array(0), 0, 1, 1)).toThrow(/width must be an integer/);
    expect(() => encodePng(new Uint8Array(4), 2, 1, 2 as 1)).toThrow(/channels must be 1, 3 or 4/);
  });
});

describe('crc32', () => {
  it('matches the check value and a bitwise CRC', () => {
    expect(crc32(Uint8Array.from('123456789', (c) => c.charCodeAt(0)))).toBe(0xcbf43926);
    const rng = mulberry32(2);
    const bytes = Uint8Array.from({ length: 1000 }, () => Math.floor(rng() * 256));
    expect(crc32(bytes)).toBe(bitwiseCrc(bytes));
    expect(crc32(bytes, 10, 500)).toBe(bitwiseCrc(bytes.subarray(10, 500)));
  });
});

describe('decodePng on hand-built PNGs', () => {
  const rng = mulberry32(3);
  const layouts: Array<[number, number]> = [[0, 8], [2, 8], [4, 8], [6, 8], [0, 16], [2, 16], [4, 16], [6, 16]];
  for (const [ct, depth] of layouts) {
    it(`color type ${ct}, ${depth}-bit: each filter type alone, then mixed per row`, () => {
      for (let f = 0; f <= 4; f++) checkSpec(randomSpec(rng, 9, 6, depth, ct, { filter: () => f }));
      checkSpec(randomSpec(rng, 11, 10, depth, ct));
    });
  }

  it('smooth content through every filter (where prediction matters most)', () => {
    for (let f = 0; f <= 4; f++) {
      checkSpec({ w: 17, h: 9, depth: 8, ct: 6, px: (x, y) => [(x * 13 + y * 5) & 255, (x * y) & 255, (255 - x * 9) & 255, (y * 31) & 255], filter: () => f });
    }
  });

  for (const depth of [1, 2, 4]) {
    it(`${depth}-bit grayscale, widths not a multiple of the samples per byte`, () => {
      for (const w of [1, 5, 13]) {
        for (let f = 0; f <= 4; f++) checkSpec(randomSpec(rng, w, 4, depth, 0, { filter: () => f }));
      }
      // The extremes must come out as 0 and 255.
      const s: Spec = { w: 2, h: 1, depth, ct: 0, px: (x) => [x * (2 ** depth - 1)] };
      expect(Array.from(decodePng(buildPng(s)).pixels)).toEqual([0, 255]);
    });
  }

  for (const depth of [1, 2, 4, 8]) {
    it(`${depth}-bit palette, without and with tRNS`, () => {
      const entries = depth === 8 ? 200 : 2 ** depth;
      const plte = Uint8Array.from({ length: entries * 3 }, () => Math.floor(rng() * 256));
      const idx = Array.from({ length: 13 * 5 }, () => Math.floor(rng() * entries));
      const base: Spec = { w: 13, h: 5, depth, ct: 3, plte, px: (x, y) => [idx[y * 13 + x]] };
      checkSpec(base);
      expect(decodePng(buildPng(base)).channels).toBe(3);
      // tRNS shorter than the palette: the entries past its end are opaque.
      const trns = Uint8Array.from({ length: Math.max(1, entries >> 1) }, () => Math.floor(rng() * 256));
      checkSpec({ ...base, trns });
      expect(decodePng(buildPng({ ...base, trns })).channels).toBe(4);
    });
  }

  it('tRNS color keys on gray and RGB add an alpha channel', () => {
    const gray8: Spec = { w: 4, h: 2, depth: 8, ct: 0, px: (x) => [x * 60], trns: Uint8Array.from([0, 60]) };
    checkSpec(gray8);
    expect(Array.from(decodePng(buildPng(gray8)).pixels.subarray(0, 8))).toEqual([0, 255, 60, 0, 120, 255, 180, 255]);
    checkSpec({ w: 5, h: 3, depth: 2, ct: 0, px: (x) => [x % 4], trns: Uint8Array.from([0, 2]) });
    checkSpec({ w: 3, h: 3, depth: 16, ct: 0, px: (x, y) => [x * 1000 + y], trns: Uint8Array.from([0x07, 0xd1]) });
    checkSpec({ w: 3, h: 2, depth: 8, ct: 2, px: (x, y) => [x, y, 7], trns: Uint8Array.from([0, 1, 0, 1, 0, 7]) });
    // 16-bit keys compare the full sample: same high byte, different low byte stays opaque.
    const rgb16: Spec = { w: 2, h: 1, depth: 16, ct: 2, px: (x) => [0x1200 + x, 0x3400, 0x5600], trns: Uint8Array.from([0x12, 0x01, 0x34, 0, 0x56, 0]) };
    checkSpec(rgb16);
    expect(Array.from(decodePng(buildPng(rgb16)).pixels)).toEqual([0x12, 0x34, 0x56, 255, 0x12, 0x34, 0x56, 0]);
  });

  it('Adam7 interlaced images decode like their non-interlaced twins', () => {
    const cases: Array<[number, number]> = [[0, 1], [0, 4], [0, 8], [2, 8], [3, 4], [4, 8], [6, 16], [2, 16]];
    for (const [ct, depth] of cases) {
      for (const [w, h] of [[1, 1], [3, 7], [9, 9], [33, 17]]) {
        const extra: Partial<Spec> = ct === 3 ? { plte: Uint8Array.from({ length: 48 }, (_, i) => (i * 37) & 255) } : {};
        const s = randomSpec(rng, w, h, depth, ct, extra);
        checkSpec({ ...s, interlace: true });
        const a = decodePng(buildPng({ ...s, interlace: true }));
        const b = decodePng(buildPng(s));
        expect(Buffer.from(a.pixels).equals(Buffer.from(b.pixels))).toBe(true);
      }
    }
  });

  it('several IDAT chunks, ancillary chunks, and bytes after IEND', () => {
    const s = randomSpec(rng, 20, 8, 8, 2);
    const z = deflateSync(rawData(s));
    const png = assemble([
      pngChunk('IHDR', ihdrData(20, 8, 8, 2)),
      pngChunk('tEXt', Uint8Array.from('Comment\0hello', (c) => c.charCodeAt(0))),
      pngChunk('zzZz', new Uint8Array(3)),
      pngChunk('IDAT', z.subarray(0, 5)),
      pngChunk('IDAT', z.subarray(5, 6)),
      pngChunk('IDAT', z.subarray(6)),
      pngChunk('tIME', new Uint8Array(7)),
      IEND(),
      Uint8Array.from([1, 2, 3]),
    ]);
    expect(Buffer.from(decodePng(png).pixels).equals(Buffer.from(expected(s).pixels))).toBe(true);
  });

  it('accepts a Buffer that is a view into a larger pool', () => {
    const png = encodePng(Uint8Array.from([1, 2, 3, 4]), 2, 2, 1);
    const big = Buffer.alloc(png.length + 20);
    big.set(png, 7);
    expect(Array.from(decodePng(big.subarray(7, 7 + png.length)).pixels)).toEqual([1, 2, 3, 4]);
  });
});

/** A PNG reference decoder in Python's standard library (non-interlaced, bit depth ≤ 8). */
const PY_DECODER = String.raw`
import sys, zlib, struct, json
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n'
pos, idat, plte, trns = 8, b'', None, None
while pos < len(data):
    n, = struct.unpack('>I', data[pos:pos + 4]); t = data[pos + 4:pos + 8]; d = data[pos + 8:pos + 8 + n]; pos += 12 + n
    if t == b'IHDR': w, h, depth, ct, _, _, il = struct.unpack('>IIBBBBB', d)
    elif t == b'PLTE': plte = d
    elif t == b'tRNS': trns = d
    elif t == b'IDAT': idat += d
    elif t == b'IEND': break
if il != 0 or depth == 16 or (ct in (0, 2) and trns is not None):
    print('skip'); sys.exit()
raw = zlib.decompress(idat)
nch = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ct]
bpp = max(1, nch * depth // 8); stride = (w * nch * depth + 7) // 8
out = bytearray(); prev = bytearray(stride); p = 0
for y in range(h):
    f = raw[p]; line = bytearray(raw[p + 1:p + 1 + stride]); p += 1 + stride
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            q = a + b - c; pa, pb, pc = abs(q - a), abs(q - b), abs(q - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    for x in range(w):
        if depth == 8: s = list(line[x * nch:(x + 1) * nch])
        else:
            bit = x * depth; s = [(line[bit // 8] >> (8 - depth - bit % 8)) & ((1 << depth) - 1)]
        if ct == 3:
            out += plte[3 * s[0]:3 * s[0] + 3]
            if trns is not None: out.append(trns[s[0]] if s[0] < len(trns) else 255)
        elif depth < 8: out.append(s[0] * 255 // ((1 << depth) - 1))
        else: out += bytes(s)
channels = (4 if trns is not None else 3) if ct == 3 else nch
print(json.dumps({'w': w, 'h': h, 'c': channels, 'hex': out.hex()}))
`;

function systemPngs(): string[] {
  const dirs = ['/usr/share/pixmaps', '/usr/share/gitweb/static', '/usr/share/doc/python3/_static', '/usr/share/icons/hicolor/48x48/apps'];
  const files: string[] = [];
  for (const d of dirs) {
    if (!existsSync(d)) continue;
    for (const name of readdirSync(d).sort()) if (name.endsWith('.png')) files.push(join(d, name));
  }
  return files.slice(0, 12);
}

/** A PNG written by Python's zlib and struct (another encoder), for machines without system PNGs. */
const PY_ENCODER = String.raw`
import sys, zlib, struct
w, h = 7, 5
rows = b''.join(bytes([1]) + bytes(((x * 37 + y * 11 + c * 90) % 256) for x in range(w) for c in range(3)) for y in range(h))
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
ihdr = struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(rows, 9)) + chunk(b'IEND', b''))
`;

function pythonWrittenPng(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'webgan-png-')), 'python.png');
  const r = spawnSync('python3', ['-c', PY_ENCODER, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3 could not write the reference PNG: ${r.error?.message ?? r.stderr}`);
  return file;
}

// python3 is part of Debian's base system; without it this test fails rather than skips.
const realFiles = [...systemPngs(), pythonWrittenPng()];

describe('real PNGs from other encoders', () => {
  it(`decode like a Python reference decoder (${realFiles.length} files from other encoders)`, () => {
    let compared = 0;
    for (const file of realFiles) {
      const ref = spawnSync('python3', ['-c', PY_DECODER, file], { encoding: 'utf8' }).stdout.trim();
      const got = decodePng(readFileSync(file), file);
      if (ref === 'skip' || ref === '') continue;
      const r = JSON.parse(ref) as { w: number; h: number; c: number; hex: string };
      expect([got.width, got.height, got.channels], file).toEqual([r.w, r.h, r.c]);
      expect(Buffer.from(got.pixels).toString('hex') === r.hex, file).toBe(true);
      compared++;
    }
    expect(compared).toBeGreaterThan(0);
  });
});

interface RawChunk {
  type: string;
  data: Uint8Array;
}

/** Chunks of a PNG, read leniently (stops at the first chunk that does not fit). */
function splitChunks(png: Uint8Array): RawChunk[] {
  const v = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: RawChunk[] = [];
  let pos = 8;
  while (pos + 12 <= png.length) {
    const n = v.getUint32(pos);
    if (pos + 12 + n > png.length) break;
    out.push({ type: String.fromCharCode(...png.subarray(pos + 4, pos + 8)), data: png.subarray(pos + 8, pos + 8 + n) });
    pos += 12 + n;
  }
  return out;
}

describe('malformed PNGs are rejected with specific messages', () => {
  const good = encodePng(Uint8Array.from({ length: 6 * 4 * 3 }, (_, i) => (i * 7) & 255), 6, 4, 3);
  const raw6x4 = inflateSync(splitChunks(good)[1].data);
  const withIdat = (ihdr: Uint8Array, raw: Uint8Array, extra: Uint8Array[] = []) =>
    assemble([pngChunk('IHDR', ihdr), ...extra, pngChunk('IDAT', deflateSync(raw)), IEND()]);
  const rgb = ihdrData(6, 4, 8, 2);
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['empty input', new Uint8Array(0), /not a PNG \(bad signature\)/],
    ['bad signature', Uint8Array.from(good, (b, i) => (i === 1 ? 0x51 : b)), /not a PNG \(bad signature\)/],
    ['only the signature', SIG, /no IHDR chunk/],
    ['IHDR length 99', assemble([pngChunk('IHDR', new Uint8Array(99)), IEND()]), /chunk IHDR length 99 is wrong/],
    ['CRC mismatch in IDAT', Uint8Array.from(good, (b, i) => (i === 8 + 25 + 10 ? b ^ 1 : b)), /CRC mismatch in chunk IDAT/],
    ['truncated inside IDAT', good.subarray(0, good.length - 20), /chunk IDAT length \d+ exceeds the file \(\d+ bytes left\)/],
    ['chunk length over 2^31', cat([SIG, pngChunk('IHDR', rgb), Uint8Array.from([0xff, 0xff, 0xff, 0xf0, 73, 68, 65, 84, 0, 0, 0, 0])]), /chunk IDAT length 4294967280 exceeds the file/],
    ['trailing partial chunk', cat([SIG, pngChunk('IHDR', rgb), new Uint8Array(5)]), /truncated chunk at byte 33/],
    ['no IEND', good.subarray(0, good.length - 12), /no IEND chunk/],
    ['first chunk not IHDR', assemble([pngChunk('tEXt', new Uint8Array(2)), pngChunk('IHDR', rgb), IEND()]), /first chunk is tEXt, expected IHDR/],
    ['duplicate IHDR', assemble([pngChunk('IHDR', rgb), pngChunk('IHDR', rgb), IEND()]), /duplicate IHDR/],
    ['width 0', withIdat(ihdrData(0, 4, 8, 2), raw6x4), /width 0 not supported/],
    ['height 0', withIdat(ihdrData(6, 0, 8, 2), raw6x4), /height 0 not supported/],
    ['height over 16384', withIdat(ihdrData(6, 16385, 8, 2), raw6x4), /height 16385 over 16384 not supported/],
    ['too many pixels', withIdat(ihdrData(16384, 8192, 8, 0), raw6x4), /16384×8192 = 134217728 pixels, over 2\^26 not supported/],
    ['color type 5', withIdat(ihdrData(6, 4, 8, 5), raw6x4), /color type 5 is not a PNG color type/],
    ['16-bit palette', withIdat(ihdrData(6, 4, 16, 3), raw6x4), /bit depth 16 is not allowed for color type 3/],
    ['4-bit RGB', withIdat(ihdrData(6, 4, 4, 2), raw6x4), /bit depth 4 is not allowed for color type 2/],
    ['compression method 1', withIdat(ihdrData(6, 4, 8, 2, 0, 1), raw6x4), /compression method 1 unknown/],
    ['filter method 1', withIdat(ihdrData(6, 4, 8, 2, 0, 0, 1), raw6x4), /filter method 1 unknown/],
    ['interlace method 2', withIdat(ihdrData(6, 4, 8, 2, 2), raw6x4), /interlace method 2 unknown/],
    ['no IDAT', assemble([pngChunk('IHDR', rgb), IEND()]), /no IDAT chunk/],
    ['IDAT not consecutive', assemble([pngChunk('IHDR', rgb), pngChunk('IDAT', deflateSync(raw6x4).subarray(0, 4)), pngChunk('tEXt', new Uint8Array(1)), pngChunk('IDAT', deflateSync(raw6x4).subarray(4)), IEND()]), /IDAT chunks are not consecutive/],
    ['inflates too far', withIdat(rgb, cat([raw6x4, new Uint8Array(19)])), /image data inflates to more than 76 bytes, expected 76/],
    ['inflates one byte too far', withIdat(rgb, cat([raw6x4, new Uint8Array(1)])), /image data inflates to more than 76 bytes, expected 76/],
    ['inflates short', withIdat(rgb, raw6x4.subarray(0, 70)), /image data inflates to 70 bytes, expected 76/],
    ['not zlib', assemble([pngChunk('IHDR', rgb), pngChunk('IDAT', Uint8Array.from([1, 2, 3, 4, 5])), IEND()]), /image data is not a valid zlib stream \(incorrect header check\)/],
    ['truncated zlib', assemble([pngChunk('IHDR', rgb), pngChunk('IDAT', deflateSync(raw6x4).subarray(0, 10)), IEND()]), /image data is not a valid zlib stream/],
    ['bad filter type', withIdat(rgb, Uint8Array.from(raw6x4, (b, i) => (i === 2 * 19 ? 5 : b))), /bad filter type 5 on row 2/],
    ['bad filter type, interlaced', withIdat(ihdrData(2, 2, 8, 0, 1), Uint8Array.from([0, 1, 0, 2, 9, 3, 4])), /bad filter type 9 on row 0 of interlace pass 7/],
    ['palette without PLTE', withIdat(ihdrData(2, 1, 8, 3), Uint8Array.from([0, 0, 0])), /without a PLTE chunk/],
    ['palette index out of range', withIdat(ihdrData(2, 1, 8, 3), Uint8Array.from([0, 1, 4]), [pngChunk('PLTE', new Uint8Array(12))]), /palette index 4 out of range \(4 entries\) at pixel \(1, 0\)/],
    ['PLTE length 10', withIdat(ihdrData(2, 1, 8, 3), Uint8Array.from([0, 0, 0]), [pngChunk('PLTE', new Uint8Array(10))]), /chunk PLTE length 10 is wrong/],
    ['PLTE on grayscale', withIdat(ihdrData(2, 1, 8, 0), Uint8Array.from([0, 0, 0]), [pngChunk('PLTE', new Uint8Array(6))]), /PLTE chunk not allowed for color type 0/],
    ['tRNS longer than the palette', withIdat(ihdrData(2, 1, 8, 3), Uint8Array.from([0, 0, 0]), [pngChunk('PLTE', new Uint8Array(6)), pngChunk('tRNS', new Uint8Array(3))]), /chunk tRNS length 3 is wrong \(at most 2\)/],
    ['tRNS before PLTE', withIdat(ihdrData(2, 1, 8, 3), Uint8Array.from([0, 0, 0]), [pngChunk('tRNS', new Uint8Array(1)), pngChunk('PLTE', new Uint8Array(6))]), /tRNS chunk before PLTE/],
    ['tRNS on RGBA', withIdat(ihdrData(1, 1, 8, 6), Uint8Array.from([0, 0, 0, 0, 0]), [pngChunk('tRNS', new Uint8Array(6))]), /tRNS chunk not allowed for color type 6/],
    ['tRNS of the wrong length for RGB', withIdat(rgb, raw6x4, [pngChunk('tRNS', new Uint8Array(2))]), /chunk tRNS length 2 is wrong \(expected 6\)/],
    ['unknown critical chunk', withIdat(rgb, raw6x4, [pngChunk('ABCD', new Uint8Array(1))]), /unknown critical chunk ABCD/],
    ['bad chunk type', withIdat(rgb, raw6x4, [pngChunk('a1c!', new Uint8Array(1))]), /bad chunk type 0x61316321/],
    ['IEND with data', assemble([pngChunk('IHDR', rgb), pngChunk('IDAT', deflateSync(raw6x4)), pngChunk('IEND', new Uint8Array(2))]), /chunk IEND length 2 is wrong/],
  ];
  for (const [name, bytes, message] of cases) {
    it(name, () => {
      let caught: unknown;
      try {
        decodePng(bytes, 'bad.png');
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(ImageFormatError);
      expect(caught).toBeInstanceOf(DataFormatError);
      expect((caught as Error).message.startsWith('bad.png: ')).toBe(true);
      expect((caught as Error).message).toMatch(message);
    });
  }

  it('the default source name is PNG', () => {
    expect(() => decodePng(new Uint8Array(3))).toThrow(/^PNG: not a PNG \(bad signature\)$/);
  });
});

describe('mutation fuzz', () => {
  /** Rewrites every chunk's CRC so that mutations reach past the CRC check. */
  function fixCrcs(png: Uint8Array): Uint8Array {
    const out = png.slice();
    const v = new DataView(out.buffer);
    let pos = 8;
    while (pos + 12 <= out.length) {
      const n = v.getUint32(pos);
      if (pos + 12 + n > out.length) break;
      v.setUint32(pos + 8 + n, bitwiseCrc(out.subarray(pos + 4, pos + 8 + n)));
      pos += 12 + n;
    }
    return out;
  }

  const rng = mulberry32(20240611);
  const bases = [
    encodePng(Uint8Array.from({ length: 12 * 9 * 4 }, (_, i) => (i * i) & 255), 12, 9, 4),
    buildPng({ ...randomSpec(rng, 7, 5, 2, 3), plte: Uint8Array.from({ length: 12 }, (_, i) => i * 20), trns: Uint8Array.from([0, 128]) }),
    buildPng({ ...randomSpec(rng, 9, 6, 16, 2), interlace: true }),
  ];
  const int = (n: number) => Math.floor(rng() * n);

  function mutate(base: Uint8Array): Uint8Array {
    const kind = int(6);
    if (kind === 0 || kind === 3) {
      const b = base.slice();
      for (let k = 1 + int(4); k > 0; k--) b[int(b.length)] ^= 1 << int(8);
      return kind === 3 ? fixCrcs(b) : b;
    }
    if (kind === 1) return base.subarray(0, int(base.length));
    if (kind === 2) {
      const at = int(base.length + 1);
      const ins = Uint8Array.from({ length: 1 + int(8) }, () => int(256));
      const b = cat([base.subarray(0, at), ins, base.subarray(at)]);
      return rng() < 0.5 ? fixCrcs(b) : b;
    }
    const chunks = splitChunks(base);
    if (kind === 4) {
      // Mutate the image data itself (bytes and length), re-deflated, so the filters and sample
      // expansion see hostile data behind valid chunks.
      const raw = inflateSync(cat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data))).slice();
      for (let k = 1 + int(6); k > 0; k--) raw[int(raw.length)] = int(256);
      const len = rng() < 0.3 ? raw.length + int(5) - 2 : raw.length;
      const data = deflateSync(cat([raw, new Uint8Array(Math.max(0, len - raw.length))]).subarray(0, Math.max(0, len)));
      return assemble(chunks.map((c) => pngChunk(c.type, c.type === 'IDAT' ? data : c.data)));
    }
    // IHDR fields set to random plausible values, with a valid CRC.
    const ihdr = chunks[0].data.slice();
    const field = int(7);
    if (field < 2) new DataView(ihdr.buffer).setUint32(field * 4, [0, 1, 2, 5, 13, 16384, 16385, 70000][int(8)]);
    else ihdr[6 + field] = [0, 1, 2, 3, 4, 6, 8, 16][int(8)];
    return assemble(chunks.map((c, i) => pngChunk(c.type, i === 0 ? ihdr : c.data)));
  }

  it('≥ 1500 mutated PNGs either decode consistently or throw DataFormatError, quickly', () => {
    let decoded = 0;
    let rejected = 0;
    const t0 = performance.now();
    for (let i = 0; i < 1800; i++) {
      const input = mutate(bases[i % bases.length]);
      try {
        const img = decodePng(input, 'fuzz');
        expect(img.pixels.length).toBe(img.width * img.height * img.channels);
        decoded++;
      } catch (e) {
        if (!(e instanceof DataFormatError)) throw new Error(`mutation ${i} threw a non-DataFormatError: ${String(e)}`);
        rejected++;
      }
    }
    const ms = performance.now() - t0;
    expect(decoded).toBeGreaterThan(50);
    expect(rejected).toBeGreaterThan(500);
    expect(ms).toBeLessThan(10_000);
  });
});
