/**
 * Tensor: a shaped, typed view of GPU storage plus what autograd needs (requiresGrad, grad, the
 * node that produced it). Storage is reference-counted so that a tensor saved for a backward pass
 * outlives the user's handle: disposing a tensor drops the handle's reference; the buffer returns
 * to the pool when the last reference (handles, views from reshape, saved-for-backward) is gone.
 */
import { getRuntime, sizeOf, toArray, type DeviceArray, type DType, type GpuBuffer } from '@webgan/kernels';
import { setTensorCheck, track, untrack } from './memory';
import type { Node } from './autograd';

/** GPU storage shared by a tensor and its views. */
export class Storage {
  private refs = 1;
  /** A host copy of small storages (set on upload and readback), so toString() can show values. */
  hostValues?: Float32Array | Int32Array;
  constructor(readonly buffer: GpuBuffer) {}
  /** Must be called by anything that writes the buffer in place (optimizers): the host copy is stale. */
  markWritten(): void {
    this.hostValues = undefined;
  }
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) getRuntime().release(this.buffer);
  }
  get alive(): boolean {
    return this.refs > 0;
  }
}

let nextId = 0;
/** Tensors up to this many elements keep a host copy of known values for toString(). */
export const HOST_COPY_LIMIT = 64;

export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Accumulated gradient of a leaf after backward(); null before. */
  grad: Tensor | null = null;
  /** The operation that produced this tensor, for backward; null for leaves. */
  gradFn: Node | null = null;
  /** @internal The leaf that gradients for this tensor accumulate into (itself, or the tensor a saved alias stands for). */
  leafTarget: Tensor = this;
  /** @internal Saved-for-backward aliases do not keep their node alive (that would be a cycle). */
  private holdsNode = false;
  private _requiresGrad = false;
  private _disposed = false;
  /** @internal */ storage: Storage;

  /** @internal Use the creation functions (tensor, zeros, randn, ...) or ops. */
  constructor(storage: Storage, shape: readonly number[], dtype: DType, tracked = true) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    if (tracked) track(this);
  }

  /** @internal Makes this tensor the output of `node`. */
  attach(node: Node, holdsNode = true): void {
    this.gradFn = node;
    this._requiresGrad = true;
    this.holdsNode = holdsNode;
    if (holdsNode) node.retain();
  }

  /**
   * @internal A second handle on the same storage and graph position. Saved-for-backward aliases
   * are untracked (tidy never disposes them; their node does) and do not hold their node.
   */
  alias(kind: 'user' | 'saved' = 'user'): Tensor {
    const view = new Tensor(this.storage.retain(), this.shape, this.dtype, kind === 'user');
    view._requiresGrad = this._requiresGrad;
    view.leafTarget = this.leafTarget;
    if (this.gradFn) view.attach(this.gradFn, kind === 'user');
    return view;
  }

  /** A tensor with the same values that is not part of any graph. Shares storage (no copy). */
  detach(): Tensor {
    return new Tensor(this.storage.retain(), this.shape, this.dtype);
  }

  get size(): number {
    return sizeOf(this.shape);
  }
  get rank(): number {
    return this.shape.length;
  }
  get isDisposed(): boolean {
    return this._disposed;
  }
  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  set requiresGrad(value: boolean) {
    if (value && this.dtype !== 'float32') throw new Error(`requiresGrad: only float32 tensors can require gradients, this one is ${this.dtype}`);
    this._requiresGrad = value;
  }
  /** A leaf is a tensor no recorded op produced (parameters, inputs). */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  /** Marks the tensor as requiring gradients and returns it (for chaining). */
  requiresGrad_(value = true): this {
    this.requiresGrad = value;
    return this;
  }

  /** @internal The kernel-level view of this tensor; throws after dispose. */
  deviceArray(op = 'use'): DeviceArray {
    if (this._disposed) throw new Error(`${op}: tensor ${fmt(this.shape)} (id ${this.id}) was used after dispose()`);
    if (!this.storage.alive) throw new Error(`${op}: the storage of tensor ${fmt(this.shape)} (id ${this.id}) was released`);
    return { buffer: this.storage.buffer, shape: this.shape, dtype: this.dtype };
  }

  /** Reads the values back (flat, row-major). */
  async data(): Promise<Float32Array | Int32Array> {
    const values = await toArray(getRuntime(), this.deviceArray('data'));
    if (values.length <= HOST_COPY_LIMIT) this.storage.hostValues = values.slice();
    return values;
  }

  /** Reads the values back as nested arrays (a number for a 0-d tensor). */
  async array(): Promise<NestedArray> {
    return nest(Array.from(await this.data()), this.shape);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item: tensor ${fmt(this.shape)} has ${this.size} elements, not 1`);
    return (await this.data())[0];
  }

  /** Releases the tensor's storage reference. Idempotent. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    this.storage.release();
    untrack(this);
    if (this.holdsNode) this.gradFn?.release();
    if (this.grad && this.isLeaf) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  /**
   * Shape, dtype, autograd state, and the values of small tensors whose values are known on the
   * host (created from host data, or read back once); otherwise `await t.format()` reads them.
   */
  toString(): string {
    const known = this.storage.alive ? this.storage.hostValues : undefined;
    const values = known && known.length === this.size ? `${JSON.stringify(nest(Array.from(known), this.shape))}, ` : '';
    return `tensor(${values}shape=${fmt(this.shape)}, dtype=${this.dtype}${this._requiresGrad ? ', requiresGrad' : ''}${this.gradFn ? `, gradFn=${this.gradFn.name}` : ''})`;
  }

  /** A string with the values of small tensors (reads the tensor back). */
  async format(maxElements = 64): Promise<string> {
    const values = this.size <= maxElements ? JSON.stringify(await this.array()) : `<${this.size} values>`;
    return `tensor(${values}, shape=${fmt(this.shape)}, dtype=${this.dtype}${this._requiresGrad ? ', requiresGrad' : ''})`;
  }
}

export type NestedArray = number | NestedArray[];

function nest(flat: number[], shape: readonly number[]): NestedArray {
  if (shape.length === 0) return flat[0];
  const [first, ...rest] = shape;
  const step = sizeOf(rest);
  return Array.from({ length: first }, (_, i) => nest(flat.slice(i * step, (i + 1) * step), rest));
}

export const fmt = (shape: readonly number[]): string => `[${shape.join(',')}]`;

/** Wraps a kernel output (fresh storage) as a tensor. */
export function fromDeviceArray(array: DeviceArray): Tensor {
  return new Tensor(new Storage(array.buffer), array.shape, array.dtype ?? 'float32');
}

setTensorCheck((v: unknown): v is Tensor => v instanceof Tensor);
