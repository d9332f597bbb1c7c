/**
 * Spectral normalisation (Miyato et al. 2018), with the state dict keys of PyTorch's
 * torch.nn.utils.spectral_norm: the trained tensor is `weight_orig`; the power-iteration vectors
 * `weight_u` [rows] and `weight_v` [cols] are buffers; every forward uses weight_orig / σ, where
 * σ = uᵀ W v estimates W's largest singular value. In training mode each forward first refines
 * u and v by power iteration (no gradient flows through them, as in the paper); eval mode reuses
 * the stored vectors, so evaluation is deterministic.
 */
import { clamp, div, matmul, mul, noGrad, permute, randn, reshape, sqrt, square, sum, zeros, type Generator, type Tensor } from '@webgan/core';
import type { Module } from './module';
import { ConvTranspose2d } from './layers/conv';

export interface SpectralNormOptions {
  /** Power iterations per training forward (PyTorch's default 1). */
  powerIterations?: number;
  eps?: number;
  /** The dimension of the weight that indexes outputs: 1 for ConvTranspose2d, 0 otherwise (PyTorch's rule). */
  dim?: number;
  generator?: Generator;
}

/** v / max(‖v‖, eps) */
function normalize(v: Tensor, eps: number): Tensor {
  const sq = square(v);
  const total = sum(sq);
  const norm = sqrt(total);
  const safe = clamp(norm, eps, 3.4e38);
  const out = div(v, safe);
  for (const t of [sq, total, norm, safe]) t.dispose();
  return out;
}

/** A new tensor with t's values (its own storage). */
function copyOf(t: Tensor): Tensor {
  return zeros(t.shape).copy_(t);
}

/** W viewed as a matrix [shape[dim], rest]. */
function asMatrix(weight: Tensor, dim: number): Tensor {
  if (dim === 0) return reshape(weight, [weight.shape[0], weight.size / weight.shape[0]]);
  const perm = [dim, ...weight.shape.map((_, i) => i).filter((i) => i !== dim)];
  const moved = permute(weight, perm);
  const m = reshape(moved, [weight.shape[dim], weight.size / weight.shape[dim]]);
  moved.dispose();
  return m;
}

/** Adds spectral normalisation of `module`'s `name` parameter in place and returns the module. */
export function spectralNorm<M extends Module>(module: M, options: SpectralNormOptions & { name?: string } = {}): M {
  const name = options.name ?? 'weight';
  const iterations = options.powerIterations ?? 1;
  const eps = options.eps ?? 1e-12;
  // The `_orig` check comes first: after a first spectralNorm, `name` is no longer a parameter,
  // so checking it first would report "no parameter" instead of the real reason.
  if (module.hasParameter(`${name}_orig`)) throw new Error(`spectralNorm: ${module.constructor.name}.${name} is already spectrally normalised`);
  if (!module.hasParameter(name)) throw new Error(`spectralNorm: ${module.constructor.name} has no parameter '${name}'`);
  if (!Number.isInteger(iterations) || iterations < 0) throw new Error(`spectralNorm: powerIterations must be a non-negative integer, got ${iterations}`);
  const dim = options.dim ?? (module instanceof ConvTranspose2d ? 1 : 0);
  const rank = module.tensor(name).rank;
  // Validated before the weight is unregistered, so that a refused call leaves the module intact.
  if (!(Number.isInteger(dim) && dim >= 0 && dim < rank)) throw new Error(`spectralNorm: dim ${dim} is out of range for weight [${module.tensor(name).shape.join(',')}]`);
  const weight = module.unregisterParameter(name)!;
  const rows = weight.shape[dim];
  const cols = weight.size / rows;
  module.registerParameter(`${name}_orig`, weight);
  const u0 = randn([rows], { generator: options.generator });
  const v0 = randn([cols], { generator: options.generator });
  module.registerBuffer(`${name}_u`, normalize(u0, eps));
  module.registerBuffer(`${name}_v`, normalize(v0, eps));
  u0.dispose();
  v0.dispose();

  const powerIterate = (): void => noGrad(() => {
    const w = asMatrix(module.tensor(`${name}_orig`), dim);
    const u = module.tensor(`${name}_u`);
    const v = module.tensor(`${name}_v`);
    for (let i = 0; i < iterations; i++) {
      const u2 = reshape(u, [rows, 1]);
      const wtu = matmul(w, u2, { transposeA: true });
      const vNew = normalize(wtu, eps);
      const v2 = reshape(vNew, [cols]);
      v.copy_(v2);
      const vCol = reshape(v, [cols, 1]);
      const wv = matmul(w, vCol);
      const uNew = normalize(wv, eps);
      const uFlat = reshape(uNew, [rows]);
      u.copy_(uFlat);
      for (const t of [u2, wtu, vNew, v2, vCol, wv, uNew, uFlat]) t.dispose();
    }
    w.dispose();
  });

  const normalizedWeight = (): Tensor => {
    if (module.training && iterations > 0) powerIterate();
    const orig = module.tensor(`${name}_orig`);
    const w = asMatrix(orig, dim);
    // σ's backward keeps u and v (saved by matmul and mul); snapshot them, because the buffers
    // are overwritten in place by the next training forward, which can run before this
    // forward's backward (D(real) and D(fake), then one backward): without the copy, this
    // forward's gradient would use the later u, v. PyTorch clones u and v for the same reason.
    const u = copyOf(module.tensor(`${name}_u`));
    const v = copyOf(module.tensor(`${name}_v`));
    const vCol = reshape(v, [cols, 1]);
    const wv = matmul(w, vCol);
    const uCol = reshape(u, [rows, 1]);
    const prod = mul(uCol, wv);
    const sigma = sum(prod);
    const out = div(orig, sigma);
    for (const t of [w, u, v, vCol, wv, uCol, prod, sigma]) t.dispose();
    return out;
  };

  const forward = module.forward.bind(module);
  module.forward = (...inputs: Tensor[]): Tensor => {
    const w = normalizedWeight();
    module.setDerived(name, w);
    try {
      return forward(...inputs);
    } finally {
      module.setDerived(name, null);
      w.dispose();
    }
  };
  return module;
}
