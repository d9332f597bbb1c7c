/**
 * DeviceArray: a GPU buffer with a shape and dtype, the unit every kernel takes and returns.
 * Kernels allocate their outputs from the runtime's pool; the caller releases them.
 */
import type { GpuBuffer } from '../runtime/buffer-pool';
import type { Runtime } from '../runtime/runtime';

export type DType = 'float32' | 'int32';

export interface DeviceArray {
  readonly buffer: GpuBuffer;
  readonly shape: readonly number[];
  /** Default float32. */
  readonly dtype?: DType;
}

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

export const formatShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

export function assertValidShape(op: string, shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${op}: invalid shape ${formatShape(shape)}`);
  }
}

/** Uploads host data as a new DeviceArray. */
export function fromArray(
  runtime: Runtime,
  data: Float32Array | Int32Array | readonly number[],
  shape: readonly number[],
  dtype: DType = data instanceof Int32Array ? 'int32' : 'float32',
): DeviceArray {
  assertValidShape('fromArray', shape);
  const n = sizeOf(shape);
  if (data.length !== n) {
    throw new Error(`fromArray: ${data.length} values do not fill shape ${formatShape(shape)} (${n} elements)`);
  }
  const typed = dtype === 'int32' ? Int32Array.from(data as ArrayLike<number>) : data instanceof Float32Array ? data : Float32Array.from(data);
  return { buffer: runtime.upload(typed, 'array'), shape: [...shape], dtype };
}

/** Reads a DeviceArray back to the host. */
export async function toArray(runtime: Runtime, array: DeviceArray): Promise<Float32Array | Int32Array> {
  const bytes = await runtime.read(array.buffer, 0, sizeOf(array.shape) * 4);
  return array.dtype === 'int32' ? new Int32Array(bytes) : new Float32Array(bytes);
}

/** A new uninitialised DeviceArray from the runtime's pool. */
export function allocArray(runtime: Runtime, shape: readonly number[], dtype: DType = 'float32', label = 'array'): DeviceArray {
  return { buffer: runtime.alloc(sizeOf(shape) * 4, label), shape: [...shape], dtype };
}

export function assertFloat(op: string, name: string, a: DeviceArray): void {
  if ((a.dtype ?? 'float32') !== 'float32') throw new Error(`${op}: ${name} must be float32, got ${a.dtype}`);
}

/** Normalises a possibly negative axis, naming the op and shape when it is out of range. */
export function normalizeAxis(op: string, axis: number, rank: number, shape: readonly number[]): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= rank) {
    throw new Error(`${op}: axis ${axis} is out of range for shape ${formatShape(shape)} (rank ${rank})`);
  }
  return a;
}

/**
 * Wraps a kernel-level op so that, if it throws, the buffers it allocated are released
 * (see Runtime.guard). Every exported op that allocates is wrapped.
 */
export function guarded<Args extends unknown[], Result>(op: (runtime: Runtime, ...args: Args) => Result): (runtime: Runtime, ...args: Args) => Result {
  return (runtime, ...args) => runtime.guard(() => op(runtime, ...args));
}
