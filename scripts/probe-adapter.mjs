// Exits 0 when Dawn (the `webgpu` package) finds a WebGPU adapter on this machine, else 1.
// Used by setup.sh to decide whether a driver must be installed; prints what it found.
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) {
  console.error('no WebGPU adapter');
  process.exit(1);
}
const info = adapter.info;
console.log(`${info.vendor} ${info.architecture} ${info.description}`.trim());
process.exit(0);
