/**
 * Mode-collapse metrics for the 2D Gaussian-mixture benchmarks of VEEGAN (Srivastava et al. 2017)
 * and PacGAN (Lin et al. 2018): the ring of 8 Gaussians and the 5×5 grid of 25.
 *
 * Each generated sample is assigned to its nearest mode centre and counts as "high quality" when it
 * lies within 3 standard deviations of that centre. From that: modes covered (≥ 1 high-quality
 * sample), the fraction of high-quality samples, and the KL divergence of the high-quality samples'
 * mode histogram from uniform.
 *
 * Note that the 3σ radius is a Euclidean distance in 2D, so even real data is high quality only with
 * probability 1 − e^(−9/2) ≈ 0.9889 (the Rayleigh CDF), not the 1-D 0.9973.
 */

/** A mixture of m isotropic 2D Gaussians with equal weights and a shared standard deviation. */
export interface MixtureModes {
  /** Mode centres, row-major m×2 (x, y). */
  centers: Float64Array;
  /** Standard deviation of every component, per coordinate. */
  std: number;
}

/** 8 modes on the unit circle at angles 2πk/8, std 0.01 (the PacGAN / VEEGAN "2D ring"). */
export function ring8Modes(): MixtureModes {
  const centers = new Float64Array(16);
  for (let k = 0; k < 8; k++) {
    const angle = (2 * Math.PI * k) / 8;
    centers[2 * k] = Math.cos(angle);
    centers[2 * k + 1] = Math.sin(angle);
  }
  return { centers, std: 0.01 };
}

/** 25 modes at (x, y) for x, y ∈ {−4, −2, 0, 2, 4}, std 0.05 (the PacGAN / VEEGAN "2D grid"). */
export function grid25Modes(): MixtureModes {
  const centers = new Float64Array(50);
  let m = 0;
  for (let x = -4; x <= 4; x += 2) {
    for (let y = -4; y <= 4; y += 2) {
      centers[2 * m] = x;
      centers[2 * m + 1] = y;
      m++;
    }
  }
  return { centers, std: 0.05 };
}

/** Result of {@link modeMetrics}. */
export interface ModeMetrics {
  /** Number of modes in the mixture. */
  numModes: number;
  /** Modes with at least one high-quality sample. */
  modesCovered: number;
  /** Modes whose high-quality samples number at least 1% of all n samples. */
  modesWith1pct: number;
  /** Number of high-quality samples (within 3·std of their nearest centre). */
  highQualityCount: number;
  /** highQualityCount / n (NaN when n = 0). */
  highQualityFraction: number;
  /**
   * KL(p ‖ uniform) = Σ p log(p·m) in nats, with p the histogram of high-quality samples over modes
   * normalised by their total. 0 for a perfectly balanced histogram, log m when every high-quality
   * sample sits at one mode; Infinity when there are no high-quality samples (p is undefined, and
   * that is worse than any collapse onto real modes). JSON.stringify writes Infinity as null.
   */
  modeKl: number;
  /** High-quality samples per mode, length numModes. */
  histogram: Int32Array;
}

function modeCount(modes: MixtureModes): number {
  if (modes.centers.length % 2 !== 0 || modes.centers.length === 0) {
    throw new RangeError(`mixture centres must be a non-empty m×2 array, got length ${modes.centers.length}`);
  }
  if (!(modes.std > 0)) throw new RangeError(`mixture std must be positive, got ${modes.std}`);
  return modes.centers.length / 2;
}

/**
 * Mode coverage and quality of n generated 2D samples (row-major n×2) against a mixture.
 * Non-finite samples (a diverged generator) are counted as low quality rather than thrown on.
 */
export function modeMetrics(samples: Float32Array | Float64Array, n: number, modes: MixtureModes): ModeMetrics {
  const m = modeCount(modes);
  if (!Number.isInteger(n) || n < 0 || samples.length !== 2 * n) {
    throw new RangeError(`modeMetrics: expected ${n}×2 samples, got ${samples.length} values`);
  }
  const { centers } = modes;
  // Compare squared distances to avoid a sqrt per sample.
  const radius2 = 9 * modes.std * modes.std;
  const histogram = new Int32Array(m);
  let highQualityCount = 0;
  for (let i = 0; i < n; i++) {
    const x = samples[2 * i];
    const y = samples[2 * i + 1];
    let best = -1;
    let bestD2 = Infinity;
    for (let c = 0; c < m; c++) {
      const dx = x - centers[2 * c];
      const dy = y - centers[2 * c + 1];
      const d2 = dx * dx + dy * dy;
      if (d2 < bestD2) {
        bestD2 = d2;
        best = c;
      }
    }
    if (best >= 0 && bestD2 <= radius2) {
      histogram[best]++;
      highQualityCount++;
    }
  }
  let modesCovered = 0;
  let modesWith1pct = 0;
  let modeKl = highQualityCount === 0 ? Infinity : 0;
  for (let c = 0; c < m; c++) {
    const count = histogram[c];
    if (count === 0) continue;
    modesCovered++;
    if (count / n >= 0.01) modesWith1pct++;
    const p = count / highQualityCount;
    modeKl += p * Math.log(p * m);
  }
  // The exact value is ≥ 0; rounding in a near-uniform histogram can give −1e-17.
  if (modeKl < 0) modeKl = 0;
  return {
    numModes: m,
    modesCovered,
    modesWith1pct,
    highQualityCount,
    highQualityFraction: highQualityCount / n,
    modeKl,
    histogram,
  };
}

/**
 * n samples (row-major n×2, float32 like generator output) from the equal-weight mixture: a mode
 * drawn uniformly, plus isotropic Gaussian noise by Box–Muller.
 *
 * @param rng uniform generator on [0, 1), e.g. a seeded PRNG, so the "real data" reference is
 *   reproducible; it is called 3 times per sample
 */
export function sampleMixture(modes: MixtureModes, n: number, rng: () => number): Float32Array {
  const m = modeCount(modes);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`sampleMixture: n must be a non-negative integer, got ${n}`);
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    // min() guards a generator that returns exactly 1.
    const c = Math.min(Math.floor(rng() * m), m - 1);
    // 1 − u maps [0, 1) to (0, 1], keeping log() finite.
    const radius = Math.sqrt(-2 * Math.log(1 - rng()));
    const angle = 2 * Math.PI * rng();
    out[2 * i] = modes.centers[2 * c] + modes.std * radius * Math.cos(angle);
    out[2 * i + 1] = modes.centers[2 * c + 1] + modes.std * radius * Math.sin(angle);
  }
  return out;
}
