/**
 * Layers, an optimizer and a safetensors round trip: fit y = sin(3x) with a small MLP, save it,
 * load it into a fresh model and check it predicts the same.
 *   node scripts/run.mjs examples/nn.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initNode } from '@webgan/kernels/node';
import { manualSeed, memory, mse, noGrad, sin, tensor, tidy } from '@webgan/core';
import { Adam, CosineAnnealingLR, Linear, Sequential, Tanh } from '@webgan/nn';
import { loadModule, saveModule } from '@webgan/nn/node';

const makeModel = () => new Sequential(new Linear(1, 32), new Tanh(), new Linear(32, 32), new Tanh(), new Linear(32, 1));

export async function nnExample(steps = 300): Promise<{ firstLoss: number; lastLoss: number; reloadedMaxDiff: number; stateKeys: string[]; liveTensors: number }> {
  await initNode();
  manualSeed(0);
  const model = makeModel();
  const opt = new Adam(model.parameters(), { lr: 1e-2 });
  const schedule = new CosineAnnealingLR(opt, steps);
  const xs = Float32Array.from({ length: 64 }, (_, i) => -1 + (2 * i) / 63);
  const x = tensor(xs, [64, 1]);
  const y = tidy(() => sin(tensor(xs.map((v) => 3 * v), [64, 1])));
  let firstLoss = NaN;
  let lastLoss = NaN;
  for (let step = 0; step < steps; step++) {
    const loss = tidy(() => mse(model.forward(x), y));
    loss.backward();
    opt.step();
    opt.zeroGrad();
    schedule.step();
    if (step === 0) firstLoss = await loss.item();
    if (step === steps - 1) lastLoss = await loss.item();
    loss.dispose();
  }

  const dir = mkdtempSync(join(tmpdir(), 'webgan-nn-example-'));
  const file = join(dir, 'mlp.safetensors');
  await saveModule(file, model);
  const copy = makeModel();
  await loadModule(file, copy);
  rmSync(dir, { recursive: true });
  const outputs = [model, copy].map((m) => noGrad(() => m.forward(x)));
  const [a, b] = await Promise.all(outputs.map((t) => t.data()));
  outputs.forEach((t) => t.dispose());
  const reloadedMaxDiff = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
  const stateKeys = [...model.stateDict().keys()];

  for (const t of [x, y]) t.dispose();
  for (const m of [model, copy]) m.dispose();
  opt.dispose();
  return { firstLoss, lastLoss, reloadedMaxDiff, stateKeys, liveTensors: memory().liveTensors };
}

if (process.argv[1]?.endsWith('nn.mjs')) {
  console.log(await nnExample());
}
