/**
 * The committed weights of the metrics' MNIST classifier (assets/mnist-classifier.safetensors),
 * loaded on Node. Reproduce them with `pnpm webgan train-classifier`.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModule } from '@webgan/nn/node';
import { MnistClassifier } from './mnist-classifier';

export function classifierWeightsPath(): string {
  const root = process.env.WEBGAN_ROOT ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
  return join(root, 'packages', 'gan', 'assets', 'mnist-classifier.safetensors');
}

/** The trained classifier in eval mode. */
export async function loadMnistClassifier(path = classifierWeightsPath()): Promise<MnistClassifier> {
  const model = new MnistClassifier();
  await loadModule(path, model);
  return model.eval();
}
