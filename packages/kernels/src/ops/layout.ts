/**
 * Moving data without arithmetic: permute, slice, concat, pad, gather and its scatter-add
 * backward, cast and fill. permute, slice and concat are one strided-copy kernel with different
 * strides; pad and gather have their own index math.
 */
import type { Runtime } from '../runtime/runtime';
import { elementwiseProgram, packUniforms } from '../wgsl/elementwise-program';
import { allocArray, formatShape, normalizeAxis, sizeOf, stridesOf, type DeviceArray, type DType, guarded } from './array';

const wgslType = (dtype: DType | undefined) => (dtype === 'int32' ? 'i32' : 'f32');

/**
 * WGSL defining `src` = the source offset of output element `i`, where the output (row-major,
 * `shape`) reads the source at `offset + Σ coord[d]·srcStrides[d]`.
 */
function stridedOffset(shape: readonly number[], srcStrides: readonly number[], offset: number, name = 'src'): string {
  const lines = [`var ${name} = ${offset}u;`, 'var rest = i;'];
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] === 1) continue;
    lines.push(`${name} += (rest % ${shape[d]}u) * ${srcStrides[d]}u; rest = rest / ${shape[d]}u;`);
  }
  return lines.join('\n  ');
}

function stridedCopy(runtime: Runtime, name: string, x: DeviceArray, outShape: readonly number[], srcStrides: readonly number[], offset: number): DeviceArray {
  const { program, grid } = elementwiseProgram({
    name,
    key: `${outShape}|${srcStrides}|${offset}|${x.dtype ?? 'float32'}`,
    count: sizeOf(outShape),
    inputs: ['x'],
    intInputs: x.dtype === 'int32' ? ['x'] : [],
    outputType: wgslType(x.dtype),
    prelude: stridedOffset(outShape, srcStrides, offset),
    value: 'x[src]',
  });
  const out = allocArray(runtime, outShape, x.dtype ?? 'float32', name);
  runtime.dispatch(program, [x.buffer, out.buffer], grid.workgroups);
  return out;
}

/** Repeats `x` along its size-1 (or missing leading) dims to `shape` (NumPy broadcasting). */
export const broadcastTo = guarded(function broadcastTo(runtime: Runtime, x: DeviceArray, shape: readonly number[]): DeviceArray {
  const rank = shape.length;
  const offset = rank - x.shape.length;
  if (offset < 0 || x.shape.some((d, i) => d !== 1 && d !== shape[offset + i])) {
    throw new Error(`broadcastTo: shape ${formatShape(x.shape)} cannot be broadcast to ${formatShape(shape)}`);
  }
  const strides = stridesOf(x.shape);
  const srcStrides = shape.map((_, d) => (d < offset || x.shape[d - offset] === 1 ? 0 : strides[d - offset]));
  return stridedCopy(runtime, 'broadcast-to', x, shape, srcStrides, 0);
});

/** Reorders dimensions: output dim d is input dim perm[d]. */
export const permute = guarded(function permute(runtime: Runtime, x: DeviceArray, perm: readonly number[]): DeviceArray {
  const rank = x.shape.length;
  const sorted = [...perm].sort((a, b) => a - b);
  if (perm.length !== rank || sorted.some((p, i) => p !== i)) {
    throw new Error(`permute: [${perm}] is not a permutation of the ${rank} dims of shape ${formatShape(x.shape)}`);
  }
  const strides = stridesOf(x.shape);
  return stridedCopy(runtime, 'permute', x, perm.map((p) => x.shape[p]), perm.map((p) => strides[p]), 0);
});

/** The block of `x` starting at `begin` with `size` per dim (-1: to the end). */
export const slice = guarded(function slice(runtime: Runtime, x: DeviceArray, begin: readonly number[], size: readonly number[]): DeviceArray {
  const rank = x.shape.length;
  if (begin.length !== rank || size.length !== rank) {
    throw new Error(`slice: begin [${begin}] and size [${size}] must have one entry per dim of shape ${formatShape(x.shape)}`);
  }
  const outShape = size.map((s, d) => (s === -1 ? x.shape[d] - begin[d] : s));
  outShape.forEach((s, d) => {
    if (!Number.isInteger(begin[d]) || begin[d] < 0 || s < 0 || begin[d] + s > x.shape[d]) {
      throw new Error(`slice: begin [${begin}] size [${size}] is out of range for shape ${formatShape(x.shape)} (dim ${d})`);
    }
  });
  const strides = stridesOf(x.shape);
  const offset = begin.reduce((acc, b, d) => acc + b * strides[d], 0);
  if (isContiguousBlock(x.shape, outShape)) {
    // One block of memory (a range of rows, say): a buffer copy, no kernel.
    const out = allocArray(runtime, outShape, x.dtype ?? 'float32', 'slice');
    runtime.copy(x.buffer, offset * 4, out.buffer, 0, sizeOf(outShape) * 4);
    return out;
  }
  return stridedCopy(runtime, 'slice', x, outShape, strides, offset);
});

/**
 * Whether a block of `size` taken from an array of `shape` (at any start) is one contiguous run
 * of memory: every dim after the first one it cuts is whole, every dim before it has size 1.
 */
function isContiguousBlock(shape: readonly number[], size: readonly number[]): boolean {
  const cut = size.findIndex((s, d) => s !== shape[d]);
  if (cut === -1) return true;
  return size.slice(0, cut).every((s) => s === 1) && size.slice(cut + 1).every((s, i) => s === shape[cut + 1 + i]);
}

/** Joins arrays along `axis`; all other dims must match. */
export const concat = guarded(function concat(runtime: Runtime, xs: readonly DeviceArray[], axis: number): DeviceArray {
  if (xs.length === 0) throw new Error('concat: needs at least one array');
  const first = xs[0];
  const rank = first.shape.length;
  const a = normalizeAxis('concat', axis, rank, first.shape);
  for (const x of xs) {
    if (x.shape.length !== rank || x.shape.some((d, i) => i !== a && d !== first.shape[i]) || (x.dtype ?? 'float32') !== (first.dtype ?? 'float32')) {
      throw new Error(`concat: shapes ${xs.map((s) => formatShape(s.shape)).join(', ')} differ outside axis ${axis} (or in dtype)`);
    }
  }
  const outShape = [...first.shape];
  outShape[a] = xs.reduce((acc, x) => acc + x.shape[a], 0);
  const out = allocArray(runtime, outShape, first.dtype ?? 'float32', 'concat');
  const outStrides = stridesOf(outShape);
  const type = wgslType(first.dtype);
  // Inputs joined along the leading non-unit dim each fill one block of the output: buffer copies.
  const blocks = first.shape.slice(0, a).every((d) => d === 1);
  let start = 0;
  for (const x of xs) {
    const count = sizeOf(x.shape);
    if (count > 0 && blocks) {
      runtime.copy(x.buffer, 0, out.buffer, start * outStrides[a] * 4, count * 4);
    } else if (count > 0) {
      // Scatter form of the strided copy: input element i goes to its place in the output.
      const { program, grid } = elementwiseProgram({
        name: 'concat',
        key: `${x.shape}|${outShape}|${start}|${type}`,
        count,
        inputs: ['x'],
        intInputs: type === 'i32' ? ['x'] : [],
        outputType: type,
        prelude: stridedOffset(x.shape, outStrides, start * outStrides[a], 'dst'),
        value: 'x[i]',
        target: 'dst',
      });
      runtime.dispatch(program, [x.buffer, out.buffer], grid.workgroups);
    }
    start += x.shape[a];
  }
  return out;
});

/** Pads each dim with `padding[d] = [before, after]` elements of `value`. */
export const pad = guarded(function pad(runtime: Runtime, x: DeviceArray, padding: readonly (readonly [number, number])[], value: number = 0): DeviceArray {
  const rank = x.shape.length;
  if (padding.length !== rank || padding.some(([b, e]) => !Number.isInteger(b) || !Number.isInteger(e) || b < 0 || e < 0)) {
    throw new Error(`pad: padding ${JSON.stringify(padding)} must give [before, after] >= 0 for each dim of shape ${formatShape(x.shape)}`);
  }
  const outShape = x.shape.map((d, i) => d + padding[i][0] + padding[i][1]);
  const strides = stridesOf(x.shape);
  const lines = ['var src = 0u;', 'var inside = true;', 'var rest = i;'];
  for (let d = rank - 1; d >= 0; d--) {
    lines.push(
      `{ let c = i32(rest % ${outShape[d]}u) - ${padding[d][0]}; rest = rest / ${outShape[d]}u;`,
      `  inside = inside && c >= 0 && c < ${x.shape[d]}; src += u32(max(c, 0)) * ${strides[d]}u; }`,
    );
  }
  const { program, grid } = elementwiseProgram({
    name: 'pad',
    key: `${x.shape}|${JSON.stringify(padding)}`,
    count: sizeOf(outShape),
    inputs: ['x'],
    prelude: lines.join('\n  '),
    value: `select(params.value, x[min(src, ${Math.max(0, sizeOf(x.shape) - 1)}u)], inside)`,
    uniforms: ['value'],
  });
  const out = allocArray(runtime, outShape, 'float32', 'pad');
  runtime.dispatch(program, [x.buffer, out.buffer], grid.workgroups, packUniforms([value]));
  return out;
});

function checkIndices(op: string, indices: DeviceArray): void {
  if (indices.dtype !== 'int32') throw new Error(`${op}: indices must be int32, got ${indices.dtype ?? 'float32'}`);
}

/**
 * Picks slices of `x` along `axis` by int32 `indices`: output shape is
 * x.shape[:axis] + indices.shape + x.shape[axis+1:]. Out-of-range indices read as 0.
 */
export const gather = guarded(function gather(runtime: Runtime, x: DeviceArray, indices: DeviceArray, axis: number): DeviceArray {
  checkIndices('gather', indices);
  const a = normalizeAxis('gather', axis, x.shape.length, x.shape);
  const outer = sizeOf(x.shape.slice(0, a));
  const inner = sizeOf(x.shape.slice(a + 1));
  const axisSize = x.shape[a];
  const count = sizeOf(indices.shape);
  const outShape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
  const { program, grid } = elementwiseProgram({
    name: 'gather',
    key: `${outer}|${axisSize}|${inner}|${count}|${x.dtype ?? 'float32'}`,
    count: sizeOf(outShape),
    inputs: ['x', 'indices'],
    intInputs: x.dtype === 'int32' ? ['x', 'indices'] : ['indices'],
    outputType: wgslType(x.dtype),
    prelude: `
  let k = i % ${inner}u;
  let j = (i / ${inner}u) % ${Math.max(count, 1)}u;
  let o = i / ${inner * Math.max(count, 1)}u;
  let index = indices[j];
  let valid = index >= 0 && index < ${axisSize};`,
    value: `select(${x.dtype === 'int32' ? '0' : '0.0'}, x[(o * ${axisSize}u + u32(clamp(index, 0, ${Math.max(axisSize - 1, 0)}))) * ${inner}u + k], valid)`,
  });
  const out = allocArray(runtime, outShape, x.dtype ?? 'float32', 'gather');
  runtime.dispatch(program, [x.buffer, indices.buffer, out.buffer], grid.workgroups);
  return out;
});

/**
 * Backward of gather: adds each slice of `dy` into zeros(inputShape) at its index (repeated
 * indices accumulate). Each output element loops over the indices, so no float atomics are needed.
 */
export const gatherBackward = guarded(function gatherBackward(runtime: Runtime, dy: DeviceArray, indices: DeviceArray, axis: number, inputShape: readonly number[]): DeviceArray {
  checkIndices('gatherBackward', indices);
  const a = normalizeAxis('gatherBackward', axis, inputShape.length, inputShape);
  const outer = sizeOf(inputShape.slice(0, a));
  const inner = sizeOf(inputShape.slice(a + 1));
  const count = sizeOf(indices.shape);
  const expected = [...inputShape.slice(0, a), ...indices.shape, ...inputShape.slice(a + 1)];
  if (formatShape(expected) !== formatShape(dy.shape)) {
    throw new Error(`gatherBackward: dy ${formatShape(dy.shape)} does not match the gather output ${formatShape(expected)}`);
  }
  const { program, grid } = elementwiseProgram({
    name: 'gather-backward',
    key: `${outer}|${inputShape[a]}|${inner}|${count}`,
    count: sizeOf(inputShape),
    inputs: ['dy', 'indices'],
    intInputs: ['indices'],
    prelude: `
  let k = i % ${inner}u;
  let row = i32((i / ${inner}u) % ${inputShape[a]}u);
  let o = i / ${inner * inputShape[a]}u;
  var acc = 0.0;
  for (var j = 0u; j < ${count}u; j++) {
    if (indices[j] == row) { acc += dy[(o * ${count}u + j) * ${inner}u + k]; }
  }`,
    value: 'acc',
  });
  const out = allocArray(runtime, inputShape, 'float32', 'gather-backward');
  runtime.dispatch(program, [dy.buffer, indices.buffer, out.buffer], grid.workgroups);
  return out;
});

/** Converts between int32 and float32 (float to int truncates toward zero). */
export const cast = guarded(function cast(runtime: Runtime, x: DeviceArray, dtype: DType): DeviceArray {
  const from = x.dtype ?? 'float32';
  const { program, grid } = elementwiseProgram({
    name: `cast.${from}-${dtype}`,
    key: '',
    count: sizeOf(x.shape),
    inputs: ['x'],
    intInputs: from === 'int32' ? ['x'] : [],
    outputType: wgslType(dtype),
    value: `${wgslType(dtype)}(x[i])`,
  });
  const out = allocArray(runtime, x.shape, dtype, program.name);
  runtime.dispatch(program, [x.buffer, out.buffer], grid.workgroups);
  return out;
});

/** A new array of `shape` with every element `value`. */
/** Fills of at most this many elements are uploaded rather than run as a kernel. */
const UPLOADED_FILL_LIMIT = 1024;

export const fill = guarded(function fill(runtime: Runtime, shape: readonly number[], value: number, dtype: DType = 'float32'): DeviceArray {
  const count = sizeOf(shape);
  if (count > 0 && count <= UPLOADED_FILL_LIMIT) {
    // A loss target or a gradient seed: written from the host, no launch.
    const values = dtype === 'int32' ? new Int32Array(count).fill(Math.trunc(value)) : new Float32Array(count).fill(value);
    return { buffer: runtime.upload(values, 'fill'), shape: [...shape], dtype };
  }
  const out = allocArray(runtime, shape, dtype, 'fill');
  if (count === 0) return out;
  // The value travels as a uniform: any float (±inf, NaN) and no pipeline per value.
  const { program, grid } = elementwiseProgram({
    name: `fill.${dtype}`,
    key: '',
    count,
    inputs: [],
    outputType: wgslType(dtype),
    // int32 values travel as their bits, so every int32 is exact.
    value: dtype === 'int32' ? 'bitcast<i32>(params.value)' : 'params.value',
    uniforms: ['value'],
  });
  const uniforms = dtype === 'int32' ? new Int32Array([Math.trunc(value), 0, 0, 0]) : packUniforms([value]);
  runtime.dispatch(program, [out.buffer], grid.workgroups, uniforms);
  return out;
});
