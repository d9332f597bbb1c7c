/**
 * Tensor and autograd semantics: tidy / keep scopes (sync, nested, async, throwing), noGrad,
 * detach, grad() with respect to a non-leaf (WGAN-GP interpolates), .grad accumulation,
 * views and reference-counted storage, toString / format.
 * Values are small integers or exact binary fractions, so float32 results are compared exactly.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initNode } from '@webgan/kernels/node';
import {
  Tensor, abs, add, clamp, compare, exp, flatten, floor, grad, isGradEnabled, keep, linear, max, maximum, mean, memory, min, minimum, mul, noGrad,
  ones, relu, reshape, sign, sqrt, square, sub, sum, tanh, tensor, tidy, zeros,
} from '@webgan/core';
import { gradCheck, randTensor } from '../helpers/gradcheck';
import { Rng } from '../helpers/reference';

beforeAll(async () => {
  await initNode({ tuningFile: false });
});

const live = () => memory().liveTensors;
const values = async (t: Tensor) => Array.from(await t.data());

describe('tidy and keep', () => {
  it('disposes intermediates but not the returned tensor', async () => {
    const before = live();
    let intermediate!: Tensor;
    const out = tidy(() => {
      intermediate = add(ones([3]), 1);
      return mul(intermediate, 3);
    });
    expect(intermediate.isDisposed).toBe(true);
    expect(out.isDisposed).toBe(false);
    expect(await values(out)).toEqual([6, 6, 6]);
    expect(live()).toBe(before + 1);
    out.dispose();
    expect(live()).toBe(before);
  });

  it('keeps arrays and (nested) plain objects of returned tensors', async () => {
    const before = live();
    const dropped: Tensor[] = [];
    const result = tidy(() => {
      const a = ones([2]);
      const b = zeros([2]);
      dropped.push(add(a, b), mul(a, 2));
      return { list: [a, { b }], n: 3, s: 'x' };
    });
    expect(dropped.every((t) => t.isDisposed)).toBe(true);
    const [a, { b }] = result.list as [Tensor, { b: Tensor }];
    expect(a.isDisposed || b.isDisposed).toBe(false);
    expect(await values(a)).toEqual([1, 1]);
    expect(result.n).toBe(3);
    expect(live()).toBe(before + 2);
    a.dispose();
    b.dispose();
    const arr = tidy(() => [ones([1]), ones([2])]);
    expect(arr.map((t) => t.isDisposed)).toEqual([false, false]);
    arr.forEach((t) => t.dispose());
    expect(live()).toBe(before);
  });

  it('keep() exempts a tensor from every enclosing scope', () => {
    const before = live();
    let kept!: Tensor;
    let other!: Tensor;
    tidy(() => {
      tidy(() => {
        kept = keep(ones([4]));
        other = ones([4]);
      });
      expect(other.isDisposed).toBe(true);
      expect(kept.isDisposed).toBe(false);
    });
    expect(kept.isDisposed).toBe(false);
    expect(live()).toBe(before + 1);
    kept.dispose();
    expect(live()).toBe(before);
  });

  it('nested tidy: the inner result moves to the outer scope and is disposed there unless returned', () => {
    const before = live();
    let inner!: Tensor;
    let innerTemp!: Tensor;
    const outer = tidy(() => {
      inner = tidy(() => {
        innerTemp = ones([2]);
        return add(innerTemp, 1);
      });
      expect(innerTemp.isDisposed).toBe(true);
      expect(inner.isDisposed).toBe(false);
      return mul(inner, 2);
    });
    expect(inner.isDisposed).toBe(true);
    expect(outer.isDisposed).toBe(false);
    outer.dispose();
    expect(live()).toBe(before);
    // Returned through both scopes it survives both.
    const through = tidy(() => tidy(() => ones([3])));
    expect(through.isDisposed).toBe(false);
    through.dispose();
    expect(live()).toBe(before);
  });

  it('an async body is awaited before disposing (tensors made before and after an await)', async () => {
    const before = live();
    const made: Tensor[] = [];
    const out = await tidy(async () => {
      const a = ones([3]);
      made.push(a);
      const seen = await a.data(); // a readback in the middle of the scope
      const b = add(a, seen[0]);
      made.push(b);
      await Promise.resolve();
      expect(a.isDisposed).toBe(false); // still open
      return mul(b, 2);
    });
    expect(made.every((t) => t.isDisposed)).toBe(true);
    expect(await values(out)).toEqual([4, 4, 4]);
    out.dispose();
    expect(live()).toBe(before);
  });

  it('a throwing body (sync or async) disposes what it made and rethrows', async () => {
    const before = live();
    expect(() =>
      tidy(() => {
        ones([2]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    await expect(
      tidy(async () => {
        ones([2]);
        await Promise.resolve();
        throw new Error('async boom');
      }),
    ).rejects.toThrow('async boom');
    expect(live()).toBe(before);
  });

  it('a tensor disposed by hand inside tidy is fine (dispose is idempotent)', () => {
    const before = live();
    tidy(() => {
      const t = ones([2]);
      t.dispose();
    });
    expect(live()).toBe(before);
  });
});

describe('noGrad and detach', () => {
  it('noGrad results have no gradFn and do not require grad; the flag is restored', () => {
    const x = tensor([1, 2], [2], { requiresGrad: true });
    expect(isGradEnabled()).toBe(true);
    tidy(() => {
      const y = noGrad(() => {
        expect(isGradEnabled()).toBe(false);
        const inner = noGrad(() => mul(x, x));
        expect(isGradEnabled()).toBe(false); // nested noGrad restores to "off"
        return add(inner, exp(x));
      });
      expect(y.gradFn).toBeNull();
      expect(y.requiresGrad).toBe(false);
      expect(y.isLeaf).toBe(true);
      const z = mul(x, x);
      expect(z.gradFn).not.toBeNull();
      expect(z.gradFn!.name).toBe('mul');
    });
    expect(isGradEnabled()).toBe(true);
    expect(() => noGrad(() => { throw new Error('x'); })).toThrow('x');
    expect(isGradEnabled()).toBe(true);
    x.dispose();
  });

  it('async noGrad restores the flag after the promise settles', async () => {
    const r = noGrad(async () => {
      await Promise.resolve();
      return isGradEnabled();
    });
    expect(await r).toBe(false);
    expect(isGradEnabled()).toBe(true);
  });

  it('detach shares the values, is not part of the graph, and stops gradients', async () => {
    const x = tensor([1, 2, 3], [3], { requiresGrad: true });
    await tidy(async () => {
      const y = mul(x, 2);
      const d = y.detach();
      expect(d.gradFn).toBeNull();
      expect(d.requiresGrad).toBe(false);
      expect(await values(d)).toEqual([2, 4, 6]);
      y.dispose();
      expect(await values(d)).toEqual([2, 4, 6]); // own reference to the storage
      // d/dx sum(x · detach(x)) = detach(x) (not 2x)
      const [g] = grad(sum(mul(x, x.detach())), [x]);
      expect(await values(g!)).toEqual([1, 2, 3]);
    });
    x.dispose();
  });
});

describe('grad() and backward()', () => {
  it('grad() with respect to a non-leaf (WGAN-GP interpolate x̂ = ε·real + (1−ε)·G(z))', async () => {
    const rng = new Rng(11);
    const G = randTensor(rng, [6, 4], -0.5, 0.5); // generator weights (leaf)
    const W = randTensor(rng, [1, 6], -0.5, 0.5); // critic weights (leaf)
    const z = randTensor(rng, [3, 4], -1, 1, false);
    const real = randTensor(rng, [3, 6], -1, 1, false);
    const eps = tensor([0.25, 0.5, 0.75], [3, 1]);
    const critic = (xh: Tensor) => sum(tanh(linear(xh, W)));
    const interpolate = (g: Tensor) => add(mul(eps, real), mul(sub(1, eps), tanh(linear(z, g))));
    await tidy(async () => {
      const xHat = interpolate(G);
      expect(xHat.isLeaf).toBe(false);
      const [gNonLeaf] = grad(critic(xHat), [xHat]);
      // Same as the gradient at a detached copy that is a leaf.
      const leaf = xHat.detach().requiresGrad_();
      const [gLeaf] = grad(critic(leaf), [leaf]);
      expect(gNonLeaf!.shape).toEqual([3, 6]);
      expect(await values(gNonLeaf!)).toEqual(await values(gLeaf!));
    });
    // The full WGAN-GP term through x̂ differentiated w.r.t. the generator and critic weights
    // (createGraph on a non-leaf) against central differences.
    const gp = (g: Tensor, w: Tensor) => {
      const xHat = interpolate(g);
      const [gx] = grad(sum(tanh(linear(xHat, w))), [xHat], { createGraph: true });
      return mean(square(sub(sqrt(sum(mul(gx!, gx!), 1)), 1)));
    };
    const report = await gradCheck(gp, [G, W], { label: 'GP through a non-leaf x̂', numericWithGrad: true });
    expect(report.worstRatio).toBeLessThanOrEqual(1);
    for (const t of [G, W, z, real, eps]) t.dispose();
  });

  it('grad() returns null for an input the output does not depend on and leaves .grad alone', () => {
    const a = tensor([1, 2], [2], { requiresGrad: true });
    const b = tensor([3, 4], [2], { requiresGrad: true });
    tidy(() => {
      const [ga, gb] = grad(sum(mul(a, a)), [a, b]);
      expect(ga).not.toBeNull();
      expect(gb).toBeNull();
    });
    expect(a.grad).toBeNull();
    a.dispose();
    b.dispose();
  });

  it('.grad accumulates across two backward calls (two graphs) and survives tidy', async () => {
    const x = tensor([1, 2, 3], [3], { requiresGrad: true });
    tidy(() => sum(mul(x, x)).backward()); // 2x
    const first = x.grad!;
    expect(await values(first)).toEqual([2, 4, 6]);
    tidy(() => sum(mul(x, 3)).backward()); // + 3
    expect(await values(x.grad!)).toEqual([5, 7, 9]);
    expect(x.grad!.isLeaf).toBe(true);
    expect(x.grad!.requiresGrad).toBe(false);
    expect(first.isDisposed).toBe(true); // the old accumulator was replaced, not leaked
    const before = live();
    x.dispose(); // disposes its .grad too
    expect(live()).toBe(before - 2);
  });

  it('backward with a gradOutput for a non-scalar output', async () => {
    const x = tensor([1, 2, 3], [3], { requiresGrad: true });
    tidy(() => {
      const y = mul(x, x);
      y.backward(tensor([1, 0.5, -1], [3]));
    });
    expect(await values(x.grad!)).toEqual([2, 2, -6]);
    x.dispose();
  });

  it('gradients flow through views (reshape/flatten) into the base leaf', async () => {
    const x = tensor([1, 2, 3, 4, 5, 6], [2, 3], { requiresGrad: true });
    const g = await tidy(async () => {
      const v = flatten(reshape(x, [3, 2]));
      const [gx] = grad(sum(mul(v, tensor([1, 2, 3, 4, 5, 6]))), [x]);
      return values(gx!);
    });
    expect(g).toEqual([1, 2, 3, 4, 5, 6]);
    x.dispose();
  });

  it('a view keeps the storage alive after the base is disposed', async () => {
    const base = tensor([1, 2, 3, 4], [2, 2]);
    const view = reshape(base, [4]);
    base.dispose();
    expect(await values(view)).toEqual([1, 2, 3, 4]);
    view.dispose();
  });
});

describe('non-differentiable ops and conventions at kinks', () => {
  it('compare, sign and floor record nothing, even on inputs that require grad', () => {
    const x = tensor([-1.5, 0, 2.5], [3], { requiresGrad: true });
    tidy(() => {
      for (const t of [compare('gt', x, 0), compare('le', x, x), sign(x), floor(x)]) {
        expect(t.gradFn).toBeNull();
        expect(t.requiresGrad).toBe(false);
      }
    });
    x.dispose();
  });

  it('max/min reductions share the gradient equally between tied elements; maximum/minimum give a tie to a', async () => {
    const x = tensor([1, 3, 3, -2, -2, 0], [2, 3], { requiresGrad: true });
    const y = tensor([1, 0, 3, -2, 5, 0], [2, 3], { requiresGrad: true });
    await tidy(async () => {
      const [gMax] = grad(sum(max(x)), [x]);
      expect(await values(gMax!)).toEqual([0, 0.5, 0.5, 0, 0, 0]);
      const [gMin] = grad(sum(min(x, 1)), [x]);
      expect(await values(gMin!)).toEqual([1, 0, 0, 0.5, 0.5, 0]);
      const [ga, gb] = grad(sum(maximum(x, y)), [x, y]);
      expect(await values(ga!)).toEqual([1, 1, 1, 1, 0, 1]);
      expect(await values(gb!)).toEqual([0, 0, 0, 0, 1, 0]);
      const [ma, mb] = grad(sum(minimum(x, y)), [x, y]);
      expect(await values(ma!)).toEqual([1, 0, 1, 1, 1, 1]);
      expect(await values(mb!)).toEqual([0, 1, 0, 0, 0, 0]);
    });
    x.dispose();
    y.dispose();
  });

  it('relu and abs have gradient 0 at 0; clamp passes the gradient at its bounds', async () => {
    const x = tensor([-1, 0, 2], [3], { requiresGrad: true });
    await tidy(async () => {
      expect(await values(grad(sum(relu(x)), [x])[0]!)).toEqual([0, 0, 1]);
      expect(await values(grad(sum(abs(x)), [x])[0]!)).toEqual([-1, 0, 1]);
      expect(await values(grad(sum(clamp(x, -1, 0)), [x])[0]!)).toEqual([1, 1, 0]);
    });
    x.dispose();
  });
});

describe('toString and format', () => {
  it('toString shows shape, dtype, requiresGrad, the producing op, and small values known on the host', async () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]], undefined, { requiresGrad: true });
    expect(x.shape).toEqual([2, 3]);
    expect(x.size).toBe(6);
    expect(x.rank).toBe(2);
    // Created from host data: the values are known without a readback.
    expect(String(x)).toBe('tensor([[1,2,3],[4,5,6]], shape=[2,3], dtype=float32, requiresGrad)');
    await tidy(async () => {
      const doubled = mul(x, 2);
      // Computed on the GPU: no values until they are read back once.
      expect(String(doubled)).toBe('tensor(shape=[2,3], dtype=float32, requiresGrad, gradFn=mulScalar)');
      await doubled.data();
      expect(String(doubled)).toBe('tensor([[2,4,6],[8,10,12]], shape=[2,3], dtype=float32, requiresGrad, gradFn=mulScalar)');
      expect(String(tensor(new Int32Array([1, 2])))).toBe('tensor([1,2], shape=[2], dtype=int32)');
      expect(`${zeros([])}`).toBe('tensor(shape=[], dtype=float32)');
    });
    x.dispose();
  });

  it('format shows the values (nested) and the shape; large tensors are summarised', async () => {
    const x = tensor([[1, 2.5, 3], [4, 5, -6]]);
    expect(await x.format()).toBe('tensor([[1,2.5,3],[4,5,-6]], shape=[2,3], dtype=float32)');
    expect(await x.array()).toEqual([[1, 2.5, 3], [4, 5, -6]]);
    const i = tensor(new Int32Array([7, 8]), [2, 1]);
    expect(await i.format()).toBe('tensor([[7],[8]], shape=[2,1], dtype=int32)');
    const s = tensor([42], []);
    expect(await s.format()).toBe('tensor(42, shape=[], dtype=float32)');
    expect(await s.item()).toBe(42);
    const big = zeros([10, 10], { requiresGrad: true });
    expect(await big.format()).toBe('tensor(<100 values>, shape=[10,10], dtype=float32, requiresGrad)');
    expect(await big.format(100)).toMatch(/^tensor\(\[\[0,0,0,0,0,0,0,0,0,0\],/);
    for (const t of [x, i, s, big]) t.dispose();
  });
});

describe('comparison aliases', () => {
  it('eq / ne / lt / le / gt / ge give float 1/0 like compare()', async () => {
    const { eq, ne, lt, le, gt, ge } = await import('@webgan/core');
    await tidy(async () => {
      const a = tensor([1, 2, 3]);
      const b = tensor([2, 2, 2]);
      expect(Array.from(await eq(a, b).data())).toEqual([0, 1, 0]);
      expect(Array.from(await ne(a, b).data())).toEqual([1, 0, 1]);
      expect(Array.from(await lt(a, b).data())).toEqual([1, 0, 0]);
      expect(Array.from(await le(a, 2).data())).toEqual([1, 1, 0]);
      expect(Array.from(await gt(a, 2).data())).toEqual([0, 0, 1]);
      expect(Array.from(await ge(a, b).data())).toEqual([0, 1, 1]);
    });
  });
});
