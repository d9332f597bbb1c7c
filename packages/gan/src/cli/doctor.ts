/**
 * `webgan doctor`: what adapter webgan runs on, what it offers, and whether a kernel gives the
 * right answer on it. Exits non-zero when anything is wrong.
 */
import { initNode, selfTest, type Runtime } from '@webgan/kernels/node';

const KEY_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

const REPORTED_FEATURES = ['timestamp-query', 'shader-f16', 'subgroups'];

export async function doctor(print: (line: string) => void = console.log): Promise<number> {
  let runtime: Runtime;
  try {
    runtime = await initNode();
  } catch (error) {
    print(`webgan doctor: ${(error as Error).message}`);
    return 1;
  }
  const a = runtime.adapter;
  const row = (name: string, value: string) => print(`  ${name.padEnd(34)} ${value}`);
  print('webgan doctor');
  row('vendor', a.vendor || '(not reported)');
  row('architecture', a.architecture || '(not reported)');
  row('device', a.device || '(not reported)');
  row('description', a.description || '(not reported)');
  row('CPU / software fallback', a.isFallbackAdapter ? 'yes (expect CPU speed)' : 'no');
  for (const feature of REPORTED_FEATURES) row(`feature ${feature}`, a.features.includes(feature) ? 'yes' : 'no');
  for (const limit of KEY_LIMITS) row(limit, String(runtime.limits[limit]));
  let ok = false;
  try {
    const result = await selfTest(runtime);
    ok = result.ok;
    row(
      'self-test (y = a·x + b)',
      `${ok ? 'passed' : 'FAILED'}: ${result.elements} elements, max |error| ${result.maxAbsError}, ${result.ms.toFixed(1)} ms`,
    );
  } catch (error) {
    row('self-test (y = a·x + b)', `FAILED: ${(error as Error).message}`);
  }
  runtime.destroy();
  return ok ? 0 : 1;
}
