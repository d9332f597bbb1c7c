/** Sequential: children named '0', '1', ... (PyTorch's keys), applied in order. */
import type { FusedActivation, Tensor } from '@webgan/core';
import type { FusableActivation } from './layers/activation';
import { Linear } from './layers/linear';
import { Module } from './module';

/** The activation `next` applies, when `layer` can apply it in its own kernel instead. */
function fusable(layer: Module, next: Module | undefined): FusedActivation | null {
  if (!(layer instanceof Linear) || !next || !('fusedActivation' in next)) return null;
  return (next as Module & FusableActivation).fusedActivation();
}

export class Sequential extends Module {
  private readonly layers: Module[] = [];
  constructor(...modules: Module[]) {
    super();
    for (const m of modules) this.append(m);
  }
  append(module: Module): this {
    this.registerModule(String(this.layers.length), module);
    this.layers.push(module);
    return this;
  }
  get length(): number {
    return this.layers.length;
  }
  at(index: number): Module {
    const m = this.layers.at(index);
    if (!m) throw new Error(`Sequential: index ${index} out of range for ${this.layers.length} modules`);
    return m;
  }
  [Symbol.iterator](): Iterator<Module> {
    return this.layers[Symbol.iterator]();
  }
  /**
   * Applies the layers in order. Intermediate handles are disposed as soon as the next layer has
   * used them: autograd keeps what backward needs, so memory is not held twice. A Linear followed
   * by ReLU, LeakyReLU (slope > 0), Tanh or Sigmoid runs as one kernel (the activation in the
   * GEMM's epilogue; the same values and gradients as the two layers).
   */
  forward(x: Tensor): Tensor {
    let current = x;
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i];
      const activation = fusable(layer, this.layers[i + 1]);
      const next = activation ? (layer as Linear).forwardFused(current, activation) : layer.forward(current);
      if (activation) i++;
      if (current !== x) current.dispose();
      current = next;
    }
    return current === x ? x.alias() : current;
  }
}
