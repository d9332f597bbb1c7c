/**
 * The machine a benchmark ran on, and its CPU's fp32 peak: lavapipe runs "GPU" kernels on these
 * cores, so that peak is the ceiling for every backend here.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export interface CpuInfo {
  model: string;
  cores: number;
  /** Nominal clock in GHz (from /proc/cpuinfo's "cpu MHz", else Node's os.cpus()). */
  clockGHz: number;
  /** cores × 2 FMA pipes × 8 fp32 lanes (256-bit vectors, what llvmpipe emits) × 2 flops × clock. */
  peakGflops: number;
  peakRule: string;
}

const FMA_PIPES = 2;
const FP32_LANES = 8;
const FLOPS_PER_FMA = 2;

export function cpuInfo(): CpuInfo {
  const list = cpus();
  let model = list[0]?.model ?? 'unknown';
  let mhz = list.length > 0 ? list.reduce((sum, c) => sum + c.speed, 0) / list.length : 0;
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const mhzs = [...text.matchAll(/^cpu MHz\s*:\s*([\d.]+)/gm)].map((m) => Number(m[1]));
    if (mhzs.length > 0) mhz = mhzs.reduce((a, b) => a + b, 0) / mhzs.length;
    model = /^model name\s*:\s*(.+)$/m.exec(text)?.[1].trim() ?? model;
  } catch {
    // Not Linux: os.cpus() is all there is.
  }
  const cores = list.length;
  const clockGHz = Math.round(mhz) / 1000;
  return {
    model,
    cores,
    clockGHz,
    peakGflops: cores * FMA_PIPES * FP32_LANES * FLOPS_PER_FMA * clockGHz,
    peakRule: `${cores} cores × ${FMA_PIPES} FMA pipes × ${FP32_LANES} lanes × ${FLOPS_PER_FMA} flops × ${clockGHz} GHz`,
  };
}
