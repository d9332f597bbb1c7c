/**
 * Module and Sequential of @webgan/nn: registration and its order (which is the order of
 * parameters() and of the state dict, as in PyTorch), dotted names of nested modules,
 * namedParameters / namedBuffers / parameters (shared tensors listed once), train/eval propagation
 * to every descendant, zeroGrad, stateDict (PyTorch keys, live tensors, num_batches_tracked as an
 * int64 host scalar), loadStateDict (in place, strict key checking, shape and dtype checks, and a
 * failed load changes nothing at all), Sequential's '0', '1', ... names and forward, toString,
 * dispose.
 *
 * Tolerances: state-dict copies are compared bitwise (a copy must not change a bit). The one
 * numeric forward (Sequential of Linear → LeakyReLU → Linear against a float64 reference) uses the
 * float32 GEMM rule 1e-5·Σ|products| + 1e-6 per element, with the first layer's absolute sums
 * propagated through the second (|W2|·(Σ|W1 x| + |b1|) + |b2|).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initNode } from '@webgan/kernels/node';
import { Tensor, manualSeed, memory, mse, sum, mul, tensor, zeros } from '@webgan/core';
import {
  BatchNorm1d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  Flatten,
  LayerNorm,
  LeakyReLU,
  Linear,
  Module,
  ReLU,
  Sequential,
  hostArray,
  int64Scalar,
  isTensorValue,
  type HostArray,
  type StateValue,
} from '@webgan/nn';
import { Rng, expectClose, randomData, tolFromAbsSum } from '../helpers/reference';

beforeAll(async () => {
  await initNode({ tuningFile: false });
});

// ------------------------------------------------------------------------------------ helpers

const f32 = async (t: Tensor): Promise<Float32Array> => (await t.data()) as Float32Array;
const bitsOf = async (t: Tensor): Promise<Uint32Array> => {
  const d = await t.data();
  return new Uint32Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength));
};

/** Every state-dict value as plain numbers (tensors read back; host arrays converted). */
async function snapshot(m: Module): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [k, v] of m.stateDict()) {
    out.set(k, isTensorValue(v) ? Array.from(await v.data()) : Array.from(v.data as ArrayLike<number | bigint>, Number));
  }
  return out;
}

/** A host float32 array of `shape` filled from the seeded rng. */
const hostF32 = (rng: Rng, shape: number[]): HostArray => hostArray('float32', shape, randomData(rng, shape.reduce((a, b) => a * b, 1)));

/** Leaf module registering parameter a, buffer buf, parameter b, counter n (interleaved on purpose). */
class Leaf extends Module {
  constructor() {
    super();
    this.registerParameter('a', tensor([1, 2, 3], [3]));
    this.registerBuffer('buf', tensor([7, 8], [2]));
    this.registerParameter('b', tensor([4, 5], [2]));
    this.registerCounter('n', 3);
  }
  forward(x: Tensor): Tensor {
    return x.alias();
  }
}

/** A root with its own parameter, a nested Sequential and a BatchNorm child. */
class Net extends Module {
  readonly enc: Sequential;
  readonly bn: BatchNorm1d;
  constructor() {
    super();
    this.registerParameter('scale', tensor([0.5], [1]));
    this.enc = this.registerModule('enc', new Sequential(new Linear(3, 5), new ReLU(), new Dropout(0.5), new Linear(5, 2)));
    this.bn = this.registerModule('bn', new BatchNorm1d(2));
  }
  forward(x: Tensor): Tensor {
    const h = this.enc.forward(x);
    const y = this.bn.forward(h);
    h.dispose();
    return y;
  }
}

// ------------------------------------------------------------------------------ registration

describe('registration and naming', () => {
  it('namedParameters: own parameters first, then children depth-first in registration order, dotted names', () => {
    const net = new Net();
    expect([...net.namedParameters()].map(([n]) => n)).toEqual(['scale', 'enc.0.weight', 'enc.0.bias', 'enc.3.weight', 'enc.3.bias', 'bn.weight', 'bn.bias']);
    // parameters() is the same tensors in the same order, and they are the layers' own tensors.
    const params = net.parameters();
    expect(params).toEqual([...net.namedParameters()].map(([, p]) => p));
    const lin0 = net.enc.at(0) as Linear;
    expect(params[1]).toBe(lin0.weight);
    expect(params[2]).toBe(lin0.bias);
    expect(params.every((p) => p.requiresGrad && p.dtype === 'float32')).toBe(true);
    expect(net.parameterCount()).toBe(1 + 5 * 3 + 5 + 2 * 5 + 2 + 2 + 2);
    // A prefix is prepended to every name.
    expect([...net.namedParameters('model')].map(([n]) => n)[1]).toBe('model.enc.0.weight');
    net.dispose();
  });

  it('namedModules / namedChildren list the tree with dotted names, root first as ""', () => {
    const net = new Net();
    expect([...net.namedModules()].map(([n, m]) => `${n}:${m.constructor.name}`)).toEqual([
      ':Net',
      'enc:Sequential',
      'enc.0:Linear',
      'enc.1:ReLU',
      'enc.2:Dropout',
      'enc.3:Linear',
      'bn:BatchNorm1d',
    ]);
    expect([...net.namedChildren()].map(([n]) => n)).toEqual(['enc', 'bn']);
    expect([...net.modules()].length).toBe(7);
    net.dispose();
  });

  it('namedBuffers lists running statistics with dotted names; buffers are not parameters', () => {
    const net = new Net();
    expect([...net.namedBuffers()].map(([n]) => n)).toEqual(['bn.running_mean', 'bn.running_var']);
    const bufs = net.buffersList();
    expect(bufs.every((b) => !b.requiresGrad)).toBe(true);
    expect(bufs.some((b) => net.parameters().includes(b))).toBe(false);
    net.dispose();
  });

  it('a tensor shared by two modules is listed once by parameters() but under both keys in the state dict', () => {
    const a = new Linear(4, 3);
    const b = new Linear(4, 3);
    b.registerParameter('weight', a.weight); // weight tying
    const seq = new Sequential(a, b);
    expect([...seq.namedParameters()].map(([n]) => n)).toEqual(['0.weight', '0.bias', '1.bias']);
    expect([...seq.stateDict().keys()]).toEqual(['0.weight', '0.bias', '1.weight', '1.bias']);
    expect(seq.stateDict().get('1.weight')).toBe(a.weight);
  });

  it('registerParameter: float32 only, sets requiresGrad, rejects dotted or empty names', () => {
    const m = new Leaf();
    expect(() => m.registerParameter('c', tensor(new Int32Array([1, 2]), [2]))).toThrow(/parameters must be float32, got int32/);
    expect(() => m.registerParameter('x.y', zeros([2]))).toThrow(/invalid name 'x.y'/);
    expect(() => m.registerBuffer('', zeros([2]))).toThrow(/invalid name ''/);
    expect(() => m.registerModule('p.q', new ReLU())).toThrow(/invalid name 'p.q'/);
    const t = zeros([2]);
    expect(t.requiresGrad).toBe(false);
    m.registerParameter('c', t);
    expect(t.requiresGrad).toBe(true);
    expect([...m.namedParameters()].map(([n]) => n)).toEqual(['a', 'b', 'c']);
  });

  it('re-registering the same tensor under its own name keeps it usable; replacing with another tensor swaps it', async () => {
    const m = new Leaf();
    const a = m.tensor('a');
    m.registerParameter('a', a);
    expect(a.isDisposed).toBe(false);
    expect(Array.from(await f32(m.tensor('a')))).toEqual([1, 2, 3]);
    const buf = m.tensor('buf');
    m.registerBuffer('buf', buf);
    expect(buf.isDisposed).toBe(false);
    const a2 = tensor([9, 9, 9], [3]);
    m.registerParameter('a', a2);
    expect(m.tensor('a')).toBe(a2);
    expect(m.parameters()[0]).toBe(a2);
  });

  it('a null parameter (Linear without bias) appears nowhere', () => {
    const lin = new Linear(3, 2, { bias: false });
    expect(lin.bias).toBeNull();
    expect(lin.hasParameter('bias')).toBe(false);
    expect([...lin.namedParameters()].map(([n]) => n)).toEqual(['weight']);
    expect([...lin.stateDict().keys()]).toEqual(['weight']);
    expect(() => lin.tensor('bias')).toThrow(/Linear has no parameter or buffer 'bias'/);
    expect(lin.hasTensor('bias')).toBe(false);
    expect(lin.hasTensor('weight')).toBe(true);
  });
});

// ---------------------------------------------------------------------------------- train/eval

describe('train / eval', () => {
  it('eval() and train() reach every descendant and return the module', () => {
    const net = new Net();
    expect([...net.modules()].every((m) => m.training)).toBe(true);
    expect(net.eval()).toBe(net);
    expect([...net.modules()].map((m) => m.training)).toEqual(new Array(7).fill(false));
    expect(net.train()).toBe(net);
    expect([...net.modules()].every((m) => m.training)).toBe(true);
    net.train(false);
    expect([...net.modules()].some((m) => m.training)).toBe(false);
    net.dispose();
  });

  it('eval() changes what nested layers compute: Dropout deep in the tree becomes the identity', async () => {
    const inner = new Sequential(new Dropout(0.9));
    const outer = new Sequential(new Sequential(inner));
    const x = tensor(Float32Array.from({ length: 101 }, (_, i) => i + 1), [101]);
    const yTrain = outer.forward(x);
    const zerosTrain = Array.from(await f32(yTrain)).filter((v) => v === 0).length;
    expect(zerosTrain).toBeGreaterThan(50); // p = 0.9: ~91 zeros expected, training is really on
    outer.eval();
    const yEval = outer.forward(x);
    expect(Array.from(await f32(yEval))).toEqual(Array.from(await f32(x)));
    for (const t of [x, yTrain, yEval]) t.dispose();
  });
});

// ------------------------------------------------------------------------------------ zeroGrad

describe('zeroGrad', () => {
  it('gradients accumulate over backward calls until zeroGrad drops (and frees) them', async () => {
    manualSeed(11);
    const model = new Sequential(new Linear(3, 4), new Linear(4, 2));
    const x = tensor(Float32Array.from([0.5, -1, 2, 1.5, 0.25, -0.75]), [2, 3]);
    const step = () => {
      const y = model.forward(x);
      const loss = sum(mul(y, y));
      loss.backward();
      y.dispose();
      loss.dispose();
    };
    step();
    const first = await Promise.all(model.parameters().map(async (p) => Array.from(await f32(p.grad!))));
    step();
    const second = await Promise.all(model.parameters().map(async (p) => Array.from(await f32(p.grad!))));
    // Accumulated: exactly twice (g + g is exact in float32).
    second.forEach((g, i) => expect(g).toEqual(first[i].map((v) => 2 * v)));
    const live = memory().liveTensors;
    model.zeroGrad();
    expect(model.parameters().every((p) => p.grad === null)).toBe(true);
    expect(memory().liveTensors).toBe(live - 4); // the four gradient tensors were disposed
    step();
    const third = await Promise.all(model.parameters().map(async (p) => Array.from(await f32(p.grad!))));
    third.forEach((g, i) => expect(g).toEqual(first[i]));
    model.zeroGrad();
    x.dispose();
    model.dispose();
  });
});

// ---------------------------------------------------------------------------------- state dict

/** Conv → BN2d → ReLU → Flatten → Linear → BN1d: PyTorch keys are known for this architecture. */
function convNet(): Sequential {
  return new Sequential(new Conv2d(2, 3, 3), new BatchNorm2d(3), new ReLU(), new Flatten(), new Linear(3 * 2 * 3, 5), new BatchNorm1d(5));
}
const CONVNET_KEYS = [
  '0.weight',
  '0.bias',
  '1.weight',
  '1.bias',
  '1.running_mean',
  '1.running_var',
  '1.num_batches_tracked',
  '4.weight',
  '4.bias',
  '5.weight',
  '5.bias',
  '5.running_mean',
  '5.running_var',
  '5.num_batches_tracked',
];
const CONVNET_SHAPES: Record<string, number[]> = {
  '0.weight': [3, 2, 3, 3],
  '0.bias': [3],
  '1.weight': [3],
  '1.bias': [3],
  '1.running_mean': [3],
  '1.running_var': [3],
  '1.num_batches_tracked': [],
  '4.weight': [5, 18],
  '4.bias': [5],
  '5.weight': [5],
  '5.bias': [5],
  '5.running_mean': [5],
  '5.running_var': [5],
  '5.num_batches_tracked': [],
};

/** A state dict for convNet with fresh random float values (host arrays) and the given counters. */
function randomConvNetState(rng: Rng, counters: [number, number]): Map<string, StateValue> {
  const out = new Map<string, StateValue>();
  for (const k of CONVNET_KEYS) {
    if (k === '1.num_batches_tracked') out.set(k, int64Scalar(counters[0]));
    else if (k === '5.num_batches_tracked') out.set(k, int64Scalar(counters[1]));
    else out.set(k, hostF32(rng, CONVNET_SHAPES[k]));
  }
  return out;
}

describe('stateDict', () => {
  it('has PyTorch keys in PyTorch order: per module parameters then buffers, children after', () => {
    const net = convNet();
    const sd = net.stateDict();
    expect([...sd.keys()]).toEqual(CONVNET_KEYS);
    for (const [k, v] of sd) expect([...v.shape], k).toEqual(CONVNET_SHAPES[k]);
    // Within one module: parameters, then buffers, then counters, whatever the registration interleaving.
    expect([...new Leaf().stateDict().keys()]).toEqual(['a', 'b', 'buf', 'n']);
    const net2 = new Net();
    expect([...net2.stateDict().keys()]).toEqual(['scale', 'enc.0.weight', 'enc.0.bias', 'enc.3.weight', 'enc.3.bias', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked']);
    net.dispose();
    net2.dispose();
  });

  it('tensor values are the live tensors (no copy); counters are int64 host scalars counting training batches', async () => {
    const net = convNet();
    const sd = net.stateDict();
    expect(sd.get('0.weight')).toBe((net.at(0) as Conv2d).weight);
    expect(sd.get('1.running_mean')).toBe(net.at(1).tensor('running_mean'));
    const counter = sd.get('1.num_batches_tracked') as HostArray;
    expect(isTensorValue(counter)).toBe(false);
    expect(counter.dtype).toBe('int64');
    expect(counter.shape).toEqual([]);
    expect(counter.data).toBeInstanceOf(BigInt64Array);
    expect(counter.data[0]).toBe(0n);
    // Three training forwards, one eval forward: the counter is 3.
    const x = tensor(randomData(new Rng(3), 4 * 2 * 4 * 5), [4, 2, 4, 5]);
    for (let i = 0; i < 3; i++) net.forward(x).dispose();
    net.eval();
    net.forward(x).dispose();
    const after = net.stateDict();
    for (const k of ['1.num_batches_tracked', '5.num_batches_tracked']) {
      const c = after.get(k) as HostArray;
      expect(c.dtype, k).toBe('int64');
      expect(c.data[0], k).toBe(3n);
    }
    // The earlier state dict's counter was a snapshot of the host value at that time.
    expect(counter.data[0]).toBe(0n);
    x.dispose();
    net.dispose();
  });
});

describe('loadStateDict', () => {
  it('round trip: copies every value in place (tensor identities unchanged) and the counters', async () => {
    manualSeed(1);
    const a = convNet();
    const x = tensor(randomData(new Rng(4), 3 * 2 * 4 * 5), [3, 2, 4, 5]);
    a.forward(x).dispose(); // running stats and counters non-trivial
    a.forward(x).dispose();
    manualSeed(2);
    const b = convNet();
    const beforeB = b.stateDict();
    const expected = await snapshot(a);
    expect(await snapshot(b)).not.toEqual(expected);
    const result = b.loadStateDict(a.stateDict());
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(await snapshot(b)).toEqual(expected);
    for (const [k, v] of b.stateDict()) {
      if (isTensorValue(v)) expect(v, `${k} is still the same tensor object`).toBe(beforeB.get(k));
    }
    expect((b.stateDict().get('5.num_batches_tracked') as HostArray).data[0]).toBe(2n);
    // A copy, not an alias: changing a afterwards leaves b alone.
    const w0 = await bitsOf((b.at(0) as Conv2d).weight);
    (a.at(0) as Conv2d).weight.copy_(zeros([3, 2, 3, 3]));
    expect(await bitsOf((b.at(0) as Conv2d).weight)).toEqual(w0);
    x.dispose();
    a.dispose();
    b.dispose();
  });

  it('loads host arrays (as read from a file) and plain objects; tensors read back bit for bit', async () => {
    const net = convNet();
    const state = randomConvNetState(new Rng(5), [17, 4]);
    net.loadStateDict(Object.fromEntries(state));
    for (const [k, v] of net.stateDict()) {
      const want = state.get(k) as HostArray;
      if (isTensorValue(v)) expect(await bitsOf(v), k).toEqual(new Uint32Array((want.data as Float32Array).slice().buffer));
      else expect(v.data[0], k).toBe(want.data[0]);
    }
    net.dispose();
  });

  it('strict: a missing or unexpected key throws naming it, and nothing is changed', async () => {
    const net = convNet();
    const before = await snapshot(net);
    const missing = randomConvNetState(new Rng(6), [1, 1]);
    missing.delete('4.bias');
    missing.delete('1.num_batches_tracked');
    expect(() => net.loadStateDict(missing)).toThrow(/missing keys: 1\.num_batches_tracked, 4\.bias/);
    expect(await snapshot(net)).toEqual(before);
    const extra = randomConvNetState(new Rng(7), [1, 1]);
    extra.set('4.weight_orig', hostF32(new Rng(8), [5, 18]));
    expect(() => net.loadStateDict(extra)).toThrow(/unexpected keys: 4\.weight_orig/);
    expect(await snapshot(net)).toEqual(before);
    net.dispose();
  });

  it('non-strict: loads the keys present, reports missing and unexpected ones', async () => {
    const net = convNet();
    const before = await snapshot(net);
    const state = randomConvNetState(new Rng(9), [5, 6]);
    state.delete('0.weight');
    state.set('extra.thing', hostF32(new Rng(10), [2]));
    const result = net.loadStateDict(state, false);
    expect(result).toEqual({ missingKeys: ['0.weight'], unexpectedKeys: ['extra.thing'] });
    const after = await snapshot(net);
    expect(after.get('0.weight')).toEqual(before.get('0.weight'));
    expect(after.get('0.bias')).toEqual(Array.from((state.get('0.bias') as HostArray).data as Float32Array));
    expect(after.get('5.num_batches_tracked')).toEqual([6]);
    net.dispose();
  });

  it('a shape mismatch throws naming the key and both shapes (strict or not), and nothing is changed', async () => {
    const net = convNet();
    const before = await snapshot(net);
    const state = randomConvNetState(new Rng(11), [2, 2]);
    state.set('4.weight', hostF32(new Rng(12), [18, 5])); // transposed
    expect(() => net.loadStateDict(state)).toThrow(/'4\.weight' has shape \[18,5\] in the state dict but \[5,18\] in the module/);
    expect(() => net.loadStateDict(state, false)).toThrow(/'4\.weight' has shape \[18,5\]/);
    // Earlier keys (0.*, 1.*) were valid but must not have been written either.
    expect(await snapshot(net)).toEqual(before);
    net.dispose();
  });

  it('a dtype mismatch (int32 or int64 data, int tensor) throws naming the key, and nothing is changed', async () => {
    const net = convNet();
    const before = await snapshot(net);
    const bad: [string, StateValue][] = [
      ['5.bias', hostArray('int32', [5], Int32Array.from([1, 2, 3, 4, 5]))],
      ['5.bias', hostArray('int64', [5], BigInt64Array.from([1n, 2n, 3n, 4n, 5n]))],
      ['5.running_var', tensor(new Int32Array([1, 2, 3, 4, 5]), [5])],
    ];
    for (const [key, value] of bad) {
      const state = randomConvNetState(new Rng(13), [2, 2]);
      state.set(key, value);
      expect(() => net.loadStateDict(state), `${key} as ${value.dtype}`).toThrow(new RegExp(`'${key.replace('.', '\\.')}' is ${value.dtype} in the state dict but float32 in the module`));
      // Every other key (0.* to 4.*, before it in order) was valid: none may have been written.
      expect(await snapshot(net), `${key} as ${value.dtype}`).toEqual(before);
    }
    net.dispose();
  });

  it('counters must be non-negative integer scalars; a bad one changes nothing', async () => {
    const net = convNet();
    const before = await snapshot(net);
    const bad: [StateValue, RegExp][] = [
      [tensor([3], []), /'5\.num_batches_tracked' must be an integer scalar \(int64\), got a tensor/],
      [hostArray('int64', [1], BigInt64Array.of(3n)), /must be an integer scalar \(int64\), got int64 \[1\]/],
      [int64Scalar(-1), /'5\.num_batches_tracked' must be a non-negative integer, got -1/],
      [hostArray('float32', [], Float32Array.of(2.5)), /must be a non-negative integer, got 2\.5/],
    ];
    for (const [value, pattern] of bad) {
      const state = randomConvNetState(new Rng(14), [9, 9]);
      state.set('5.num_batches_tracked', value);
      expect(() => net.loadStateDict(state)).toThrow(pattern);
      expect(await snapshot(net)).toEqual(before);
    }
    net.dispose();
  });

  it('loading a module its own state dict is a no-op', async () => {
    const net = convNet();
    const before = await snapshot(net);
    net.loadStateDict(net.stateDict());
    expect(await snapshot(net)).toEqual(before);
    net.dispose();
  });
});

// ---------------------------------------------------------------------------------- Sequential

describe('Sequential', () => {
  it('names children "0", "1", ... and supports length, at (negative too), iteration and append', () => {
    const l0 = new Linear(2, 3);
    const act = new LeakyReLU(0.2);
    const seq = new Sequential(l0, act);
    expect([...seq.namedChildren()].map(([n]) => n)).toEqual(['0', '1']);
    const l2 = new Linear(3, 1);
    expect(seq.append(l2)).toBe(seq);
    expect([...seq.namedChildren()].map(([n]) => n)).toEqual(['0', '1', '2']);
    expect(seq.length).toBe(3);
    expect(seq.at(0)).toBe(l0);
    expect(seq.at(-1)).toBe(l2);
    expect([...seq]).toEqual([l0, act, l2]);
    expect(() => seq.at(3)).toThrow(/index 3 out of range for 3 modules/);
    expect([...seq.stateDict().keys()]).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    seq.dispose();
  });

  it('forward applies the layers in order (Linear → LeakyReLU → Linear against a float64 reference)', async () => {
    manualSeed(21);
    const [N, I, H, O] = [6, 5, 7, 3];
    const l1 = new Linear(I, H);
    const l2 = new Linear(H, O);
    const seq = new Sequential(l1, new LeakyReLU(0.2), l2);
    const xData = randomData(new Rng(22), N * I, -2, 2);
    const x = tensor(xData, [N, I]);
    const y = seq.forward(x);
    expect(y.shape).toEqual([N, O]);
    const [w1, b1, w2, b2] = await Promise.all([l1.weight, l1.bias!, l2.weight, l2.bias!].map(f32));
    const ref = new Float64Array(N * O);
    const absSum = new Float64Array(N * O);
    for (let n = 0; n < N; n++) {
      const h = new Float64Array(H);
      const hAbs = new Float64Array(H);
      for (let j = 0; j < H; j++) {
        let s = b1[j];
        let sa = Math.abs(b1[j]);
        for (let i = 0; i < I; i++) {
          s += xData[n * I + i] * w1[j * I + i];
          sa += Math.abs(xData[n * I + i] * w1[j * I + i]);
        }
        h[j] = s > 0 ? s : 0.2 * s;
        hAbs[j] = sa;
      }
      for (let o = 0; o < O; o++) {
        let s = b2[o];
        let sa = Math.abs(b2[o]);
        for (let j = 0; j < H; j++) {
          s += h[j] * w2[o * H + j];
          sa += hAbs[j] * Math.abs(w2[o * H + j]);
        }
        ref[n * O + o] = s;
        absSum[n * O + o] = sa;
      }
    }
    expectClose(await f32(y), ref, tolFromAbsSum(absSum, 1e-5, 1e-6), 'Sequential forward', [N, O]);
    x.dispose();
    y.dispose();
    seq.dispose();
  });

  it('an empty Sequential returns a new handle on its input', async () => {
    const x = tensor([1, 2, 3], [3]);
    const y = new Sequential().forward(x);
    expect(y).not.toBe(x);
    y.dispose();
    expect(x.isDisposed).toBe(false);
    expect(Array.from(await f32(x))).toEqual([1, 2, 3]);
    x.dispose();
  });

  it('forward + backward outside tidy leaves nothing alive beyond output, loss and gradients', () => {
    manualSeed(23);
    const seq = new Sequential(new Linear(5, 7), new ReLU(), new LayerNorm(7), new Linear(7, 2), new LeakyReLU(0.1));
    const x = tensor(randomData(new Rng(24), 3 * 5), [3, 5]);
    const target = zeros([3, 2]);
    const baseline = memory().liveTensors;
    const y = seq.forward(x);
    const loss = mse(y, target);
    loss.backward();
    const grads = seq.parameters().filter((p) => p.grad).length;
    expect(grads).toBe(6);
    y.dispose();
    loss.dispose();
    seq.zeroGrad();
    expect(memory().liveTensors).toBe(baseline);
    x.dispose();
    target.dispose();
    seq.dispose();
  });
});

// ---------------------------------------------------------------------------- toString, dispose

describe('toString and dispose', () => {
  it('toString: one line per module, indented by depth, with configuration and parameter shapes', () => {
    const model = new Sequential(new Linear(3, 5), new LeakyReLU(0.2), new Sequential(new Linear(5, 2, { bias: false }), new BatchNorm1d(2)));
    const lines = model.toString().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toBe('Sequential');
    expect(lines[1]).toBe('  (0): Linear(in=3, out=5, bias=true) {weight[5,3], bias[5]}');
    expect(lines[2]).toBe('  (1): LeakyReLU(0.2)');
    expect(lines[3]).toMatch(/^ {2}\((2)\): Sequential$/);
    expect(lines[4]).toMatch(/^ {4}\((2\.)?0\): Linear\(in=5, out=2, bias=false\) \{weight\[2,5\]\}$/);
    expect(lines[5]).toMatch(/^ {4}\((2\.)?1\): BatchNorm1d\(2, eps=(1e-05|0\.00001), momentum=0\.1, affine=true, trackRunningStats=true\) \{weight\[2\], bias\[2\]\}$/);
    model.dispose();
  });

  it('dispose frees every parameter and buffer of the tree (BatchNorm without affine included)', () => {
    const baseline = memory().liveTensors;
    const model = new Sequential(new Conv2d(2, 3, 3), new BatchNorm2d(3, { affine: false }), new Flatten(), new Linear(12, 2), new BatchNorm1d(2));
    const params = model.parameters();
    expect(memory().liveTensors).toBeGreaterThan(baseline);
    model.dispose();
    expect(params.every((p) => p.isDisposed)).toBe(true);
    expect(memory().liveTensors).toBe(baseline);
  });
});
