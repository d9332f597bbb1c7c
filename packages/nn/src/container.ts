/** Sequential: children named '0', '1', ... (PyTorch's keys), applied in order. */
import type { Tensor } from '@webgan/core';
import { Module } from './module';

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
   * used them: autograd keeps what backward needs, so memory is not held twice.
   */
  forward(x: Tensor): Tensor {
    let current = x;
    for (const layer of this.layers) {
      const next = layer.forward(current);
      if (current !== x) current.dispose();
      current = next;
    }
    return current === x ? x.alias() : current;
  }
}
