/**
 * Kernel profiling with timestamp queries: every dispatch between startProfiling and
 * stopProfiling is counted under its kernel's name, across submits, with a non-negative GPU time.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, matmul, unary, type Runtime } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';

let rt: Runtime;
beforeAll(async () => {
  rt = await initNode({ force: true, maxDispatchesPerSubmit: 8 });
});

describe('kernel profiler', () => {
  it('counts each dispatch under its kernel across several submits, with a GPU time', async () => {
    expect(rt.features.has('timestamp-query')).toBe(true);
    const a = fromArray(rt, Float32Array.from({ length: 256 * 256 }, (_, i) => Math.sin(i)), [256, 256]);
    const small = fromArray(rt, new Float32Array(16).fill(-1), [16]);
    await rt.sync();
    rt.startProfiling();
    // 5 matmuls and 20 relus with at most 8 dispatches per submit: at least 4 batches.
    for (let i = 0; i < 5; i++) rt.release(matmul(rt, a, a).buffer);
    for (let i = 0; i < 20; i++) rt.release(unary(rt, 'relu', small).buffer);
    const report = await rt.stopProfiling();
    const byName = new Map(report.map((r) => [r.kernel, r]));
    expect(byName.get('matmul')?.dispatches).toBe(5);
    expect(byName.get('unary.relu')?.dispatches).toBe(20);
    expect(report.length).toBe(2);
    for (const r of report) expect(Number.isFinite(r.totalMs) && r.totalMs >= 0).toBe(true);
    // Dawn quantises timestamps (to 16 µs here), so only work that surely outlasts that is
    // checked for a positive time: 5 × 33.5 MFLOP on a CPU adapter (under 200 GFLOP/s) is > 0.8 ms.
    if (rt.adapter.isFallbackAdapter) expect(byName.get('matmul')!.totalMs).toBeGreaterThan(0.5);
    // Work after stopProfiling is not counted, and a second stop is an error.
    rt.release(unary(rt, 'relu', small).buffer);
    await rt.sync();
    await expect(rt.stopProfiling()).rejects.toThrow(/not started/);
    rt.release(a.buffer);
    rt.release(small.buffer);
  });

  it('leaves results unchanged while profiling', async () => {
    const x = fromArray(rt, Float32Array.from([-2, -1, 0, 1, 2]), [5]);
    rt.startProfiling();
    const y = unary(rt, 'relu', x);
    const values = await rt.readFloat32(y.buffer, 5);
    await rt.stopProfiling();
    expect([...values]).toEqual([0, 0, 0, 1, 2]);
    rt.release(x.buffer);
    rt.release(y.buffer);
  });
});
