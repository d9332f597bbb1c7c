/**
 * The `webgan` command line. `pnpm webgan <command> [flags]`.
 */
import { doctor } from './doctor';
import { UsageError } from './flags';
import { trainClassifierCommand } from './train-classifier';
import { trainCommand } from './train';
import { evalCommand, exportCommand, sampleCommand } from './generate';
import { playgroundCommand } from './playground';

const COMMANDS: Record<string, { summary: string; run: (args: string[]) => Promise<number> }> = {
  train: { summary: 'train a GAN (presets ring8, grid25, mnist-mlp, mnist-dcgan, mnist-wgan-gp, mnist-cgan)', run: trainCommand },
  sample: { summary: 'write a PNG grid of samples from a run (--class K, --interpolate)', run: sampleCommand },
  eval: { summary: 'metrics of a run’s latest checkpoint', run: evalCommand },
  export: { summary: 'write N samples as PNG files or IDX (data augmentation)', run: exportCommand },
  playground: { summary: 'serve the browser playground on localhost (live GAN training in WebGPU)', run: playgroundCommand },
  doctor: { summary: 'show the WebGPU adapter, its limits and features, and run a self-test', run: () => doctor() },
  'train-classifier': { summary: 'retrain the MNIST classifier the metrics use (writes its weights)', run: trainClassifierCommand },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(17)} ${c.summary}`);
  return `usage: webgan <command> [flags]\n\ncommands:\n${lines.join('\n')}`;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(usage());
    return command ? 0 : 2;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    console.error(`webgan: unknown command '${command}'\n${usage()}`);
    return 2;
  }
  return entry.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`webgan: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
