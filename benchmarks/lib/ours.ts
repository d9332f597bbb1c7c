/**
 * Our side of the benchmark: the runtime from `initNode()` and the kernels, imported statically
 * so that a signature change breaks the type check rather than a benchmark row.
 */
import * as kernels from '@webgan/kernels/node';
import type { DeviceArray, Runtime } from '@webgan/kernels';

export type { DeviceArray, Runtime };
export type OurKernels = typeof kernels;
export type KernelName = keyof OurKernels;

/** The kernel module (kept as a function so cases declare which kernels they use). */
export function ourKernels(_needed: readonly KernelName[]): OurKernels {
  return kernels;
}

/**
 * The runtime as a training run has it: GEMM tilings tuned per problem. Tunings go to a file of
 * the benchmark's own, so a user's cache is neither read nor changed.
 */
export const initOurs = (tuningFile: string): Promise<Runtime> => kernels.initNode({ tuningFile });

/** Times the candidate tilings of every GEMM the case ran once, as `webgan train` does after its first step. */
export const tuneOurs = (rt: Runtime) => kernels.tuneGemms(rt);
