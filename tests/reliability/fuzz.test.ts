/**
 * Mutation fuzzing, CI's share (600 inputs per reader; `pnpm reliability fuzz` runs 10,000 per
 * reader): every input loads consistently or is rejected with the reader's own error, fast, and
 * without holding more memory than the input justifies.
 */
import { describe, expect, it } from 'vitest';
import { FUZZ_TARGETS, formatFuzz, fuzzTarget, mutate } from './fuzz';

describe('mutation fuzzing of the file readers', () => {
  for (const target of FUZZ_TARGETS) {
    it(`${target.name}: 600 mutated inputs load or are rejected with our error`, () => {
      const report = fuzzTarget(target, 600, 2026);
      expect(report.failures, formatFuzz(report)).toEqual([]);
      expect(report.loaded + report.rejected).toBe(600);
      // The mutations reach many different checks, not one early exit.
      expect(report.distinctRejections).toBeGreaterThan(20);
      expect(report.loaded).toBeGreaterThan(0);
    });
  }

  it('the harness reports a foreign exception and a slow input as failures', () => {
    const seed = FUZZ_TARGETS[0].seeds[0];
    let n = 0;
    const report = fuzzTarget({
      name: 'broken reader',
      seeds: [seed],
      load: () => {
        n++;
        if (n === 3) throw new TypeError('cannot read properties of undefined');
        if (n === 5) {
          const until = performance.now() + 1100;
          while (performance.now() < until);
        }
      },
      isOurs: () => false,
      allowance: () => 2 ** 30,
    }, 6, 1);
    expect(report.failures.map((f) => [f.index, f.why.replace(/\d+ ms/, 'N ms')])).toEqual([
      [2, 'threw TypeError: cannot read properties of undefined'],
      [4, 'took N ms'],
    ]);
  });

  it('mutations are reproducible from the seed and change the input', () => {
    const seed = FUZZ_TARGETS[2].seeds[0];
    let s1 = 1;
    let s2 = 1;
    const r1 = () => ((s1 = (s1 * 48271) % 2147483647) / 2147483647);
    const r2 = () => ((s2 = (s2 * 48271) % 2147483647) / 2147483647);
    const a = Array.from({ length: 50 }, () => mutate(seed, r1));
    const b = Array.from({ length: 50 }, () => mutate(seed, r2));
    expect(a).toEqual(b);
    expect(a.filter((m) => m.length === seed.length && m.every((x, i) => x === seed[i])).length).toBeLessThan(5);
  });
});
