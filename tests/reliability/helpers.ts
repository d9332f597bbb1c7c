/** The reliability suite's small configuration: a tiny ring8 run of 40 steps, logged and checkpointed every 10. */
import type { TrainConfig } from '../../packages/gan/src/train/config';
import { tinyToyConfig } from '../helpers/run-folder';

export const tinyToy = (overrides: Partial<TrainConfig> = {}): TrainConfig =>
  tinyToyConfig({ steps: 40, logEvery: 10, sampleEvery: 1000, checkpointEvery: 10, ...overrides });
