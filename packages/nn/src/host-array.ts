/**
 * Host-side arrays: what a state dict holds for values that do not live on the GPU (BatchNorm's
 * num_batches_tracked, an optimizer's step counts) and what a safetensors file decodes to.
 */

/** Element types a state dict entry can have. int64 exists for PyTorch compatibility (num_batches_tracked). */
export type HostDType = 'float32' | 'int32' | 'int64';

export interface HostArray {
  readonly dtype: HostDType;
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array | BigInt64Array;
}

export const BYTES_PER_ELEMENT: Record<HostDType, number> = { float32: 4, int32: 4, int64: 8 };

export function hostArray(dtype: HostDType, shape: readonly number[], data: Float32Array | Int32Array | BigInt64Array): HostArray {
  const n = shape.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new Error(`hostArray: ${data.length} values do not fill shape [${shape.join(',')}] (${n} elements)`);
  const expected = dtype === 'float32' ? Float32Array : dtype === 'int32' ? Int32Array : BigInt64Array;
  if (!(data instanceof expected)) throw new Error(`hostArray: dtype ${dtype} needs a ${expected.name}, got a ${data.constructor.name}`);
  return { dtype, shape: [...shape], data };
}

/** A 0-d int64 value (PyTorch's num_batches_tracked). */
export const int64Scalar = (value: number): HostArray => hostArray('int64', [], BigInt64Array.of(BigInt(value)));

/** Values of a host array as plain numbers (int64 beyond 2^53 loses precision; callers check). */
export function hostValues(a: HostArray): number[] {
  return Array.from(a.data as ArrayLike<number | bigint>, (v) => Number(v));
}
