import { describe, expect, it, beforeAll } from 'vitest';
import { GpuDeviceLostError, GpuKernelError, type KernelProgram, type Runtime } from '@webgan/kernels';
import { initNode } from '@webgan/kernels/node';
import { scaleShift } from '../helpers/programs';

let rt: Runtime;
beforeAll(async () => {
  rt = await initNode();
});

const range = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));

describe('buffer pool', () => {
  it('reuses buffers: 1000 alloc/free cycles create no new GPU buffers after the first', () => {
    const sizes = [4, 100, 256, 1000, 4096, 65_537, 1 << 20, 3_000_000];
    const cycle = () => {
      const buffers = sizes.map((s) => rt.alloc(s));
      for (const b of buffers) rt.release(b);
    };
    cycle();
    const created = rt.stats().buffersCreated;
    const inUse = rt.stats().buffersInUse;
    for (let i = 0; i < 1000; i++) cycle();
    expect(rt.stats().buffersCreated).toBe(created);
    expect(rt.stats().buffersInUse).toBe(inUse);
  });

  it('keeps a buffer that queued work still reads out of reuse until that work is submitted', async () => {
    const n = 1000;
    const { program, workgroups } = scaleShift(n);
    const x = rt.upload(range(n, (i) => i));
    const out = rt.alloc(n * 4);
    rt.dispatch(program, [x, out], workgroups, new Float32Array([2, 0]));
    rt.release(x);
    // Same size class as x: must not be x's GPU buffer, or the upload would overwrite its data
    // before the queued dispatch runs.
    const clobber = rt.upload(range(n, () => -1));
    const result = await rt.readFloat32(out, n);
    expect(Array.from(result.subarray(0, 5))).toEqual([0, 2, 4, 6, 8]);
    expect(result[n - 1]).toBe(2 * (n - 1));
    rt.release(clobber);
    rt.release(out);
  });

  it('trims pooled buffers on request', () => {
    rt.release(rt.alloc(1 << 20));
    expect(rt.stats().bytesPooled).toBeGreaterThan(0);
    rt.trimPool(0);
    expect(rt.stats().bytesPooled).toBe(0);
  });
});

describe('command batching', () => {
  it('submits N queued dispatches once, when a readback needs them', async () => {
    const n = 257;
    const { program, workgroups } = scaleShift(n);
    const x = rt.upload(range(n, (i) => i));
    const outs = Array.from({ length: 20 }, () => rt.alloc(n * 4));
    await rt.sync();
    const before = rt.stats();
    outs.forEach((out, k) => rt.dispatch(program, [x, out], workgroups, new Float32Array([k, 1])));
    expect(rt.stats().submits).toBe(before.submits);
    expect(rt.stats().dispatches).toBe(before.dispatches + 20);
    const last = await rt.readFloat32(outs[19], n);
    expect(rt.stats().submits).toBe(before.submits + 1);
    expect(last[10]).toBe(19 * 10 + 1);
    // Each dispatch saw its own uniforms, although they were all written before one submit.
    for (let k = 0; k < 20; k++) expect((await rt.readFloat32(outs[k], n))[3]).toBe(k * 3 + 1);
    for (const b of [x, ...outs]) rt.release(b);
  });

  it('submits on its own after maxDispatchesPerSubmit dispatches', async () => {
    const small = await initNode({ force: true, maxDispatchesPerSubmit: 8 });
    const n = 64;
    const { program, workgroups } = scaleShift(n);
    const x = small.upload(range(n, (i) => i));
    const out = small.alloc(n * 4);
    for (let k = 0; k < 20; k++) small.dispatch(program, [x, out], workgroups, new Float32Array([1, k]));
    expect(small.stats().submits).toBe(2);
    expect((await small.readFloat32(out, n))[5]).toBe(5 + 19);
    expect(small.stats().submits).toBe(3);
    small.destroy();
  });

  it('keeps program order between writes and queued dispatches', async () => {
    const n = 100;
    const { program, workgroups } = scaleShift(n);
    const x = rt.upload(range(n, () => 1));
    const a = rt.alloc(n * 4);
    const b = rt.alloc(n * 4);
    rt.dispatch(program, [x, a], workgroups, new Float32Array([1, 0]));
    rt.write(x, range(n, () => 7));
    rt.dispatch(program, [x, b], workgroups, new Float32Array([1, 0]));
    expect((await rt.readFloat32(a, n))[0]).toBe(1);
    expect((await rt.readFloat32(b, n))[0]).toBe(7);
    for (const buf of [x, a, b]) rt.release(buf);
  });

  it('gives every one of 600 dispatches its own uniforms across several uniform arenas', async () => {
    const n = 4;
    const { program, workgroups } = scaleShift(n);
    const x = rt.upload(range(n, () => 1));
    const outs = Array.from({ length: 600 }, (_, k) => {
      const out = rt.alloc(n * 4);
      rt.dispatch(program, [x, out], workgroups, new Float32Array([0, k]));
      return out;
    });
    const values = await Promise.all(outs.map(async (o) => (await rt.readFloat32(o, n))[2]));
    expect(values).toEqual(outs.map((_, k) => k));
    for (const b of [x, ...outs]) rt.release(b);
  });
});

describe('readback', () => {
  it('returns exact data for odd sizes and offsets', async () => {
    for (const n of [1, 3, 5, 63, 65, 1023, 4097, 100_003]) {
      const data = range(n, (i) => Math.fround(Math.sin(i) * 1e3 + i));
      const buffer = rt.upload(data);
      expect(await rt.readFloat32(buffer, n)).toEqual(data);
      if (n > 3) {
        const tail = new Float32Array(await rt.read(buffer, 8, (n - 2) * 4));
        expect(tail).toEqual(data.subarray(2));
      }
      rt.release(buffer);
    }
  });

  it('handles byte lengths that are not a multiple of 4', async () => {
    const bytes = Uint8Array.from({ length: 7 }, (_, i) => i * 31 + 1);
    const buffer = rt.upload(bytes);
    expect(new Uint8Array(await rt.read(buffer, 0, 7))).toEqual(bytes);
    expect(new Uint8Array(await rt.read(buffer, 4, 3))).toEqual(bytes.subarray(4));
    rt.release(buffer);
  });

  it('reuses staging buffers across readbacks', async () => {
    const buffer = rt.upload(range(1000, (i) => i));
    await rt.read(buffer);
    const staging = rt.stats().stagingBuffersCreated;
    for (let i = 0; i < 50; i++) await rt.read(buffer);
    expect(rt.stats().stagingBuffersCreated).toBe(staging);
    rt.release(buffer);
  });

  it('refuses a read past the end of the buffer, naming the sizes', async () => {
    const buffer = rt.upload(new Float32Array(4));
    await expect(rt.read(buffer, 8, 16)).rejects.toThrow(/16 bytes at offset 8 of a 16-byte buffer/);
    rt.release(buffer);
  });
});

describe('errors name the kernel', () => {
  it('invalid WGSL surfaces as a GpuKernelError with the compiler message', async () => {
    const broken: KernelProgram = {
      name: 'test.broken-kernel',
      key: 'test.broken-kernel',
      bindings: ['read_write'],
      uniformBytes: 0,
      source: () => `
        @group(0) @binding(0) var<storage, read_write> y: array<f32>;
        @compute @workgroup_size(64)
        fn main(@builtin(global_invocation_id) gid: vec3u) { y[gid.x] = undefined_name; }`,
    };
    const y = rt.alloc(256);
    rt.dispatch(broken, [y], [1]);
    const failure = rt.read(y);
    await expect(failure).rejects.toThrow(GpuKernelError);
    await expect(failure).rejects.toThrow(/kernel 'test.broken-kernel'.*undefined_name/s);
    // Known broken: a second dispatch throws at once.
    expect(() => rt.dispatch(broken, [y], [1])).toThrow(/test.broken-kernel/);
    rt.release(y);
    // The runtime stays usable for other kernels.
    const n = 10;
    const { program, workgroups } = scaleShift(n);
    const x = rt.upload(range(n, (i) => i));
    const out = rt.alloc(n * 4);
    rt.dispatch(program, [x, out], workgroups, new Float32Array([3, 0]));
    expect((await rt.readFloat32(out, n))[4]).toBe(12);
    rt.release(x);
    rt.release(out);
  });

  it('a dispatch rejected by validation names the kernel', async () => {
    const fixedSize: KernelProgram = {
      name: 'test.needs-4096-bytes',
      key: 'test.needs-4096-bytes',
      bindings: ['read_write'],
      uniformBytes: 0,
      source: () => `
        @group(0) @binding(0) var<storage, read_write> y: array<f32, 1024>;
        @compute @workgroup_size(64)
        fn main(@builtin(global_invocation_id) gid: vec3u) { y[gid.x] = 1.0; }`,
    };
    const tooSmall = rt.alloc(64);
    rt.dispatch(fixedSize, [tooSmall], [1]);
    await expect(rt.sync()).rejects.toThrow(/kernel 'test.needs-4096-bytes'/);
    rt.release(tooSmall);
  });

  it('using a released buffer names the kernel and the binding', () => {
    const n = 8;
    const { program, workgroups } = scaleShift(n);
    const x = rt.upload(new Float32Array(n));
    const out = rt.alloc(n * 4);
    rt.release(x);
    expect(() => rt.dispatch(program, [x, out], workgroups, new Float32Array([1, 1]))).toThrow(
      /kernel 'test.scale-shift'.*binding 0 is a released buffer/,
    );
    expect(() => rt.release(x)).toThrow(/already released/);
    rt.release(out);
  });

  it('a wrong number of uniform bytes names the kernel', () => {
    const { program, workgroups } = scaleShift(8);
    const x = rt.alloc(32);
    expect(() => rt.dispatch(program, [x, x], workgroups, new Float32Array(3))).toThrow(
      /kernel 'test.scale-shift'.*expects 8 bytes of uniforms, got 12/,
    );
    rt.release(x);
  });

  it('a lost device surfaces as GpuDeviceLostError naming the kernel', async () => {
    const doomed = await initNode({ force: true });
    const n = 32;
    const { program, workgroups } = scaleShift(n);
    const x = doomed.upload(range(n, (i) => i));
    const out = doomed.alloc(n * 4);
    doomed.dispatch(program, [x, out], workgroups, new Float32Array([1, 0]));
    expect((await doomed.readFloat32(out, n))[31]).toBe(31);
    doomed.dispatch(program, [x, out], workgroups, new Float32Array([2, 0]));
    doomed.device.destroy();
    const read = doomed.readFloat32(out, n);
    await expect(read).rejects.toThrow(GpuDeviceLostError);
    await expect(read).rejects.toThrow(/kernel 'test.scale-shift'/);
    expect(doomed.isLost).toBe(true);
    expect(() => doomed.dispatch(program, [x, out], workgroups, new Float32Array([1, 0]))).toThrow(
      /GPU device lost \(destroyed\) while dispatching kernel 'test.scale-shift'/,
    );
  });
});
