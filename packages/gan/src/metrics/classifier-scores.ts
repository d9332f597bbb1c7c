/**
 * Metrics computed from a classifier's logits on generated images: the classifier score (the
 * Inception Score formula with our MNIST classifier in place of Inception), the histogram of
 * predicted classes and how many classes it covers, and the accuracy of a conditional generator at
 * producing the class it was asked for.
 *
 * Logits are row-major [n, k]. Everything is float64 on the host; probabilities are formed with
 * log-sum-exp so confident (large-logit) predictions neither overflow nor lose their small entries.
 */

/** Row-major logits, one row per sample. */
export type Logits = Float32Array | Float64Array;

function checkLogits(logits: Logits, n: number, k: number, name: string): void {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(k) || k < 1) {
    throw new RangeError(`${name}: bad shape [${n}, ${k}]`);
  }
  if (logits.length !== n * k) throw new RangeError(`${name}: expected ${n}×${k} = ${n * k} logits, got ${logits.length}`);
}

/** Writes log-softmax of row `row` into `out` (length k). Throws on rows without a finite maximum. */
function logSoftmaxRow(logits: Logits, row: number, k: number, out: Float64Array): void {
  const o = row * k;
  let max = -Infinity;
  for (let j = 0; j < k; j++) if (logits[o + j] > max) max = logits[o + j];
  // NaN never wins the comparison above, so check each entry; -Infinity logits are legitimate
  // (probability exactly 0) as long as some entry is finite.
  if (!Number.isFinite(max)) throw new RangeError(`row ${row} has no finite maximum logit`);
  let sum = 0;
  for (let j = 0; j < k; j++) {
    const v = logits[o + j];
    if (Number.isNaN(v) || v === Infinity) throw new RangeError(`row ${row} has a non-finite logit`);
    sum += Math.exp(v - max);
  }
  const lse = max + Math.log(sum);
  for (let j = 0; j < k; j++) out[j] = logits[o + j] - lse;
}

/** Row-wise softmax of logits [n, k], in float64. */
export function softmaxRows(logits: Logits, n: number, k: number): Float64Array {
  checkLogits(logits, n, k, 'softmaxRows');
  const out = new Float64Array(n * k);
  const row = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    logSoftmaxRow(logits, i, k, row);
    for (let j = 0; j < k; j++) out[i * k + j] = Math.exp(row[j]);
  }
  return out;
}

/** Result of {@link classifierScore}. */
export interface ClassifierScore {
  /** Mean of the per-split scores (the score itself when splits = 1). */
  mean: number;
  /** Population standard deviation (divisor = splits) of the per-split scores, as in the IS code; 0 for one split. */
  std: number;
  /** The score of each split. */
  splitScores: Float64Array;
}

/**
 * Classifier score exp(E_x KL(p(y|x) ‖ p(y))), with p(y) the mean of p(y|x) over the samples — the
 * Inception Score formula (Salimans et al. 2016) applied to our MNIST classifier, so it lies in
 * [1, k]: 1 when every prediction is the same distribution, k when predictions are confident and
 * spread evenly over the k classes. Comparable only between webgan runs.
 *
 * With `splits` > 1 the samples are cut into that many consecutive chunks (chunk i is rows
 * ⌊i·n/splits⌋ … ⌊(i+1)·n/splits⌋ − 1, as in the reference IS code, which uses 10), each scored with
 * its own p(y); the mean and std over chunks are returned.
 *
 * Computed in log space: log p(y) = logsumexp_x log p(y|x) − log(chunk size), so classes that only
 * get tiny probabilities still contribute exactly rather than via log(0).
 */
export function classifierScore(logits: Logits, n: number, k: number, splits = 1): ClassifierScore {
  checkLogits(logits, n, k, 'classifierScore');
  if (!Number.isInteger(splits) || splits < 1 || splits > n) {
    throw new RangeError(`classifierScore: splits must be an integer in [1, n = ${n}], got ${splits}`);
  }
  const logp = new Float64Array(n * k);
  const row = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    logSoftmaxRow(logits, i, k, row);
    logp.set(row, i * k);
  }
  const splitScores = new Float64Array(splits);
  const logMarginal = new Float64Array(k);
  for (let s = 0; s < splits; s++) {
    const start = Math.floor((s * n) / splits);
    const end = Math.floor(((s + 1) * n) / splits);
    const count = end - start;
    for (let j = 0; j < k; j++) {
      let max = -Infinity;
      for (let i = start; i < end; i++) if (logp[i * k + j] > max) max = logp[i * k + j];
      if (max === -Infinity) {
        logMarginal[j] = -Infinity;
        continue;
      }
      let sum = 0;
      for (let i = start; i < end; i++) sum += Math.exp(logp[i * k + j] - max);
      logMarginal[j] = max + Math.log(sum) - Math.log(count);
    }
    let kl = 0;
    for (let i = start; i < end; i++) {
      for (let j = 0; j < k; j++) {
        const lp = logp[i * k + j];
        // p·log p → 0 as p → 0; and p(y|x) > 0 implies p(y) > 0, so the difference is finite.
        if (lp === -Infinity) continue;
        kl += Math.exp(lp) * (lp - logMarginal[j]);
      }
    }
    splitScores[s] = Math.exp(kl / count);
  }
  let mean = 0;
  for (const v of splitScores) mean += v;
  mean /= splits;
  let variance = 0;
  for (const v of splitScores) variance += (v - mean) * (v - mean);
  return { mean, std: Math.sqrt(variance / splits), splitScores };
}

/** Index of the largest logit of each row (first index on ties, like numpy.argmax). */
export function argmaxRows(logits: Logits, n: number, k: number): Int32Array {
  checkLogits(logits, n, k, 'argmaxRows');
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * k;
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[o + j] > logits[o + best]) best = j;
    out[i] = best;
  }
  return out;
}

/** Number of samples predicted as each class (argmax of the logits), length k. */
export function classHistogram(logits: Logits, n: number, k: number): Int32Array {
  const hist = new Int32Array(k);
  for (const c of argmaxRows(logits, n, k)) hist[c]++;
  return hist;
}

/**
 * Number of classes that hold at least one sample and at least `minFraction` of all samples.
 *
 * minFraction = 0 counts classes with ≥ 1 sample; minFraction = 0.01 counts classes with ≥ 1% of
 * the samples (an inclusive bound, so exactly 1% counts). An empty histogram covers nothing.
 */
export function classesCovered(histogram: ArrayLike<number>, minFraction = 0): number {
  if (!(minFraction >= 0 && minFraction <= 1)) throw new RangeError(`classesCovered: minFraction must be in [0, 1], got ${minFraction}`);
  let total = 0;
  for (let j = 0; j < histogram.length; j++) total += histogram[j];
  if (total === 0) return 0;
  let covered = 0;
  // count / total is the correctly rounded ratio, so a share of exactly minFraction compares equal.
  for (let j = 0; j < histogram.length; j++) if (histogram[j] > 0 && histogram[j] / total >= minFraction) covered++;
  return covered;
}

/**
 * Fraction of samples whose predicted class (argmax) equals the class the conditional generator was
 * asked for. Returns NaN for n = 0.
 *
 * @param requestedLabels the label each sample was generated for, length n, values in [0, k)
 */
export function conditionalAccuracy(logits: Logits, n: number, k: number, requestedLabels: Int32Array): number {
  if (requestedLabels.length !== n) {
    throw new RangeError(`conditionalAccuracy: expected ${n} labels, got ${requestedLabels.length}`);
  }
  const predicted = argmaxRows(logits, n, k);
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const label = requestedLabels[i];
    if (label < 0 || label >= k) throw new RangeError(`conditionalAccuracy: label ${label} at ${i} is outside [0, ${k})`);
    if (predicted[i] === label) correct++;
  }
  return correct / n;
}
