/**
 * Optimizer: PyTorch's interface (param groups with their own hyper-parameters, step(),
 * zeroGrad(), stateDict() / loadStateDict() with PyTorch's state names) over fused kernels.
 *
 * Each param group keeps flat GPU buffers: parameters, gradients and every per-element state
 * (moments, momentum) laid end to end. A step copies the parameters and gradients into the flat
 * buffers (copies, not dispatches), runs ONE update kernel over all of them, and copies the
 * parameters back. Copying the parameters in every step, rather than keeping the flat buffer as
 * the master copy, means anything that changes a parameter between steps (loadStateDict, WGAN
 * weight clipping, an EMA swap) is seen by the next step.
 *
 * Parameters without a gradient are skipped, as in PyTorch: their state and step count do not
 * advance. Then the update runs once per contiguous run of parameters that have gradients.
 */
import { Tensor, fromDeviceArray } from '@webgan/core';
import { allocArray, fill, getRuntime, type DeviceArray, type NonFiniteMark, type OptimOptions } from '@webgan/kernels';
import { hostArray, type HostArray } from '../host-array';
import { isTensorValue, type StateValue } from '../module';

/** Hyper-parameters shared by every optimizer; each adds its own. */
export interface BaseHyper {
  lr: number;
}

export type ParamGroup<H extends BaseHyper> = H & { params: Tensor[] };
export type ParamGroupInput<H extends BaseHyper> = Partial<H> & { params: Iterable<Tensor> };

/** What an optimizer's state dict holds: per-parameter state tensors and the param groups. */
export interface OptimizerStateDict {
  /** Keys `state.<param index>.<name>` (PyTorch's names: exp_avg, momentum_buffer, step, ...). */
  state: Map<string, StateValue>;
  /** Hyper-parameters per group, with `params` as indices, as in PyTorch. JSON-serialisable. */
  paramGroups: Record<string, unknown>[];
}

interface FlatGroup {
  total: number;
  offsets: number[];
  params: DeviceArray;
  grads: DeviceArray;
  /** Per-element state buffers by PyTorch name, allocated (zeroed) on first use. */
  state: Map<string, DeviceArray>;
  /** Steps taken by each parameter. */
  steps: number[];
}

/** Where and how an optimizer step reports non-finite gradients: the flag buffer, the step and the code to mark. */
export type NonFiniteWatch = NonFiniteMark;

export abstract class Optimizer<H extends BaseHyper> {
  readonly paramGroups: ParamGroup<H>[] = [];
  private readonly flat: FlatGroup[] = [];
  private disposed = false;

  constructor(params: Iterable<Tensor> | Iterable<ParamGroupInput<H>>, readonly defaults: H) {
    const list = [...(params as Iterable<Tensor | ParamGroupInput<H>>)];
    if (list.length === 0) throw new Error(`${this.constructor.name}: got an empty parameter list`);
    const groups = (list[0] instanceof Tensor ? [{ params: list }] : list) as ParamGroupInput<H>[];
    const seen = new Set<Tensor>();
    for (const g of groups) {
      const ps = [...g.params];
      for (const p of ps) {
        if (!(p instanceof Tensor)) throw new Error(`${this.constructor.name}: params must be tensors`);
        if (p.dtype !== 'float32' || !p.requiresGrad || !p.isLeaf) throw new Error(`${this.constructor.name}: parameter ${p.toString()} must be a float32 leaf that requires grad`);
        if (seen.has(p)) throw new Error(`${this.constructor.name}: a parameter appears in more than one group (${p.toString()})`);
        seen.add(p);
      }
      const group = { ...defaults, ...g, params: ps } as ParamGroup<H>;
      this.validate(group);
      this.paramGroups.push(group);
    }
  }

  /** Checks a group's hyper-parameters; throws naming the bad value. */
  protected abstract validate(group: ParamGroup<H>): void;
  /** Names of the per-element state buffers the update uses for this group (e.g. exp_avg). */
  protected abstract stateNames(group: ParamGroup<H>): string[];
  /**
   * Runs the fused update kernel over `options.range` of the group's flat buffers, marking
   * `options.nonFinite` when a gradient there is not finite.
   */
  protected abstract update(group: ParamGroup<H>, flat: { params: DeviceArray; grads: DeviceArray; state: Map<string, DeviceArray> }, options: OptimOptions, step: number): void;
  /** Whether PyTorch's state dict has a `step` entry for this optimizer. */
  protected get savesStep(): boolean {
    return true;
  }
  /** PyTorch-compatible hyper-parameters of a group for the state dict (JSON values). */
  protected abstract groupHyper(group: ParamGroup<H>): Record<string, unknown>;
  /** Reads back hyper-parameters saved by groupHyper. */
  protected abstract hyperFromSaved(saved: Record<string, unknown>): Partial<H>;

  /**
   * One update of every parameter that has a gradient. With `nonFinite`, the gradients used are
   * also checked on the GPU, inside the update kernel: any NaN or infinity marks the flag (see
   * markNonFinite), nothing is read back.
   */
  step(options: { nonFinite?: NonFiniteWatch } = {}): void {
    this.checkUsable('step');
    const runtime = getRuntime();
    this.paramGroups.forEach((group, gi) => {
      this.validate(group);
      const flat = this.flatGroup(gi);
      const has = group.params.map((p) => {
        if (p.isDisposed) throw new Error(`${this.constructor.name}.step: parameter ${gi}/${group.params.indexOf(p)} [${p.shape.join(',')}] was disposed`);
        const g = p.grad;
        if (!g) return false;
        if (g.shape.join() !== p.shape.join()) throw new Error(`${this.constructor.name}.step: gradient [${g.shape.join(',')}] does not match parameter [${p.shape.join(',')}]`);
        return true;
      });
      if (!has.some(Boolean)) return;
      for (const name of this.stateNames(group)) {
        if (!flat.state.has(name)) flat.state.set(name, fill(runtime, [flat.total], 0));
      }
      group.params.forEach((p, i) => {
        if (!has[i] || p.size === 0) return;
        runtime.copy(p.deviceArray('step').buffer, 0, flat.params.buffer, flat.offsets[i] * 4, p.size * 4);
        runtime.copy(p.grad!.deviceArray('step').buffer, 0, flat.grads.buffer, flat.offsets[i] * 4, p.size * 4);
      });
      // One launch per run of consecutive parameters that have gradients and the same step count
      // (normally: one launch for the whole group).
      let i = 0;
      while (i < group.params.length) {
        if (!has[i]) {
          i++;
          continue;
        }
        let j = i + 1;
        while (j < group.params.length && has[j] && flat.steps[j] === flat.steps[i]) j++;
        const offset = flat.offsets[i];
        const end = j < group.params.length ? flat.offsets[j] : flat.total;
        this.update(group, flat, { range: { offset, count: end - offset }, nonFinite: options.nonFinite }, flat.steps[i] + 1);
        for (let k = i; k < j; k++) flat.steps[k]++;
        i = j;
      }
      group.params.forEach((p, k) => {
        if (!has[k] || p.size === 0) return;
        runtime.copy(flat.params.buffer, flat.offsets[k] * 4, p.deviceArray('step').buffer, 0, p.size * 4);
        p.storage.markWritten();
      });
    });
  }

  /** Drops every parameter's gradient (PyTorch's zero_grad with set_to_none=True). */
  zeroGrad(): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        p.grad?.dispose();
        p.grad = null;
      }
    }
  }

  /** Steps taken by parameter `index` of group `group`. */
  stepCount(group = 0, index = 0): number {
    return this.flat[group]?.steps[index] ?? 0;
  }

  /**
   * State in PyTorch's layout: per-parameter tensors (fresh copies; the caller disposes them)
   * under `state.<i>.<name>`, and the groups' hyper-parameters with parameter indices.
   */
  stateDict(): OptimizerStateDict {
    this.checkUsable('stateDict');
    const runtime = getRuntime();
    const state = new Map<string, StateValue>();
    const paramGroups: Record<string, unknown>[] = [];
    let index = 0;
    this.paramGroups.forEach((group, gi) => {
      const flat = this.flat[gi];
      const indices: number[] = [];
      group.params.forEach((p, i) => {
        const k = index++;
        indices.push(k);
        const steps = flat?.steps[i] ?? 0;
        if (!flat || steps === 0) return;
        if (this.savesStep) state.set(`state.${k}.step`, hostArray('float32', [], Float32Array.of(steps)));
        for (const [name, buffer] of flat.state) {
          const slice = allocArray(runtime, p.shape, 'float32', `optimizer.${name}`);
          if (p.size > 0) runtime.copy(buffer.buffer, flat.offsets[i] * 4, slice.buffer, 0, p.size * 4);
          state.set(`state.${k}.${name}`, fromDeviceArray(slice));
        }
      });
      paramGroups.push({ ...this.groupHyper(group), params: indices });
    });
    return { state, paramGroups };
  }

  /**
   * Restores state saved by stateDict() (or PyTorch's equivalent, read from safetensors).
   * The groups and parameter shapes must match; hyper-parameters are restored too.
   */
  loadStateDict(saved: OptimizerStateDict): void {
    this.checkUsable('loadStateDict');
    const name = this.constructor.name;
    if (saved.paramGroups.length !== this.paramGroups.length) {
      throw new Error(`${name}.loadStateDict: the state has ${saved.paramGroups.length} param groups, this optimizer ${this.paramGroups.length}`);
    }
    const plans: (() => void)[] = [];
    const known = new Set<string>();
    let index = 0;
    this.paramGroups.forEach((group, gi) => {
      const savedGroup = saved.paramGroups[gi];
      const indices = savedGroup.params;
      if (!Array.isArray(indices) || indices.length !== group.params.length) {
        throw new Error(`${name}.loadStateDict: group ${gi} has ${Array.isArray(indices) ? indices.length : 'no'} parameters in the state, ${group.params.length} here`);
      }
      const hyper = this.hyperFromSaved(savedGroup);
      const updated = { ...group, ...hyper } as ParamGroup<H>;
      this.validate(updated);
      plans.push(() => Object.assign(group, hyper));
      group.params.forEach((p, i) => {
        const k = indices[i] as number;
        if (k !== index++) throw new Error(`${name}.loadStateDict: group ${gi} parameter ${i} has index ${k} in the state, expected ${index - 1}`);
        const stepEntry = saved.state.get(`state.${k}.step`);
        known.add(`state.${k}.step`);
        const entries = this.stateNames(group).map((s) => {
          known.add(`state.${k}.${s}`);
          return [s, saved.state.get(`state.${k}.${s}`)] as const;
        });
        const present = entries.filter(([, v]) => v !== undefined);
        if (present.length === 0 && (!this.savesStep || stepEntry === undefined)) {
          plans.push(() => this.setParamState(gi, i, 0, new Map()));
          return;
        }
        if (present.length !== entries.length) {
          const missing = entries.filter(([, v]) => v === undefined).map(([s]) => s);
          throw new Error(`${name}.loadStateDict: state.${k} lacks ${missing.join(', ')}`);
        }
        for (const [s, v] of present) {
          if (v!.shape.join() !== p.shape.join()) throw new Error(`${name}.loadStateDict: state.${k}.${s} has shape [${v!.shape.join(',')}], parameter ${k} has [${p.shape.join(',')}]`);
        }
        let steps = 1;
        if (this.savesStep) {
          if (stepEntry === undefined) throw new Error(`${name}.loadStateDict: state.${k} lacks step`);
          steps = readScalar(stepEntry, `state.${k}.step`);
          if (!Number.isSafeInteger(steps) || steps < 1) throw new Error(`${name}.loadStateDict: state.${k}.step must be a positive integer, got ${steps}`);
        }
        const values = new Map(present.map(([s, v]) => [s, v!]));
        plans.push(() => this.setParamState(gi, i, steps, values));
      });
    });
    const unknown = [...saved.state.keys()].filter((k) => !known.has(k));
    if (unknown.length) throw new Error(`${name}.loadStateDict: unexpected state entries ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', ...' : ''}`);
    for (const plan of plans) plan();
  }

  /** Releases the flat buffers. The optimizer cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const runtime = getRuntime();
    for (const f of this.flat) {
      if (!f) continue;
      runtime.release(f.params.buffer);
      runtime.release(f.grads.buffer);
      for (const b of f.state.values()) runtime.release(b.buffer);
    }
    this.flat.length = 0;
  }

  private checkUsable(op: string): void {
    if (this.disposed) throw new Error(`${this.constructor.name}.${op}: the optimizer was disposed`);
  }

  private flatGroup(gi: number): FlatGroup {
    let f = this.flat[gi];
    if (f) return f;
    const group = this.paramGroups[gi];
    // Every parameter starts at a multiple of 4, so every range the update runs over is aligned
    // and the kernels take four elements per invocation. The gaps stay zero (a zero gradient
    // leaves a zero parameter and zero moments unchanged, and is finite).
    const offsets: number[] = [];
    let total = 0;
    for (const p of group.params) {
      offsets.push(total);
      total += Math.ceil(p.size / 4) * 4;
    }
    const runtime = getRuntime();
    f = {
      total,
      offsets,
      params: fill(runtime, [Math.max(total, 1)], 0),
      grads: fill(runtime, [Math.max(total, 1)], 0),
      state: new Map(),
      steps: group.params.map(() => 0),
    };
    this.flat[gi] = f;
    return f;
  }

  private setParamState(gi: number, i: number, steps: number, values: Map<string, StateValue>): void {
    const flat = this.flatGroup(gi);
    const group = this.paramGroups[gi];
    const runtime = getRuntime();
    flat.steps[i] = steps;
    const p = group.params[i];
    for (const name of this.stateNames(group)) {
      if (!flat.state.has(name)) flat.state.set(name, fill(runtime, [flat.total], 0));
      const target = flat.state.get(name)!;
      const value = values.get(name);
      if (p.size === 0) continue;
      if (value === undefined) {
        const zeros = fill(runtime, [p.size], 0);
        runtime.copy(zeros.buffer, 0, target.buffer, flat.offsets[i] * 4, p.size * 4);
        runtime.release(zeros.buffer);
      } else if (isTensorValue(value)) {
        runtime.copy(value.deviceArray('loadStateDict').buffer, 0, target.buffer, flat.offsets[i] * 4, p.size * 4);
      } else {
        runtime.write(target.buffer, floatData(value), flat.offsets[i] * 4);
      }
    }
  }
}

function floatData(value: HostArray): Float32Array {
  return value.data instanceof Float32Array ? value.data : Float32Array.from(value.data as ArrayLike<number | bigint>, Number);
}

function readScalar(value: StateValue, key: string): number {
  if (isTensorValue(value)) {
    const known = value.storage.hostValues;
    if (value.size !== 1 || !known) throw new Error(`loadStateDict: ${key} must be a scalar known on the host (use a host array)`);
    return known[0];
  }
  if (value.data.length !== 1) throw new Error(`loadStateDict: ${key} must be a scalar, got shape [${value.shape.join(',')}]`);
  return Number(value.data[0]);
}
