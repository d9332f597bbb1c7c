/**
 * Activations fused into a Linear's GEMM epilogue: core's `linear(x, W, b, activation)` and
 * Sequential's fusing of Linear → ReLU / LeakyReLU / Tanh / Sigmoid.
 *
 * The fused forms must give the same values as the two ops one after the other, bit for bit: the
 * epilogue applies the same WGSL expression to the same float32 sum, and the backward reads f′'s
 * sign (relu, leaky ReLU) or value (tanh, sigmoid) from the output, which holds the same
 * information as the input. So outputs and first-order gradients are compared with toEqual;
 * recorded (createGraph) gradients, which take a differentiable composition on both sides, too.
 * Central-difference checks of the smooth kinds are in tests/core/grad-nn.test.ts and
 * grad-second-order.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import { grad, leakyRelu, linear, manualSeed, mul, relu, sigmoid, sum, tanh, tidy, type FusedActivation, type Tensor } from '@webgan/core';
import { LeakyReLU, Linear, ReLU, Sequential, Sigmoid, Tanh, spectralNorm, type Module } from '@webgan/nn';
import { randTensor } from '../helpers/gradcheck';
import { Rng } from '../helpers/reference';

beforeAll(async () => {
  await initNode({ tuningFile: false });
});

const host = async (t: Tensor | null): Promise<Float32Array> => (await t!.data()) as Float32Array;

const KINDS: [string, FusedActivation, (z: Tensor) => Tensor][] = [
  ['relu', { kind: 'relu' }, relu],
  ['leaky_relu 0.2', { kind: 'leaky_relu', slope: 0.2 }, (z) => leakyRelu(z, 0.2)],
  ['leaky_relu default slope', { kind: 'leaky_relu' }, (z) => leakyRelu(z)],
  ['tanh', { kind: 'tanh' }, tanh],
  ['sigmoid', { kind: 'sigmoid' }, sigmoid],
];

// A tiny layer, and one whose sizes are not multiples of any tile or vector width.
const SHAPES: [number, number, number][] = [
  [5, 7, 3],
  [67, 33, 45],
];

describe('linear(x, W, b, activation) = activation(linear(x, W, b))', () => {
  for (const [name, activation, apply] of KINDS) {
    for (const [n, fin, fout] of SHAPES) {
      it(`${name}, x[${n},${fin}] W[${fout},${fin}]: values and gradients of x, W, b`, async () => {
        const rng = new Rng(n * 131 + fin);
        const [x, w, b, r] = [randTensor(rng, [n, fin]), randTensor(rng, [fout, fin]), randTensor(rng, [fout]), randTensor(rng, [n, fout], -1, 1, false)];
        try {
          const fused = tidy(() => {
            const y = linear(x, w, b, activation);
            return [y, ...grad(sum(mul(y, r)), [x, w, b])];
          });
          const plain = tidy(() => {
            const y = apply(linear(x, w, b));
            return [y, ...grad(sum(mul(y, r)), [x, w, b])];
          });
          for (let i = 0; i < 4; i++) expect(await host(fused[i]), ['y', 'dx', 'dW', 'db'][i]).toEqual(await host(plain[i]));
          // Not vacuous: the activation changed the values (some pre-activations are negative).
          const z = tidy(() => linear(x, w, b));
          expect(await host(fused[0])).not.toEqual(await host(z));
          z.dispose();
          for (const t of [...fused, ...plain]) t!.dispose();
        } finally {
          for (const t of [x, w, b, r]) t.dispose();
        }
      });
    }

    it(`${name}: recorded gradients (createGraph) match too, and can be differentiated again`, async () => {
      const rng = new Rng(977);
      const [x, w, b] = [randTensor(rng, [6, 5]), randTensor(rng, [4, 5]), randTensor(rng, [4])];
      const secondOrder = (useFused: boolean) =>
        tidy(() => {
          const y = useFused ? linear(x, w, b, activation) : apply(linear(x, w, b));
          const [gx] = grad(sum(mul(y, y)), [x], { createGraph: true });
          return grad(sum(mul(gx!, gx!)), [x, w]);
        });
      try {
        const fused = secondOrder(true);
        const plain = secondOrder(false);
        for (let i = 0; i < 2; i++) expect(await host(fused[i])).toEqual(await host(plain[i]));
        for (const t of [...fused, ...plain]) t!.dispose();
      } finally {
        for (const t of [x, w, b]) t.dispose();
      }
    });
  }

  it('refuses a fused leaky ReLU whose slope is not positive, naming the slope', () => {
    const rng = new Rng(5);
    const [x, w] = [randTensor(rng, [2, 3]), randTensor(rng, [4, 3])];
    expect(() => linear(x, w, undefined, { kind: 'leaky_relu', slope: -0.1 })).toThrow(/positive slope.*-0\.1/);
    expect(() => linear(x, w, undefined, { kind: 'leaky_relu', slope: 0 })).toThrow(/positive slope.*\b0\b/);
    x.dispose();
    w.dispose();
  });
});

/** The same layers applied one at a time (no fusion), for comparison with Sequential's forward. */
function layerByLayer(layers: Module[], x: Tensor): Tensor {
  let current = x.alias();
  for (const layer of layers) {
    const next = layer.forward(current);
    current.dispose();
    current = next;
  }
  return current;
}

async function forwardAndGrads(run: () => Tensor, params: Tensor[]): Promise<Float32Array[]> {
  const outs = tidy(() => {
    const y = run();
    return [y, ...grad(sum(mul(y, y)), params)];
  });
  const data = await Promise.all(outs.map(host));
  for (const t of outs) t!.dispose();
  return data;
}

describe('Sequential fuses a Linear with the activation after it', () => {
  it('Linear → LeakyReLU(0.2) → Linear → ReLU → Linear → Tanh: same values and gradients, one launch per Linear', async () => {
    manualSeed(11);
    const layers = [new Linear(19, 33), new LeakyReLU(0.2), new Linear(33, 17), new ReLU(), new Linear(17, 5), new Tanh()];
    const net = new Sequential(...layers);
    const x = randTensor(new Rng(3), [9, 19]);
    const params = net.parameters();
    try {
      const fused = await forwardAndGrads(() => net.forward(x), [x, ...params]);
      const plain = await forwardAndGrads(() => layerByLayer(layers, x), [x, ...params]);
      expect(fused.length).toBe(8);
      for (let i = 0; i < fused.length; i++) expect(fused[i], `output ${i}`).toEqual(plain[i]);

      const rt = getRuntime();
      const launches = (run: () => Tensor) => {
        const before = rt.stats().dispatches;
        const y = run();
        const count = rt.stats().dispatches - before;
        y.dispose();
        return count;
      };
      expect(launches(() => net.forward(x))).toBe(3);
      expect(launches(() => layerByLayer(layers, x))).toBe(6);
    } finally {
      x.dispose();
      net.dispose();
    }
  });

  it('a Sigmoid after a Linear without bias is fused too', async () => {
    manualSeed(12);
    const layers = [new Linear(7, 6, { bias: false }), new Sigmoid()];
    const net = new Sequential(...layers);
    const x = randTensor(new Rng(4), [5, 7]);
    try {
      expect(await forwardAndGrads(() => net.forward(x), [x, ...net.parameters()])).toEqual(await forwardAndGrads(() => layerByLayer(layers, x), [x, ...net.parameters()]));
    } finally {
      x.dispose();
      net.dispose();
    }
  });

  it('a LeakyReLU of negative slope stays a layer of its own (and is still applied)', async () => {
    manualSeed(13);
    const layers = [new Linear(8, 6), new LeakyReLU(-0.3)];
    const net = new Sequential(...layers);
    const x = randTensor(new Rng(5), [4, 8]);
    try {
      const rt = getRuntime();
      const before = rt.stats().dispatches;
      const y = net.forward(x);
      expect(rt.stats().dispatches - before).toBe(2);
      const z = layers[0].forward(x);
      const expected = tidy(() => leakyRelu(z, -0.3));
      expect(await host(y)).toEqual(await host(expected));
      for (const t of [y, z, expected]) t.dispose();
    } finally {
      x.dispose();
      net.dispose();
    }
  });

  it('a spectrally normalised Linear is fused with its weight_orig / σ (the wrapper still runs)', async () => {
    manualSeed(14);
    const sn = spectralNorm(new Linear(12, 10));
    const net = new Sequential(sn, new LeakyReLU(0.2));
    sn.eval(); // u, v fixed, so both forwards see the same σ
    const x = randTensor(new Rng(6), [5, 12]);
    try {
      const fused = await forwardAndGrads(() => net.forward(x), [x, ...net.parameters()]);
      const plain = await forwardAndGrads(() => tidy(() => leakyRelu(sn.forward(x), 0.2)), [x, ...net.parameters()]);
      for (let i = 0; i < fused.length; i++) expect(fused[i], `output ${i}`).toEqual(plain[i]);
      // And σ is really applied: the unnormalised weight gives other values.
      const raw = tidy(() => leakyRelu(linear(x, sn.tensor('weight_orig'), sn.tensor('bias')), 0.2));
      expect(await host(raw)).not.toEqual(fused[0]);
      raw.dispose();
    } finally {
      x.dispose();
      net.dispose();
    }
  });
});
