/**
 * The safetensors format (https://github.com/huggingface/safetensors), environment-neutral:
 *
 *   [u64 little-endian N][N bytes of UTF-8 JSON header, space-padded][data section]
 *
 * The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative
 * to the data section) plus an optional "__metadata__" string→string map. webgan reads and writes
 * F32, I32 and I64. Decoding treats the file as untrusted: every field is checked before it is used,
 * and nothing is allocated in proportion to a length the file claims until that length is known to
 * fit inside the bytes actually present.
 */
import { BYTES_PER_ELEMENT, hostArray, type HostArray, type HostDType } from './host-array';

/** Thrown for every malformed file or unencodable input; the message starts with "safetensors: ". */
export class SafetensorsError extends Error {
  /** The message without the "safetensors: " prefix, so callers can re-wrap it (e.g. with a path). */
  readonly detail: string;

  constructor(detail: string, options?: ErrorOptions) {
    super(`safetensors: ${detail}`, options);
    this.name = 'SafetensorsError';
    this.detail = detail;
  }
}

/** The reference implementation's cap: a larger header is treated as an attack, not a file. */
export const MAX_HEADER_LENGTH = 100_000_000;

const METADATA_KEY = '__metadata__';

const TO_FILE_DTYPE: Record<HostDType, string> = { float32: 'F32', int32: 'I32', int64: 'I64' };
const FROM_FILE_DTYPE: Record<string, HostDType> = { F32: 'float32', I32: 'int32', I64: 'int64' };
/** Valid safetensors dtypes webgan does not read: named as "unsupported" rather than "unknown". */
const OTHER_FILE_DTYPES = new Set(['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'U32', 'F64', 'U64']);
const SUPPORTED = 'webgan reads F32, I32, I64';

// Typed arrays use the host's byte order; the format is little-endian. Every real WebGPU host is
// little-endian, so the byte-swapping path exists only so that a big-endian host stays correct.
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Entries in a stable order: a Map's insertion order, or a record's own-key order. */
function entryList(entries: ReadonlyMap<string, HostArray> | Record<string, HostArray>): [string, HostArray][] {
  return entries instanceof Map ? [...entries] : Object.entries(entries as Record<string, HostArray>);
}

const isSafeCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const quote = (name: string): string => JSON.stringify(name).slice(1, -1);
const shapeText = (shape: readonly unknown[]): string => `[${shape.join(', ')}]`;

/** Elements × element size as a bigint, so huge shapes cannot round to a matching byte count. */
const byteLengthOf = (shape: readonly number[], elementBytes: number): bigint =>
  shape.reduce((acc, d) => acc * BigInt(d), BigInt(elementBytes));

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

function checkEntry(name: string, a: HostArray): void {
  if (name === '') throw new SafetensorsError('a tensor name must not be empty');
  if (name === METADATA_KEY) throw new SafetensorsError(`'${METADATA_KEY}' is reserved for metadata and cannot name a tensor`);
  if (!(a.dtype in TO_FILE_DTYPE)) throw new SafetensorsError(`tensor '${quote(name)}' has dtype ${String(a.dtype)}; webgan writes float32, int32, int64`);
  if (!Array.isArray(a.shape) || !a.shape.every(isSafeCount)) {
    throw new SafetensorsError(`tensor '${quote(name)}' has shape ${shapeText(a.shape ?? [])}; dimensions must be non-negative integers`);
  }
  const expected = a.dtype === 'float32' ? Float32Array : a.dtype === 'int32' ? Int32Array : BigInt64Array;
  if (!(a.data instanceof expected)) throw new SafetensorsError(`tensor '${quote(name)}' has dtype ${a.dtype} but its data is not a ${expected.name}`);
  const elements = a.shape.reduce((x, d) => x * d, 1);
  if (a.data.length !== elements) {
    throw new SafetensorsError(`tensor '${quote(name)}' has ${a.data.length} values for shape ${shapeText(a.shape)} (${elements} elements)`);
  }
}

function checkMetadata(metadata: Record<string, string>): void {
  if (!isPlainObject(metadata)) throw new SafetensorsError('metadata must be an object of strings');
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') throw new SafetensorsError(`metadata '${quote(key)}' is a ${typeof value}; metadata values must be strings`);
  }
}

/** The bytes of a typed array in little-endian order. */
function littleEndianBytes(data: Float32Array | Int32Array | BigInt64Array): Uint8Array {
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_IS_LITTLE_ENDIAN) return raw;
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) {
    if (data instanceof Float32Array) view.setFloat32(i * 4, data[i], true);
    else if (data instanceof Int32Array) view.setInt32(i * 4, data[i], true);
    else view.setBigInt64(i * 8, data[i], true);
  }
  return out;
}

/**
 * Serializes host arrays (F32 / I32 / I64) and optional string metadata into a safetensors file.
 * Tensors are packed contiguously in the given order; the header is padded with spaces so the
 * data section starts at a multiple of 8 bytes, as the reference implementation does.
 * @throws SafetensorsError for an empty or reserved name, a data/shape mismatch, or non-string metadata.
 */
export function encodeSafetensors(
  entries: ReadonlyMap<string, HostArray> | Record<string, HostArray>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = entryList(entries);
  const header: Record<string, unknown> = {};
  // The reference writer puts metadata first; readers do not care, but diffs of headers are easier.
  if (metadata !== undefined) {
    checkMetadata(metadata);
    if (Object.keys(metadata).length > 0) header[METADATA_KEY] = { ...metadata };
  }
  let offset = 0;
  for (const [name, a] of list) {
    checkEntry(name, a);
    const end = offset + a.data.byteLength;
    // defineProperty: a tensor called "__proto__" must become a key, not the header's prototype.
    Object.defineProperty(header, name, {
      value: { dtype: TO_FILE_DTYPE[a.dtype], shape: [...a.shape], data_offsets: [offset, end] },
      enumerable: true, writable: true, configurable: true,
    });
    offset = end;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  if (headerLength > MAX_HEADER_LENGTH) throw new SafetensorsError(`header of ${headerLength} bytes exceeds the ${MAX_HEADER_LENGTH}-byte limit readers enforce`);

  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const [, a] of list) {
    out.set(littleEndianBytes(a.data), at);
    at += a.data.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

interface TensorInfo {
  readonly name: string;
  readonly dtype: HostDType;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

/**
 * Reads the header length from the first 8 bytes of a file of `fileSize` bytes and checks it
 * against that size and the 100 MB cap. Separate from decoding so that a file reader can check a
 * prefix before reading the rest of the file.
 * @throws SafetensorsError when the file is too short or the length is out of bounds.
 */
export function readHeaderLength(prefix: Uint8Array, fileSize: number): number {
  if (fileSize < 8 || prefix.length < 8) throw new SafetensorsError(`file of ${fileSize} bytes is shorter than the 8-byte header length`);
  // As a bigint: a claimed 2^60 must be compared exactly, never rounded or allocated.
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) {
    throw new SafetensorsError(`header length ${n} exceeds the file size ${fileSize} (at most ${fileSize - 8} bytes follow the length)`);
  }
  if (n > BigInt(MAX_HEADER_LENGTH)) throw new SafetensorsError(`header length ${n} exceeds the ${MAX_HEADER_LENGTH}-byte limit`);
  return Number(n);
}

function parseHeader(bytes: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (e) {
    throw new SafetensorsError(`header of ${bytes.length} bytes is not valid UTF-8`, { cause: e });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (!isPlainObject(parsed)) {
    const kind = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : `a ${typeof parsed}`;
    throw new SafetensorsError(`header must be a JSON object, got ${kind}`);
  }
  return parsed;
}

function parseMetadata(value: unknown): Record<string, string> {
  if (!isPlainObject(value)) throw new SafetensorsError(`'${METADATA_KEY}' must be an object of strings`);
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw new SafetensorsError(`metadata '${quote(key)}' is ${v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`}; metadata values must be strings`);
    }
  }
  // fromEntries defines own properties, so a "__proto__" key stays data.
  return Object.fromEntries(Object.entries(value as Record<string, string>));
}

function parseDType(name: string, dtype: unknown): HostDType {
  if (typeof dtype === 'string' && Object.hasOwn(FROM_FILE_DTYPE, dtype)) return FROM_FILE_DTYPE[dtype];
  if (typeof dtype === 'string' && OTHER_FILE_DTYPES.has(dtype)) throw new SafetensorsError(`tensor '${name}' has dtype ${dtype}; ${SUPPORTED}`);
  throw new SafetensorsError(`tensor '${name}' has unknown dtype ${JSON.stringify(dtype) ?? String(dtype)}; ${SUPPORTED}`);
}

function parseShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || !shape.every(isSafeCount)) {
    const text = Array.isArray(shape) ? shapeText(shape.map((d) => JSON.stringify(d))) : JSON.stringify(shape);
    throw new SafetensorsError(`tensor '${name}' has shape ${text}; dimensions must be non-negative integers`);
  }
  return shape;
}

function parseOffsets(name: string, offsets: unknown, dataSize: number): [number, number] {
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSafeCount)) {
    throw new SafetensorsError(`tensor '${name}' has data_offsets ${JSON.stringify(offsets)}; expected [begin, end], two non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw new SafetensorsError(`tensor '${name}' has data_offsets [${begin}, ${end}] with begin after end`);
  if (end > dataSize) {
    throw new SafetensorsError(`tensor '${name}' has offsets past EOF: data_offsets [${begin}, ${end}] but the data section has ${dataSize} bytes`);
  }
  return [begin, end];
}

function parseEntry(rawName: string, value: unknown, dataSize: number): TensorInfo {
  const name = quote(rawName);
  const keys = isPlainObject(value) ? Object.keys(value).sort() : [];
  if (!isPlainObject(value) || keys.join(',') !== 'data_offsets,dtype,shape') {
    const got = isPlainObject(value) ? `keys {${keys.join(', ')}}` : JSON.stringify(value);
    throw new SafetensorsError(`tensor '${name}' must be an object with exactly dtype, shape, data_offsets; got ${got}`);
  }
  const dtype = parseDType(name, value.dtype);
  const shape = parseShape(name, value.shape);
  const [begin, end] = parseOffsets(name, value.data_offsets, dataSize);
  const expected = byteLengthOf(shape, BYTES_PER_ELEMENT[dtype]);
  if (BigInt(end - begin) !== expected) {
    throw new SafetensorsError(
      `tensor '${name}' (${TO_FILE_DTYPE[dtype]} ${shapeText(shape)}) needs ${expected} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`,
    );
  }
  return { name: rawName, dtype, shape, begin, end };
}

/** The reference reader's rule: sorted by offset, the tensors tile the data section exactly. */
function checkCoverage(infos: TensorInfo[], dataSize: number): void {
  const sorted = [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: TensorInfo | undefined;
  for (const t of sorted) {
    if (previous !== undefined && t.begin < covered) {
      throw new SafetensorsError(
        `tensors '${quote(previous.name)}' (bytes ${previous.begin}..${previous.end}) and '${quote(t.name)}' (bytes ${t.begin}..${t.end}) overlap`,
      );
    }
    if (t.begin > covered) throw new SafetensorsError(`bytes ${covered}..${t.begin} of the data section belong to no tensor`);
    covered = t.end;
    previous = t;
  }
  if (covered < dataSize) throw new SafetensorsError(`bytes ${covered}..${dataSize} of the data section belong to no tensor`);
}

/** Copies one tensor's bytes into a fresh, aligned typed array (file offsets need not be aligned). */
function readTensor(data: Uint8Array, t: TensorInfo): HostArray {
  // An explicit copy: Buffer.prototype.slice returns a view, and a view would keep the file's
  // (possibly unaligned) offset.
  const bytes = new Uint8Array(t.end - t.begin);
  bytes.set(data.subarray(t.begin, t.end));
  const n = (t.end - t.begin) / BYTES_PER_ELEMENT[t.dtype];
  if (!HOST_IS_LITTLE_ENDIAN) return hostArray(t.dtype, t.shape, swapFromLittleEndian(bytes, t.dtype, n));
  const values = t.dtype === 'float32' ? new Float32Array(bytes.buffer, 0, n) : t.dtype === 'int32' ? new Int32Array(bytes.buffer, 0, n) : new BigInt64Array(bytes.buffer, 0, n);
  return hostArray(t.dtype, t.shape, values);
}

function swapFromLittleEndian(bytes: Uint8Array, dtype: HostDType, n: number): Float32Array | Int32Array | BigInt64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'float32') return Float32Array.from({ length: n }, (_, i) => view.getFloat32(i * 4, true));
  if (dtype === 'int32') return Int32Array.from({ length: n }, (_, i) => view.getInt32(i * 4, true));
  return BigInt64Array.from({ length: n }, (_, i) => view.getBigInt64(i * 8, true));
}

/**
 * Parses a safetensors file. Every header field is validated (lengths, dtypes, shapes, offsets,
 * exact tiling of the data section), and tensor data is copied out, so the result does not alias
 * `bytes`.
 * @throws SafetensorsError naming the tensor and the numbers at fault.
 */
export function decodeSafetensors(bytes: Uint8Array): { tensors: Map<string, HostArray>; metadata: Record<string, string> } {
  const headerLength = readHeaderLength(bytes, bytes.length);
  const header = parseHeader(bytes.subarray(8, 8 + headerLength));
  const data = bytes.subarray(8 + headerLength);
  let metadata: Record<string, string> = {};
  const infos: TensorInfo[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) metadata = parseMetadata(value);
    else infos.push(parseEntry(name, value, data.length));
  }
  checkCoverage(infos, data.length);
  const tensors = new Map<string, HostArray>();
  for (const t of infos) tensors.set(t.name, readTensor(data, t));
  return { tensors, metadata };
}
