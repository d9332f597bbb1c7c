/**
 * Memory in a training loop: a 2-layer MLP (linear → leakyRelu → linear → bceWithLogits) trained
 * for 1000 SGD steps, each step inside tidy(), the update written with core ops under noGrad
 * without in-place writes (new param = param − lr·grad, the old one disposed). memory() is sampled
 * after every step (after reading the loss back, which also submits the queued work so that
 * buffers released during the step are back in the pool): liveTensors and bytesInUse must be
 * exactly the same from step 10 to step 1000, and no GPU buffer may be created after step 10
 * (the pool serves every allocation). The same holds for a loop that builds the graph but never
 * calls backward (saved tensors are released when tidy disposes the graph's tensors).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime, sizeClassOf } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import { bceWithLogits, leakyRelu, linear, memory, mul, noGrad, sub, tensor, tidy, type MemoryInfo, type Tensor } from '@webgan/core';
import { Rng } from '../helpers/reference';

beforeAll(async () => {
  await initNode({ tuningFile: false });
});

const STEPS = 1000;
const FROM = 10;
const LR = 0.1;
const B = 16;
const IN = 8;
const HIDDEN = 12;

interface Model {
  x: Tensor;
  y: Tensor;
  params: Tensor[];
}

function makeModel(seed: number): Model {
  const rng = new Rng(seed);
  const normal = (n: number, std: number) => Float32Array.from({ length: n }, () => std * rng.normal());
  const xData = normal(B * IN, 1);
  // Labels from a fixed linear rule, so that the loss can go down.
  const rule = normal(IN, 1);
  const yData = Float32Array.from({ length: B }, (_, i) => (rule.reduce((a, w, j) => a + w * xData[i * IN + j], 0) > 0 ? 1 : 0));
  return {
    x: tensor(xData, [B, IN]),
    y: tensor(yData, [B, 1]),
    params: [
      tensor(normal(HIDDEN * IN, 0.4), [HIDDEN, IN], { requiresGrad: true }),
      tensor(normal(HIDDEN, 0.1), [HIDDEN], { requiresGrad: true }),
      tensor(normal(HIDDEN, 0.4), [1, HIDDEN], { requiresGrad: true }),
      tensor(normal(1, 0.1), [1], { requiresGrad: true }),
    ],
  };
}

const forward = (m: Model, params: Tensor[]): Tensor => {
  const [w1, b1, w2, b2] = params;
  const h = leakyRelu(linear(m.x, w1, b1), 0.2);
  return bceWithLogits(linear(h, w2, b2), m.y);
};

/** One SGD step inside tidy; returns the loss (kept) and the new parameters. */
function sgdStep(m: Model): Tensor {
  const { loss, next } = tidy(() => {
    const loss = forward(m, m.params);
    loss.backward();
    const next = noGrad(() => m.params.map((p) => sub(p, mul(p.grad!, LR))));
    for (const p of m.params) p.dispose(); // also disposes p.grad
    return { loss, next };
  });
  m.params = next.map((p) => p.requiresGrad_());
  return loss;
}

/** Forward only: the graph is built (parameters require grad) and dropped by tidy. */
function forwardOnly(m: Model): Tensor {
  return tidy(() => {
    const loss = forward(m, m.params);
    expect(loss.gradFn).not.toBeNull();
    return loss;
  });
}

interface Sample {
  liveTensors: number;
  bytesInUse: number;
  buffersCreated: number;
}
const sample = (info: MemoryInfo): Sample => ({ liveTensors: info.liveTensors, bytesInUse: info.bytesInUse, buffersCreated: info.buffersCreated });

/** Bytes the pool hands out for the tensors we hold. */
const heldBytes = (ts: Tensor[]) => ts.reduce((a, t) => a + sizeClassOf(t.size * 4), 0);

async function runLoop(step: (m: Model) => Tensor, m: Model): Promise<{ samples: Sample[]; losses: number[] }> {
  const samples: Sample[] = [];
  const losses: number[] = [];
  for (let i = 1; i <= STEPS; i++) {
    const loss = step(m);
    losses.push(await loss.item());
    loss.dispose();
    samples.push(sample(memory()));
  }
  return { samples, losses };
}

function expectFlat(samples: Sample[], label: string): void {
  const ref = samples[FROM - 1];
  const firstDiff = samples.findIndex((s, i) => i >= FROM - 1 && (s.liveTensors !== ref.liveTensors || s.bytesInUse !== ref.bytesInUse || s.buffersCreated !== ref.buffersCreated));
  expect(firstDiff, `${label}: memory at step ${firstDiff + 1} ${JSON.stringify(samples[firstDiff])} differs from step ${FROM} ${JSON.stringify(ref)}`).toBe(-1);
}

describe('memory in a 1000-step training loop', () => {
  it('SGD with backward: liveTensors, bytesInUse and buffersCreated are constant from step 10 to 1000', async () => {
    const before = sample(memory());
    const m = makeModel(7);
    const { samples, losses } = await runLoop(sgdStep, m);
    expectFlat(samples, 'SGD');
    const held = [m.x, m.y, ...m.params];
    // Exactly the tensors the test holds stay alive, with exactly their bytes.
    expect(samples[FROM - 1].liveTensors - before.liveTensors).toBe(held.length);
    expect(samples[STEPS - 1].bytesInUse - before.bytesInUse).toBe(heldBytes(held));
    // The loop really trains.
    expect(losses[STEPS - 1]).toBeLessThan(0.8 * losses[0]);
    console.log(`SGD loop: step ${FROM} ${JSON.stringify(samples[FROM - 1])}, step ${STEPS} ${JSON.stringify(samples[STEPS - 1])}, loss ${losses[0].toFixed(4)} → ${losses[STEPS - 1].toFixed(4)}`);
    for (const t of held) t.dispose();
    expect(memory().liveTensors).toBe(before.liveTensors);
    await getRuntime().sync();
    expect(memory().bytesInUse).toBe(before.bytesInUse);
  });

  it('forward only (graph built, backward never called): memory stays flat and the saved tensors are released', async () => {
    const before = sample(memory());
    const m = makeModel(8);
    const { samples } = await runLoop(forwardOnly, m);
    expectFlat(samples, 'forward only');
    const held = [m.x, m.y, ...m.params];
    expect(samples[STEPS - 1].liveTensors - before.liveTensors).toBe(held.length);
    expect(samples[STEPS - 1].bytesInUse - before.bytesInUse).toBe(heldBytes(held));
    console.log(`forward-only loop: step ${FROM} ${JSON.stringify(samples[FROM - 1])}, step ${STEPS} ${JSON.stringify(samples[STEPS - 1])}`);
    for (const t of held) t.dispose();
    expect(memory().liveTensors).toBe(before.liveTensors);
  });
});
