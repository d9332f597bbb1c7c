/**
 * Reverse-mode autograd. Each recorded op makes a Node holding where its inputs' gradients go
 * (edges) and a backward function written with differentiable tensor ops — so with
 * `createGraph: true` the backward pass is itself recorded and can be differentiated again
 * (WGAN-GP, R1). backward() is a topological sort and a loop, as in micrograd.
 *
 * Nodes are reference-counted by the tensors they produced and by downstream nodes: when the last
 * tensor of a graph is disposed (a tidy scope ends), its saved tensors are released even if
 * backward never ran. After backward, saved tensors are released unless retainGraph.
 */
import type { Tensor } from './tensor';

/** Where an input's gradient goes: a leaf to accumulate into, or the node that produced it. */
export type Edge = { leaf: Tensor; node?: undefined } | { node: Node; leaf?: undefined };

let gradEnabled = true;

/** Whether ops record nodes now (false inside noGrad and plain backward passes). */
export const isGradEnabled = (): boolean => gradEnabled;

/** Runs `body` without recording: its results have no gradFn. */
export function noGrad<T>(body: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    const result = body();
    if (result instanceof Promise) return result.finally(() => (gradEnabled = previous)) as T;
    gradEnabled = previous;
    return result;
  } catch (error) {
    gradEnabled = previous;
    throw error;
  }
}

/** @internal Runs `body` with recording on or off. */
export function withGrad<T>(enabled: boolean, body: () => T): T {
  const previous = gradEnabled;
  gradEnabled = enabled;
  try {
    return body();
  } finally {
    gradEnabled = previous;
  }
}

let nextNodeId = 0;

export class Node {
  readonly id = nextNodeId++;
  private refs = 0;
  /** Set when the saved tensors were released; a later backward through it fails. */
  freed = false;

  constructor(
    readonly name: string,
    readonly edges: readonly (Edge | null)[],
    /** Gradients for each input (null where none is needed) from the output's gradient. */
    readonly backward: (grad: Tensor) => (Tensor | null)[],
    /** Tensors the backward function uses; released when the node is freed. */
    readonly saved: readonly Tensor[],
  ) {
    for (const edge of edges) edge?.node?.retain();
  }

  retain(): void {
    this.refs++;
  }

  /** Drops one reference; at zero the node releases its saved tensors and its input nodes. */
  release(): void {
    if (--this.refs > 0) return;
    this.releaseSaved();
    for (const edge of this.edges) edge?.node?.release();
  }

  releaseSaved(): void {
    if (this.freed) return;
    this.freed = true;
    for (const t of this.saved) t.dispose();
  }
}

export interface GradOptions {
  /** Gradients of the outputs (default: ones for one-element outputs). */
  gradOutputs?: (Tensor | null)[];
  /** Record the backward pass so the gradients can be differentiated again. */
  createGraph?: boolean;
  /** Keep saved tensors for another backward (default: createGraph). */
  retainGraph?: boolean;
}

/** Nodes reachable from `roots`, inputs after the nodes that use them (reverse topological). */
function topologicalOrder(roots: Node[]): Node[] {
  const order: Node[] = [];
  const visited = new Set<Node>();
  // Iterative DFS: a deep network would overflow the stack with recursion.
  const stack: [Node, number][] = roots.map((n) => [n, 0]);
  for (const root of roots) visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [node, index] = top;
    if (index < node.edges.length) {
      top[1]++;
      const next = node.edges[index]?.node;
      if (next && !visited.has(next)) {
        visited.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      order.push(node);
    }
  }
  return order.reverse();
}

/** Hooks tensor.ts and ops install (avoids import cycles). */
export interface AutogradHooks {
  onesLike(t: Tensor): Tensor;
  add(a: Tensor, b: Tensor): Tensor;
  /** A new handle on the same storage (and graph position), disposable independently. */
  alias(t: Tensor): Tensor;
  keep(t: Tensor): Tensor;
}
let hooks: AutogradHooks;
/** @internal */
export function setAutogradHooks(h: AutogradHooks): void {
  hooks = h;
}

/**
 * Propagates gradients from `outputs`. With targets = 'leaves' (backward) leaf gradients are
 * accumulated into `.grad`; otherwise the gradient reaching each target tensor is returned.
 */
function run(outputs: Tensor[], targets: Tensor[] | 'leaves', options: GradOptions): Map<Tensor, Tensor> {
  const createGraph = options.createGraph ?? false;
  const retainGraph = options.retainGraph ?? createGraph;
  return withGrad(createGraph, () => {
    const result = new Map<Tensor, Tensor>();
    const grads = new Map<Node, Tensor>();
    const leafGrads = new Map<Tensor, Tensor>();
    const addInto = <K>(map: Map<K, Tensor>, key: K, g: Tensor) => {
      const previous = map.get(key);
      if (!previous) return map.set(key, g);
      map.set(key, hooks.add(previous, g));
      previous.dispose();
      g.dispose();
    };
    outputs.forEach((out, k) => {
      if (!out.requiresGrad) throw new Error(`backward: output ${k} (${out}) does not require grad; nothing to differentiate`);
      const given = options.gradOutputs?.[k];
      let seed: Tensor;
      if (given) {
        if (given.shape.join() !== out.shape.join()) {
          throw new Error(`backward: gradOutputs[${k}] has shape [${given.shape}] but output ${k} has shape [${out.shape}]`);
        }
        seed = hooks.alias(given);
      } else {
        if (out.size !== 1) throw new Error(`backward: output ${k} has shape [${out.shape}]; pass gradOutputs for non-scalar outputs`);
        seed = hooks.onesLike(out);
      }
      if (out.gradFn) addInto(grads, out.gradFn, seed);
      else addInto(leafGrads, out.leafTarget, seed);
    });
    const wanted = targets === 'leaves' ? null : new Set(targets.map((t) => (t.gradFn ? t : t.leafTarget)));
    const wantedNodes = new Map<Node, Tensor[]>();
    for (const t of targets === 'leaves' ? [] : targets) {
      if (t.gradFn) wantedNodes.set(t.gradFn, [...(wantedNodes.get(t.gradFn) ?? []), t]);
    }
    const roots = outputs.filter((o) => o.gradFn).map((o) => o.gradFn!);
    for (const node of topologicalOrder(roots)) {
      const g = grads.get(node);
      if (!g) continue;
      grads.delete(node);
      if (node.freed) {
        throw new Error(`backward: trying to backward through the graph a second time (node '${node.name}' was freed); pass retainGraph: true to the first backward`);
      }
      const inputGrads = node.backward(g);
      if (!retainGraph) node.releaseSaved();
      node.edges.forEach((edge, i) => {
        const gi = inputGrads[i];
        if (!gi) return;
        if (!edge) return gi.dispose();
        if (edge.node) addInto(grads, edge.node, gi);
        else addInto(leafGrads, edge.leaf, gi);
      });
      const asked = wantedNodes.get(node);
      if (asked) asked.forEach((t, j) => result.set(t, j === 0 ? g : hooks.alias(g)));
      else g.dispose();
    }
    for (const [leaf, g] of leafGrads) {
      // A disposed leaf's gradient could never be read: drop it rather than leak it.
      if (leaf.isDisposed && !wanted) {
        g.dispose();
        continue;
      }
      if (wanted) {
        if (wanted.has(leaf)) result.set(leaf, g);
        else g.dispose();
      } else if (leaf.grad) {
        const sum = hooks.add(leaf.grad, g);
        leaf.grad.dispose();
        g.dispose();
        leaf.grad = hooks.keep(sum);
      } else leaf.grad = hooks.keep(g);
    }
    return result;
  });
}

/** Accumulates d(root)/d(leaf) into `.grad` of every leaf that requires grad. */
export function backward(root: Tensor, gradOutput?: Tensor, options: Omit<GradOptions, 'gradOutputs'> = {}): void {
  run([root], 'leaves', { ...options, gradOutputs: gradOutput ? [gradOutput] : undefined });
}

/**
 * Gradients of `outputs` with respect to `inputs`, without touching `.grad` (PyTorch's
 * torch.autograd.grad). An input the outputs do not depend on gets null.
 */
export function grad(outputs: Tensor | Tensor[], inputs: Tensor[], options: GradOptions = {}): (Tensor | null)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  for (const input of inputs) {
    if (!input.requiresGrad) throw new Error(`grad: input ${input} does not require grad`);
  }
  const result = run(outs, inputs, options);
  return inputs.map((t) => result.get(t) ?? result.get(t.leafTarget) ?? null);
}
