/**
 * Finds an adapter, requests a device with the limits kernels need, and keeps the process-wide
 * default runtime. The same code runs in browsers (`navigator.gpu`) and under Node, where
 * `../node.ts` passes in Dawn's GPU object.
 */
import { NoAdapterError } from './errors';
import { Runtime, type AdapterSummary, type RuntimeOptions } from './runtime';

export interface InitOptions extends RuntimeOptions {
  /** The GPU entry point; defaults to `navigator.gpu`. */
  gpu?: GPU;
  /** Use this adapter instead of requesting one. */
  adapter?: GPUAdapter;
  powerPreference?: GPUPowerPreference;
  /** Replace an existing default runtime instead of returning it. */
  force?: boolean;
}

/** Limits kernels benefit from; each is requested up to what the adapter supports. */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
] as const;

/** Optional features used when present: profiling, f16, subgroup-shared GEMM operands. */
const WANTED_FEATURES: GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups' as GPUFeatureName];

let defaultRuntime: Runtime | undefined;

/** Creates (or returns) the default runtime. */
export async function init(options: InitOptions = {}): Promise<Runtime> {
  if (defaultRuntime && !defaultRuntime.isLost && !options.force) return defaultRuntime;
  const gpu = options.gpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) {
    throw new NoAdapterError(
      'this JavaScript environment has no navigator.gpu; in a browser enable WebGPU, under Node use initNode() from @webgan/kernels/node',
    );
  }
  const adapter = options.adapter ?? (await gpu.requestAdapter({ powerPreference: options.powerPreference }));
  if (!adapter) throw new NoAdapterError('requestAdapter() returned null');

  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'webgan' });

  const runtime = new Runtime(device, summarize(adapter, device), options);
  defaultRuntime = runtime;
  return runtime;
}

/** The default runtime; throws if `init()` / `initNode()` has not been awaited yet. */
export function getRuntime(): Runtime {
  if (!defaultRuntime) {
    throw new Error('webgan GPU runtime is not initialised: await initNode() (Node) or init() (browser) first');
  }
  return defaultRuntime;
}

function summarize(adapter: GPUAdapter, device: GPUDevice): AdapterSummary {
  const info = adapter.info;
  // Dawn and Chrome report the range of subgroup sizes in the adapter info (WebGPU's subgroups).
  const subgroupMin = (info as { subgroupMinSize?: number }).subgroupMinSize;
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  const software = /llvmpipe|lavapipe|swiftshader|software|warp/.test(text);
  const flagged = (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true
    || (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: software || flagged,
    features: [...adapter.features].sort(),
    subgroupMinSize: device.features.has('subgroups') && typeof subgroupMin === 'number' ? subgroupMin : 0,
  };
}
