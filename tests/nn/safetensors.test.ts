/**
 * safetensors codec and file I/O of @webgan/nn: round trips, the exact byte layout, rejection of
 * every kind of corrupt header with a message naming the tensor and the numbers at fault, atomic
 * writes that never damage the previous file, and interop with an independent Python reader.
 * Pure CPU: no GPU device is created.
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostArray, int64Scalar, type HostArray } from '../../packages/nn/src/host-array';
import { decodeSafetensors, encodeSafetensors, MAX_HEADER_LENGTH, SafetensorsError } from '../../packages/nn/src/safetensors';
import { loadSafetensorsFile, saveSafetensorsFile, writeFileAtomic } from '../../packages/nn/src/safetensors-file';

const here = dirname(fileURLToPath(import.meta.url));

const f32 = (shape: number[], values: number[]): HostArray => hostArray('float32', shape, Float32Array.from(values));
const i32 = (shape: number[], values: number[]): HostArray => hostArray('int32', shape, Int32Array.from(values));
const i64 = (shape: number[], values: bigint[]): HostArray => hostArray('int64', shape, BigInt64Array.from(values));

/** A raw file: the given length prefix (default: the real padded header length), header text, data. */
function rawFile(header: unknown, dataBytes: number | Uint8Array, headerLength?: bigint): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const padded = Math.ceil(json.length / 8) * 8;
  const data = typeof dataBytes === 'number' ? new Uint8Array(dataBytes) : dataBytes;
  const out = new Uint8Array(8 + padded + data.length).fill(0x20, 8, 8 + padded);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(padded), true);
  out.set(json, 8);
  out.set(data, 8 + padded);
  return out;
}

/** Decoding `bytes` must throw a SafetensorsError whose message matches `pattern`. */
function expectRejected(bytes: Uint8Array, pattern: RegExp): void {
  let error: unknown;
  try {
    decodeSafetensors(bytes);
  } catch (e) {
    error = e;
  }
  expect(error, `expected rejection matching ${pattern}`).toBeInstanceOf(SafetensorsError);
  expect((error as Error).message.startsWith('safetensors: ')).toBe(true);
  expect((error as Error).message).toMatch(pattern);
}

const entry = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });

function expectSame(actual: HostArray | undefined, expected: HostArray): void {
  expect(actual).toBeDefined();
  expect(actual!.dtype).toBe(expected.dtype);
  expect(actual!.shape).toEqual(expected.shape);
  expect(actual!.data.constructor).toBe(expected.data.constructor);
  // Byte comparison: distinguishes -0 from 0 and compares NaN payloads.
  const bytesOf = (a: HostArray) => new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  expect(bytesOf(actual!)).toEqual(bytesOf(expected));
}

describe('round trip', () => {
  it('keeps F32, I32 and I64 tensors, scalars, zero-size tensors, unicode names and metadata', () => {
    const entries = new Map<string, HostArray>([
      ['main.0.weight', f32([2, 3], [0.5, -1, 2.25, 1e-30, -0, Number.NaN])],
      ['main.0.bias', f32([3], [Infinity, -Infinity, 3.4e38])],
      ['scalar.f32', f32([], [42.5])],
      ['index', i32([2, 2], [-2147483648, 2147483647, 0, -1])],
      ['main.1.num_batches_tracked', int64Scalar(7)],
      ['big', i64([3], [2n ** 62n + 1n, -(2n ** 63n), 9007199254740993n])],
      ['empty', f32([0], [])],
      ['empty.i64', i64([2, 0, 3], [])],
      ['层.βeta/🙂', f32([1], [1])],
      ['__proto__', i32([1], [5])],
    ]);
    const metadata = { format: 'pt', note: 'ünïcode ✓', empty: '' };
    const { tensors, metadata: meta } = decodeSafetensors(encodeSafetensors(entries, metadata));
    expect([...tensors.keys()].sort()).toEqual([...entries.keys()].sort());
    for (const [name, a] of entries) expectSame(tensors.get(name), a);
    expect(meta).toEqual(metadata);
  });

  it('accepts a plain record and defaults metadata to {}', () => {
    const bytes = encodeSafetensors({ w: f32([2], [1, 2]), n: int64Scalar(3) });
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({});
    expectSame(tensors.get('w'), f32([2], [1, 2]));
    expectSame(tensors.get('n'), i64([], [3n]));
  });

  it('round-trips an empty state dict', () => {
    const bytes = encodeSafetensors(new Map());
    expect(bytes.length).toBe(16); // "{}" padded to 8
    expect(decodeSafetensors(bytes).tensors.size).toBe(0);
  });

  it('decodes unaligned data offsets into aligned arrays that do not alias the input', () => {
    // An I32 of 1 element first puts the I64 at data offset 4, and the whole file at an odd byteOffset.
    const inner = rawFile({ a: entry('I32', [1], [0, 4]), b: entry('I64', [2], [4, 20]) }, 20);
    const dv = new DataView(inner.buffer);
    const dataStart = inner.length - 20;
    dv.setInt32(dataStart, -9, true);
    dv.setBigInt64(dataStart + 4, -5n, true);
    dv.setBigInt64(dataStart + 12, 2n ** 60n, true);
    const holder = new Uint8Array(inner.length + 3);
    holder.set(inner, 3);
    const bytes = holder.subarray(3);
    const { tensors } = decodeSafetensors(bytes);
    expectSame(tensors.get('a'), i32([1], [-9]));
    expectSame(tensors.get('b'), i64([2], [-5n, 2n ** 60n]));
    bytes.fill(0);
    expect(Array.from(tensors.get('b')!.data as BigInt64Array)).toEqual([-5n, 2n ** 60n]);
  });

  it('decodes a Node Buffer (whose slice() is a view) correctly', () => {
    const bytes = encodeSafetensors({ x: f32([3], [1, 2, 3]), y: i64([1], [4n]) });
    const { tensors } = decodeSafetensors(Buffer.from(bytes));
    expectSame(tensors.get('x'), f32([3], [1, 2, 3]));
    expectSame(tensors.get('y'), i64([1], [4n]));
  });

  it('encodes typed-array views (subarrays) by their own bytes only', () => {
    const backing = Float32Array.of(9, 1, 2, 9);
    const { tensors } = decodeSafetensors(encodeSafetensors({ v: hostArray('float32', [2], backing.subarray(1, 3)) }));
    expectSame(tensors.get('v'), f32([2], [1, 2]));
  });
});

describe('byte layout', () => {
  it('writes the length prefix, the compact JSON header padded with spaces to 8 bytes, then packed data', () => {
    const bytes = encodeSafetensors(new Map([['a', f32([2], [1, -2])], ['n', int64Scalar(7)]]), { format: 'pt' });
    const json = '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"n":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}';
    expect(json.length).toBe(138);
    expect(bytes.length).toBe(8 + 144 + 16);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([144, 0, 0, 0, 0, 0, 0, 0]);
    expect(new TextDecoder().decode(bytes.subarray(8, 152))).toBe(json + ' '.repeat(6));
    expect(Array.from(bytes.subarray(152))).toEqual([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 7, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('always starts the data section at a multiple of 8', () => {
    for (let len = 1; len <= 12; len++) {
      const bytes = encodeSafetensors({ ['x'.repeat(len)]: f32([1], [1]) });
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      expect(n % 8).toBe(0);
      expect(bytes.length - 8 - n).toBe(4);
    }
  });

  it('omits __metadata__ when there is none', () => {
    const text = new TextDecoder().decode(encodeSafetensors({ a: i32([], [1]) })).slice(8).trimEnd();
    expect(text.startsWith('{"a":')).toBe(true);
  });
});

describe('encoding rejects', () => {
  it('empty and reserved names', () => {
    expect(() => encodeSafetensors({ '': f32([1], [1]) })).toThrow(/safetensors: a tensor name must not be empty/);
    expect(() => encodeSafetensors({ __metadata__: f32([1], [1]) })).toThrow(/'__metadata__' is reserved/);
  });

  it('non-string metadata values', () => {
    const bad = { epoch: 3 } as unknown as Record<string, string>;
    expect(() => encodeSafetensors({ a: f32([1], [1]) }, bad)).toThrow(/safetensors: metadata 'epoch' is a number; metadata values must be strings/);
  });

  it('data that does not fill the shape, and the wrong array type', () => {
    const short = { dtype: 'float32', shape: [2, 2], data: new Float32Array(3) } as HostArray;
    expect(() => encodeSafetensors({ w: short })).toThrow(/tensor 'w' has 3 values for shape \[2, 2\] \(4 elements\)/);
    const wrong = { dtype: 'int64', shape: [1], data: new Int32Array(1) } as HostArray;
    expect(() => encodeSafetensors({ n: wrong })).toThrow(/tensor 'n' has dtype int64 but its data is not a BigInt64Array/);
  });
});

describe('decoding rejects', () => {
  it('a file shorter than 8 bytes', () => {
    expectRejected(new Uint8Array(5), /file of 5 bytes is shorter than the 8-byte header length/);
  });

  it('a huge header length (2^60) without allocating it', () => {
    const bytes = new Uint8Array(100);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 60n, true);
    expectRejected(bytes, /header length 1152921504606846976 exceeds the file size 100/);
  });

  it('a header length just past 2^53, compared exactly', () => {
    const bytes = new Uint8Array(64);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 53n + 1n, true);
    expectRejected(bytes, /header length 9007199254740993 exceeds the file size 64/);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
    expectRejected(bytes, /header length 18446744073709551615 exceeds the file size 64/);
  });

  it('a header length past the end of the file', () => {
    const bytes = rawFile('{}', 0, 9n); // 8 + 8 bytes: one byte short
    expectRejected(bytes, /header length 9 exceeds the file size 16 \(at most 8 bytes follow the length\)/);
  });

  it('a header length over the 100 MB cap even when the file is that large', () => {
    const bytes = new Uint8Array(MAX_HEADER_LENGTH + 16);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(MAX_HEADER_LENGTH + 1), true);
    expectRejected(bytes, /header length 100000001 exceeds the 100000000-byte limit/);
  });

  it('a header that is not UTF-8 or not JSON', () => {
    const bytes = rawFile('{}', 0);
    bytes[9] = 0xff;
    expectRejected(bytes, /header of 8 bytes is not valid UTF-8/);
    expectRejected(rawFile('{"a": {"dtype": ', 0), /header is not valid JSON/);
  });

  it('a header that is not a JSON object', () => {
    expectRejected(rawFile('[1, 2]', 0), /header must be a JSON object, got an array/);
    expectRejected(rawFile('null', 0), /header must be a JSON object, got null/);
    expectRejected(rawFile('"w"', 0), /header must be a JSON object, got a string/);
  });

  it('an entry that is not an object with exactly dtype, shape and data_offsets', () => {
    expectRejected(rawFile({ w: 3 }, 0), /tensor 'w' must be an object with exactly dtype, shape, data_offsets; got 3/);
    expectRejected(rawFile({ w: { dtype: 'F32', shape: [] } }, 4), /tensor 'w' must be an object .* got keys \{dtype, shape\}/);
    expectRejected(rawFile({ w: { ...entry('F32', [], [0, 4]), extra: 1 } }, 4), /tensor 'w' .* got keys \{data_offsets, dtype, extra, shape\}/);
  });

  it('offsets past EOF', () => {
    expectRejected(rawFile({ w: entry('F32', [4], [0, 16]) }, 8), /tensor 'w' has offsets past EOF: data_offsets \[0, 16\] but the data section has 8 bytes/);
  });

  it('malformed data_offsets', () => {
    expectRejected(rawFile({ w: entry('F32', [1], [8, 4]) }, 8), /tensor 'w' has data_offsets \[8, 4\] with begin after end/);
    expectRejected(rawFile({ w: entry('F32', [1], [0]) }, 4), /tensor 'w' has data_offsets \[0\]; expected \[begin, end\]/);
    expectRejected(rawFile({ w: entry('F32', [1], [-4, 0]) }, 4), /tensor 'w' has data_offsets \[-4,0\]/);
    expectRejected(rawFile({ w: entry('F32', [1], [0, 4.5]) }, 4), /tensor 'w' has data_offsets \[0,4.5\]/);
    expectRejected(rawFile({ w: entry('F32', [1], [0, 2 ** 60]) }, 4), /tensor 'w' has data_offsets \[0,1152921504606847000\]; expected \[begin, end\], two non-negative integers/);
  });

  it('overlapping ranges, naming both tensors', () => {
    const header = { a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [4, 12]) };
    expectRejected(rawFile(header, 12), /tensors 'a' \(bytes 0\.\.8\) and 'b' \(bytes 4\.\.12\) overlap/);
    const same = { a: entry('F32', [2], [0, 8]), b: entry('I32', [2], [0, 8]) };
    expectRejected(rawFile(same, 8), /tensors '[ab]' \(bytes 0\.\.8\) and '[ab]' \(bytes 0\.\.8\) overlap/);
  });

  it('a byte length that does not match shape × dtype size', () => {
    expectRejected(rawFile({ w: entry('F32', [3], [0, 8]) }, 8), /tensor 'w' \(F32 \[3\]\) needs 12 bytes but data_offsets \[0, 8\] hold 8/);
    // Same element count, wrong element size: I64 needs 8 bytes per element.
    expectRejected(rawFile({ n: entry('I64', [2], [0, 8]) }, 8), /tensor 'n' \(I64 \[2\]\) needs 16 bytes but data_offsets \[0, 8\] hold 8/);
    // A shape whose byte count is beyond 2^53 must not round to a match.
    expectRejected(rawFile({ h: entry('F32', [2 ** 26, 2 ** 26, 2 ** 26], [0, 0]) }, 0), /needs 1208925819614629174706176 bytes but data_offsets \[0, 0\] hold 0/);
  });

  it('unsupported and unknown dtypes, naming the tensor', () => {
    expectRejected(rawFile({ x: entry('F16', [1], [0, 2]) }, 2), /tensor 'x' has dtype F16; webgan reads F32, I32, I64/);
    expectRejected(rawFile({ x: entry('BF16', [1], [0, 2]) }, 2), /tensor 'x' has dtype BF16; webgan reads F32, I32, I64/);
    expectRejected(rawFile({ x: entry('F64', [1], [0, 8]) }, 8), /tensor 'x' has dtype F64/);
    expectRejected(rawFile({ x: entry('U8', [1], [0, 1]) }, 1), /tensor 'x' has dtype U8/);
    expectRejected(rawFile({ x: entry('float32', [1], [0, 4]) }, 4), /tensor 'x' has unknown dtype "float32"; webgan reads F32, I32, I64/);
    expectRejected(rawFile({ x: { dtype: 7, shape: [1], data_offsets: [0, 4] } }, 4), /tensor 'x' has unknown dtype 7/);
  });

  it('negative, fractional and non-numeric shapes', () => {
    expectRejected(rawFile({ s: entry('F32', [-1], [0, 0]) }, 0), /tensor 's' has shape \[-1\]; dimensions must be non-negative integers/);
    expectRejected(rawFile({ s: entry('F32', [2, 1.5], [0, 12]) }, 12), /tensor 's' has shape \[2, 1\.5\]/);
    expectRejected(rawFile({ s: entry('F32', ['2'], [0, 8]) }, 8), /tensor 's' has shape \["2"\]/);
    expectRejected(rawFile({ s: entry('F32', 2, [0, 8]) }, 8), /tensor 's' has shape 2;/);
  });

  it('bytes of the data section that belong to no tensor', () => {
    const gap = { a: entry('F32', [1], [0, 4]), b: entry('F32', [1], [8, 12]) };
    expectRejected(rawFile(gap, 12), /bytes 4\.\.8 of the data section belong to no tensor/);
    expectRejected(rawFile({ a: entry('F32', [1], [4, 8]) }, 8), /bytes 0\.\.4 of the data section belong to no tensor/);
    expectRejected(rawFile({ a: entry('F32', [1], [0, 4]) }, 12), /bytes 4\.\.12 of the data section belong to no tensor/);
    expectRejected(rawFile({}, 3), /bytes 0\.\.3 of the data section belong to no tensor/);
  });

  it('non-string metadata', () => {
    expectRejected(rawFile({ __metadata__: { epoch: 3 } }, 0), /metadata 'epoch' is a number; metadata values must be strings/);
    expectRejected(rawFile({ __metadata__: { tags: ['a'] } }, 0), /metadata 'tags' is an array/);
    expectRejected(rawFile({ __metadata__: 'pt' }, 0), /'__metadata__' must be an object of strings/);
  });

  it('names with quotes or control characters appear escaped in messages', () => {
    expectRejected(rawFile({ "it's\n": entry('F16', [1], [0, 2]) }, 2), /tensor 'it's\\n' has dtype F16/);
  });
});

describe('files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'webgan-safetensors-'));
  });
  afterAll(async () => {
    await chmod(dir, 0o700).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  /** Fresh subdirectory per test, so listings show exactly what the test left behind. */
  async function subdir(name: string): Promise<string> {
    const d = join(dir, name);
    await mkdir(d);
    return d;
  }

  it('saves and loads a state dict', async () => {
    const d = await subdir('roundtrip');
    const path = join(d, 'model.safetensors');
    await saveSafetensorsFile(path, { w: f32([2, 2], [1, 2, 3, 4]), n: int64Scalar(12) }, { step: '10' });
    const { tensors, metadata } = await loadSafetensorsFile(path);
    expectSame(tensors.get('w'), f32([2, 2], [1, 2, 3, 4]));
    expectSame(tensors.get('n'), i64([], [12n]));
    expect(metadata).toEqual({ step: '10' });
    expect(await readdir(d)).toEqual(['model.safetensors']);
  });

  it('rejects a header length past the file size, naming the path', async () => {
    const d = await subdir('huge-header');
    const path = join(d, 'bad.safetensors');
    const bytes = new Uint8Array(100);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 60n, true);
    await writeFile(path, bytes);
    const error = await loadSafetensorsFile(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SafetensorsError);
    expect((error as Error).message).toBe(
      `safetensors: ${path}: header length 1152921504606846976 exceeds the file size 100 (at most 92 bytes follow the length)`,
    );
  });

  it('prefixes decode errors with the path', async () => {
    const d = await subdir('gap');
    const path = join(d, 'gap.safetensors');
    await writeFile(path, rawFile({ a: entry('F32', [1], [0, 4]) }, 8));
    await expect(loadSafetensorsFile(path)).rejects.toThrow(`safetensors: ${path}: bytes 4..8 of the data section belong to no tensor`);
    await writeFile(path, new Uint8Array(3));
    await expect(loadSafetensorsFile(path)).rejects.toThrow(`safetensors: ${path}: file of 3 bytes is shorter than the 8-byte header length`);
  });

  it('reports a missing file and a directory', async () => {
    const d = await subdir('missing');
    await expect(loadSafetensorsFile(join(d, 'nope.safetensors'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(loadSafetensorsFile(d)).rejects.toThrow(`safetensors: ${d}: not a regular file`);
  });

  it('replaces an existing file whole', async () => {
    const d = await subdir('replace');
    const path = join(d, 'ckpt.safetensors');
    await writeFile(path, new Uint8Array(10_000).fill(0xaa));
    const fresh = encodeSafetensors({ w: f32([2], [5, 6]) });
    await writeFileAtomic(path, fresh);
    expect(new Uint8Array(await readFile(path))).toEqual(fresh);
    expect(await readdir(d)).toEqual(['ckpt.safetensors']);
  });

  it('fails cleanly when the parent of the target is a file', async () => {
    const d = await subdir('parent-is-file');
    const blocker = join(d, 'blocker');
    await writeFile(blocker, 'keep');
    await expect(writeFileAtomic(join(blocker, 'x.safetensors'), new Uint8Array(8))).rejects.toMatchObject({ code: 'ENOTDIR' });
    expect(await readFile(blocker, 'utf8')).toBe('keep');
    expect(await readdir(d)).toEqual(['blocker']);
  });

  it('fails cleanly, removing its temp file, when the rename fails (target is a non-empty directory)', async () => {
    const d = await subdir('rename-fails');
    const target = join(d, 'ckpt.safetensors');
    await mkdir(target);
    await writeFile(join(target, 'inside'), 'keep');
    await expect(writeFileAtomic(target, new Uint8Array(64))).rejects.toMatchObject({ code: expect.stringMatching(/^(EISDIR|ENOTEMPTY|EEXIST|EPERM)$/) });
    expect((await stat(target)).isDirectory()).toBe(true);
    expect(await readFile(join(target, 'inside'), 'utf8')).toBe('keep');
    expect(await readdir(d)).toEqual(['ckpt.safetensors']);
  });

  it('leaves the old file intact and no temp file when the write fails midway (EFBIG)', async () => {
    const d = await subdir('efbig');
    const path = join(d, 'ckpt.safetensors');
    await writeFile(path, 'old contents');
    const childTs = join(dir, 'efbig-child.ts');
    const childJs = join(dir, 'efbig-child.mjs');
    const moduleTs = resolve(here, '../../packages/nn/src/safetensors-file.ts');
    await writeFile(
      childTs,
      `import { writeFileAtomic } from ${JSON.stringify(moduleTs)};\n` +
        `try { await writeFileAtomic(process.argv[2], new Uint8Array(4 << 20)); console.log('written'); }\n` +
        `catch (e) { console.log(e.code); }\n`,
    );
    await build({ entryPoints: [childTs], outfile: childJs, bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'error' });
    // 256 KiB limit (bash counts in KiB) against a 4 MiB write.
    const child = spawnSync('bash', ['-c', 'ulimit -f 256 && exec "$0" "$@"', process.execPath, childJs, path], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.stdout.trim()).toBe('EFBIG');
    expect(await readFile(path, 'utf8')).toBe('old contents');
    expect(await readdir(d)).toEqual(['ckpt.safetensors']);
  });
});

describe('interop', () => {
  it('is readable by an independent stdlib-only Python reader', async () => {
    const d = await mkdtemp(join(tmpdir(), 'webgan-safetensors-py-'));
    try {
      const path = join(d, 'gan.safetensors');
      const entries = new Map<string, HostArray>([
        ['main.0.weight', f32([2, 3], [0.5, 1, 2, 3, 4, 5])],
        ['main.1.running_mean', f32([3], [-1.25, 0, 1])],
        ['main.1.num_batches_tracked', int64Scalar(7)],
        ['main.2.index', i32([4], [-3, 1, 2, 3])],
        ['main.3.empty', f32([0, 4], [])],
      ]);
      await writeFile(path, encodeSafetensors(entries, { format: 'pt' }));
      const script = join(here, 'read_safetensors.py');
      const py = spawnSync('python3', [script, path], { encoding: 'utf8' });
      if (py.error) {
        const missing = (py.error as NodeJS.ErrnoException).code === 'ENOENT';
        throw new Error(missing ? 'python3 is not installed (or not on PATH); this interop test needs it' : `running python3 failed: ${py.error.message}`);
      }
      expect(py.stderr).toBe('');
      expect(py.status).toBe(0);
      expect(JSON.parse(py.stdout)).toEqual({
        'main.0.weight': { dtype: 'F32', shape: [2, 3], first: 0.5 },
        'main.1.running_mean': { dtype: 'F32', shape: [3], first: -1.25 },
        'main.1.num_batches_tracked': { dtype: 'I64', shape: [], first: 7 },
        'main.2.index': { dtype: 'I32', shape: [4], first: -3 },
        'main.3.empty': { dtype: 'F32', shape: [0, 4], first: null },
      });
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });
});
