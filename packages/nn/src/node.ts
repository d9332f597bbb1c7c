/**
 * @webgan/nn/node: safetensors files on Node (atomic writes, validated reads) for modules and
 * optimizers. Browsers use encodeSafetensors / decodeSafetensors from @webgan/nn directly.
 */
import { toHostArray, type StateValue } from './module';
import type { HostArray } from './host-array';
import type { Module } from './module';
import type { Optimizer, OptimizerStateDict, BaseHyper } from './optim/optimizer';
import { loadSafetensorsFile, saveSafetensorsFile } from './safetensors-file';

export { writeFileAtomic, saveSafetensorsFile, loadSafetensorsFile } from './safetensors-file';

/** Reads every value back and returns host arrays, in order. */
export async function toHostStateDict(state: ReadonlyMap<string, StateValue>): Promise<Map<string, HostArray>> {
  const out = new Map<string, HostArray>();
  for (const [k, v] of state) out.set(k, await toHostArray(v));
  return out;
}

/** Writes a module's state dict (PyTorch keys) to a .safetensors file, atomically. */
export async function saveModule(path: string, module: Module, metadata: Record<string, string> = {}): Promise<void> {
  await saveSafetensorsFile(path, await toHostStateDict(module.stateDict()), metadata);
}

/** Loads a .safetensors file into a module (strict keys and shapes by default). */
export async function loadModule(path: string, module: Module, strict = true): Promise<void> {
  const { tensors } = await loadSafetensorsFile(path);
  module.loadStateDict(tensors, strict);
}

/** Writes an optimizer's state: tensors under `state.<i>.<name>`, param groups as JSON metadata. */
export async function saveOptimizer(path: string, optimizer: Optimizer<BaseHyper>): Promise<void> {
  const { state, paramGroups } = optimizer.stateDict();
  try {
    await saveSafetensorsFile(path, await toHostStateDict(state), { param_groups: JSON.stringify(paramGroups) });
  } finally {
    for (const v of state.values()) if ('dispose' in v) v.dispose();
  }
}

/** Restores an optimizer saved by saveOptimizer. */
export async function loadOptimizer(path: string, optimizer: Optimizer<BaseHyper>): Promise<void> {
  const { tensors, metadata } = await loadSafetensorsFile(path);
  optimizer.loadStateDict(parseOptimizerState(tensors, metadata, path));
}

export function parseOptimizerState(tensors: Map<string, HostArray>, metadata: Record<string, string>, source: string): OptimizerStateDict {
  let paramGroups: unknown;
  try {
    paramGroups = JSON.parse(metadata.param_groups ?? 'null');
  } catch {
    throw new Error(`${source}: optimizer metadata 'param_groups' is not valid JSON`);
  }
  if (!Array.isArray(paramGroups) || paramGroups.some((g) => typeof g !== 'object' || g === null)) {
    throw new Error(`${source}: optimizer metadata 'param_groups' must be a JSON array of objects`);
  }
  return { state: new Map(tensors), paramGroups: paramGroups as Record<string, unknown>[] };
}
