/**
 * @webgan/kernels: the WebGPU runtime (device, buffer pool, pipeline cache, command batching) and
 * WGSL kernels that work on GPU buffers and shapes. Knows nothing of autograd.
 */
export { init, getRuntime, type InitOptions } from './runtime/device';
export { Runtime, type AdapterSummary, type RuntimeOptions, type RuntimeStats } from './runtime/runtime';
export type { KernelTiming } from './runtime/profiler';
export { GpuBuffer, sizeClassOf, type PoolStats } from './runtime/buffer-pool';
export type { KernelProgram, BindingAccess, Workgroups } from './runtime/program';
export { NoAdapterError, GpuKernelError, GpuDeviceLostError, GpuUsageError } from './runtime/errors';
export { selfTest, type SelfTestResult } from './runtime/self-test';
export * from './ops/index';
export type { Activation } from './wgsl/activation';
export { GEMM_TILING_CANDIDATES, canShareAcrossSubgroup, setGemmTiling, heuristicTiling, tuneGemms, useTuningStore, type TuningStore, type TuningReport } from './wgsl/tiling';
export type { GemmTiling, RegisterGemmTiling, WorkgroupMemoryGemmTiling } from './wgsl/gemm';
