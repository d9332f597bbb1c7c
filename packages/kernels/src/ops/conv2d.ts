/**
 * conv2d (NCHW, weight [out, in, kh, kw], groups = 1): forward with fused bias + activation,
 * backward-data, backward-filter and the bias gradient. Each pass is an implicit GEMM
 * (`wgsl/conv-gemm.ts`) on the shared register-blocked skeleton.
 */
import type { Runtime } from '../runtime/runtime';
import { CHANNELS_LAST_PERMUTATIONS, convBackwardDataBest, convBackwardFilterProblem, convForwardProblem, phasedBackwardData, type ConvLayout } from '../wgsl/conv-gemm';
import { gemmProgram, type GemmProblem } from '../wgsl/gemm';
import { canShareAcrossSubgroup, chooseGemmTiling } from '../wgsl/tiling';
import { allocArray, assertFloat, formatShape, type DeviceArray, guarded } from './array';
import { conv2dGeometry, type Conv2dParams, type ConvGeometry } from './conv-geometry';
import { permute } from './layout';
import { checkBias, matmul, type Epilogue } from './matmul';
import { reduce } from './reduce';

export type { Conv2dParams } from './conv-geometry';

/** Runs a conv GEMM problem over `inputs` into a new array of `outShape`. */
export const runConvGemm = guarded(function runConvGemm(runtime: Runtime, problem: GemmProblem, inputs: DeviceArray[], outShape: number[], epilogue: Epilogue = {}): DeviceArray {
  const out = allocArray(runtime, outShape, 'float32', problem.name);
  const withBias = epilogue.bias ? { ...problem, inputs: [...problem.inputs, ['bias', 'f32'] as const] } : problem;
  const gemmEpilogue = { bias: epilogue.bias ? 'bias' : undefined, activation: epilogue.activation, slope: epilogue.slope };
  const buffers = [...inputs.map((a) => a.buffer), ...(epilogue.bias ? [epilogue.bias.buffer] : []), out.buffer];
  const { program, workgroups, uniforms } = gemmProgram(withBias, chooseGemmTiling(runtime, withBias, gemmEpilogue, buffers), gemmEpilogue);
  runtime.dispatch(program, buffers, workgroups, uniforms);
  return out;
});

export type ConvPass = keyof typeof CHANNELS_LAST_PERMUTATIONS;

const PROBLEMS: Record<ConvPass, (name: string, g: ConvGeometry, layout: ConvLayout) => GemmProblem> = {
  forward: convForwardProblem,
  'backward-data': convBackwardDataBest,
  'backward-filter': convBackwardFilterProblem,
};

/**
 * The layout a pass reads its inputs in. Channels-last copies pay on CPU adapters whose GEMMs
 * share an operand across the subgroup (lavapipe), where the innermost loop then loads four k per
 * vec4: measured there on the DCGAN's [64,64,14,14] ↔ [64,128,7,7] layer, the forward pass
 * 56 → 44 ms with both permutations included. The layer must be wide enough for those tilings
 * (≥ 64 rows, ≥ 32 columns), and the innermost loop a multiple of 4.
 */
export function convLayout(runtime: Runtime, pass: ConvPass, g: ConvGeometry): ConvLayout {
  return layoutFor(runtime, pass, g, PROBLEMS[pass]('conv', g, 'nchw'));
}

/** `convLayout`, given the pass's NCHW problem (for its GEMM's rows and columns). */
function layoutFor(runtime: Runtime, pass: ConvPass, g: ConvGeometry, problem: GemmProblem): ConvLayout {
  const wideEnough = problem.rows >= 64 && problem.cols >= 32;
  const supported = pass !== 'backward-data' || phasedBackwardData(g);
  const cpuSharing = runtime.adapter.isFallbackAdapter && canShareAcrossSubgroup(runtime);
  return cpuSharing && supported && wideEnough && CHANNELS_LAST_PERMUTATIONS[pass].loop(g) % 4 === 0 ? 'channels-last' : 'nchw';
}

/**
 * Runs one conv pass (conv2d's three, which conv-transpose2d's reuse) on its two inputs, in the
 * layout `convLayout` picks: permuted copies are made, bound twice (f32 and vec4 views) and
 * released once the pass is queued.
 */
export function runConvPass(runtime: Runtime, pass: ConvPass, name: string, g: ConvGeometry, inputs: [DeviceArray, DeviceArray], outShape: number[], epilogue: Epilogue = {}): DeviceArray {
  const nchw = PROBLEMS[pass](name, g, 'nchw');
  const layout = layoutFor(runtime, pass, g, nchw);
  if (layout === 'nchw') return runConvGemm(runtime, nchw, inputs, outShape, epilogue);
  const copies = inputs.map((x, i) => permute(runtime, x, CHANNELS_LAST_PERMUTATIONS[pass].inputs[i]));
  try {
    return runConvGemm(runtime, PROBLEMS[pass](name, g, layout), [...copies, ...copies], outShape, epilogue);
  } finally {
    for (const copy of copies) runtime.release(copy.buffer);
  }
}

function checkSame(op: string, name: string, got: readonly number[], expected: readonly number[]): void {
  if (formatShape(got) !== formatShape(expected)) throw new Error(`${op}: ${name} ${formatShape(got)} does not match the expected ${formatShape(expected)}`);
}

const outputShape = (g: ConvGeometry) => [g.N, g.O, g.OH, g.OW];
const inputShape = (g: ConvGeometry) => [g.N, g.C, g.H, g.W];
const weightShape = (g: ConvGeometry) => [g.O, g.C, g.KH, g.KW];

/** y[N,O,OH,OW] = act(conv(x[N,C,H,W], w[O,C,KH,KW]) + bias[O]). */
export const conv2d = guarded(function conv2d(runtime: Runtime, x: DeviceArray, w: DeviceArray, params: Conv2dParams & Epilogue = {}): DeviceArray {
  assertFloat('conv2d', 'x', x);
  assertFloat('conv2d', 'weight', w);
  const g = conv2dGeometry('conv2d', x.shape, w.shape, params);
  checkBias('conv2d', params.bias, g.O);
  return runConvPass(runtime, 'forward', 'conv2d', g, [x, w], outputShape(g), params);
});

/** dx[N,C,H,W] from dy[N,O,OH,OW] and w. */
export const conv2dBackwardData = guarded(function conv2dBackwardData(runtime: Runtime, dy: DeviceArray, w: DeviceArray, xShape: readonly number[], params: Conv2dParams = {}): DeviceArray {
  const g = conv2dGeometry('conv2dBackwardData', xShape, w.shape, params);
  checkSame('conv2dBackwardData', 'dy', dy.shape, outputShape(g));
  if (isWholeWindow(g)) {
    // One window covers the whole input (a discriminator's last conv; as a transposed conv, a
    // generator's first layer z → KH×KW): dx[n] = Σ_o dy[n,o]·w[o] is a matmul
    // [N, O]·[O, C·KH·KW]. The gather kernel would visit KH·KW taps per input pixel for one
    // valid one (measured 72 ms against 2.4 ms for 64 → 32×7×7 at batch 64 on lavapipe).
    const dx = matmul(runtime, { ...dy, shape: [g.N, g.O] }, { ...w, shape: [g.O, g.C * g.KH * g.KW] });
    return { ...dx, shape: inputShape(g) };
  }
  return runConvPass(runtime, 'backward-data', 'conv2d.backward-data', g, [dy, w], inputShape(g));
});

/** A 1×1 output from an input exactly one unpadded, undilated window in size. */
function isWholeWindow(g: ConvGeometry): boolean {
  return g.OH === 1 && g.OW === 1 && g.H === g.KH && g.W === g.KW && g.padH === 0 && g.padW === 0 && g.dilationH === 1 && g.dilationW === 1;
}

/** dw[O,C,KH,KW] from x and dy. */
export const conv2dBackwardFilter = guarded(function conv2dBackwardFilter(runtime: Runtime, x: DeviceArray, dy: DeviceArray, wShape: readonly number[], params: Conv2dParams = {}): DeviceArray {
  const g = conv2dGeometry('conv2dBackwardFilter', x.shape, wShape, params);
  checkSame('conv2dBackwardFilter', 'dy', dy.shape, outputShape(g));
  return runConvPass(runtime, 'backward-filter', 'conv2d.backward-filter', g, [x, dy], weightShape(g));
});

/** db[O] = Σ over N, OH, OW of dy. */
export const conv2dBackwardBias = guarded(function conv2dBackwardBias(runtime: Runtime, dy: DeviceArray): DeviceArray {
  if (dy.shape.length !== 4) throw new Error(`conv2dBackwardBias: dy ${formatShape(dy.shape)} must be 4-D`);
  return reduce(runtime, 'sum', dy, [0, 2, 3]);
});
