/**
 * Small dense float64 linear algebra on the host for the GAN metrics: a symmetric eigensolver,
 * mean and covariance of a feature matrix, the PSD square root and tr(√(A·B)) for PSD A, B.
 *
 * Matrices are row-major flat arrays (`a[i * n + j]`). Everything here is O(n³) with n the feature
 * width (64 for our MNIST classifier, at most a few hundred), so plain loops are fast enough and
 * keep the numbers reproducible across machines — no GPU, no float32.
 */

/** Result of {@link symmetricEigen}. */
export interface SymmetricEigen {
  /** Eigenvalues in ascending order. */
  values: Float64Array;
  /**
   * Eigenvectors as the columns of a row-major n×n matrix: component i of eigenvector j is
   * `vectors[i * n + j]`. Orthonormal; each column's largest-magnitude component is positive.
   */
  vectors: Float64Array;
}

/** Anything indexable by number holding a row-major matrix. */
export type MatrixLike = Float64Array | Float32Array | ArrayLike<number>;

function checkSquare(a: MatrixLike, n: number, name: string): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${name}: n must be a non-negative integer, got ${n}`);
  if (a.length !== n * n) throw new RangeError(`${name}: expected ${n}×${n} = ${n * n} entries, got ${a.length}`);
}

/**
 * Eigendecomposition of a real symmetric n×n matrix, A = V·diag(λ)·Vᵀ, by the cyclic Jacobi
 * method (with the Rutishauser accumulation of diagonal updates).
 *
 * Jacobi was chosen over tridiagonalisation + QL because it is short, unconditionally convergent,
 * and gives small eigenvalues to high relative accuracy — which matters here, since the metrics take
 * square roots of near-singular covariance spectra. Cost is ~10 sweeps of 4n³ flops: well under
 * 100 ms for n = 128.
 *
 * Only the symmetric part (A + Aᵀ)/2 is used, so tiny asymmetries from rounding are harmless.
 * Repeated and zero eigenvalues are fine (any orthonormal basis of the eigenspace is returned).
 */
export function symmetricEigen(a: MatrixLike, n: number): SymmetricEigen {
  checkSquare(a, n, 'symmetricEigen');
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) m[i * n + j] = 0.5 * (Number(a[i * n + j]) + Number(a[j * n + i]));
  }
  const v = new Float64Array(n * n);
  const d = new Float64Array(n);
  // b holds the diagonal at the start of a sweep and z the sum of this sweep's updates: adding
  // them once per sweep, rather than touching d directly, loses less to cancellation.
  const b = new Float64Array(n);
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    v[i * n + i] = 1;
    d[i] = b[i] = m[i * n + i];
    if (!Number.isFinite(d[i])) throw new RangeError('symmetricEigen: matrix has non-finite entries');
  }
  const EPS = Number.EPSILON;
  const MAX_SWEEPS = 100;
  for (let sweep = 1; sweep <= MAX_SWEEPS; sweep++) {
    let offSum = 0;
    for (let p = 0; p < n - 1; p++) for (let q = p + 1; q < n; q++) offSum += Math.abs(m[p * n + q]);
    if (!Number.isFinite(offSum)) throw new RangeError('symmetricEigen: matrix has non-finite entries');
    // Quadratic convergence drives the off-diagonal to exact zero (entries below rounding of the
    // diagonal are zeroed outright), so this is the normal exit.
    if (offSum === 0) break;
    // Early sweeps skip small entries: rotating them before the large ones are gone is wasted work.
    const threshold = sweep < 4 ? (0.2 * offSum) / (n * n) : 0;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        const g = 100 * Math.abs(apq);
        if (sweep > 4 && g <= EPS * Math.abs(d[p]) && g <= EPS * Math.abs(d[q])) {
          m[p * n + q] = 0;
          continue;
        }
        if (Math.abs(apq) <= threshold) continue;
        let h = d[q] - d[p];
        let t: number;
        if (g <= EPS * Math.abs(h)) {
          // θ would overflow; t = 1/(2θ) to full precision.
          t = apq / h;
        } else {
          const theta = (0.5 * h) / apq;
          t = 1 / (Math.abs(theta) + Math.sqrt(1 + theta * theta));
          if (theta < 0) t = -t;
        }
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        const tau = s / (1 + c);
        h = t * apq;
        z[p] -= h;
        z[q] += h;
        d[p] -= h;
        d[q] += h;
        m[p * n + q] = 0;
        // Only the upper triangle is kept current; these three loops are its rows/columns p and q.
        for (let j = 0; j < p; j++) rotate(m, j * n + p, j * n + q, s, tau);
        for (let j = p + 1; j < q; j++) rotate(m, p * n + j, j * n + q, s, tau);
        for (let j = q + 1; j < n; j++) rotate(m, p * n + j, q * n + j, s, tau);
        for (let j = 0; j < n; j++) rotate(v, j * n + p, j * n + q, s, tau);
      }
    }
    for (let p = 0; p < n; p++) {
      b[p] += z[p];
      d[p] = b[p];
      z[p] = 0;
    }
  }
  return sortAndNormalise(d, v, n);
}

function rotate(m: Float64Array, ij: number, kl: number, s: number, tau: number): void {
  const g = m[ij];
  const h = m[kl];
  m[ij] = g - s * (h + g * tau);
  m[kl] = h + s * (g - h * tau);
}

function sortAndNormalise(d: Float64Array, v: Float64Array, n: number): SymmetricEigen {
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => d[i] - d[j]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let col = 0; col < n; col++) {
    const src = order[col];
    values[col] = d[src];
    // Fix the sign so results are deterministic and comparable between runs.
    let big = 0;
    for (let i = 0; i < n; i++) if (Math.abs(v[i * n + src]) > Math.abs(big)) big = v[i * n + src];
    const sign = big < 0 ? -1 : 1;
    for (let i = 0; i < n; i++) vectors[i * n + col] = sign * v[i * n + src];
  }
  return { values, vectors };
}

/** Result of {@link meanAndCovariance}. */
export interface MeanAndCovariance {
  /** Column means, length cols. */
  mean: Float64Array;
  /** Unbiased covariance (divisor rows − 1), row-major cols×cols, exactly symmetric. */
  cov: Float64Array;
}

/**
 * Column means and the unbiased sample covariance of a row-major rows×cols matrix whose rows are
 * observations — the same as `numpy.mean(x, 0)` and `numpy.cov(x, rowvar=False)`.
 *
 * Two passes in float64 (mean first, then centred products): the one-pass Σxxᵀ − n·μμᵀ form cancels
 * catastrophically for features with a large mean and a small spread, which post-ReLU features are.
 */
export function meanAndCovariance(x: Float32Array | Float64Array, rows: number, cols: number): MeanAndCovariance {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || cols < 0) {
    throw new RangeError(`meanAndCovariance: bad shape ${rows}×${cols}`);
  }
  if (rows < 2) throw new RangeError(`meanAndCovariance: need at least 2 rows for an unbiased covariance, got ${rows}`);
  if (x.length !== rows * cols) {
    throw new RangeError(`meanAndCovariance: expected ${rows}×${cols} = ${rows * cols} entries, got ${x.length}`);
  }
  const mean = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) mean[c] += x[o + c];
  }
  for (let c = 0; c < cols; c++) mean[c] /= rows;
  const cov = new Float64Array(cols * cols);
  const centred = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) centred[c] = x[o + c] - mean[c];
    for (let i = 0; i < cols; i++) {
      const ci = centred[i];
      if (ci === 0) continue;
      const oi = i * cols;
      for (let j = i; j < cols; j++) cov[oi + j] += ci * centred[j];
    }
  }
  const scale = 1 / (rows - 1);
  for (let i = 0; i < cols; i++) {
    for (let j = i; j < cols; j++) {
      const value = cov[i * cols + j] * scale;
      cov[i * cols + j] = value;
      cov[j * cols + i] = value;
    }
  }
  return { mean, cov };
}

/** Trace of a row-major n×n matrix. */
export function trace(a: MatrixLike, n: number): number {
  checkSquare(a, n, 'trace');
  let t = 0;
  for (let i = 0; i < n; i++) t += Number(a[i * n + i]);
  return t;
}

/** Row-major product of two n×n matrices. */
export function matMul(a: MatrixLike, b: MatrixLike, n: number): Float64Array {
  checkSquare(a, n, 'matMul');
  checkSquare(b, n, 'matMul');
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = Number(a[i * n + k]);
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += aik * Number(b[k * n + j]);
    }
  }
  return out;
}

/**
 * V·diag(f(λ))·Vᵀ for a symmetric matrix, built only from the upper triangle and mirrored so the
 * result is exactly symmetric (downstream eigensolves then see no asymmetry at all).
 */
function spectralMap(eig: SymmetricEigen, n: number, f: (lambda: number) => number): Float64Array {
  const { values, vectors } = eig;
  const fl = new Float64Array(n);
  for (let k = 0; k < n; k++) fl[k] = f(values[k]);
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += vectors[i * n + k] * fl[k] * vectors[j * n + k];
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}

/**
 * The symmetric PSD square root of a symmetric PSD matrix, V·diag(√max(λ, 0))·Vᵀ.
 *
 * Eigenvalues below zero are clamped to 0: a covariance estimated from fewer samples than features,
 * or any rank-deficient one, has exact zeros that rounding turns into tiny negatives, and √ of those
 * would be NaN. Genuinely indefinite input is not detected — it gets the root of its PSD part.
 */
export function sqrtPsd(a: MatrixLike, n: number): Float64Array {
  checkSquare(a, n, 'sqrtPsd');
  return spectralMap(symmetricEigen(a, n), n, (lambda) => Math.sqrt(Math.max(lambda, 0)));
}

/**
 * tr(√(A·B)) for symmetric PSD A and B.
 *
 * A·B is not symmetric, so its principal root would need a general (Schur-based) matrix square
 * root, which scipy's FID uses and which can return complex garbage for near-singular inputs.
 * Instead this uses that A·B is similar to the symmetric PSD matrix √A·B·√A (same eigenvalues), so
 * tr(√(A·B)) = Σ √λᵢ(√A·B·√A) — two symmetric eigensolves, real and stable throughout. Negative
 * eigenvalues from rounding are clamped to 0.
 *
 * Accuracy: for full-rank inputs the result is good to ~1e-13 relative. When A·B is singular the
 * function itself is only Hölder-½ continuous — a rounding-size eigenvalue ε·‖A·B‖ contributes
 * √(ε·‖A·B‖) — so expect ~1e-8 relative error per near-null direction (irrelevant at FID scale).
 * Exactly-zero rows and columns (dead ReLU features) stay exactly decoupled in Jacobi and cost
 * nothing.
 */
export function traceSqrtProduct(a: MatrixLike, b: MatrixLike, n: number): number {
  checkSquare(a, n, 'traceSqrtProduct');
  checkSquare(b, n, 'traceSqrtProduct');
  const rootA = sqrtPsd(a, n);
  const m = matMul(matMul(rootA, b, n), rootA, n);
  const { values } = symmetricEigen(m, n);
  let t = 0;
  for (let k = 0; k < n; k++) t += Math.sqrt(Math.max(values[k], 0));
  return t;
}
