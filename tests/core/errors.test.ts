/**
 * Error reporting of @webgan/core: every misuse throws at once, with a message (matched by regex)
 * that names the op and the shapes / dtypes involved, and leaves no tensor or buffer behind.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { getRuntime } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import {
  add, batchNorm, bceWithLogits, broadcastTo, concat, conv2d, convTranspose2d, crossEntropy, div, exp, full, gather, grad, layerNorm, linear, matmul,
  maximum, memory, mse, mul, ones, reshape, sub, sum, tensor, tidy, topk, zeros, type Tensor,
} from '@webgan/core';

beforeAll(async () => {
  await initNode({ tuningFile: false });
});

// Each test must leave memory as it found it (a failed op must not leak its output buffer).
let live = 0;
let bytes = 0;
beforeEach(async () => {
  await getRuntime().sync();
  live = memory().liveTensors;
  bytes = memory().bytesInUse;
});
afterEach(async () => {
  await getRuntime().sync();
  expect(memory().liveTensors, 'live tensors after the test').toBe(live);
  expect(memory().bytesInUse, 'bytes in use after the test').toBe(bytes);
});

/** Runs body in tidy (so the test's own tensors are disposed even when it throws). */
const scoped = (body: () => void) => () => tidy(body);

describe('shape mismatches name the op and both shapes', () => {
  for (const [name, op] of [['add', add], ['sub', sub], ['mul', mul], ['div', div], ['maximum', maximum]] as const) {
    it(`${name} of [2,3] and [4,5]`, scoped(() => {
      const a = ones([2, 3]);
      const b = ones([4, 5]);
      expect(() => op(a, b)).toThrow(new RegExp(`${name === 'maximum' ? 'max' : name}\\b.*\\[2,3\\].*\\[4,5\\].*cannot be broadcast`));
    }));
  }

  it('matmul inner dimensions: [2,3]·[4,5] (and batch sizes)', scoped(() => {
    expect(() => matmul(ones([2, 3]), ones([4, 5]))).toThrow(/matmul: inner dimensions differ: a \[2,3\] \(k=3\) vs b \[4,5\] \(k=4\)/);
    expect(() => matmul(ones([2, 3]), ones([2, 5]), { transposeA: true, transposeB: true })).toThrow(/matmul: inner dimensions differ: a \[2,3\] \(k=2\) vs b \[2,5\] \(k=5\)/);
    expect(() => matmul(ones([2, 3, 4]), ones([3, 4, 5]))).toThrow(/matmul: batch sizes differ: a \[2,3,4\] vs b \[3,4,5\]/);
  }));

  it('conv2d channels: x [1,3,5,5] with weight [2,2,3,3]', scoped(() => {
    expect(() => conv2d(ones([1, 3, 5, 5]), ones([2, 2, 3, 3]))).toThrow(/conv2d: x \[1,3,5,5\] has 3 channels but weight \[2,2,3,3\] expects 2/);
    expect(() => convTranspose2d(ones([1, 3, 5, 5]), ones([2, 2, 3, 3]))).toThrow(/convTranspose2d: x \[1,3,5,5\] has 3 channels but weight \[2,2,3,3\] expects 2/);
  }));

  it('linear features: x [4,3] with weight [2,5]', scoped(() => {
    expect(() => linear(ones([4, 3]), ones([2, 5]))).toThrow(/linear: x \[4,3\] has 3 features but weight \[2,5\] expects 5/);
  }));

  it('losses, layerNorm, reshape, broadcastTo, concat', scoped(() => {
    expect(() => mse(ones([2, 3]), ones([3, 2]))).toThrow(/mse: input \[2,3\] and target \[3,2\] must have the same shape/);
    expect(() => bceWithLogits(ones([4]), ones([5]))).toThrow(/bceWithLogits: input \[4\] and target \[5\]/);
    expect(() => layerNorm(ones([2, 3]), [4])).toThrow(/layerNorm: normalizedShape \[4\] does not match the trailing dims of x \[2,3\]/);
    expect(() => reshape(ones([2, 3]), [4, 2])).toThrow(/reshape: cannot reshape \[2,3\] \(6 elements\) to \[4,2\]/);
    expect(() => broadcastTo(ones([2, 3]), [4, 3])).toThrow(/broadcastTo: shape \[2,3\] cannot be broadcast to \[4,3\]/);
    expect(() => concat([ones([2, 3]), ones([3, 3])], 1)).toThrow(/concat: shapes \[2,3\], \[3,3\] differ outside axis 1/);
  }));

  it('gradOutput of the wrong shape', scoped(() => {
    const x = ones([3], { requiresGrad: true });
    const y = mul(x, x);
    expect(() => y.backward(ones([4]))).toThrow(/gradOutputs\[0\] has shape \[4\] but output 0 has shape \[3\]/);
  }));
});

describe('wrong dtypes', () => {
  it('a float op on an int32 tensor names the op and the dtype', scoped(() => {
    const i = tensor(new Int32Array([1, 2, 3]));
    expect(i.dtype).toBe('int32');
    expect(() => exp(i)).toThrow(/exp: x must be float32, got int32/);
    expect(() => add(i, ones([3]))).toThrow(/add: a must be float32, got int32/);
    expect(() => mul(ones([3]), i)).toThrow(/mul: b must be float32, got int32/);
    expect(() => sum(i)).toThrow(/sum: x must be float32, got int32/);
    expect(() => matmul(tensor(new Int32Array(4), [2, 2]), ones([2, 2]))).toThrow(/matmul: a must be float32, got int32/);
  }));

  it('gather with float indices', scoped(() => {
    expect(() => gather(ones([4, 2]), tensor([0, 1]), 0)).toThrow(/gather: indices must be int32, got float32/);
  }));

  it('topk of a tensor that is not 1-D, and a k past its length', scoped(() => {
    expect(() => topk(ones([4, 2]), 2)).toThrow('topk: x must be 1-D, got [4,2]');
    expect(() => topk(ones([4]), 5)).toThrow('topKIndices: k must be an integer in [0, 4] for x [4], got 5');
  }));

  it('crossEntropy with float labels', scoped(() => {
    expect(() => crossEntropy(ones([2, 3]), tensor([0, 1]))).toThrow(/crossEntropy: labels must be int32 \[2\], got float32 \[2\]/);
  }));

  it('requiresGrad on an int32 tensor', scoped(() => {
    expect(() => tensor(new Int32Array([1, 2]), undefined, { requiresGrad: true })).toThrow(/requiresGrad: only float32 tensors can require gradients, this one is int32/);
    expect(() => full([2], 1, { dtype: 'int32', requiresGrad: true })).toThrow(/requiresGrad: only float32 .* int32/);
    const i = zeros([2], { dtype: 'int32' });
    expect(() => i.requiresGrad_()).toThrow(/requiresGrad: only float32 .* int32/);
    expect(() => (i.requiresGrad = true)).toThrow(/requiresGrad: only float32 .* int32/);
    expect(i.requiresGrad).toBe(false);
  }));

  it('a creation that throws (requiresGrad on int32) leaves no tensor behind', () => {
    const before = memory().liveTensors;
    expect(() => tensor(new Int32Array([1, 2]), undefined, { requiresGrad: true })).toThrow(/requiresGrad/);
    expect(() => full([2], 1, { dtype: 'int32', requiresGrad: true })).toThrow(/requiresGrad/);
    expect(memory().liveTensors - before, 'tensors leaked by the two failed creations').toBe(0);
  });
});

describe('use after dispose', () => {
  it('an op, a readback and an item() on a disposed tensor name the op and the tensor', async () => {
    const x = tensor([1, 2, 3]);
    x.dispose();
    expect(x.isDisposed).toBe(true);
    expect(() => exp(x)).toThrow(new RegExp(`exp: tensor \\[3\\] \\(id ${x.id}\\) was used after dispose\\(\\)`));
    expect(() => tidy(() => add(ones([3]), x))).toThrow(/add: tensor \[3\] .* was used after dispose\(\)/);
    await expect(x.data()).rejects.toThrow(/data: tensor \[3\] .* was used after dispose\(\)/);
    await expect(x.item()).rejects.toThrow(/tensor \[3\] has 3 elements, not 1/);
    x.dispose(); // idempotent
  });

  it('a tensor created in tidy and not returned is disposed when the scope ends', () => {
    let inner: Tensor | undefined;
    tidy(() => {
      inner = ones([2]);
    });
    expect(inner!.isDisposed).toBe(true);
    expect(() => mul(inner!, 2)).toThrow(/mul: tensor \[2\] .* was used after dispose\(\)/);
  });

  it('a disposed leaf still works as a saved input of a graph built before (storage is reference-counted)', async () => {
    const x = tensor([1, 2, 3], [3], { requiresGrad: true });
    const values = await tidy(async () => {
      const y = sum(mul(x, x));
      x.dispose(); // the graph keeps its own reference to x's storage
      const [g] = grad(y, [x]);
      return Array.from(await g!.data());
    });
    expect(values).toEqual([2, 4, 6]);
  });
});

describe('autograd misuse', () => {
  it('a second backward through a freed graph (no retainGraph) fails and says what to do', scoped(() => {
    const x = ones([3], { requiresGrad: true });
    const y = sum(mul(x, x));
    y.backward();
    expect(() => y.backward()).toThrow(/backward: trying to backward through the graph a second time \(node '\w+' was freed\); pass retainGraph: true/);
    expect(() => grad(y, [x])).toThrow(/second time/);
    x.grad!.dispose();
    x.grad = null;
  }));

  it('with retainGraph the second backward works (and accumulates)', async () => {
    const x = tensor([1, 2, 3], [3], { requiresGrad: true });
    tidy(() => {
      const y = sum(mul(x, x));
      y.backward(undefined, { retainGraph: true });
      y.backward();
    });
    expect(Array.from(await x.grad!.data())).toEqual([4, 8, 12]);
    x.dispose();
  });

  it('backward on a non-scalar without gradOutput', scoped(() => {
    const x = ones([2, 3], { requiresGrad: true });
    const y = mul(x, 2);
    expect(() => y.backward()).toThrow(/backward: output 0 has shape \[2,3\]; pass gradOutputs for non-scalar outputs/);
    expect(() => grad(y, [x])).toThrow(/pass gradOutputs for non-scalar outputs/);
  }));

  it('backward / grad of something that does not require grad', scoped(() => {
    const x = ones([3]);
    const y = sum(x);
    expect(() => y.backward()).toThrow(/backward: output 0 \(tensor\(shape=\[\], dtype=float32\)\) does not require grad/);
    const w = ones([3], { requiresGrad: true });
    expect(() => grad(sum(w), [x])).toThrow(/grad: input tensor\(shape=\[3\], dtype=float32\) does not require grad/);
  }));

  it('gradients of gradients through batchNorm (training) are refused with an explanation', scoped(() => {
    const x = tensor([1, 2, 4, 3, 0, 5], [3, 2], { requiresGrad: true });
    const g = ones([2], { requiresGrad: true });
    const b = zeros([2], { requiresGrad: true });
    const y = batchNorm(x, g, b, zeros([2]), ones([2]), { training: true });
    expect(() => grad(sum(mul(y, y)), [x], { createGraph: true })).toThrow(/batchNorm: gradients of gradients through batch normalisation are not supported/);
  }));
});

describe('creation errors', () => {
  it('data that does not fill the shape, ragged nested arrays, item() of a non-scalar', async () => {
    expect(() => tensor([1, 2, 3, 4, 5], [2, 3])).toThrow(/tensor: 5 values do not fill shape \[2,3\] \(6 elements\)/);
    expect(() => tensor([[1, 2], [3]])).toThrow(/tensor: ragged nested array/);
    const t = ones([2, 2]);
    await expect(t.item()).rejects.toThrow(/item: tensor \[2,2\] has 4 elements, not 1/);
    t.dispose();
  });
});
