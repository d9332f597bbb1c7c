/**
 * Counter-based Philox4x32-10 RNG: randomUniform bit-exact against the CPU reference, determinism,
 * stream separation by offset and seed, and the moments of randomNormal (Box-Muller).
 *
 * Tolerance rules:
 *  - uniform: bitwise equal to the reference (u32 >> 8) * 2^-24, all values in [0, 1).
 *  - normal (1e6 samples): |mean - mu| <= 1e-2, |var / sigma^2 - 1| <= 1e-2 (statistical slack
 *    is ~5 standard errors), plus |P(|z| < 1) - 0.6827| <= 5e-3 and correlation of neighbours
 *    |r| <= 1e-2 (both ~5-10 standard errors).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { randomNormal, randomUniform, type Runtime } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import { Rng, assertShape, fmtShape, mulhi32, numel, philox4x32, philoxUniformAt, philoxUniformRef, withScope } from '../helpers/reference-elementwise';

let rt: Runtime;
let buffersAtStart = 0;
beforeAll(async () => {
  rt = await initNode();
  await rt.sync();
  buffersAtStart = rt.stats().buffersInUse;
});

const bits = (a: Float32Array | Int32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

function firstBitMismatch(got: Uint32Array, ref: Uint32Array): number {
  for (let i = 0; i < ref.length; i++) if (got[i] !== ref[i]) return i;
  return -1;
}

describe('CPU Philox reference', () => {
  it('matches the Random123 known-answer vectors (philox4x32 10)', () => {
    // Random123 tests/kat_vectors: counter (4 words), key (2 words) -> output (4 words).
    expect(philox4x32([0, 0, 0, 0], [0, 0])).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    expect(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff])).toEqual([
      0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd,
    ]);
    expect(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])).toEqual([
      0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1,
    ]);
  });

  it('mulhi32 agrees with BigInt on random and extreme operands', () => {
    const rng = new Rng(1);
    const values = [0, 1, 0xffffffff, 0x80000000, 0xd2511f53, 0xcd9e8d57, ...Array.from({ length: 2000 }, () => Math.floor(rng.next() * 2 ** 32))];
    for (let i = 0; i < values.length; i++) {
      const a = values[i];
      const b = values[(i * 7 + 3) % values.length];
      expect(mulhi32(a, b), `${a} * ${b}`).toBe(Number((BigInt(a) * BigInt(b)) >> 32n));
    }
  });
});

describe('randomUniform', () => {
  const CASES: { seed: number; offset: number; shape: number[] }[] = [
    { seed: 0, offset: 0, shape: [1] },
    { seed: 42, offset: 0, shape: [3] },
    { seed: 42, offset: 7, shape: [5, 7] },
    { seed: 1, offset: 0, shape: [] },
    { seed: 123_456_789, offset: 1000, shape: [2, 3, 5, 7, 11] },
    { seed: 2 ** 32 + 7, offset: 3, shape: [100_003] }, // seed > 2^32: key word 1 = 1
    { seed: 2 ** 40 + 12_345, offset: 0, shape: [4097] },
    { seed: 0xffffffff, offset: 2 ** 31 + 5, shape: [13, 1, 3] },
    { seed: 99, offset: 2 ** 32 - 3, shape: [37] }, // counter carries into its high word mid-draw
    { seed: 2 ** 52 + 1, offset: 2 ** 33 + 1, shape: [6] },
  ];

  for (const { seed, offset, shape } of CASES) {
    it(`is bitwise equal to the CPU Philox reference: seed ${seed}, offset ${offset}, shape ${fmtShape(shape)}`, async () => {
      await withScope(rt, async (s) => {
        const u = s.keep(randomUniform(rt, shape, seed, offset));
        const label = `randomUniform seed ${seed} offset ${offset} ${fmtShape(shape)}`;
        assertShape(u.shape, shape, label);
        expect(u.dtype ?? 'float32', label).toBe('float32');
        const got = (await s.read(u)) as Float32Array;
        const ref = philoxUniformRef(numel(shape), seed, offset);
        expect(got.length, label).toBe(ref.length);
        const i = firstBitMismatch(bits(got), bits(ref));
        expect(i === -1 ? 'all equal' : `first mismatch at ${i}: got ${got[i]}, expected ${ref[i]}`, label).toBe('all equal');
      });
    });
  }

  it('matches the reference across a 2-D dispatch grid (16,777,259 elements, spot-checked bitwise)', async () => {
    const n = 16_777_259; // > 65535 * 64 counter blocks
    const seed = 2 ** 35 + 77;
    const offset = 2 ** 32 - 1_000_000; // the counter's low word wraps inside the draw
    await withScope(rt, async (s) => {
      const u = (await s.read(s.keep(randomUniform(rt, [n], seed, offset)))) as Float32Array;
      const rng = new Rng(12);
      const idx = [0, 1, 2, 3, 4, 4_000_000 - 1, 4_000_000, 4_000_001, n - 5, n - 4, n - 1, ...Array.from({ length: 20_000 }, () => rng.int(0, n - 1))];
      for (const i of idx) {
        const ref = philoxUniformAt(i, seed, offset);
        if (u[i] !== ref) throw new Error(`randomUniform [${n}] seed ${seed} offset ${offset}: [${i}] got ${u[i]}, expected ${ref}`);
      }
    });
  });

  it('same seed and offset give bitwise identical draws; offsets and seeds separate streams', async () => {
    await withScope(rt, async (s) => {
      const n = 10_007;
      const read = async (seed: number, offset: number) => bits((await s.read(s.keep(randomUniform(rt, [n], seed, offset)))) as Float32Array);
      const a = await read(5, 0);
      const again = await read(5, 0);
      expect(firstBitMismatch(again, a)).toBe(-1);

      for (const [seed, offset] of [[5, 1], [5, 100], [5, 2 ** 32], [6, 0], [5 + 2 ** 32, 0]] as const) {
        const b = await read(seed, offset);
        const label = `seed ${seed} offset ${offset} vs seed 5 offset 0`;
        // No equal prefix: the first elements differ, and only chance coincidences match overall.
        expect(b[0] === a[0] && b[1] === a[1], label).toBe(false);
        let same = 0;
        for (let i = 0; i < n; i++) if (a[i] === b[i]) same++;
        expect(same, label).toBeLessThan(5);
      }
      // Offsets count 4-word counter blocks: offset 1 is offset 0 advanced by 4 elements (by design).
      const shifted = await read(5, 1);
      expect(firstBitMismatch(shifted.subarray(0, n - 4), a.subarray(4))).toBe(-1);
    });
  });

  it('1e6 draws lie in [0, 1) with mean 1/2 and variance 1/12', async () => {
    await withScope(rt, async (s) => {
      const n = 1_000_000;
      const u = (await s.read(s.keep(randomUniform(rt, [1000, 1000], 2024, 17)))) as Float32Array;
      let min = Infinity;
      let max = -Infinity;
      let sum = 0;
      let sq = 0;
      for (let i = 0; i < n; i++) {
        const v = u[i];
        if (v < min) min = v;
        if (v > max) max = v;
        sum += v;
        sq += v * v;
      }
      const mean = sum / n;
      expect(min).toBeGreaterThanOrEqual(0);
      expect(max).toBeLessThan(1);
      expect(Math.abs(mean - 0.5)).toBeLessThan(2e-3); // std error 2.9e-4
      expect(Math.abs(sq / n - mean * mean - 1 / 12)).toBeLessThan(1e-3);
    });
  });
});

describe('randomNormal', () => {
  async function moments(mean: number | undefined, std: number | undefined, seed: number, offset: number, shape: number[]) {
    return withScope(rt, async (s) => {
      const z = s.keep(randomNormal(rt, shape, seed, offset, mean, std));
      assertShape(z.shape, shape, `randomNormal ${fmtShape(shape)}`);
      const x = (await s.read(z)) as Float32Array;
      const n = x.length;
      let sum = 0;
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(x[i])) throw new Error(`randomNormal seed ${seed}: element ${i} is ${x[i]}`);
        sum += x[i];
      }
      const mu = sum / n;
      let sq = 0;
      let within1 = 0;
      let lag1 = 0;
      const sigma = std ?? 1;
      for (let i = 0; i < n; i++) {
        const d = x[i] - mu;
        sq += d * d;
        if (Math.abs(x[i] - (mean ?? 0)) < sigma) within1++;
        if (i + 1 < n) lag1 += d * (x[i + 1] - mu);
      }
      const variance = sq / n;
      return { x, mean: mu, variance, within1: within1 / n, corr: lag1 / sq };
    });
  }

  for (const [mean, std, seed, offset] of [[0, 1, 7, 0], [3, 2, 8, 123], [undefined, undefined, 2 ** 33 + 9, 5]] as const) {
    it(`1e6 normals with mean ${mean ?? 'default 0'}, std ${std ?? 'default 1'} have the requested moments`, async () => {
      const m = await moments(mean, std, seed, offset, [1_000_000]);
      const mu = mean ?? 0;
      const sigma = std ?? 1;
      const label = `randomNormal(mean ${mu}, std ${sigma}) seed ${seed}: mean ${m.mean}, var ${m.variance}, P(|z|<1) ${m.within1}, r ${m.corr}`;
      expect(Math.abs(m.mean - mu), label).toBeLessThanOrEqual(1e-2);
      expect(Math.abs(m.variance / (sigma * sigma) - 1), label).toBeLessThanOrEqual(1e-2);
      expect(Math.abs(m.within1 - 0.682_689), label).toBeLessThanOrEqual(5e-3);
      expect(Math.abs(m.corr), label).toBeLessThanOrEqual(1e-2);
    });
  }

  it('is deterministic, separates offsets, and handles odd sizes', async () => {
    await withScope(rt, async (s) => {
      const read = async (shape: number[], offset: number) => bits((await s.read(s.keep(randomNormal(rt, shape, 11, offset, 0, 1)))) as Float32Array);
      for (const shape of [[1], [3], [5, 7], [], [2, 3, 1, 5, 7]]) {
        const a = await read(shape, 9);
        const b = await read(shape, 9);
        expect(a.length, fmtShape(shape)).toBe(numel(shape));
        expect(firstBitMismatch(b, a), `randomNormal ${fmtShape(shape)} repeat`).toBe(-1);
        const c = await read(shape, 10_000);
        expect(c[0] === a[0], `randomNormal ${fmtShape(shape)} offsets 9 vs 10000`).toBe(false);
        for (const v of new Float32Array(a.buffer, a.byteOffset, a.length)) expect(Number.isFinite(v)).toBe(true);
      }
    });
  });
});

describe('buffers', () => {
  it('every buffer the tests and kernels allocated is back in the pool', async () => {
    await rt.sync();
    expect(rt.stats().buffersInUse).toBe(buffersAtStart);
  });
});
