/**
 * Mutation fuzzing of the file readers: the safetensors decoder, the IDX decoder (raw and
 * gzip-compressed) and the PNG decoder. Valid seed files are mutated (bit flips, bytes and 32-bit
 * fields set to boundary values, truncation, appended garbage, ranges deleted or duplicated; PNG
 * chunk CRCs recomputed half the time so that mutations reach past the CRC check), and every
 * input must either load consistently or be rejected with the reader's own error class — no other
 * exception, no input taking over a second, and no allocation beyond what the input justifies.
 */
import { gzipSync } from 'node:zlib';
import { SafetensorsError, decodeSafetensors, encodeSafetensors, type HostArray } from '@webgan/nn';
import { decodeIdxFile, encodeIdx } from '../../packages/gan/src/data/idx';
import { DataFormatError } from '../../packages/gan/src/data/errors';
import { ImageFormatError, crc32, decodePng, encodePng } from '../../packages/gan/src/image/png';
import { mulberry32 } from '../../packages/gan/src/data/shuffle';

export interface FuzzTarget {
  name: string;
  seeds: Uint8Array[];
  /** Decodes and checks the result's consistency; throws on an inconsistent success. */
  load(bytes: Uint8Array): void;
  isOurs(error: unknown): boolean;
  /** Bytes an input may make the reader hold: a multiple of its length plus a constant. */
  allowance(bytes: Uint8Array): number;
  /** Repairs what a mutation broke that would stop every input at the first check (PNG CRCs). */
  repair?(bytes: Uint8Array): Uint8Array;
}

const MiB = 2 ** 20;

/** IDX type code → element size and a big-endian reader, written here independently of idx.ts. */
const IDX_READERS: Record<number, [number, (v: DataView, at: number) => number]> = {
  0x08: [1, (v, a) => v.getUint8(a)],
  0x09: [1, (v, a) => v.getInt8(a)],
  0x0b: [2, (v, a) => v.getInt16(a)],
  0x0c: [4, (v, a) => v.getInt32(a)],
  0x0d: [4, (v, a) => v.getFloat32(a)],
  0x0e: [8, (v, a) => v.getFloat64(a)],
};

class InconsistentLoad extends Error {}

function safetensorsSeeds(): Uint8Array[] {
  const rng = mulberry32(5);
  const f32 = (n: number) => Float32Array.from({ length: n }, () => rng() * 2 - 1);
  const seeds: Record<string, HostArray>[] = [
    { w: { dtype: 'float32', shape: [3, 4], data: f32(12) }, b: { dtype: 'float32', shape: [4], data: f32(4) } },
    { 'main.0.weight': { dtype: 'float32', shape: [2, 3, 3, 3], data: f32(54) }, steps: { dtype: 'int64', shape: [], data: BigInt64Array.from([7n]) }, idx: { dtype: 'int32', shape: [5], data: Int32Array.from([1, 2, 3, 4, 5]) } },
    { empty: { dtype: 'float32', shape: [0, 3], data: new Float32Array(0) }, one: { dtype: 'float32', shape: [1], data: f32(1) } },
  ];
  return seeds.map((t, i) => encodeSafetensors(t, i === 1 ? { format: 'pt', note: 'fuzz seed' } : undefined));
}

function idxSeeds(): Uint8Array[] {
  const raw = [
    encodeIdx([3, 5, 4], Uint8Array.from({ length: 60 }, (_, i) => (i * 37) & 255)),
    encodeIdx([6], Int32Array.from([0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 9])),
    encodeIdx([2, 3], Float32Array.from([0.5, -1, 3, Number.NaN, 1e30, -0])),
    encodeIdx([4, 2], Int16Array.from([1, -2, 300, -300, 0, 7, 8, 9])),
    encodeIdx([2, 2], Float64Array.from([1.5, -2.25, 1e300, 0])),
  ];
  return [...raw, ...raw.slice(0, 2).map((b) => new Uint8Array(gzipSync(b)))];
}

function pngSeeds(): Uint8Array[] {
  const pixels = (n: number, seed: number) => {
    const rng = mulberry32(seed);
    return Uint8Array.from({ length: n }, () => Math.floor(rng() * 256));
  };
  return [
    encodePng(pixels(5 * 3, 1), 5, 3, 1),
    encodePng(pixels(4 * 4 * 3, 2), 4, 4, 3),
    encodePng(pixels(3 * 7 * 4, 3), 3, 7, 4),
    encodePng(new Uint8Array(16 * 16).fill(200), 16, 16, 1),
  ];
}

/** Recomputes every chunk CRC it can walk to, so that mutated chunks reach the parser. */
function repairPngCrcs(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  let pos = 8;
  while (pos + 12 <= out.length) {
    const length = view.getUint32(pos);
    const end = pos + 8 + length;
    if (end + 4 > out.length) break;
    view.setUint32(end, crc32(out, pos + 4, end));
    pos = end + 4;
  }
  return out;
}

export const FUZZ_TARGETS: FuzzTarget[] = [
  {
    name: 'safetensors',
    seeds: safetensorsSeeds(),
    load(bytes) {
      const { tensors } = decodeSafetensors(bytes);
      for (const [name, t] of tensors) {
        const count = t.shape.reduce((a, b) => a * b, 1);
        if (t.data.length !== count) throw new InconsistentLoad(`tensor ${name}: ${t.data.length} values for shape [${t.shape.join(',')}]`);
      }
    },
    isOurs: (e) => e instanceof SafetensorsError,
    // Tensors are copied out of the file: at most the file again, plus parsing.
    allowance: (bytes) => 4 * bytes.length + MiB,
  },
  {
    name: 'IDX (raw and gzip)',
    seeds: idxSeeds(),
    load(bytes) {
      const idx = decodeIdxFile(bytes, 'fuzz.idx');
      const count = idx.dims.reduce((a, b) => a * b, 1);
      if (idx.data.length !== count) throw new InconsistentLoad(`${idx.data.length} values for dims ${idx.dims.join('×')}`);
      // What loaded is the file: each value equals an independent big-endian read of its bytes
      // (Object.is, so NaN matches NaN whatever its payload bits).
      const plain = bytes[0] === 0x1f && bytes[1] === 0x8b ? null : bytes;
      if (plain) {
        const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
        const [size, read] = IDX_READERS[plain[2]];
        const start = 4 + 4 * idx.dims.length;
        for (let i = 0; i < count; i++) {
          if (!Object.is(idx.data[i], read(view, start + i * size))) throw new InconsistentLoad(`value ${i} is ${idx.data[i]}, the file holds ${read(view, start + i * size)}`);
        }
      }
    },
    isOurs: (e) => e instanceof DataFormatError,
    // Deflate expands at most 1032:1, so a gzip input may justify that much; values are copied once more.
    allowance: (bytes) => 2 * 1032 * bytes.length + MiB,
  },
  {
    name: 'PNG',
    seeds: pngSeeds(),
    load(bytes) {
      const png = decodePng(bytes, 'fuzz.png');
      if (png.pixels.length !== png.width * png.height * png.channels) throw new InconsistentLoad(`${png.pixels.length} bytes for ${png.width}×${png.height}×${png.channels}`);
    },
    isOurs: (e) => e instanceof ImageFormatError,
    // Inflating gives at most 1032 bytes per input byte; expanding 1-bit gray to 8-bit gray + alpha
    // makes at most 16 output bytes of each inflated byte. 40× leaves room for the copies made.
    allowance: (bytes) => 40 * 1032 * bytes.length + MiB,
    repair: repairPngCrcs,
  },
];

const INTERESTING_BYTES = [0, 1, 0x7f, 0x80, 0xfe, 0xff];
const interestingWords = (length: number) => [0, 1, 2, 0x7f, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 2 ** 24, 2 ** 24 + 1, 2 ** 28, length - 1, length, length + 1];

/** One to three stacked random mutations of `seed`. */
export function mutate(seed: Uint8Array, rng: () => number): Uint8Array {
  let b = seed.slice();
  const pick = (n: number) => Math.floor(rng() * n);
  const rounds = 1 + pick(3);
  for (let r = 0; r < rounds; r++) {
    if (b.length === 0) b = new Uint8Array([pick(256)]);
    switch (pick(8)) {
      case 0: { // bit flips
        for (let k = 1 + pick(4); k > 0; k--) b[pick(b.length)] ^= 1 << pick(8);
        break;
      }
      case 1: // a byte set to a boundary value
        b[pick(b.length)] = INTERESTING_BYTES[pick(INTERESTING_BYTES.length)];
        break;
      case 2: { // a 32-bit field (big- or little-endian) set to a boundary value
        if (b.length < 4) break;
        const at = pick(b.length - 3);
        const words = interestingWords(b.length);
        new DataView(b.buffer, b.byteOffset).setUint32(at, words[pick(words.length)] >>> 0, rng() < 0.5);
        break;
      }
      case 3: // truncation
        b = b.slice(0, pick(b.length));
        break;
      case 4: { // appended garbage
        const extra = Uint8Array.from({ length: 1 + pick(64) }, () => pick(256));
        const out = new Uint8Array(b.length + extra.length);
        out.set(b);
        out.set(extra, b.length);
        b = out;
        break;
      }
      case 5: { // a range deleted
        const start = pick(b.length);
        const end = Math.min(b.length, start + 1 + pick(16));
        b = Uint8Array.from([...b.subarray(0, start), ...b.subarray(end)]);
        break;
      }
      case 6: { // a range duplicated in place
        const start = pick(b.length);
        const end = Math.min(b.length, start + 1 + pick(32));
        b = Uint8Array.from([...b.subarray(0, end), ...b.subarray(start, end), ...b.subarray(end)]);
        break;
      }
      default: { // an ASCII digit changed (safetensors headers are JSON: shapes and offsets)
        const digits: number[] = [];
        for (let i = 0; i < Math.min(b.length, 4096); i++) if (b[i] >= 0x30 && b[i] <= 0x39) digits.push(i);
        if (digits.length) b[digits[pick(digits.length)]] = 0x30 + pick(10);
        else b[pick(b.length)] = pick(256);
      }
    }
  }
  return b;
}

export interface FuzzFailure {
  index: number;
  why: string;
}

export interface FuzzReport {
  target: string;
  inputs: number;
  loaded: number;
  rejected: number;
  slowestMs: number;
  /** Largest (bytes held after the call − before) / allowance seen. */
  worstAllocationShare: number;
  /** Distinct rejection messages, with the numbers blanked out: how many different checks fired. */
  distinctRejections: number;
  failures: FuzzFailure[];
}

const heldBytes = () => {
  const m = process.memoryUsage();
  return m.arrayBuffers + m.heapUsed;
};

export function fuzzTarget(target: FuzzTarget, count: number, seed: number): FuzzReport {
  const rng = mulberry32(seed * 7919 + target.name.length);
  const report: FuzzReport = { target: target.name, inputs: count, loaded: 0, rejected: 0, slowestMs: 0, worstAllocationShare: 0, distinctRejections: 0, failures: [] };
  const messages = new Set<string>();
  for (let i = 0; i < count; i++) {
    let input = mutate(target.seeds[i % target.seeds.length], rng);
    if (target.repair && rng() < 0.5) input = target.repair(input);
    const before = heldBytes();
    const started = performance.now();
    try {
      target.load(input);
      report.loaded++;
    } catch (e) {
      if (target.isOurs(e)) {
        report.rejected++;
        messages.add((e as Error).message.replace(/\d+/g, 'N'));
      } else {
        report.failures.push({ index: i, why: e instanceof InconsistentLoad ? `loaded inconsistently: ${e.message}` : `threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}` });
      }
    }
    const ms = performance.now() - started;
    const share = Math.max(0, heldBytes() - before) / target.allowance(input);
    report.slowestMs = Math.max(report.slowestMs, ms);
    report.worstAllocationShare = Math.max(report.worstAllocationShare, share);
    if (ms > 1000) report.failures.push({ index: i, why: `took ${ms.toFixed(0)} ms` });
    if (share > 1) report.failures.push({ index: i, why: `held ${(heldBytes() - before) / MiB} MiB for a ${input.length}-byte input` });
  }
  report.distinctRejections = messages.size;
  return report;
}

export function formatFuzz(r: FuzzReport): string {
  const failures = r.failures.slice(0, 10).map((f) => `\n  input ${f.index}: ${f.why}`).join('');
  return `${r.target}: ${r.inputs} mutated inputs, ${r.loaded} loaded, ${r.rejected} rejected with our error (${r.distinctRejections} distinct messages), ` +
    `slowest ${r.slowestMs.toFixed(1)} ms, largest allocation ${(r.worstAllocationShare * 100).toFixed(2)}% of the allowance, ${r.failures.length} failures${failures}`;
}
