/**
 * Recording an op on the tape: wraps a kernel's output as a tensor and, when any input requires
 * grad and recording is on, attaches a Node with the op's backward rule and what it saved.
 */
import type { DeviceArray } from '@webgan/kernels';
import { Node, isGradEnabled, type Edge } from './autograd';
import { Tensor, fromDeviceArray, type Storage } from './tensor';

const edgeOf = (t: Tensor): Edge | null => (t.gradFn ? { node: t.gradFn } : t.requiresGrad ? { leaf: t.leafTarget } : null);

export interface RecordOptions {
  /** Inputs (or other tensors) the backward rule needs; handed to it as `saved`, in order. */
  save?: Tensor[];
  /** Hand the backward rule the op's own output (tanh, sigmoid, exp use it). */
  saveOutput?: boolean;
  /** Views (reshape): the output shares this storage (already retained) instead of owning the buffer. */
  storage?: Storage;
}

/**
 * Output of an op as a tensor, recorded when needed. `backward(grad, saved, output)` returns one
 * gradient (or null) per input, computed with differentiable ops.
 */
export function record(
  name: string,
  inputs: readonly Tensor[],
  result: DeviceArray,
  backward: (grad: Tensor, saved: Tensor[], output: Tensor | undefined) => (Tensor | null)[],
  options: RecordOptions = {},
): Tensor {
  const out = options.storage ? new Tensor(options.storage, result.shape, result.dtype ?? 'float32') : fromDeviceArray(result);
  if (!isGradEnabled() || !inputs.some((t) => t.requiresGrad)) return out;
  const saved = (options.save ?? []).map((t) => t.alias('saved'));
  let outputAlias: Tensor | undefined;
  const node = new Node(name, inputs.map(edgeOf), (g) => backward(g, saved, outputAlias), saved);
  out.attach(node);
  if (options.saveOutput) {
    outputAlias = out.alias('saved');
    (saved as Tensor[]).push(outputAlias);
  }
  return out;
}
