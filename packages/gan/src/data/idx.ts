/**
 * IDX, the format of the MNIST distribution files: a 4-byte magic (0, 0, type code, number of
 * dimensions), each dimension as a big-endian uint32, then the elements row-major, big-endian.
 * Readers validate everything against the file's length before allocating, and report problems as
 * {@link DataFormatError} with the source name and the numbers involved.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DataFormatError } from './errors';

/** The element arrays IDX can hold (type codes 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E). */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX array: its dimensions (outermost first) and its elements, row-major. */
export interface IdxArray {
  dims: number[];
  data: IdxData;
}

/** Largest single dimension accepted. */
export const IDX_MAX_DIM = 2 ** 24;
/** Largest element count accepted (the product of the dimensions). */
export const IDX_MAX_ELEMENTS = 2 ** 28;
/** Largest decompressed size of a gzipped IDX file (bounds what a hostile .gz can allocate). */
export const IDX_MAX_GUNZIPPED_BYTES = 2 ** 30;

interface IdxType {
  code: number;
  name: string;
  size: number;
  make: (n: number) => IdxData;
  get: (v: DataView, at: number) => number;
  set: (v: DataView, at: number, x: number) => void;
}

const TYPES: IdxType[] = [
  { code: 0x08, name: 'uint8', size: 1, make: (n) => new Uint8Array(n), get: (v, a) => v.getUint8(a), set: (v, a, x) => v.setUint8(a, x) },
  { code: 0x09, name: 'int8', size: 1, make: (n) => new Int8Array(n), get: (v, a) => v.getInt8(a), set: (v, a, x) => v.setInt8(a, x) },
  { code: 0x0b, name: 'int16', size: 2, make: (n) => new Int16Array(n), get: (v, a) => v.getInt16(a), set: (v, a, x) => v.setInt16(a, x) },
  { code: 0x0c, name: 'int32', size: 4, make: (n) => new Int32Array(n), get: (v, a) => v.getInt32(a), set: (v, a, x) => v.setInt32(a, x) },
  { code: 0x0d, name: 'float32', size: 4, make: (n) => new Float32Array(n), get: (v, a) => v.getFloat32(a), set: (v, a, x) => v.setFloat32(a, x) },
  { code: 0x0e, name: 'float64', size: 8, make: (n) => new Float64Array(n), get: (v, a) => v.getFloat64(a), set: (v, a, x) => v.setFloat64(a, x) },
];

function typeOfData(data: IdxData): IdxType | undefined {
  const i = [Uint8Array, Int8Array, Int16Array, Int32Array, Float32Array, Float64Array].findIndex((C) => data.constructor === C);
  return TYPES[i];
}

const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/**
 * Decodes an uncompressed IDX file. `source` (a file name, say) starts every error message.
 * Throws {@link DataFormatError} (and nothing else) for anything that is not a valid IDX file with
 * 1 to 4 dimensions, each at most 2^24, at most 2^28 elements, and exactly the bytes they need.
 */
export function decodeIdx(bytes: Uint8Array, source = 'IDX'): IdxArray {
  const fail = (message: string) => new DataFormatError(`${source}: ${message}`);
  if (!(bytes instanceof Uint8Array)) throw fail('input is not a byte array');
  if (bytes.length < 4) throw fail(`too short for an IDX header (${bytes.length} bytes)`);
  if (isGzip(bytes)) throw fail('gzip-compressed; decompress it first (readIdxFile does)');
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw fail(`not an IDX file (bad magic 0x${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join('')})`);
  }
  const type = TYPES.find((t) => t.code === bytes[2]);
  if (type === undefined) throw fail(`unknown IDX data type 0x${bytes[2].toString(16).padStart(2, '0')}`);
  const ndims = bytes[3];
  if (ndims < 1 || ndims > 4) throw fail(`${ndims} dimensions not supported (1 to 4)`);
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) throw fail(`header truncated: ${ndims} dimensions need ${headerBytes} bytes, the file has ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i);
    if (d > IDX_MAX_DIM) throw fail(`dimension ${i} is ${d}, over 2^24`);
    dims.push(d);
    count *= d;
  }
  if (count > IDX_MAX_ELEMENTS) throw fail(`${dims.join('×')} = ${count} elements, over 2^28`);
  const need = count * type.size;
  const found = bytes.length - headerBytes;
  if (found !== need) throw fail(`dims ${dims.join('×')} of ${type.size}-byte ${type.name} need ${need} data bytes, found ${found}`);
  const data = type.make(count);
  if (type.size === 1) {
    // One-byte types have no byte order: copy straight through.
    new Uint8Array(data.buffer).set(bytes.subarray(headerBytes));
  } else {
    for (let i = 0; i < count; i++) data[i] = type.get(view, headerBytes + i * type.size);
  }
  return { dims, data };
}

/**
 * Encodes an array as IDX (big-endian). The type code follows the array's type. Throws RangeError
 * when dims do not describe data (1 to 4 integer dimensions, each ≤ 2^24, product = data.length).
 */
export function encodeIdx(dims: readonly number[], data: IdxData): Uint8Array {
  const type = typeOfData(data);
  if (type === undefined) throw new RangeError('encodeIdx: data must be a Uint8Array, Int8Array, Int16Array, Int32Array, Float32Array or Float64Array');
  if (dims.length < 1 || dims.length > 4) throw new RangeError(`encodeIdx: ${dims.length} dimensions not supported (1 to 4)`);
  if (!dims.every((d) => Number.isInteger(d) && d >= 0 && d <= IDX_MAX_DIM)) throw new RangeError(`encodeIdx: bad dims [${dims.join(', ')}]`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new RangeError(`encodeIdx: dims ${dims.join('×')} = ${count} elements but data has ${data.length}`);
  if (count > IDX_MAX_ELEMENTS) throw new RangeError(`encodeIdx: ${count} elements, over 2^28`);
  const headerBytes = 4 + 4 * dims.length;
  const out = new Uint8Array(headerBytes + count * type.size);
  const view = new DataView(out.buffer);
  out[2] = type.code;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  if (type.size === 1) out.set(new Uint8Array(data.buffer, data.byteOffset, data.length), headerBytes);
  else for (let i = 0; i < count; i++) type.set(view, headerBytes + i * type.size, data[i]);
  return out;
}

/**
 * Reads and decodes an IDX file, gunzipping it first when it starts with the gzip magic (1f 8b).
 * The content decides, not the name: browsers often decompress a download and keep its `.gz`.
 * Decompression is bounded by {@link IDX_MAX_GUNZIPPED_BYTES}.
 */
export function readIdxFile(path: string): IdxArray {
  return decodeIdxFile(readFileSync(path), path);
}

/**
 * Decodes the bytes of an IDX file as found on disk: gzip-compressed (as MNIST is distributed,
 * at most 2^30 bytes once decompressed) or not. Throws {@link DataFormatError} and nothing else.
 */
export function decodeIdxFile(bytes: Uint8Array, source = 'IDX'): IdxArray {
  if (isGzip(bytes)) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: IDX_MAX_GUNZIPPED_BYTES });
    } catch (e) {
      const tooLarge = (e as { code?: unknown } | null)?.code === 'ERR_BUFFER_TOO_LARGE';
      const why = tooLarge ? 'decompresses to more than 2^30 bytes' : `is not a valid gzip stream (${e instanceof Error ? e.message : String(e)})`;
      throw new DataFormatError(`${source}: ${why}`, { cause: e });
    }
  }
  return decodeIdx(bytes, source);
}

/**
 * The labels file that sits next to an MNIST-style images file, or null if there is none:
 * `…images-idx3…` → `…labels-idx1…` (also `images.idx3` → `labels.idx1`), tried with the images
 * file's own suffix first and then with `.gz` added or removed, so that a compressed images file
 * finds uncompressed labels and vice versa.
 */
export function findIdxLabelsFile(imagePath: string): string | null {
  const name = basename(imagePath);
  const labels = name.replace(/images([-.])idx3/, 'labels$1idx1');
  if (labels === name) return null;
  const other = labels.endsWith('.gz') ? labels.slice(0, -3) : `${labels}.gz`;
  for (const candidate of [labels, other]) {
    const path = join(dirname(imagePath), candidate);
    if (existsSync(path)) return path;
  }
  return null;
}

/** Images from an IDX file, as float32 in [0, 1], row-major [count, height, width]. */
export interface IdxImageSet {
  images: Float32Array;
  /** One label per image, or null when no labels file was given or found. */
  labels: Int32Array | null;
  count: number;
  height: number;
  width: number;
  /** The labels file read (given or found next to the images), or null. */
  labelsPath: string | null;
}

/**
 * Loads uint8 images [N, H, W] from an IDX file (gzipped or not), scaled by 1/255, with their
 * labels: from `labelsPath` when given, else from the file {@link findIdxLabelsFile} finds (none →
 * labels null). Labels must be a 1-D integer IDX array with exactly N entries.
 */
export function loadIdxImages(imagePath: string, labelsPath?: string): IdxImageSet {
  const img = readIdxFile(imagePath);
  const typeName = (a: IdxArray) => typeOfData(a.data)?.name ?? 'unknown';
  if (!(img.data instanceof Uint8Array) || img.dims.length !== 3) {
    throw new DataFormatError(`${imagePath}: expected uint8 images [N, H, W], got ${typeName(img)} [${img.dims.join(', ')}]`);
  }
  const [count, height, width] = img.dims;
  if (count === 0 || height === 0 || width === 0) throw new DataFormatError(`${imagePath}: no images (dims [${img.dims.join(', ')}])`);
  const images = new Float32Array(img.data.length);
  for (let i = 0; i < images.length; i++) images[i] = img.data[i] / 255;

  const lp = labelsPath ?? findIdxLabelsFile(imagePath);
  let labels: Int32Array | null = null;
  if (lp !== null) {
    const lab = readIdxFile(lp);
    if (lab.dims.length !== 1 || lab.data instanceof Float32Array || lab.data instanceof Float64Array) {
      throw new DataFormatError(`${lp}: expected integer labels [N], got ${typeName(lab)} [${lab.dims.join(', ')}]`);
    }
    if (lab.dims[0] !== count) throw new DataFormatError(`${imagePath} has ${count} images but ${lp} has ${lab.dims[0]} labels`);
    labels = Int32Array.from(lab.data);
  }
  return { images, labels, count, height, width, labelsPath: lp };
}
