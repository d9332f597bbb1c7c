/**
 * `webgan train-classifier`: retrains the metrics' MNIST classifier on the fixed 8,000-digit
 * training split and writes its weights (by default over the committed asset).
 */
import { initNode } from '@webgan/kernels/node';
import { saveModule } from '@webgan/nn/node';
import { classifierWeightsPath } from '../metrics/classifier-weights';
import { DEFAULT_CLASSIFIER_TRAINING, trainMnistClassifier } from '../metrics/train-classifier';
import { flagHelp, parseFlags, type FlagSpec } from './flags';

const SPEC: Record<string, FlagSpec> = {
  out: { kind: 'string', help: `where to write the weights (default: the committed asset)` },
  epochs: { kind: 'integer', help: `training epochs (default ${DEFAULT_CLASSIFIER_TRAINING.epochs})` },
  seed: { kind: 'integer', help: `seed (default ${DEFAULT_CLASSIFIER_TRAINING.seed})` },
  help: { kind: 'boolean', help: 'show this help' },
};

export async function trainClassifierCommand(args: string[]): Promise<number> {
  const { flags } = parseFlags('train-classifier', args, SPEC);
  if (flags.help) {
    console.log(`usage: webgan train-classifier [flags]\n${flagHelp(SPEC)}`);
    return 0;
  }
  await initNode();
  const out = (flags.out as string | undefined) ?? classifierWeightsPath();
  const options = {
    epochs: (flags.epochs as number | undefined) ?? DEFAULT_CLASSIFIER_TRAINING.epochs,
    seed: (flags.seed as number | undefined) ?? DEFAULT_CLASSIFIER_TRAINING.seed,
  };
  const { model, testAccuracy, trainSeconds } = await trainMnistClassifier({ ...options, log: console.log });
  await saveModule(out, model, {
    format: 'webgan mnist classifier',
    test_accuracy: testAccuracy.toFixed(4),
    train_seconds: trainSeconds.toFixed(1),
    epochs: String(options.epochs),
    seed: String(options.seed),
  });
  console.log(`test accuracy ${(testAccuracy * 100).toFixed(2)}% on the 2,000 held-out digits; trained in ${trainSeconds.toFixed(1)} s; wrote ${out}`);
  return 0;
}
