/**
 * Index math for reading inputs whose shapes broadcast against an output shape (NumPy rules).
 * Adjacent dimensions that broadcast the same way for every input are merged first, so the
 * common cases (same shape, scalar, row or column vector) compile to one or two divisions.
 */
import { formatShape } from '../ops/array';

/** The broadcast shape of `shapes`, or an error naming the op and every shape. */
export function broadcastShapes(op: string, shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (let d = 0; d < rank; d++) {
    for (const shape of shapes) {
      const size = shape[shape.length - rank + d] ?? 1;
      if (size === 1) continue;
      if (out[d] !== 1 && out[d] !== size) {
        throw new Error(`${op}: shapes ${shapes.map(formatShape).join(' and ')} cannot be broadcast together (dimension ${d - rank} differs)`);
      }
      out[d] = size;
    }
  }
  return out;
}

/**
 * WGSL statements that define `idx<k>` (u32) for each input k, given the flat output index `i`.
 */
export function broadcastIndexing(outShape: readonly number[], inShapes: readonly (readonly number[])[]): string {
  const rank = outShape.length;
  // Per input, per output dim: does it advance with the dim (1) or stay (0)?
  const advances = inShapes.map((shape) => outShape.map((size, d) => (size !== 1 && (shape[shape.length - rank + d] ?? 1) === size ? 1 : 0)));
  // Merge adjacent dims whose pattern is identical for all inputs; drop size-1 dims.
  const dims: { size: number; pattern: number[] }[] = [];
  for (let d = 0; d < rank; d++) {
    if (outShape[d] === 1) continue;
    const pattern = advances.map((a) => a[d]);
    const last = dims[dims.length - 1];
    if (last && last.pattern.every((p, k) => p === pattern[k])) last.size *= outShape[d];
    else dims.push({ size: outShape[d], pattern });
  }
  const lines: string[] = [];
  // Same-shape inputs (advance in every dim) just use i.
  const direct = inShapes.map((_, k) => dims.every((dim) => dim.pattern[k] === 1));
  const needsDecomposition = direct.some((d) => !d);
  if (needsDecomposition) {
    lines.push('var rest = i;');
    // Strides of each input over the merged dims.
    const strides = inShapes.map(() => 1);
    const coords: { name: string; strides: number[] }[] = [];
    for (let d = dims.length - 1; d >= 0; d--) {
      const name = `c${d}`;
      const size = dims[d].size;
      if (d === 0) lines.push(`let ${name} = rest;`);
      else lines.push(`let ${name} = rest % ${size}u; rest = rest / ${size}u;`);
      coords.push({ name, strides: dims[d].pattern.map((p, k) => (p ? strides[k] : 0)) });
      dims[d].pattern.forEach((p, k) => {
        if (p) strides[k] *= size;
      });
    }
    inShapes.forEach((_, k) => {
      if (direct[k]) return;
      const terms = coords.filter((c) => c.strides[k] !== 0).map((c) => (c.strides[k] === 1 ? c.name : `${c.name} * ${c.strides[k]}u`));
      lines.push(`let idx${k} = ${terms.length ? terms.join(' + ') : '0u'};`);
    });
  }
  inShapes.forEach((_, k) => {
    if (direct[k]) lines.push(`let idx${k} = i;`);
  });
  return lines.join('\n  ');
}
