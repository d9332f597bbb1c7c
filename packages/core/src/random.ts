/**
 * Seeded random numbers on the GPU. A Generator is a seed and a counter offset; every draw
 * advances the offset by the Philox counters it used, so (seed, offset) is the whole state: a
 * checkpoint stores it and a resumed run draws the same numbers.
 */
import { randomCountersUsed } from '@webgan/kernels';

export interface GeneratorState {
  seed: number;
  offset: number;
}

export class Generator {
  private state: GeneratorState;

  constructor(seed = 0) {
    this.state = { seed: checkSeed(seed), offset: 0 };
  }

  manualSeed(seed: number): this {
    this.state = { seed: checkSeed(seed), offset: 0 };
    return this;
  }

  /** Reserves counters for `count` values and returns the (seed, offset) to draw them with. */
  take(count: number): GeneratorState {
    const taken = { ...this.state };
    this.state.offset += randomCountersUsed(count);
    return taken;
  }

  getState(): GeneratorState {
    return { ...this.state };
  }

  setState(state: GeneratorState): void {
    checkSeed(state.seed);
    if (!Number.isSafeInteger(state.offset) || state.offset < 0) throw new Error(`Generator.setState: invalid offset ${state.offset}`);
    this.state = { ...state };
  }
}

function checkSeed(seed: number): number {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative safe integer, got ${seed}`);
  return seed;
}

/** The generator creation functions use when none is given. */
export const defaultGenerator = new Generator(0);

/** Seeds the default generator (like torch.manual_seed). */
export function manualSeed(seed: number): void {
  defaultGenerator.manualSeed(seed);
}
