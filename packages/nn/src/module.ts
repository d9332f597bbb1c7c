/**
 * Module: the unit models are built from, in PyTorch's vocabulary. A module owns named parameters
 * (tensors that require gradients), named buffers (state that is saved but not trained, such as
 * BatchNorm's running statistics) and named child modules; names join with dots into the keys of
 * its state dict, which are PyTorch's keys for the same architecture.
 *
 * Registration is explicit (`registerParameter`, `registerBuffer`, `registerModule`) because
 * JavaScript has no attribute hook; registration order is the order of `parameters()` and of the
 * state dict, as in PyTorch.
 */
import { Tensor, keep, tensor } from '@webgan/core';
import { hostArray, int64Scalar, type HostArray } from './host-array';

/** A state dict value: a live tensor (shares memory with the module) or host data. */
export type StateValue = Tensor | HostArray;
/** Ordered name → value map; keys are PyTorch `state_dict` keys. */
export type StateDict = Map<string, StateValue>;

export const isTensorValue = (v: StateValue): v is Tensor => v instanceof Tensor;

export interface LoadResult {
  /** Keys the module has but the state dict did not provide (only when strict is false). */
  missingKeys: string[];
  /** Keys the state dict has that the module does not (only when strict is false). */
  unexpectedKeys: string[];
}

const shapeText = (shape: readonly number[]): string => `[${shape.join(',')}]`;

export abstract class Module {
  /** False after eval(): BatchNorm uses running statistics, Dropout passes inputs through. */
  training = true;
  private readonly params = new Map<string, Tensor | null>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly intBuffers = new Map<string, number>();
  private readonly children = new Map<string, Module>();
  /** Tensors computed from parameters before each forward (spectralNorm's normalised weight). */
  private readonly derived = new Map<string, Tensor>();

  abstract forward(...inputs: Tensor[]): Tensor;

  /** Registers (or replaces) a trainable tensor under `name`; it is kept out of tidy scopes. */
  registerParameter(name: string, value: Tensor | null): Tensor | null {
    checkName(this, name);
    if (value) {
      if (value.dtype !== 'float32') throw new Error(`${this.constructor.name}.registerParameter('${name}'): parameters must be float32, got ${value.dtype}`);
      value.requiresGrad = true;
      keep(value);
    }
    // Re-registering the tensor already held under `name` must not dispose it (it stays in use).
    const old = this.params.get(name);
    if (old && old !== value) old.dispose();
    this.params.set(name, value);
    return value;
  }

  /** Registers (or replaces) a non-trainable tensor saved in the state dict. */
  registerBuffer(name: string, value: Tensor): Tensor {
    checkName(this, name);
    keep(value);
    const old = this.buffers.get(name);
    if (old && old !== value) old.dispose();
    this.buffers.set(name, value);
    return value;
  }

  /**
   * Registers an integer counter kept on the host and saved as an int64 scalar (BatchNorm's
   * num_batches_tracked): counting on the host avoids a GPU dispatch per forward.
   */
  protected registerCounter(name: string, value = 0): void {
    checkName(this, name);
    this.intBuffers.set(name, value);
  }
  protected counter(name: string): number {
    return this.intBuffers.get(name) ?? 0;
  }
  protected setCounter(name: string, value: number): void {
    if (!this.intBuffers.has(name)) throw new Error(`${this.constructor.name}: no counter '${name}'`);
    this.intBuffers.set(name, value);
  }

  registerModule<M extends Module>(name: string, module: M): M {
    checkName(this, name);
    this.children.set(name, module);
    return module;
  }

  /** @internal Removes a parameter without disposing it (spectralNorm re-registers it under another name). */
  unregisterParameter(name: string): Tensor | null {
    const value = this.params.get(name) ?? null;
    this.params.delete(name);
    return value;
  }

  /** @internal Stands `value` in for `name` during a forward (null removes it). */
  setDerived(name: string, value: Tensor | null): void {
    if (value) this.derived.set(name, value);
    else this.derived.delete(name);
  }

  /**
   * The tensor a forward uses under `name`: a derived tensor (spectralNorm's weight) during the
   * forward, otherwise the parameter or buffer registered on this module (not its children).
   */
  tensor(name: string): Tensor {
    const t = this.derived.get(name) ?? this.params.get(name) ?? this.buffers.get(name);
    if (!t) throw new Error(`${this.constructor.name} has no parameter or buffer '${name}'`);
    return t;
  }
  hasParameter(name: string): boolean {
    return this.params.get(name) != null;
  }
  hasTensor(name: string): boolean {
    return this.derived.has(name) || this.params.get(name) != null || this.buffers.has(name);
  }

  *namedChildren(): Generator<[string, Module]> {
    yield* this.children;
  }
  /** Every module in the tree with its dotted name; the root is ''. */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this.children) yield* child.namedModules(prefix ? `${prefix}.${name}` : name);
  }
  *modules(): Generator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }

  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    for (const [modName, m] of this.namedModules(prefix)) {
      for (const [name, p] of m.params) {
        if (p && !seen.has(p)) {
          seen.add(p);
          yield [modName ? `${modName}.${name}` : name, p];
        }
      }
    }
  }
  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }
  *namedBuffers(prefix = ''): Generator<[string, Tensor]> {
    for (const [modName, m] of this.namedModules(prefix)) {
      for (const [name, b] of m.buffers) yield [modName ? `${modName}.${name}` : name, b];
    }
  }
  buffersList(): Tensor[] {
    return [...this.namedBuffers()].map(([, b]) => b);
  }

  /** Number of trainable scalars. */
  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Drops the accumulated gradients of every parameter. */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /**
   * Parameters, buffers and counters under PyTorch's keys, in registration order per module.
   * Tensor values are the live tensors (no copy), as in PyTorch.
   */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    for (const [modName, m] of this.namedModules()) {
      const key = (name: string): string => (modName ? `${modName}.${name}` : name);
      for (const [name, p] of m.params) if (p) out.set(key(name), p);
      for (const [name, b] of m.buffers) out.set(key(name), b);
      for (const [name, n] of m.intBuffers) out.set(key(name), int64Scalar(n));
    }
    return out;
  }

  /**
   * Copies values into this module's tensors in place (references to them stay valid). Strict
   * (the default) requires exactly the module's keys; shapes must always match.
   */
  loadStateDict(state: ReadonlyMap<string, StateValue> | Record<string, StateValue>, strict = true): LoadResult {
    const given = state instanceof Map ? state : new Map(Object.entries(state));
    const own = new Map<string, { module: Module; name: string; kind: 'tensor' | 'counter' }>();
    for (const [modName, m] of this.namedModules()) {
      const key = (name: string): string => (modName ? `${modName}.${name}` : name);
      for (const [name, p] of m.params) if (p) own.set(key(name), { module: m, name, kind: 'tensor' });
      for (const name of m.buffers.keys()) own.set(key(name), { module: m, name, kind: 'tensor' });
      for (const name of m.intBuffers.keys()) own.set(key(name), { module: m, name, kind: 'counter' });
    }
    const missingKeys = [...own.keys()].filter((k) => !given.has(k));
    const unexpectedKeys = [...given.keys()].filter((k) => !own.has(k));
    if (strict && (missingKeys.length || unexpectedKeys.length)) {
      const parts = [];
      if (missingKeys.length) parts.push(`missing keys: ${missingKeys.join(', ')}`);
      if (unexpectedKeys.length) parts.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
      throw new Error(`loadStateDict(${this.constructor.name}): ${parts.join('; ')}`);
    }
    // Check every shape before writing anything, so a bad state dict changes nothing.
    const writes: (() => void)[] = [];
    for (const [key, target] of own) {
      const value = given.get(key);
      if (value === undefined) continue;
      if (target.kind === 'counter') {
        writes.push(counterWrite(target.module, target.name, key, value));
        continue;
      }
      const t = target.module.tensor(target.name);
      const shape: readonly number[] = value.shape;
      if (shape.length !== t.shape.length || shape.some((d, i) => d !== t.shape[i])) {
        throw new Error(`loadStateDict(${this.constructor.name}): '${key}' has shape ${shapeText(shape)} in the state dict but ${shapeText(t.shape)} in the module`);
      }
      // The dtype is checked here too, not inside the write: a bad dtype on a later key must not
      // leave the earlier keys already written.
      checkDType(t, value, key);
      writes.push(() => assignValue(t, value));
    }
    for (const write of writes) write();
    return { missingKeys, unexpectedKeys };
  }

  /** Disposes every parameter and buffer of the tree. */
  dispose(): void {
    for (const p of this.params.values()) p?.dispose();
    for (const b of this.buffers.values()) b.dispose();
    this.params.clear();
    this.buffers.clear();
    // Through each child's own dispose(), so that overrides run for children too (BatchNorm
    // without affine frees its fixed γ = 1, β = 0 there; walking modules() skipped that and leaked).
    for (const child of this.children.values()) child.dispose();
  }

  /** One line per module with its parameter shapes, like PyTorch's repr. */
  toString(): string {
    const lines: string[] = [];
    for (const [name, m] of this.namedModules()) {
      const depth = name ? name.split('.').length : 0;
      const own = [...m.params].filter(([, p]) => p).map(([n, p]) => `${n}${shapeText(p!.shape)}`);
      lines.push(`${'  '.repeat(depth)}${name ? `(${name}): ` : ''}${m.describe()}${own.length ? ` {${own.join(', ')}}` : ''}`);
    }
    return lines.join('\n');
  }
  /** A short description of this module's configuration (overridden by layers). */
  describe(): string {
    return this.constructor.name;
  }
}

function checkName(module: Module, name: string): void {
  if (!name || name.includes('.')) throw new Error(`${module.constructor.name}: invalid name '${name}' (must be non-empty and contain no '.')`);
}

function counterWrite(module: Module, name: string, key: string, value: StateValue): () => void {
  if (isTensorValue(value) || value.shape.length !== 0) {
    throw new Error(`loadStateDict: '${key}' must be an integer scalar (int64), got ${isTensorValue(value) ? 'a tensor' : `${value.dtype} ${shapeText(value.shape)}`}`);
  }
  const n = Number(value.data[0]);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`loadStateDict: '${key}' must be a non-negative integer, got ${value.data[0]}`);
  return () => (module as unknown as { setCounter(n: string, v: number): void }).setCounter(name, n);
}

/** Throws unless `value` can be written into `target` (same dtype; no int64 into a tensor). */
function checkDType(target: Tensor, value: StateValue, key: string): void {
  const ok = isTensorValue(value) ? value.dtype === target.dtype : value.dtype !== 'int64' && (value.dtype === 'int32') === (target.dtype === 'int32');
  if (!ok) throw new Error(`loadStateDict: '${key}' is ${value.dtype} in the state dict but ${target.dtype} in the module`);
}

/** Writes a state value (already checked by checkDType) into a live tensor in place. */
function assignValue(target: Tensor, value: StateValue): void {
  if (isTensorValue(value)) {
    if (value !== target) target.copy_(value);
    return;
  }
  const source = tensor(value.data as Float32Array | Int32Array, value.shape, { dtype: target.dtype });
  target.copy_(source);
  source.dispose();
}

/** A host array from a tensor's values (for saving). */
export async function toHostArray(value: StateValue): Promise<HostArray> {
  if (!isTensorValue(value)) return value;
  const data = await value.data();
  return hostArray(value.dtype, value.shape, data);
}
