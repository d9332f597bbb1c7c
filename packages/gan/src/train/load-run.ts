/** Opens a run folder's latest checkpoint for sampling, evaluation and export. */
import { latestCheckpoint, loadCheckpoint } from './checkpoint';
import { withNewerDefaults } from './config';
import { loadData } from './load-data';
import { GanTrainer } from './trainer';

export async function openRun(dir: string): Promise<GanTrainer> {
  const { dir: checkpointDir, state } = await latestCheckpoint(dir);
  const config = withNewerDefaults(state.config);
  const trainer = new GanTrainer(config, loadData(config));
  await loadCheckpoint(checkpointDir, state, trainer);
  return trainer;
}
