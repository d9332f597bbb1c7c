/**
 * Activation functions as WGSL expressions: shared by the elementwise kernels and by the
 * epilogues of matmul and convolution.
 */
export type Activation = 'none' | 'relu' | 'leaky_relu' | 'tanh' | 'sigmoid';

/** Options every kernel with a fused epilogue accepts. */
export interface EpilogueOptions {
  /** Negative slope of leaky_relu (PyTorch's default 0.01). */
  slope?: number;
}

/** A WGSL float literal that round-trips through f32. */
export function f32Literal(value: number): string {
  // WGSL rejects non-finite constant expressions; kernels that need them take a uniform or use
  // SPECIAL_FLOATS below.
  if (!Number.isFinite(value)) throw new Error(`cannot bake ${value} into WGSL as a constant`);
  const s = Math.fround(value).toPrecision(9);
  return /[.eE]/.test(s) ? `f32(${s})` : `f32(${s}.0)`;
}

/** WGSL expression applying `activation` to the f32 (or vecN<f32>) expression `v`. */
export function activationExpr(activation: Activation, v: string, slope = 0.01): string {
  switch (activation) {
    case 'none':
      return v;
    case 'relu':
      return `max(${v}, ${zeroLike(v)})`;
    case 'leaky_relu':
      return `select(${v} * ${f32Literal(slope)}, ${v}, ${v} > ${zeroLike(v)})`;
    case 'tanh':
      return `stable_tanh(${v})`;
    case 'sigmoid':
      return `stable_sigmoid(${v})`;
  }
}

/**
 * Helper functions the expressions above may call. WGSL's built-in tanh overflows to NaN for large
 * inputs on some drivers, and 1/(1+exp(-x)) overflows for very negative x; these do not.
 */
export const ACTIVATION_HELPERS = /* wgsl */ `
fn stable_tanh(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}
fn stable_sigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}
`;

/**
 * ±inf and NaN for WGSL, made from a variable so they are not constant expressions (which WGSL
 * rejects when they are not finite).
 */
export const SPECIAL_FLOATS = /* wgsl */ `
fn f32_from_bits(bits: u32) -> f32 { var b = bits; return bitcast<f32>(b); }
fn positive_inf() -> f32 { return f32_from_bits(0x7f800000u); }
fn negative_inf() -> f32 { return f32_from_bits(0xff800000u); }
fn not_a_number() -> f32 { return f32_from_bits(0x7fc00000u); }
`;

// The scalar form suffices: every kernel applies activations per element.
const zeroLike = (_v: string) => '0.0';
