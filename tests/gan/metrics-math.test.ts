/**
 * Host-side float64 metric math of @webgan/gan: the Jacobi eigensolver, mean/covariance, PSD square
 * root and tr(√(A·B)); the FID-style Fréchet distance; the classifier score, class histogram,
 * coverage and conditional accuracy; and the 2D mixture (ring8 / grid25) mode metrics.
 *
 * Tolerances: everything is float64 with O(n³) work on well-conditioned inputs, so reconstructions
 * and closed forms are held to 1e-10 relative (about 1e6 ulps of headroom for n ≤ 128). The
 * independent check of tr(√(C1·C2)) uses a Denman–Beavers iteration written here on the
 * non-symmetric product, converged to 1e-14. Sampled metrics (mode KL, HQ fraction) use a seeded
 * PRNG and bounds ≥ 4 binomial standard deviations from their expectations.
 */
import { describe, expect, it } from 'vitest';
import {
  matMul,
  meanAndCovariance,
  sqrtPsd,
  symmetricEigen,
  trace,
  traceSqrtProduct,
} from '../../packages/gan/src/metrics/linalg64';
import { frechetDistance, frechetDistanceOfFeatures } from '../../packages/gan/src/metrics/frechet';
import {
  classHistogram,
  classesCovered,
  classifierScore,
  conditionalAccuracy,
  softmaxRows,
} from '../../packages/gan/src/metrics/classifier-scores';
import { grid25Modes, modeMetrics, ring8Modes, sampleMixture } from '../../packages/gan/src/metrics/modes2d';
import { mulberry32 } from '../helpers/reference';

// ---------- reference helpers (deliberately independent of the code under test) ----------

function gaussianRng(seed: number): () => number {
  const u = mulberry32(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

function randomMatrix(rows: number, cols: number, g: () => number): Float64Array {
  return Float64Array.from({ length: rows * cols }, () => g());
}

function transpose(a: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
  return out;
}

/** Naive rows×inner · inner×cols product. */
function mm(a: Float64Array, b: Float64Array, rows: number, inner: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let k = 0; k < inner; k++) s += a[i * inner + k] * b[k * cols + j];
      out[i * cols + j] = s;
    }
  }
  return out;
}

function randomSymmetric(n: number, seed: number): Float64Array {
  const b = randomMatrix(n, n, gaussianRng(seed));
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = b[i * n + j] + b[j * n + i];
  return out;
}

/** B·Bᵀ/n + shift·I: symmetric positive definite for shift > 0. */
function randomSpd(n: number, seed: number, shift = 0.1): Float64Array {
  const b = randomMatrix(n, n, gaussianRng(seed));
  const out = mm(b, transpose(b, n, n), n, n, n);
  for (let i = 0; i < n * n; i++) out[i] /= n;
  for (let i = 0; i < n; i++) out[i * n + i] += shift;
  return out;
}

/** Random orthogonal matrix by modified Gram–Schmidt on the columns of a Gaussian matrix. */
function randomOrthogonal(n: number, seed: number): Float64Array {
  const q = randomMatrix(n, n, gaussianRng(seed));
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < j; k++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += q[i * n + j] * q[i * n + k];
      for (let i = 0; i < n; i++) q[i * n + j] -= dot * q[i * n + k];
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += q[i * n + j] ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < n; i++) q[i * n + j] /= norm;
  }
  return q;
}

function frobenius(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const diff = Array.from({ length: a.length }, (_, i) => a[i] - b[i]);
  return frobenius(diff) / Math.max(frobenius(b), 1e-300);
}

function identity(n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) out[i * n + i] = 1;
  return out;
}

/** Inverse by Gauss–Jordan elimination with partial pivoting. */
function inverse(a: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a);
  const inv = identity(n);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r * n + col]) > Math.abs(m[pivot * n + col])) pivot = r;
    for (let j = 0; j < n; j++) {
      [m[col * n + j], m[pivot * n + j]] = [m[pivot * n + j], m[col * n + j]];
      [inv[col * n + j], inv[pivot * n + j]] = [inv[pivot * n + j], inv[col * n + j]];
    }
    const p = m[col * n + col];
    for (let j = 0; j < n; j++) {
      m[col * n + j] /= p;
      inv[col * n + j] /= p;
    }
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r * n + col];
      for (let j = 0; j < n; j++) {
        m[r * n + j] -= f * m[col * n + j];
        inv[r * n + j] -= f * inv[col * n + j];
      }
    }
  }
  return inv;
}

/**
 * Principal square root of a general matrix with positive real spectrum by the Denman–Beavers
 * iteration Y ← (Y + Z⁻¹)/2, Z ← (Z + Y⁻¹)/2 from Y = A, Z = I (Y → √A).
 */
function denmanBeaversSqrt(a: Float64Array, n: number): Float64Array {
  let y = Float64Array.from(a);
  let z = identity(n);
  for (let iter = 0; iter < 100; iter++) {
    const yInv = inverse(y, n);
    const zInv = inverse(z, n);
    const yNext = y.map((v, i) => 0.5 * (v + zInv[i]));
    const zNext = z.map((v, i) => 0.5 * (v + yInv[i]));
    const change = relDiff(yNext, y);
    y = yNext;
    z = zNext;
    if (change < 1e-14) break;
  }
  return y;
}

function checkEigen(a: Float64Array, n: number, tol = 1e-10): void {
  const { values, vectors } = symmetricEigen(a, n);
  expect(values.length).toBe(n);
  expect(vectors.length).toBe(n * n);
  for (let k = 1; k < n; k++) expect(values[k]).toBeGreaterThanOrEqual(values[k - 1]);
  const vd = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) vd[i * n + k] = vectors[i * n + k] * values[k];
  const recon = mm(vd, transpose(vectors, n, n), n, n, n);
  expect(relDiff(recon, a)).toBeLessThan(tol);
  const gram = mm(transpose(vectors, n, n), vectors, n, n, n);
  expect(relDiff(gram, identity(n)) / Math.sqrt(n)).toBeLessThan(tol);
}

// ---------------------------------------- linalg64 ----------------------------------------

describe('symmetricEigen', () => {
  for (const n of [1, 2, 7, 64, 128]) {
    it(`reconstructs a random symmetric ${n}×${n} matrix with orthonormal vectors`, () => {
      checkEigen(randomSymmetric(n, 100 + n), n);
    });
  }

  it('handles a diagonal matrix: sorted diagonal, permutation vectors', () => {
    const diag = [3, -1, 0, 7, 2];
    const n = diag.length;
    const a = new Float64Array(n * n);
    diag.forEach((v, i) => (a[i * n + i] = v));
    const { values, vectors } = symmetricEigen(a, n);
    expect(Array.from(values)).toEqual([-1, 0, 2, 3, 7]);
    const sortedSource = [1, 2, 4, 0, 3];
    for (let col = 0; col < n; col++) {
      for (let i = 0; i < n; i++) expect(vectors[i * n + col]).toBe(i === sortedSource[col] ? 1 : 0);
    }
  });

  it('handles repeated and zero eigenvalues', () => {
    const n = 7;
    const spectrum = [3, 3, 3, 1, 1, 0, 0];
    const q = randomOrthogonal(n, 7);
    const qd = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) qd[i * n + k] = q[i * n + k] * spectrum[k];
    const a = mm(qd, transpose(q, n, n), n, n, n);
    const { values } = symmetricEigen(a, n);
    const expected = [...spectrum].sort((x, y) => x - y);
    for (let k = 0; k < n; k++) expect(Math.abs(values[k] - expected[k])).toBeLessThan(1e-13);
    checkEigen(a, n);
  });

  it('handles the zero matrix and a 0×0 matrix', () => {
    const { values, vectors } = symmetricEigen(new Float64Array(16), 4);
    expect(Array.from(values)).toEqual([0, 0, 0, 0]);
    expect(Array.from(vectors)).toEqual(Array.from(identity(4)));
    expect(symmetricEigen(new Float64Array(0), 0).values.length).toBe(0);
  });

  it('accepts Float32Array input and symmetrises tiny asymmetry', () => {
    const a = Float32Array.from([2, 1, 1 + 1e-7, 3]);
    const { values } = symmetricEigen(a, 2);
    const off = (1 + Math.fround(1 + 1e-7)) / 2;
    const mid = 2.5;
    const rad = Math.sqrt(0.25 + off * off);
    expect(values[0]).toBeCloseTo(mid - rad, 14);
    expect(values[1]).toBeCloseTo(mid + rad, 14);
  });

  it('rejects a wrong-sized buffer and non-finite entries', () => {
    expect(() => symmetricEigen(new Float64Array(5), 2)).toThrow(RangeError);
    expect(() => symmetricEigen(Float64Array.from([1, NaN, NaN, 1]), 2)).toThrow(RangeError);
  });
});

describe('meanAndCovariance', () => {
  it('matches a naive reference (numpy.cov rowvar=False) for float32 input', () => {
    const rows = 50;
    const cols = 6;
    const g = gaussianRng(3);
    const x = Float32Array.from({ length: rows * cols }, (_, i) => g() * (1 + (i % cols)) + (i % cols));
    const { mean, cov } = meanAndCovariance(x, rows, cols);
    for (let c = 0; c < cols; c++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += x[r * cols + c];
      expect(mean[c]).toBeCloseTo(s / rows, 12);
    }
    const expected = new Float64Array(cols * cols);
    for (let i = 0; i < cols; i++) {
      for (let j = 0; j < cols; j++) {
        let s = 0;
        for (let r = 0; r < rows; r++) s += (x[r * cols + i] - mean[i]) * (x[r * cols + j] - mean[j]);
        expected[i * cols + j] = s / (rows - 1);
      }
    }
    expect(relDiff(cov, expected)).toBeLessThan(1e-12);
    for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) expect(cov[i * cols + j]).toBe(cov[j * cols + i]);
  });

  it('is accurate for a large mean and a small spread (two-pass)', () => {
    const x = Float64Array.from([1e8 + 1, 1e8 + 2, 1e8 + 3, 1e8 + 4]);
    const { mean, cov } = meanAndCovariance(x, 4, 1);
    expect(mean[0]).toBe(1e8 + 2.5);
    expect(cov[0]).toBeCloseTo(5 / 3, 12);
  });

  it('rejects fewer than 2 rows and a wrong-sized buffer', () => {
    expect(() => meanAndCovariance(new Float64Array(3), 1, 3)).toThrow(RangeError);
    expect(() => meanAndCovariance(new Float64Array(5), 2, 3)).toThrow(RangeError);
  });
});

describe('sqrtPsd and traceSqrtProduct', () => {
  it('sqrtPsd(A)² = A for a random SPD matrix, symmetric with a PSD root', () => {
    const n = 20;
    const a = randomSpd(n, 11);
    const root = sqrtPsd(a, n);
    expect(relDiff(matMul(root, root, n), a)).toBeLessThan(1e-10);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(root[i * n + j]).toBe(root[j * n + i]);
    expect(symmetricEigen(root, n).values[0]).toBeGreaterThan(0);
  });

  it('sqrtPsd of a diagonal matrix is the elementwise root', () => {
    const root = sqrtPsd(Float64Array.from([4, 0, 0, 9]), 2);
    expect(Array.from(root)).toEqual([2, 0, 0, 3]);
  });

  it('clamps the rounding negatives of a rank-deficient covariance', () => {
    // 3 samples in 10 dimensions: rank 2, so 8 eigenvalues are 0 up to rounding.
    const cols = 10;
    const x = randomMatrix(3, cols, gaussianRng(5));
    const { cov } = meanAndCovariance(x, 3, cols);
    const root = sqrtPsd(cov, cols);
    expect(root.every(Number.isFinite)).toBe(true);
    expect(relDiff(matMul(root, root, cols), cov)).toBeLessThan(1e-10);
    // tr √(A·A) = tr A, but √ of the rounding-size null eigenvalues (~1e-16·‖A‖²) adds ~1e-8·‖A‖
    // each: the function is only Hölder-½ at singular products, so 1e-6 relative is the honest bound.
    const t = traceSqrtProduct(cov, cov, cols);
    expect(Math.abs(t - trace(cov, cols)) / trace(cov, cols)).toBeLessThan(1e-6);
  });

  it('keeps exactly-zero (dead) features exactly decoupled', () => {
    // Covariances with zero rows/columns 1 and 3, as from dead ReLU units in both feature sets.
    const n = 5;
    const live = [0, 2, 4];
    const a3 = randomSpd(3, 61);
    const b3 = randomSpd(3, 62);
    const a = new Float64Array(n * n);
    const b = new Float64Array(n * n);
    live.forEach((li, i) => live.forEach((lj, j) => {
      a[li * n + lj] = a3[i * 3 + j];
      b[li * n + lj] = b3[i * 3 + j];
    }));
    const expected = traceSqrtProduct(a3, b3, 3);
    expect(Math.abs(traceSqrtProduct(a, b, n) - expected) / expected).toBeLessThan(1e-13);
    const root = sqrtPsd(a, n);
    for (let j = 0; j < n; j++) expect(root[1 * n + j]).toBe(0);
  });

  it('traceSqrtProduct matches Denman–Beavers on the non-symmetric product', () => {
    const n = 12;
    const a = randomSpd(n, 21);
    const b = randomSpd(n, 22, 0.5);
    const ab = matMul(a, b, n);
    expect(relDiff(ab, transpose(ab, n, n))).toBeGreaterThan(0.1); // genuinely non-commuting
    const expected = trace(denmanBeaversSqrt(ab, n), n);
    expect(Math.abs(traceSqrtProduct(a, b, n) - expected) / expected).toBeLessThan(1e-10);
    expect(Math.abs(traceSqrtProduct(b, a, n) - expected) / expected).toBeLessThan(1e-10);
  });
});

// ---------------------------------------- frechet ----------------------------------------

describe('frechetDistance', () => {
  const n = 16;
  const mu1 = randomMatrix(1, n, gaussianRng(31));
  const mu2 = randomMatrix(1, n, gaussianRng(32));
  const c1 = randomSpd(n, 33);
  const c2 = randomSpd(n, 34, 0.3);

  it('is 0 for identical Gaussians', () => {
    expect(frechetDistance(mu1, c1, mu1, c1, n)).toBeLessThanOrEqual(1e-9);
  });

  it('matches the closed form for diagonal covariances: ‖Δμ‖² + Σ(σ1 − σ2)²', () => {
    const s1 = [0.5, 1, 2, 3];
    const s2 = [1.5, 1, 0.25, 4];
    const d = s1.length;
    const cov1 = new Float64Array(d * d);
    const cov2 = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      cov1[i * d + i] = s1[i] ** 2;
      cov2[i * d + i] = s2[i] ** 2;
    }
    const m1 = [0, 1, 2, 3];
    const m2 = [1, 1, 0, 3];
    const expected = 1 + 4 + s1.reduce((acc, s, i) => acc + (s - s2[i]) ** 2, 0);
    expect(frechetDistance(m1, cov1, m2, cov2, d)).toBeCloseTo(expected, 12);
  });

  it('1-D case: (μ1 − μ2)² + (σ1 − σ2)²', () => {
    expect(frechetDistance([1], [4], [-2], [0.25], 1)).toBeCloseTo(9 + 1.5 ** 2, 13);
  });

  it('is symmetric in its arguments', () => {
    const d12 = frechetDistance(mu1, c1, mu2, c2, n);
    const d21 = frechetDistance(mu2, c2, mu1, c1, n);
    expect(d12).toBeGreaterThan(1);
    expect(Math.abs(d12 - d21) / d12).toBeLessThan(1e-10);
  });

  it('matches an independent computation with Denman–Beavers for non-commuting covariances', () => {
    let meanTerm = 0;
    for (let i = 0; i < n; i++) meanTerm += (mu1[i] - mu2[i]) ** 2;
    const expected =
      meanTerm + trace(c1, n) + trace(c2, n) - 2 * trace(denmanBeaversSqrt(mm(c1, c2, n, n, n), n), n);
    const got = frechetDistance(mu1, c1, mu2, c2, n);
    expect(Math.abs(got - expected) / expected).toBeLessThan(1e-10);
  });

  it('is invariant to a random rotation of both feature sets', () => {
    const rows = 300;
    const cols = 8;
    const g = gaussianRng(41);
    const x1 = randomMatrix(rows, cols, g);
    const x2 = randomMatrix(rows, cols, g).map((v, i) => v * (1 + (i % cols) * 0.3) + 0.5);
    const q = randomOrthogonal(cols, 42);
    const before = frechetDistanceOfFeatures(x1, rows, x2, rows, cols);
    const after = frechetDistanceOfFeatures(mm(x1, q, rows, cols, cols), rows, mm(x2, q, rows, cols, cols), rows, cols);
    expect(before).toBeGreaterThan(0.5);
    expect(Math.abs(after - before) / before).toBeLessThan(1e-10);
  });

  it('frechetDistanceOfFeatures fits moments (float32 input, different row counts) and is 0 on the same set', () => {
    const cols = 5;
    const g = gaussianRng(51);
    const x1 = Float32Array.from(randomMatrix(40, cols, g));
    const x2 = Float32Array.from(randomMatrix(70, cols, g).map((v) => 2 * v + 1));
    const a = meanAndCovariance(x1, 40, cols);
    const b = meanAndCovariance(x2, 70, cols);
    expect(frechetDistanceOfFeatures(x1, 40, x2, 70, cols)).toBe(frechetDistance(a.mean, a.cov, b.mean, b.cov, cols));
    expect(frechetDistanceOfFeatures(x1, 40, x1, 40, cols)).toBeLessThanOrEqual(1e-9);
  });

  it('rejects mismatched mean lengths', () => {
    expect(() => frechetDistance([1, 2], [1], [1], [1], 1)).toThrow(RangeError);
  });
});

// ---------------------------------------- classifier scores ----------------------------------------

/** Logits [n, k] with `hot` at each row's class and 0 elsewhere. */
function oneHotLogits(classes: number[], k: number, hot: number): Float32Array {
  const out = new Float32Array(classes.length * k);
  classes.forEach((c, i) => (out[i * k + c] = hot));
  return out;
}

describe('classifier scores', () => {
  it('softmaxRows sums to 1 per row and survives huge logits', () => {
    const p = softmaxRows(Float32Array.from([1000, 0, -1000, 1, 2, 3]), 2, 3);
    expect(p[0]).toBe(1);
    expect(p[2]).toBe(0);
    expect(p[3] + p[4] + p[5]).toBeCloseTo(1, 15);
    expect(p[5] / p[4]).toBeCloseTo(Math.E, 12);
    expect(() => softmaxRows(Float32Array.from([NaN, 0]), 1, 2)).toThrow(RangeError);
  });

  it('is 1 when every prediction is the same (uniform) distribution', () => {
    const s = classifierScore(new Float32Array(100 * 10).fill(0.7), 100, 10);
    expect(Math.abs(s.mean - 1)).toBeLessThan(1e-12);
    expect(s.std).toBe(0);
  });

  it('is K for confident predictions spread evenly over K classes', () => {
    const k = 10;
    const classes = Array.from({ length: 50 }, (_, i) => i % k);
    const neg = new Float32Array(classes.length * k).fill(-Infinity);
    classes.forEach((c, i) => (neg[i * k + c] = 0));
    expect(classifierScore(neg, classes.length, k).mean).toBeCloseTo(k, 12);
    expect(Math.abs(classifierScore(oneHotLogits(classes, k, 60), classes.length, k).mean - k)).toBeLessThan(1e-9);
  });

  it('matches a hand-computed 2×2 case', () => {
    const logits = Float64Array.from([Math.log(0.9), Math.log(0.1), Math.log(0.2), Math.log(0.8)]);
    // exp(½[0.9 ln(0.9/0.55) + 0.1 ln(0.1/0.45) + 0.2 ln(0.2/0.55) + 0.8 ln(0.8/0.45)])
    expect(classifierScore(logits, 2, 2).mean).toBeCloseTo(1.3170522760436802, 13);
  });

  it('reports mean and population std over splits', () => {
    const k = 4;
    const confident = oneHotLogits([0, 1, 2, 3, 0, 1, 2, 3], k, 80);
    const uniform = new Float32Array(8 * k);
    const both = new Float32Array(16 * k);
    both.set(uniform, 0);
    both.set(confident, 8 * k);
    const s = classifierScore(both, 16, k, 2);
    expect(s.splitScores[0]).toBeCloseTo(1, 12);
    expect(s.splitScores[1]).toBeCloseTo(k, 9);
    expect(s.mean).toBeCloseTo((1 + k) / 2, 9);
    expect(s.std).toBeCloseTo((k - 1) / 2, 9);
    // Chunks are rows ⌊i·n/splits⌋…: n = 5, splits = 2 → {0, 1} and {2, 3, 4}.
    const five = oneHotLogits([0, 1, 0, 0, 0], 2, 80);
    const s5 = classifierScore(five, 5, 2, 2);
    expect(s5.splitScores[0]).toBeCloseTo(2, 9);
    expect(s5.splitScores[1]).toBeCloseTo(1, 9);
    expect(() => classifierScore(five, 5, 2, 6)).toThrow(RangeError);
    expect(() => classifierScore(five, 5, 2, 0)).toThrow(RangeError);
  });

  it('classHistogram counts argmax classes (first index on ties)', () => {
    const logits = Float32Array.from([0, 5, 1, /**/ 2, 2, 0, /**/ 0, 9, 9, /**/ -1, -2, 3]);
    expect(Array.from(classHistogram(logits, 4, 3))).toEqual([1, 2, 1]);
  });

  it('classesCovered counts classes with ≥ 1 sample, or ≥ minFraction (inclusive)', () => {
    const hist = [0, 10, 985, 5, 0];
    expect(classesCovered(hist)).toBe(3);
    expect(classesCovered(hist, 0.01)).toBe(2); // 10/1000 is exactly 1%: counted; 5/1000 is not
    expect(classesCovered(hist, 0.5)).toBe(1);
    expect(classesCovered([0, 0, 0])).toBe(0);
    expect(() => classesCovered(hist, -0.1)).toThrow(RangeError);
  });

  it('conditionalAccuracy is the fraction of argmax equal to the requested label', () => {
    const logits = oneHotLogits([0, 1, 2, 2, 1], 3, 5);
    expect(conditionalAccuracy(logits, 5, 3, Int32Array.from([0, 1, 2, 0, 0]))).toBeCloseTo(0.6, 15);
    expect(() => conditionalAccuracy(logits, 5, 3, Int32Array.from([0, 1, 2, 3, 0]))).toThrow(RangeError);
    expect(() => conditionalAccuracy(logits, 5, 3, Int32Array.from([0, 1]))).toThrow(RangeError);
  });
});

// ---------------------------------------- modes2d ----------------------------------------

describe('2D mixture mode metrics', () => {
  const ring = ring8Modes();
  const grid = grid25Modes();

  it('defines the ring8 and grid25 mixtures', () => {
    expect(ring.centers.length).toBe(16);
    expect(ring.std).toBe(0.01);
    for (let k = 0; k < 8; k++) expect(Math.hypot(ring.centers[2 * k], ring.centers[2 * k + 1])).toBeCloseTo(1, 15);
    expect(ring.centers[2 * 2 + 1]).toBeCloseTo(1, 15); // k = 2 is at angle π/2
    expect(grid.centers.length).toBe(50);
    expect(grid.std).toBe(0.05);
    const keys = new Set<string>();
    for (let k = 0; k < 25; k++) keys.add(`${grid.centers[2 * k]},${grid.centers[2 * k + 1]}`);
    expect(keys.size).toBe(25);
    expect(keys.has('-4,4') && keys.has('0,0') && keys.has('4,-2')).toBe(true);
  });

  it('real ring8 samples cover 8/8 modes with KL ≈ 0', () => {
    const n = 2500;
    const r = modeMetrics(sampleMixture(ring, n, mulberry32(1)), n, ring);
    expect(r.numModes).toBe(8);
    expect(r.modesCovered).toBe(8);
    expect(r.modesWith1pct).toBe(8);
    // A 3σ Euclidean radius in 2D holds 1 − e^(−4.5) ≈ 0.9889 of the mass (binomial sd ≈ 0.0021).
    expect(Math.abs(r.highQualityFraction - (1 - Math.exp(-4.5)))).toBeLessThan(0.009);
    expect(r.modeKl).toBeLessThan(0.01);
    expect(r.histogram.reduce((a, b) => a + b, 0)).toBe(r.highQualityCount);
  });

  it('real grid25 samples cover 25/25 modes with KL ≈ 0', () => {
    const n = 5000;
    const r = modeMetrics(sampleMixture(grid, n, mulberry32(2)), n, grid);
    expect(r.modesCovered).toBe(25);
    expect(r.modesWith1pct).toBe(25);
    expect(Math.abs(r.highQualityFraction - (1 - Math.exp(-4.5)))).toBeLessThan(0.007);
    expect(r.modeKl).toBeLessThan(0.01);
  });

  it('all samples at one centre: 1 mode, KL = log m', () => {
    const n = 100;
    const s = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) {
      s[2 * i] = ring.centers[6];
      s[2 * i + 1] = ring.centers[7];
    }
    const r = modeMetrics(s, n, ring);
    expect(r.modesCovered).toBe(1);
    expect(r.modesWith1pct).toBe(1);
    expect(r.highQualityFraction).toBe(1);
    expect(r.histogram[3]).toBe(n);
    expect(r.modeKl).toBeCloseTo(Math.log(8), 14);
    const g = modeMetrics(new Float32Array(2 * n), n, grid); // all at (0, 0)
    expect(g.modesCovered).toBe(1);
    expect(g.modeKl).toBeCloseTo(Math.log(25), 14);
  });

  it('samples far from every mode are not high quality; KL is Infinity', () => {
    const n = 50;
    const r = modeMetrics(new Float32Array(2 * n), n, ring); // the ring's centre, distance 1
    expect(r.highQualityCount).toBe(0);
    expect(r.highQualityFraction).toBe(0);
    expect(r.modesCovered).toBe(0);
    expect(r.modesWith1pct).toBe(0);
    expect(r.modeKl).toBe(Infinity);
    const nan = modeMetrics(new Float32Array(2 * n).fill(NaN), n, ring);
    expect(nan.highQualityCount).toBe(0);
  });

  it('uses a 3σ radius and counts modes with ≥ 1% of all samples', () => {
    // grid std 0.05: 2.9σ = 0.145 is inside, 3.1σ = 0.155 is outside.
    const s = Float64Array.from([0.145, 0, 2, 0.155, 4, 4]);
    const r = modeMetrics(s, 3, grid);
    expect(r.highQualityCount).toBe(2);
    expect(r.modesCovered).toBe(2);
    // 1 sample of 200 at mode (0, 0) is 0.5%: covered but not ≥ 1%.
    const n = 200;
    const t = new Float32Array(2 * n).fill(4);
    const u = modeMetrics(t, n, grid);
    t[0] = 0;
    t[1] = 0;
    const v = modeMetrics(t, n, grid);
    expect(u.modesCovered).toBe(1);
    expect(v.modesCovered).toBe(2);
    expect(v.modesWith1pct).toBe(1);
    // KL of a histogram (199, 1) over 25 modes, by hand.
    const p = [199 / 200, 1 / 200];
    expect(v.modeKl).toBeCloseTo(p.reduce((acc, q) => acc + q * Math.log(q * 25), 0), 14);
  });

  it('sampleMixture is reproducible and rejects bad input', () => {
    expect(Array.from(sampleMixture(ring, 10, mulberry32(9)))).toEqual(Array.from(sampleMixture(ring, 10, mulberry32(9))));
    expect(() => sampleMixture({ centers: new Float64Array(3), std: 1 }, 1, Math.random)).toThrow(RangeError);
    expect(() => modeMetrics(new Float32Array(3), 2, ring)).toThrow(RangeError);
  });
});
