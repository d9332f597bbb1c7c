/**
 * Fréchet distance between Gaussians fitted to two feature sets — the formula of FID (Heusel et al.
 * 2017), computed on the host in float64.
 *
 * This is "FID-style", not FID: the features come from webgan's own small MNIST classifier
 * (64-wide penultimate layer), not from Inception-v3's 2048-wide pool layer. Numbers are therefore
 * comparable only between webgan runs that use the same classifier weights, never with FIDs
 * published elsewhere. Like FID it is biased upwards for small sample counts, so compare runs at the
 * same number of samples.
 */
import { meanAndCovariance, trace, traceSqrtProduct } from './linalg64';
import type { MatrixLike } from './linalg64';

/**
 * Squared Fréchet (2-Wasserstein) distance between N(μ1, C1) and N(μ2, C2):
 * ‖μ1 − μ2‖² + tr(C1) + tr(C2) − 2·tr(√(C1·C2)).
 *
 * tr(√(C1·C2)) is computed as tr(√(√C1·C2·√C1)), which is real and stable for PSD covariances
 * (see {@link traceSqrtProduct}). The exact value is never negative; rounding can make it a tiny
 * negative for (near-)identical inputs, so the result is clamped to 0.
 *
 * @param mu1 mean of the first set, length n
 * @param cov1 covariance of the first set, row-major n×n, symmetric PSD
 * @param mu2 mean of the second set, length n
 * @param cov2 covariance of the second set, row-major n×n, symmetric PSD
 * @param n feature dimension
 */
export function frechetDistance(
  mu1: MatrixLike,
  cov1: MatrixLike,
  mu2: MatrixLike,
  cov2: MatrixLike,
  n: number,
): number {
  if (mu1.length !== n || mu2.length !== n) {
    throw new RangeError(`frechetDistance: means must have length ${n}, got ${mu1.length} and ${mu2.length}`);
  }
  let meanTerm = 0;
  for (let i = 0; i < n; i++) {
    const diff = Number(mu1[i]) - Number(mu2[i]);
    meanTerm += diff * diff;
  }
  const d = meanTerm + trace(cov1, n) + trace(cov2, n) - 2 * traceSqrtProduct(cov1, cov2, n);
  if (Number.isNaN(d)) throw new RangeError('frechetDistance: result is NaN (non-finite input?)');
  return Math.max(d, 0);
}

/**
 * {@link frechetDistance} between Gaussians fitted (mean and unbiased covariance) to two row-major
 * feature matrices with the same number of columns, e.g. classifier features of real and generated
 * images.
 *
 * @param x1 first feature set, rows1×cols
 * @param rows1 number of rows (samples) in x1, at least 2
 * @param x2 second feature set, rows2×cols
 * @param rows2 number of rows (samples) in x2, at least 2
 * @param cols feature dimension
 */
export function frechetDistanceOfFeatures(
  x1: Float32Array | Float64Array,
  rows1: number,
  x2: Float32Array | Float64Array,
  rows2: number,
  cols: number,
): number {
  const a = meanAndCovariance(x1, rows1, cols);
  const b = meanAndCovariance(x2, rows2, cols);
  return frechetDistance(a.mean, a.cov, b.mean, b.cov, cols);
}
