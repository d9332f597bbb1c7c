/** Small tensor helpers shared by layers. */
import { zeros, type Tensor } from '@webgan/core';

/** A float32 tensor whose values an initialiser sets right after (zeros, so it is never garbage). */
export const empty = (shape: readonly number[]): Tensor => zeros(shape);

export const fmtShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

/** Throws naming the layer and the argument when a size is not a positive integer. */
export function checkPositive(layer: string, sizes: Record<string, number>): void {
  for (const [name, v] of Object.entries(sizes)) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${layer}: ${name} must be a positive integer, got ${v}`);
  }
}
