/**
 * Creating tensors: from host data, constants, ranges, and seeded random draws.
 */
import { fill, fromArray, getRuntime, randomNormal, randomUniform, scalarOp, sizeOf, type DType } from '@webgan/kernels';
import { defaultGenerator, type Generator } from '../random';
import { HOST_COPY_LIMIT, fromDeviceArray, fmt, type Tensor } from '../tensor';

export interface CreateOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

type Nested = number | readonly Nested[];

function flatten(data: Nested, shape: number[] = [], depth = 0, out: number[] = []): { values: number[]; shape: number[] } {
  if (typeof data === 'number') {
    out.push(data);
    return { values: out, shape };
  }
  if (shape.length === depth) shape.push(data.length);
  else if (shape[depth] !== data.length) throw new Error(`tensor: ragged nested array (dimension ${depth} has lengths ${shape[depth]} and ${data.length})`);
  for (const item of data) flatten(item, shape, depth + 1, out);
  return { values: out, shape };
}

/**
 * A tensor from host data: a typed array or flat array with `shape`, or nested arrays (shape
 * inferred). Int32Array data gives int32 unless dtype says otherwise.
 */
export function tensor(data: Float32Array | Int32Array | Nested, shape?: readonly number[], options: CreateOptions = {}): Tensor {
  let values: Float32Array | Int32Array | number[];
  let inferred: readonly number[];
  if (data instanceof Float32Array || data instanceof Int32Array) {
    values = data;
    inferred = shape ?? [data.length];
  } else {
    const flat = flatten(data);
    values = flat.values;
    inferred = shape ?? flat.shape;
  }
  if (sizeOf(inferred) !== values.length) {
    throw new Error(`tensor: ${values.length} values do not fill shape ${fmt(inferred)} (${sizeOf(inferred)} elements)`);
  }
  const dtype = options.dtype ?? (data instanceof Int32Array ? 'int32' : 'float32');
  checkRequiresGrad('tensor', dtype, options);
  const t = fromDeviceArray(fromArray(getRuntime(), values, inferred, dtype));
  if (values.length <= HOST_COPY_LIMIT) t.storage.hostValues = dtype === 'int32' ? Int32Array.from(values) : Float32Array.from(values);
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Fails before anything is allocated: a float-only flag on an int tensor. */
function checkRequiresGrad(op: string, dtype: DType, options: CreateOptions): void {
  if (options.requiresGrad && dtype !== 'float32') throw new Error(`requiresGrad: only float32 tensors can require gradients, this one is ${dtype} (in ${op}())`);
}

export function full(shape: readonly number[], value: number, options: CreateOptions = {}): Tensor {
  checkRequiresGrad('full', options.dtype ?? 'float32', options);
  const t = fromDeviceArray(fill(getRuntime(), shape, value, options.dtype ?? 'float32'));
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

export const zeros = (shape: readonly number[], options: CreateOptions = {}): Tensor => full(shape, 0, options);
export const ones = (shape: readonly number[], options: CreateOptions = {}): Tensor => full(shape, 1, options);
export const zerosLike = (t: Tensor): Tensor => full(t.shape, 0, { dtype: t.dtype });
export const onesLike = (t: Tensor): Tensor => full(t.shape, 1, { dtype: t.dtype });

/** [start, start + step, ...) below end. */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new Error('arange: step must not be 0');
  const count = Math.max(0, Math.ceil((end - start) / step));
  const values = Array.from({ length: count }, (_, i) => start + i * step);
  return tensor(values, [count], options);
}

export interface RandomOptions extends CreateOptions {
  generator?: Generator;
}

/** Standard normal samples (times std, plus mean) from the seeded generator. */
export function randn(shape: readonly number[], options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const { seed, offset } = (options.generator ?? defaultGenerator).take(sizeOf(shape));
  const t = fromDeviceArray(randomNormal(getRuntime(), shape, seed, offset, options.mean ?? 0, options.std ?? 1));
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Uniform samples in [low, high) from the seeded generator. */
export function rand(shape: readonly number[], options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const { seed, offset } = (options.generator ?? defaultGenerator).take(sizeOf(shape));
  const runtime = getRuntime();
  const unit = randomUniform(runtime, shape, seed, offset);
  const low = options.low ?? 0;
  const high = options.high ?? 1;
  if (low === 0 && high === 1) {
    const t = fromDeviceArray(unit);
    if (options.requiresGrad) t.requiresGrad = true;
    return t;
  }
  const scaled = scalarOp(runtime, 'mul', unit, high - low);
  runtime.release(unit.buffer);
  const shifted = scalarOp(runtime, 'add', scaled, low);
  runtime.release(scaled.buffer);
  const t = fromDeviceArray(shifted);
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}
