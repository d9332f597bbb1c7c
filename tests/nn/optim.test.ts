/**
 * Optimizers (SGD, Adam, AdamW, RMSprop) against float64 implementations of PyTorch's documented
 * update rules (torch.optim docs, "Algorithm" sections), over 10 steps on three parameters of odd
 * sizes with fresh random gradients each step; plus one fused launch per step, skipped parameters,
 * param groups, state dict round trips and LR schedules.
 *
 * Tolerance: after every step, for every parameter and state tensor,
 *   max |got − ref| ≤ 1e-5 · max |ref|   (1e-5 relative, in the ∞-norm of the tensor)
 * Float32 rounding adds ~6e-8 relative per operation; over 10 steps of a handful of operations the
 * accumulated error stays well below 1e-5, while any rule difference (a missing bias correction,
 * dampening applied on the first step, ε inside the root) moves values by far more.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime, nonFiniteFlag, readNonFiniteFlag } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import { tensor, type Tensor } from '@webgan/core';
import {
  Adam, AdamW, CosineAnnealingLR, LinearLR, RMSprop, SGD, StepLR, isTensorValue, type Optimizer, type BaseHyper, type StateValue,
} from '@webgan/nn';
import { loadOptimizer, saveOptimizer } from '@webgan/nn/node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../helpers/reference';

beforeAll(async () => {
  await initNode({ tuningFile: false });
});

const SHAPES = [[7, 5], [13], [3, 3, 2]];
const STEPS = 10;

type Ref = Record<string, Float64Array>;
/** One float64 reference step of a parameter: updates p and state in place. */
type RefStep = (p: Float64Array, g: Float64Array, state: Ref, step: number) => void;

function randn(rng: Rng, n: number, scale = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround(rng.normal() * scale);
  return out;
}

const zerosLike = (a: Float64Array): Float64Array => new Float64Array(a.length);

function sgdRef(lr: number, momentum: number, dampening: number, wd: number, nesterov: boolean): RefStep {
  return (p, g0, s, t) => {
    const g = g0.map((v, i) => v + wd * p[i]);
    if (momentum !== 0) {
      const b = (s.momentum_buffer ??= zerosLike(p));
      for (let i = 0; i < p.length; i++) {
        b[i] = t === 1 ? g[i] : momentum * b[i] + (1 - dampening) * g[i];
        g[i] = nesterov ? g[i] + momentum * b[i] : b[i];
      }
    }
    for (let i = 0; i < p.length; i++) p[i] -= lr * g[i];
  };
}

function adamRef(lr: number, b1: number, b2: number, eps: number, wd: number, decoupled: boolean, amsgrad: boolean): RefStep {
  return (p, g0, s, t) => {
    const m = (s.exp_avg ??= zerosLike(p));
    const v = (s.exp_avg_sq ??= zerosLike(p));
    const vmax = amsgrad ? (s.max_exp_avg_sq ??= zerosLike(p)) : null;
    for (let i = 0; i < p.length; i++) {
      let g = g0[i];
      if (decoupled) p[i] *= 1 - lr * wd;
      else g += wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      let vUse = v[i];
      if (vmax) vUse = vmax[i] = Math.max(vmax[i], v[i]);
      const mHat = m[i] / (1 - b1 ** t);
      const vHat = vUse / (1 - b2 ** t);
      p[i] -= (lr * mHat) / (Math.sqrt(vHat) + eps);
    }
  };
}

function rmspropRef(lr: number, alpha: number, eps: number, wd: number, momentum: number, centered: boolean): RefStep {
  return (p, g0, s) => {
    const sq = (s.square_avg ??= zerosLike(p));
    const ga = centered ? (s.grad_avg ??= zerosLike(p)) : null;
    const b = momentum > 0 ? (s.momentum_buffer ??= zerosLike(p)) : null;
    for (let i = 0; i < p.length; i++) {
      const g = g0[i] + wd * p[i];
      sq[i] = alpha * sq[i] + (1 - alpha) * g * g;
      let avg = sq[i];
      if (ga) {
        ga[i] = alpha * ga[i] + (1 - alpha) * g;
        avg -= ga[i] * ga[i];
      }
      const d = Math.sqrt(avg) + eps;
      if (b) {
        b[i] = momentum * b[i] + g / d;
        p[i] -= lr * b[i];
      } else {
        p[i] -= (lr * g) / d;
      }
    }
  };
}

interface Case {
  name: string;
  make: (params: Tensor[]) => Optimizer<BaseHyper>;
  ref: RefStep;
  gradScale?: number;
}

const CASES: Case[] = [
  { name: 'SGD plain', make: (ps) => new SGD(ps, { lr: 0.1 }), ref: sgdRef(0.1, 0, 0, 0, false) },
  { name: 'SGD momentum 0.9, dampening 0.1, weight decay 1e-2', make: (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-2 }), ref: sgdRef(0.05, 0.9, 0.1, 1e-2, false) },
  { name: 'SGD Nesterov 0.9, weight decay 5e-4', make: (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4 }), ref: sgdRef(0.05, 0.9, 0, 5e-4, true) },
  { name: 'Adam GAN betas (0.5, 0.999), lr 2e-4', make: (ps) => new Adam(ps, { lr: 2e-4, betas: [0.5, 0.999] }), ref: adamRef(2e-4, 0.5, 0.999, 1e-8, 0, false, false) },
  { name: 'Adam defaults, L2 weight decay 0.1, lr 1e-2', make: (ps) => new Adam(ps, { lr: 1e-2, weightDecay: 0.1 }), ref: adamRef(1e-2, 0.9, 0.999, 1e-8, 0.1, false, false) },
  { name: 'Adam AMSGrad, lr 1e-2, eps 1e-6', make: (ps) => new Adam(ps, { lr: 1e-2, eps: 1e-6, amsgrad: true }), ref: adamRef(1e-2, 0.9, 0.999, 1e-6, 0, false, true) },
  { name: 'AdamW default weight decay 1e-2, lr 1e-2', make: (ps) => new AdamW(ps, { lr: 1e-2 }), ref: adamRef(1e-2, 0.9, 0.999, 1e-8, 1e-2, true, false) },
  { name: 'AdamW weight decay 0.3, betas (0.8, 0.99)', make: (ps) => new AdamW(ps, { lr: 5e-3, betas: [0.8, 0.99], weightDecay: 0.3 }), ref: adamRef(5e-3, 0.8, 0.99, 1e-8, 0.3, true, false) },
  { name: 'RMSprop defaults (lr 1e-2, alpha 0.99)', make: (ps) => new RMSprop(ps), ref: rmspropRef(1e-2, 0.99, 1e-8, 0, 0, false) },
  { name: 'RMSprop momentum 0.9, weight decay 1e-3', make: (ps) => new RMSprop(ps, { lr: 1e-3, momentum: 0.9, weightDecay: 1e-3 }), ref: rmspropRef(1e-3, 0.99, 1e-8, 1e-3, 0.9, false) },
  { name: 'RMSprop centered, momentum 0.5, alpha 0.9, eps 1e-6', make: (ps) => new RMSprop(ps, { lr: 1e-3, alpha: 0.9, eps: 1e-6, momentum: 0.5, centered: true }), ref: rmspropRef(1e-3, 0.9, 1e-6, 0, 0.5, true) },
];

function expectClose(got: ArrayLike<number>, ref: Float64Array, what: string): void {
  let maxRef = 0;
  let maxErr = 0;
  for (let i = 0; i < ref.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
    maxErr = Math.max(maxErr, Math.abs(got[i] - ref[i]));
  }
  expect(maxErr, `${what}: max |got − ref| ${maxErr} vs max |ref| ${maxRef}`).toBeLessThanOrEqual(1e-5 * maxRef);
}

const setGrad = (p: Tensor, g: Float64Array): void => {
  p.grad?.dispose();
  p.grad = tensor(Float32Array.from(g), p.shape);
};

describe('optimizers match float64 references of PyTorch’s update rules over 10 steps', () => {
  CASES.forEach((c, k) => {
    it(c.name, async () => {
      const rng = new Rng(500 + k);
      const refParams = SHAPES.map((s) => randn(rng, s.reduce((a, b) => a * b, 1)));
      const params = refParams.map((v, i) => tensor(Float32Array.from(v), SHAPES[i], { requiresGrad: true }));
      const refState: Ref[] = SHAPES.map(() => ({}));
      const opt = c.make(params);
      for (let t = 1; t <= STEPS; t++) {
        const grads = refParams.map((p) => randn(rng, p.length, c.gradScale ?? 1));
        params.forEach((p, i) => setGrad(p, grads[i]));
        opt.step();
        refParams.forEach((p, i) => c.ref(p, grads[i], refState[i], t));
        for (let i = 0; i < params.length; i++) expectClose(await params[i].data(), refParams[i], `step ${t} param ${i}`);
      }
      // The optimizer's own state (PyTorch names) matches the reference state too.
      const { state } = opt.stateDict();
      for (let i = 0; i < params.length; i++) {
        for (const [name, ref] of Object.entries(refState[i])) {
          const value = state.get(`state.${i}.${name}`);
          expect(value, `state.${i}.${name}`).toBeDefined();
          expectClose(await readValue(value!), ref, `state.${i}.${name}`);
        }
      }
      for (const v of state.values()) if (isTensorValue(v)) v.dispose();
      opt.dispose();
      params.forEach((p) => p.dispose());
    });
  });
});

async function readValue(v: StateValue): Promise<ArrayLike<number>> {
  return isTensorValue(v) ? await v.data() : Array.from(v.data as ArrayLike<number | bigint>, Number);
}

describe('optimizer mechanics', () => {
  it('updates all parameters of a group with one kernel launch per step', async () => {
    const rt = getRuntime();
    const params = SHAPES.map((s) => tensor(new Float32Array(s.reduce((a, b) => a * b, 1)).fill(1), s, { requiresGrad: true }));
    const opt = new Adam(params, { lr: 0.1 });
    params.forEach((p) => setGrad(p, new Float64Array(p.size).fill(0.5)));
    opt.step(); // first step allocates and zero-fills the moments (two fill launches)
    const before = rt.stats().dispatches;
    opt.step();
    expect(rt.stats().dispatches - before).toBe(1);
    opt.dispose();
  });

  it('checks the gradients it uses for NaN and infinity when asked, inside the update launch, with no readback', async () => {
    const rt = getRuntime();
    const params = SHAPES.map((s) => tensor(new Float32Array(s.reduce((a, b) => a * b, 1)).fill(1), s, { requiresGrad: true }));
    const opt = new Adam(params, { lr: 0.1 });
    const flag = nonFiniteFlag(rt);
    params.forEach((p) => setGrad(p, new Float64Array(p.size).fill(0.5)));
    opt.step({ nonFinite: { flag, step: 1, what: 2 } });
    const before = rt.stats();
    opt.step({ nonFinite: { flag, step: 2, what: 2 } });
    expect(rt.stats().dispatches - before.dispatches).toBe(1);
    expect(rt.stats().readbacks - before.readbacks).toBe(0);
    expect(await readNonFiniteFlag(rt, flag)).toBeNull();
    // An infinity in the last element of the middle parameter; the first parameter has no gradient
    // this step, so its (finite) stale slot must not matter either way.
    const g = new Float64Array(params[1].size).fill(0.5);
    g[g.length - 1] = Number.POSITIVE_INFINITY;
    params[0].grad?.dispose();
    params[0].grad = null;
    setGrad(params[1], g);
    opt.step({ nonFinite: { flag, step: 3, what: 2 } });
    opt.step({ nonFinite: { flag, step: 4, what: 8 } });
    expect(await readNonFiniteFlag(rt, flag)).toEqual({ step: 3, what: 2 | 8 });
    rt.release(flag.buffer);
    opt.dispose();
  });

  it('skips parameters without a gradient, leaving their values and step counts alone (as PyTorch)', async () => {
    const rng = new Rng(77);
    const init = SHAPES.map((s) => randn(rng, s.reduce((a, b) => a * b, 1)));
    const params = init.map((v, i) => tensor(Float32Array.from(v), SHAPES[i], { requiresGrad: true }));
    const opt = new Adam(params, { lr: 0.1 });
    const refs = init.map((v) => Float64Array.from(v));
    const states: Ref[] = SHAPES.map(() => ({}));
    const ref = adamRef(0.1, 0.9, 0.999, 1e-8, 0, false, false);
    const steps = [0, 0, 0];
    for (let t = 0; t < 4; t++) {
      const active = [true, t % 2 === 0, true];
      params.forEach((p, i) => {
        p.grad?.dispose();
        p.grad = null;
        if (!active[i]) return;
        const g = randn(rng, p.size);
        setGrad(p, g);
        ref(refs[i], g, states[i], ++steps[i]);
      });
      opt.step();
    }
    expect([0, 1, 2].map((i) => opt.stepCount(0, i))).toEqual(steps);
    for (let i = 0; i < 3; i++) expectClose(await params[i].data(), refs[i], `param ${i}`);
    opt.dispose();
  });

  it('param groups keep their own learning rates', async () => {
    const a = tensor([1, 2, 3], [3], { requiresGrad: true });
    const b = tensor([1, 2, 3], [3], { requiresGrad: true });
    const opt = new SGD([{ params: [a] }, { params: [b], lr: 0.5 }], { lr: 0.1 });
    setGrad(a, Float64Array.of(1, 1, 1));
    setGrad(b, Float64Array.of(1, 1, 1));
    opt.step();
    expectClose(await a.data(), Float64Array.of(0.9, 1.9, 2.9), 'a');
    expectClose(await b.data(), Float64Array.of(0.5, 1.5, 2.5), 'b');
    expect(opt.stateDict().paramGroups.map((g) => g.lr)).toEqual([0.1, 0.5]);
    opt.dispose();
  });

  it('sees parameter changes made between steps (weight clipping, loadStateDict)', async () => {
    const p = tensor([1, 1], [2], { requiresGrad: true });
    const opt = new SGD([p], { lr: 1 });
    setGrad(p, Float64Array.of(1, 1));
    opt.step();
    const replacement = tensor([10, 20], [2]);
    p.copy_(replacement);
    opt.step();
    expectClose(await p.data(), Float64Array.of(9, 19), 'p');
    opt.dispose();
  });

  it.each([
    ['Adam', (ps: Tensor[]) => new Adam(ps, { lr: 1e-2, amsgrad: true })],
    ['SGD', (ps: Tensor[]) => new SGD(ps, { lr: 1e-2, momentum: 0.9 })],
    ['RMSprop', (ps: Tensor[]) => new RMSprop(ps, { momentum: 0.5, centered: true })],
  ] as const)('%s: a state dict round trip continues bitwise identically', async (_name, make) => {
    const rng = new Rng(99);
    const init = SHAPES.map((s) => Float32Array.from(randn(rng, s.reduce((a, b) => a * b, 1))));
    const grads = Array.from({ length: 8 }, () => SHAPES.map((s) => randn(rng, s.reduce((a, b) => a * b, 1))));
    const run = (ps: Tensor[], opt: Optimizer<BaseHyper>, from: number, to: number): void => {
      for (let t = from; t < to; t++) {
        ps.forEach((p, i) => setGrad(p, grads[t][i]));
        opt.step();
      }
    };
    const pa = init.map((v, i) => tensor(v, SHAPES[i], { requiresGrad: true }));
    const oa = make(pa);
    run(pa, oa, 0, 8);
    const pb = init.map((v, i) => tensor(v, SHAPES[i], { requiresGrad: true }));
    const ob = make(pb);
    run(pb, ob, 0, 4);
    const saved = ob.stateDict();
    // Host copies, as a file would give them back.
    const hostState = new Map<string, StateValue>();
    for (const [k, v] of saved.state) {
      if (isTensorValue(v)) {
        hostState.set(k, { dtype: 'float32', shape: v.shape, data: (await v.data()) as Float32Array });
        v.dispose();
      } else hostState.set(k, v);
    }
    const pc = await Promise.all(pb.map(async (p, i) => tensor((await p.data()) as Float32Array, SHAPES[i], { requiresGrad: true })));
    const oc = make(pc);
    oc.loadStateDict({ state: hostState, paramGroups: JSON.parse(JSON.stringify(saved.paramGroups)) });
    run(pc, oc, 4, 8);
    for (let i = 0; i < 3; i++) expect(Array.from(await pc[i].data())).toEqual(Array.from(await pa[i].data()));
    [oa, ob, oc].forEach((o) => o.dispose());
  });

  it('saves to and loads from a safetensors file (param groups in the metadata), continuing identically', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webgan-optim-'));
    const rng = new Rng(5);
    const init = SHAPES.map((s) => Float32Array.from(randn(rng, s.reduce((a, b) => a * b, 1))));
    const grads = Array.from({ length: 6 }, () => SHAPES.map((s) => randn(rng, s.reduce((a, b) => a * b, 1))));
    const pa = init.map((v, i) => tensor(v, SHAPES[i], { requiresGrad: true }));
    const oa = new AdamW(pa, { lr: 3e-3, betas: [0.5, 0.9] });
    for (let t = 0; t < 3; t++) {
      pa.forEach((p, i) => setGrad(p, grads[t][i]));
      oa.step();
    }
    await saveOptimizer(join(dir, 'opt.safetensors'), oa);
    const pb = await Promise.all(pa.map(async (p, i) => tensor((await p.data()) as Float32Array, SHAPES[i], { requiresGrad: true })));
    const ob = new AdamW(pb, { lr: 1, betas: [0.1, 0.2] });
    await loadOptimizer(join(dir, 'opt.safetensors'), ob);
    expect(ob.paramGroups[0].lr).toBe(3e-3);
    expect(ob.paramGroups[0].betas).toEqual([0.5, 0.9]);
    for (let t = 3; t < 6; t++) {
      pa.forEach((p, i) => setGrad(p, grads[t][i]));
      pb.forEach((p, i) => setGrad(p, grads[t][i]));
      oa.step();
      ob.step();
    }
    for (let i = 0; i < 3; i++) expect(Array.from(await pb[i].data())).toEqual(Array.from(await pa[i].data()));
    [oa, ob].forEach((o) => o.dispose());
    rmSync(dir, { recursive: true });
  });

  it('uses PyTorch state names and param group fields', () => {
    const p = tensor([1, 2], [2], { requiresGrad: true });
    const opt = new Adam([p], { lr: 0.01, betas: [0.5, 0.999] });
    setGrad(p, Float64Array.of(1, 1));
    opt.step();
    const { state, paramGroups } = opt.stateDict();
    expect([...state.keys()]).toEqual(['state.0.step', 'state.0.exp_avg', 'state.0.exp_avg_sq']);
    expect(paramGroups).toEqual([{ lr: 0.01, betas: [0.5, 0.999], eps: 1e-8, weight_decay: 0, amsgrad: false, maximize: false, params: [0] }]);
    const step = state.get('state.0.step')!;
    expect(isTensorValue(step) ? null : [step.dtype, Array.from(step.data as Float32Array)]).toEqual(['float32', [1]]);
    for (const v of state.values()) if (isTensorValue(v)) v.dispose();
    opt.dispose();
  });

  it('rejects bad hyper-parameters and mismatched state with messages naming the value', () => {
    const p = tensor([1, 2], [2], { requiresGrad: true });
    expect(() => new Adam([p], { lr: -1 })).toThrow(/Adam: lr must be a finite number >= 0, got -1/);
    expect(() => new Adam([p], { betas: [1, 0.9] })).toThrow(/beta1 must be .* < 1, got 1/);
    expect(() => new SGD([p], { lr: 0.1, nesterov: true })).toThrow(/Nesterov momentum requires momentum > 0/);
    expect(() => new SGD([p, p], { lr: 0.1 })).toThrow(/more than one group/);
    expect(() => new SGD([tensor([1])], { lr: 0.1 })).toThrow(/must be a float32 leaf that requires grad/);
    const opt = new Adam([p]);
    const q = tensor([1, 2, 3], [3], { requiresGrad: true });
    setGrad(q, Float64Array.of(1, 1, 1));
    const other = new Adam([q]);
    other.step();
    const saved = other.stateDict();
    expect(() => opt.loadStateDict(saved)).toThrow(/state.0.exp_avg has shape \[3\], parameter 0 has \[2\]/);
    expect(() => opt.loadStateDict({ state: new Map(), paramGroups: [] })).toThrow(/0 param groups, this optimizer 1/);
    setGrad(p, Float64Array.of(1, 1, 1).subarray(0, 2));
    p.grad!.dispose();
    p.grad = tensor([1, 2, 3], [3]);
    expect(() => opt.step()).toThrow(/gradient \[3\] does not match parameter \[2\]/);
    [opt, other].forEach((o) => o.dispose());
  });
});

describe('learning-rate schedules (PyTorch closed forms)', () => {
  const make = () => new SGD([tensor([1], [1], { requiresGrad: true })], { lr: 0.1 });
  const lrs = (sched: { step(): void; getLastLr(): number[] }, n: number): number[] => {
    const out = [sched.getLastLr()[0]];
    for (let i = 0; i < n; i++) {
      sched.step();
      out.push(sched.getLastLr()[0]);
    }
    return out;
  };
  const close = (a: number[], b: number[]) => a.forEach((v, i) => expect(v).toBeCloseTo(b[i], 12));

  it('StepLR(stepSize 2, gamma 0.5)', () => close(lrs(new StepLR(make(), 2, 0.5), 5), [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]));
  it('CosineAnnealingLR(tMax 4, etaMin 0.01)', () => {
    const expected = [0, 1, 2, 3, 4, 5].map((t) => 0.01 + (0.09 * (1 + Math.cos((Math.PI * Math.min(t, 4)) / 4))) / 2);
    close(lrs(new CosineAnnealingLR(make(), 4, 0.01), 5), expected);
  });
  it('LinearLR warm-up (0.25 → 1 over 3 steps)', () => close(lrs(new LinearLR(make(), 0.25, 1, 3), 4), [0.025, 0.05, 0.075, 0.1, 0.1]));
  it('scheduler state round trip resumes the schedule', () => {
    const a = new StepLR(make(), 2, 0.5);
    lrs(a, 3);
    const b = new StepLR(make(), 2, 0.5);
    b.loadStateDict(JSON.parse(JSON.stringify(a.stateDict())));
    expect(b.getLastLr()).toEqual(a.getLastLr());
    a.step();
    b.step();
    expect(b.getLastLr()).toEqual(a.getLastLr());
  });
});
