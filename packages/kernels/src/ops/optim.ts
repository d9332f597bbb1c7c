/**
 * Fused optimizer updates: one launch updates every parameter of a model, held in flat buffers
 * (the optimizer packs parameters, gradients and moments side by side). Hyper-parameters and the
 * step count are uniforms, so the pipeline is compiled once per parameter count.
 */
import type { Runtime } from '../runtime/runtime';
import type { KernelProgram } from '../runtime/program';
import { packUniforms } from '../wgsl/elementwise-program';
import { flatIndex, grid1d } from '../wgsl/grid';
import { formatShape, sizeOf, type DeviceArray, guarded } from './array';

const ADAM_WORKGROUP = 256;

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW: weight decay applied to the parameters directly instead of added to the gradient. */
  decoupled: boolean;
  /** 1-based step number, already incremented for this update. */
  step: number;
}

/**
 * PyTorch's Adam / AdamW update, in place on params, m and v:
 *   Adam:  g ← g + wd·p        AdamW: p ← p − lr·wd·p
 *   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
 *   p ← p − lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + ε)
 */
export const adamUpdate = guarded(function adamUpdate(runtime: Runtime, params: DeviceArray, grads: DeviceArray, m: DeviceArray, v: DeviceArray, h: AdamHyper): void {
  const n = sizeOf(params.shape);
  for (const [name, a] of [['grads', grads], ['m', m], ['v', v]] as const) {
    if (sizeOf(a.shape) !== n) throw new Error(`adamUpdate: ${name} ${formatShape(a.shape)} does not match params ${formatShape(params.shape)}`);
  }
  if (!(h.step >= 1)) throw new Error(`adamUpdate: step must be >= 1, got ${h.step}`);
  if (n === 0) return;
  const grid = grid1d(n, ADAM_WORKGROUP);
  const program: KernelProgram = {
    name: 'adam-update',
    key: `adam-update|${n}`,
    bindings: ['read_write', 'read', 'read_write', 'read_write'],
    uniformBytes: 48,
    source: () => `
struct Hyper { lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32, decoupled: f32, bias1: f32, bias2_sqrt: f32, one_minus_beta1: f32, one_minus_beta2: f32, _pad0: f32, _pad1: f32 }
@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> h: Hyper;
@compute @workgroup_size(${ADAM_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(grid)}
  if (i >= ${n}u) { return; }
  var param = p[i];
  var g = grad[i];
  if (h.decoupled != 0.0) { param = param - h.lr * h.weight_decay * param; }
  else { g = g + h.weight_decay * param; }
  let m_new = h.beta1 * m[i] + h.one_minus_beta1 * g;
  let v_new = h.beta2 * v[i] + h.one_minus_beta2 * g * g;
  m[i] = m_new;
  v[i] = v_new;
  p[i] = param - h.lr * (m_new / h.bias1) / (sqrt(v_new) / h.bias2_sqrt + h.eps);
}`,
  };
  const uniforms = packUniforms([
    h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.decoupled ? 1 : 0,
    1 - h.beta1 ** h.step, Math.sqrt(1 - h.beta2 ** h.step),
    // 1 − β in float64: 1 − f32(0.999) is 1.3e-5 (relative) away from PyTorch's 1 − 0.999.
    1 - h.beta1, 1 - h.beta2,
  ]);
  runtime.dispatch(program, [params.buffer, grads.buffer, m.buffer, v.buffer], grid.workgroups, uniforms);
});
