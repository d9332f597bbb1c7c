/**
 * topKIndices against a host reference (a stable sort, largest first, ties by lower index): sizes
 * around the 64-wide workgroup and beyond, k from 0 to n, continuous values and values with many
 * ties, negative zero beside zero, ±Inf; and the errors for bad k.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, toArray, topKIndices, type Runtime } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import { Rng } from '../helpers/reference-elementwise';

let rt: Runtime;
beforeAll(async () => {
  rt = await initNode();
});

/** Indices of the k largest values, largest first; equal values keep index order. */
function referenceTopK(x: Float32Array, k: number): number[] {
  const order = Array.from(x, (_, i) => i).sort((a, b) => (x[b] !== x[a] ? x[b] - x[a] : a - b));
  return order.slice(0, k);
}

async function runTopK(x: Float32Array, k: number, shape = [x.length]): Promise<number[]> {
  const input = fromArray(rt, x, shape);
  const out = topKIndices(rt, input, k);
  const got = Array.from(await toArray(rt, out));
  rt.release(input.buffer);
  rt.release(out.buffer);
  return got;
}

describe('topKIndices', () => {
  it('matches a stable host sort on random sizes and k, with and without ties', async () => {
    const rng = new Rng(23);
    let cases = 0;
    for (const n of [1, 2, 5, 63, 64, 65, 129, 257, 1000]) {
      for (const ties of [false, true]) {
        // With ties: values from a handful of levels, so most elements share their value.
        const x = Float32Array.from({ length: n }, () => (ties ? Math.floor(rng.next() * 5) - 2 : (rng.next() - 0.5) * 100));
        for (const k of new Set([0, 1, Math.floor(n / 2), Math.max(0, n - 1), n, Math.floor(rng.next() * (n + 1))])) {
          expect(await runTopK(x, k), `n ${n}, ties ${ties}, k ${k}`).toEqual(referenceTopK(x, k));
          cases++;
        }
      }
    }
    expect(cases).toBeGreaterThan(80);
  });

  it('reads any shape flat (a batch of [n, 1] critic scores)', async () => {
    const x = Float32Array.from([0.5, -1, 3, 2, 3, -7]);
    expect(await runTopK(x, 3, [6, 1])).toEqual([2, 4, 3]);
  });

  it('orders infinities at the ends and treats −0 and 0 as equal', async () => {
    const x = Float32Array.from([0, Number.NEGATIVE_INFINITY, -0, 1, Number.POSITIVE_INFINITY, -2]);
    expect(await runTopK(x, 6)).toEqual([4, 3, 0, 2, 5, 1]);
  });

  it('rejects a k outside [0, n] or not an integer, naming the shape', () => {
    const x = fromArray(rt, Float32Array.from([1, 2, 3]), [3]);
    expect(() => topKIndices(rt, x, 4)).toThrow('topKIndices: k must be an integer in [0, 3] for x [3], got 4');
    expect(() => topKIndices(rt, x, -1)).toThrow(/got -1/);
    expect(() => topKIndices(rt, x, 1.5)).toThrow(/got 1.5/);
    rt.release(x.buffer);
  });
});
