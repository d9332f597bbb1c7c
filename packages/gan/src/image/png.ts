/**
 * A small PNG encoder and a validating PNG decoder (Node: compression through node:zlib).
 *
 * The encoder writes 8-bit grayscale, RGB or RGBA, non-interlaced, with a per-row filter chosen by
 * the usual "smallest sum of absolute filtered bytes" heuristic. The decoder reads every standard
 * PNG: color types 0, 2, 3, 4, 6 at every allowed bit depth, all five filter types, Adam7
 * interlacing, and tRNS transparency. It always returns 8-bit interleaved samples; 16-bit samples
 * keep their high byte and 1/2/4-bit gray is scaled to 0..255.
 *
 * The decoder treats its input as hostile: it checks the signature, chunk lengths against the
 * file, every chunk's CRC, chunk order, and IHDR's values, and it inflates the image data with a
 * bound computed from IHDR, so a file can never make it allocate more than its declared image
 * needs. Every problem is reported as an {@link ImageFormatError}; no other exception type
 * escapes {@link decodePng}.
 */
import { deflateSync, inflateSync } from 'node:zlib';
import { DataFormatError } from '../data/errors';

/**
 * A malformed or unsupported PNG. A subclass of {@link DataFormatError} so that callers reading
 * mixed data (image folders, IDX files) can catch one class; the subclass only narrows the origin.
 */
export class ImageFormatError extends DataFormatError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ImageFormatError';
  }
}

/** Largest width or height {@link decodePng} accepts (and {@link encodePng} writes). */
export const PNG_MAX_SIDE = 16384;
/** Largest width·height {@link decodePng} accepts: bounds memory at 2^28 output bytes (RGBA). */
export const PNG_MAX_PIXELS = 2 ** 26;

/** A decoded image: 8-bit samples, interleaved, rows top to bottom. */
export interface DecodedPng {
  width: number;
  height: number;
  /** 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. */
  channels: 1 | 2 | 3 | 4;
  /** width·height·channels bytes. */
  pixels: Uint8Array;
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309, as PNG and gzip use it) of bytes[start, end). */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/**
 * Encodes 8-bit pixels (interleaved, rows top to bottom) as a PNG: 1 channel → grayscale, 3 → RGB,
 * 4 → RGBA. Throws RangeError for arguments that do not describe an image (sizes are limited to
 * what {@link decodePng} accepts, so everything written here reads back).
 */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: 1 | 3 | 4): Uint8Array {
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new RangeError(`encodePng: channels must be 1, 3 or 4, got ${channels}`);
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > PNG_MAX_SIDE) throw new RangeError(`encodePng: ${name} must be an integer in 1..${PNG_MAX_SIDE}, got ${v}`);
  }
  if (width * height > PNG_MAX_PIXELS) throw new RangeError(`encodePng: ${width}×${height} is over ${PNG_MAX_PIXELS} pixels`);
  if (pixels.length !== width * height * channels) {
    throw new RangeError(`encodePng: expected ${width}×${height}×${channels} = ${width * height * channels} bytes, got ${pixels.length}`);
  }
  const stride = width * channels;
  const raw = new Uint8Array(height * (stride + 1));
  const trial = new Uint8Array(stride);
  const zeros = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const cur = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : zeros;
    const dest = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    let best = Infinity;
    for (let f = 0; f <= 4; f++) {
      let cost = 0;
      for (let i = 0; i < stride; i++) {
        const a = i >= channels ? cur[i - channels] : 0;
        const c = i >= channels ? prev[i - channels] : 0;
        const b = prev[i];
        const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : paeth(a, b, c);
        const v = (cur[i] - pred) & 0xff;
        trial[i] = v;
        // Treat bytes as signed: small residuals of either sign compress well.
        cost += v < 128 ? v : 256 - v;
      }
      if (cost < best) {
        best = cost;
        raw[y * (stride + 1)] = f;
        dest.set(trial);
      }
    }
  }
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = channels === 1 ? 0 : channels === 3 ? 2 : 6;
  const chunks = [chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(8 + chunks.reduce((n, c) => n + c.length, 0));
  out.set(SIGNATURE, 0);
  let at = 8;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length + 12);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

interface Header {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlaced: boolean;
}

/** Samples per pixel in the file, by color type. */
const FILE_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ALLOWED_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
/** Adam7 passes: [x0, y0, dx, dy]. A non-interlaced image is the single pass [0, 0, 1, 1]. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

type Fail = (message: string, cause?: unknown) => ImageFormatError;

function parseHeader(d: Uint8Array, fail: Fail): Header {
  if (d.length !== 13) throw fail(`chunk IHDR length ${d.length} is wrong (expected 13)`);
  const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const width = view.getUint32(0);
  const height = view.getUint32(4);
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (v === 0) throw fail(`${name} 0 not supported`);
    if (v > PNG_MAX_SIDE) throw fail(`${name} ${v} over ${PNG_MAX_SIDE} not supported`);
  }
  if (width * height > PNG_MAX_PIXELS) throw fail(`${width}×${height} = ${width * height} pixels, over 2^26 not supported`);
  const [bitDepth, colorType, compression, filter, interlace] = d.subarray(8, 13);
  const depths = ALLOWED_DEPTHS[colorType];
  if (depths === undefined) throw fail(`color type ${colorType} is not a PNG color type`);
  if (!depths.includes(bitDepth)) throw fail(`bit depth ${bitDepth} is not allowed for color type ${colorType}`);
  if (compression !== 0) throw fail(`compression method ${compression} unknown`);
  if (filter !== 0) throw fail(`filter method ${filter} unknown`);
  if (interlace > 1) throw fail(`interlace method ${interlace} unknown`);
  return { width, height, bitDepth, colorType, interlaced: interlace === 1 };
}

/** Passes as [x0, y0, dx, dy, width, height, number (1-based)]; empty passes dropped (no rows). */
function passes(h: Header): number[][] {
  const list = h.interlaced ? ADAM7 : [[0, 0, 1, 1]];
  return list
    .map(([x0, y0, dx, dy], i) => [x0, y0, dx, dy, Math.ceil((h.width - x0) / dx), Math.ceil((h.height - y0) / dy), i + 1])
    .filter((p) => p[4] > 0 && p[5] > 0);
}

const rowBytesOf = (h: Header, w: number) => Math.ceil((w * FILE_CHANNELS[h.colorType] * h.bitDepth) / 8);

/**
 * Decodes a PNG into 8-bit interleaved pixels. `source` (a file name, say) starts every error
 * message. Output channels: gray 1, gray+alpha 2, RGB 3, RGBA 4; palette images become RGB, or RGBA
 * when they have a tRNS chunk; gray and RGB images with a tRNS color key gain an alpha channel.
 * Throws {@link ImageFormatError} (and nothing else) for any input that is not a valid PNG.
 */
export function decodePng(bytes: Uint8Array, source = 'PNG'): DecodedPng {
  const fail: Fail = (message, cause) => new ImageFormatError(`${source}: ${message}`, cause === undefined ? undefined : { cause });
  if (!(bytes instanceof Uint8Array)) throw fail('input is not a byte array');
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) throw fail('not a PNG (bad signature)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header: Header | null = null;
  let palette: Uint8Array | null = null;
  let trns: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  let idatEnded = false;
  let sawEnd = false;
  let pos = 8;
  while (pos < bytes.length && !sawEnd) {
    if (bytes.length - pos < 12) throw fail(`truncated chunk at byte ${pos} (${bytes.length - pos} bytes left, a chunk needs at least 12)`);
    const length = view.getUint32(pos);
    const typeBytes = bytes.subarray(pos + 4, pos + 8);
    if (!typeBytes.every((c) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122))) {
      throw fail(`bad chunk type 0x${Array.from(typeBytes, (c) => c.toString(16).padStart(2, '0')).join('')} at byte ${pos + 4}`);
    }
    const type = String.fromCharCode(...typeBytes);
    const left = bytes.length - pos - 12;
    if (length > left) throw fail(`chunk ${type} length ${length} exceeds the file (${left} bytes left)`);
    const end = pos + 8 + length;
    if (crc32(bytes, pos + 4, end) !== view.getUint32(end)) throw fail(`CRC mismatch in chunk ${type}`);
    const data = bytes.subarray(pos + 8, end);
    pos = end + 4;
    if (header === null) {
      if (type !== 'IHDR') throw fail(`first chunk is ${type}, expected IHDR`);
      header = parseHeader(data, fail);
      continue;
    }
    if (idat.length > 0 && type !== 'IDAT') idatEnded = true;
    const ct = header.colorType;
    switch (type) {
      case 'IHDR':
        throw fail('duplicate IHDR chunk');
      case 'PLTE':
        if (palette !== null) throw fail('duplicate PLTE chunk');
        if (idat.length > 0) throw fail('PLTE chunk after IDAT');
        if (ct === 0 || ct === 4) throw fail(`PLTE chunk not allowed for color type ${ct}`);
        if (length === 0 || length % 3 !== 0 || length > 768) throw fail(`chunk PLTE length ${length} is wrong (a multiple of 3, at most 768)`);
        palette = data;
        break;
      case 'tRNS': {
        if (trns !== null) throw fail('duplicate tRNS chunk');
        if (idat.length > 0) throw fail('tRNS chunk after IDAT');
        if (ct === 4 || ct === 6) throw fail(`tRNS chunk not allowed for color type ${ct} (it has an alpha channel)`);
        if (ct === 3 && palette === null) throw fail('tRNS chunk before PLTE');
        const max = ct === 0 ? 2 : ct === 2 ? 6 : palette!.length / 3;
        if (ct === 3 ? length > max : length !== max) throw fail(`chunk tRNS length ${length} is wrong (${ct === 3 ? 'at most' : 'expected'} ${max})`);
        trns = data;
        break;
      }
      case 'IDAT':
        if (idatEnded) throw fail('IDAT chunks are not consecutive');
        idat.push(data);
        break;
      case 'IEND':
        if (length !== 0) throw fail(`chunk IEND length ${length} is wrong (expected 0)`);
        sawEnd = true;
        break;
      default:
        // Bit 5 of the first letter clear (uppercase) marks a chunk needed to display the image.
        if ((typeBytes[0] & 0x20) === 0) throw fail(`unknown critical chunk ${type}`);
    }
  }
  if (header === null) throw fail('no IHDR chunk (the file ends after the signature)');
  if (idat.length === 0) throw fail('no IDAT chunk');
  if (!sawEnd) throw fail('no IEND chunk (truncated file?)');
  if (header.colorType === 3 && palette === null) throw fail('palette image (color type 3) without a PLTE chunk');

  const h = header;
  const plan = passes(h);
  const expected = plan.reduce((n, p) => n + p[5] * (rowBytesOf(h, p[4]) + 1), 0);
  const compressed = idat.length === 1 ? idat[0] : concat(idat);
  let raw: Uint8Array;
  try {
    // One byte of slack tells "exactly right" from "too long" without inflating the whole excess.
    raw = inflateSync(compressed, { maxOutputLength: expected + 1 });
  } catch (e) {
    if ((e as { code?: unknown } | null)?.code === 'ERR_BUFFER_TOO_LARGE') throw fail(`image data inflates to more than ${expected} bytes, expected ${expected}`, e);
    throw fail(`image data is not a valid zlib stream (${e instanceof Error ? e.message : String(e)})`, e);
  }
  if (raw.length > expected) throw fail(`image data inflates to more than ${expected} bytes, expected ${expected}`);
  if (raw.length !== expected) throw fail(`image data inflates to ${raw.length} bytes, expected ${expected}`);

  // tRNS only occurs with color types 0, 2 and 3 (checked above); it adds an alpha channel.
  const outChannels = ((h.colorType === 3 ? 3 : FILE_CHANNELS[h.colorType]) + (trns !== null ? 1 : 0)) as 1 | 2 | 3 | 4;
  const pixels = new Uint8Array(h.width * h.height * outChannels);
  const bpp = Math.max(1, (FILE_CHANNELS[h.colorType] * h.bitDepth) >> 3);
  let offset = 0;
  for (const [x0, y0, dx, dy, pw, ph, pass] of plan) {
    const rowBytes = rowBytesOf(h, pw);
    unfilter(raw, offset, rowBytes, ph, bpp, (row, f) => fail(`bad filter type ${f} on row ${row}${h.interlaced ? ` of interlace pass ${pass}` : ''}`));
    expand(raw, offset, rowBytes, pw, ph, h, palette, trns, pixels, outChannels, x0, y0, dx, dy, fail);
    offset += ph * (rowBytes + 1);
  }
  return { width: h.width, height: h.height, channels: outChannels, pixels };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Reverses the per-row filters in place; each row is a filter byte then rowBytes bytes. */
function unfilter(raw: Uint8Array, offset: number, rowBytes: number, rows: number, bpp: number, bad: (row: number, f: number) => ImageFormatError): void {
  for (let y = 0; y < rows; y++) {
    const start = offset + y * (rowBytes + 1);
    const f = raw[start];
    const cur = start + 1;
    const prev = y > 0 ? cur - (rowBytes + 1) : -1;
    switch (f) {
      case 0:
        break;
      case 1:
        for (let i = bpp; i < rowBytes; i++) raw[cur + i] += raw[cur + i - bpp];
        break;
      case 2:
        if (prev >= 0) for (let i = 0; i < rowBytes; i++) raw[cur + i] += raw[prev + i];
        break;
      case 3:
        for (let i = 0; i < rowBytes; i++) {
          const a = i >= bpp ? raw[cur + i - bpp] : 0;
          const b = prev >= 0 ? raw[prev + i] : 0;
          raw[cur + i] += (a + b) >> 1;
        }
        break;
      case 4:
        for (let i = 0; i < rowBytes; i++) {
          const a = i >= bpp ? raw[cur + i - bpp] : 0;
          const b = prev >= 0 ? raw[prev + i] : 0;
          const c = i >= bpp && prev >= 0 ? raw[prev + i - bpp] : 0;
          raw[cur + i] += paeth(a, b, c);
        }
        break;
      default:
        throw bad(y, f);
    }
  }
}

/** Converts one pass's unfiltered rows to 8-bit output pixels at their places in the image. */
function expand(
  raw: Uint8Array, offset: number, rowBytes: number, pw: number, ph: number, h: Header,
  palette: Uint8Array | null, trns: Uint8Array | null, out: Uint8Array, outCh: number,
  x0: number, y0: number, dx: number, dy: number, fail: Fail,
): void {
  const d = h.bitDepth;
  const mask = (1 << Math.min(d, 8)) - 1;
  // Scales a 1/2/4-bit gray sample to the full 0..255 range (255, 85, 17; 1 for 8-bit).
  const scale = d < 8 ? 255 / mask : 1;
  const key = trns !== null && h.colorType !== 3 ? Array.from({ length: trns.length / 2 }, (_, i) => (trns[2 * i] << 8) | trns[2 * i + 1]) : null;
  const nFile = FILE_CHANNELS[h.colorType];
  const samples = new Array<number>(nFile);
  for (let y = 0; y < ph; y++) {
    const r = offset + y * (rowBytes + 1) + 1;
    for (let x = 0; x < pw; x++) {
      // Full-precision samples: the tRNS color key compares at the file's bit depth.
      for (let s = 0; s < nFile; s++) {
        const idx = x * nFile + s;
        if (d === 8) samples[s] = raw[r + idx];
        else if (d === 16) samples[s] = (raw[r + 2 * idx] << 8) | raw[r + 2 * idx + 1];
        else {
          const bit = idx * d;
          samples[s] = (raw[r + (bit >> 3)] >> (8 - d - (bit & 7))) & mask;
        }
      }
      const o = ((y0 + y * dy) * h.width + x0 + x * dx) * outCh;
      if (h.colorType === 3) {
        const p = samples[0];
        if (p * 3 >= palette!.length) throw fail(`palette index ${p} out of range (${palette!.length / 3} entries) at pixel (${x0 + x * dx}, ${y0 + y * dy})`);
        out[o] = palette![3 * p];
        out[o + 1] = palette![3 * p + 1];
        out[o + 2] = palette![3 * p + 2];
        if (outCh === 4) out[o + 3] = p < trns!.length ? trns![p] : 255;
        continue;
      }
      for (let s = 0; s < nFile; s++) out[o + s] = d === 16 ? samples[s] >> 8 : samples[s] * scale;
      if (key !== null) out[o + nFile] = key.every((k, s) => k === samples[s]) ? 0 : 255;
    }
  }
}
