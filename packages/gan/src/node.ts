/**
 * @webgan/gan/node: the Node-only part — bundled MNIST files, IDX and PNG readers, run folders,
 * checkpoints, the metrics that load the classifier's weights, and `doctor`.
 */
export { doctor } from './cli/doctor';
export { bundledMnistSplit, loadBundledMnist } from './data/mnist';
export { bundledMnistData, loadData } from './train/load-data';
export { mnistMetrics, toyMetrics } from './metrics/evaluate';
