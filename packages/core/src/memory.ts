/**
 * Ownership of GPU memory: tidy scopes dispose what a block created, keep() exempts a tensor,
 * memory() reports what is alive. A tensor registers itself when it is created (see Tensor).
 */
import { getRuntime } from '@webgan/kernels';
import type { Tensor } from './tensor';

const live = new Set<Tensor>();
const scopes: Set<Tensor>[] = [];

/** @internal Called by the Tensor constructor. */
export function track(tensor: Tensor): void {
  live.add(tensor);
  scopes[scopes.length - 1]?.add(tensor);
}

/** @internal Called by Tensor.dispose. */
export function untrack(tensor: Tensor): void {
  live.delete(tensor);
}

/** Exempts a tensor from the enclosing tidy scopes: it survives them until disposed by hand. */
export function keep<T extends Tensor>(tensor: T): T {
  for (const scope of scopes) scope.delete(tensor);
  return tensor;
}

/** Tensors found in a tidy result (a tensor, or arrays / plain objects of them). */
function collectTensors(value: unknown, into: Set<Tensor>, isTensor: (v: unknown) => v is Tensor): void {
  if (isTensor(value)) into.add(value);
  else if (Array.isArray(value)) for (const v of value) collectTensors(v, into, isTensor);
  else if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, into, isTensor);
  }
}

let tensorCheck: (v: unknown) => v is Tensor = (_v): _v is Tensor => false;
/** @internal Set by tensor.ts to break the import cycle. */
export function setTensorCheck(check: (v: unknown) => v is Tensor): void {
  tensorCheck = check;
}

function closeScope(scope: Set<Tensor>, result: unknown): void {
  const returned = new Set<Tensor>();
  collectTensors(result, returned, tensorCheck);
  scopes.pop();
  for (const t of scope) {
    if (returned.has(t)) scopes[scopes.length - 1]?.add(t);
    else t.dispose();
  }
}

/**
 * Runs `body` and disposes every tensor it created except those it returns (a tensor, or arrays
 * and plain objects of tensors) and those passed to keep(). Nested scopes work as expected.
 * An async body is awaited before disposing: do not interleave two async tidy scopes (for
 * example two concurrent training loops), since a tensor belongs to the innermost open scope.
 */
export function tidy<T>(body: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = body();
  } catch (error) {
    closeScope(scope, undefined);
    throw error;
  }
  if (result instanceof Promise) {
    return result.then(
      (value) => {
        closeScope(scope, value);
        return value;
      },
      (error) => {
        closeScope(scope, undefined);
        throw error;
      },
    ) as T;
  }
  closeScope(scope, result);
  return result;
}

export interface MemoryInfo {
  /** Tensors created and not disposed. */
  liveTensors: number;
  /** GPU bytes held by live buffers (tensors, saved-for-backward storage, optimizer state). */
  bytesInUse: number;
  /** GPU bytes pooled for reuse. */
  bytesPooled: number;
  /** GPU buffers ever created (flat in a steady training loop). */
  buffersCreated: number;
}

export function memory(): MemoryInfo {
  const stats = getRuntime().stats();
  return { liveTensors: live.size, bytesInUse: stats.bytesInUse, bytesPooled: stats.bytesPooled, buffersCreated: stats.buffersCreated };
}
