/**
 * `pnpm bench [suite] [flags]`: ours vs TensorFlow.js on the same adapter.
 *   kernels   single kernels (matmul, conv passes, batchnorm, leaky ReLU)
 *   train     one GAN training step (D + G) of an MLP GAN and the 28 px DCGAN
 *   (none)    every suite
 */
import { kernelBenchmark } from './kernels';
import { trainBenchmark } from './train';

const SUITES: Record<string, (args: string[]) => Promise<number>> = {
  kernels: kernelBenchmark,
  train: trainBenchmark,
};

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first.startsWith('--')) {
    // No suite named: all of them, each given the flags.
    let code = 0;
    for (const run of Object.values(SUITES)) code = Math.max(code, await run(argv));
    return code;
  }
  const suite = SUITES[first];
  if (!suite) {
    console.error(`bench: unknown suite '${first}' (known: ${Object.keys(SUITES).join(', ')})`);
    return 2;
  }
  return suite(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
