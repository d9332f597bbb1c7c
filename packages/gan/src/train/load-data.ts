/** Resolves the config's `data` to a data source: toy mixtures, bundled MNIST, IDX or a PNG folder. */
import { statSync } from 'node:fs';
import { loadIdxImages } from '../data/idx';
import { loadPngFolder } from '../data/image-folder';
import type { TrainConfig } from './config';
import { bundledMnistSplit } from '../data/mnist';
import { mnistData, toyData, type DataSource } from './data-source';

/** The bundled digits' 8,000-sample training split as GAN data. */
export function bundledMnistData(): DataSource {
  return mnistData(bundledMnistSplit().train);
}

export function loadData(config: TrainConfig): DataSource {
  const d = config.data;
  if (d === 'ring8' || d === 'grid25') return toyData(d, config.seed);
  if (d === 'mnist') return bundledMnistData();
  let isDir: boolean;
  try {
    isDir = statSync(d).isDirectory();
  } catch {
    throw new Error(`data: '${d}' is neither ring8, grid25, mnist nor an existing file or folder`);
  }
  if (isDir) {
    const folder = loadPngFolder(d, { size: config.imageSize, channels: 1 });
    return { name: d, kind: 'image', sampleShape: [1, config.imageSize, config.imageSize], count: folder.count, values: folder.images.map((v) => v * 2 - 1), labels: null, numClasses: 0 };
  }
  const idx = loadIdxImages(d);
  if (idx.height !== config.imageSize || idx.width !== config.imageSize) {
    throw new Error(`data: ${d} holds ${idx.height}×${idx.width} images but imageSize is ${config.imageSize} (use --imageSize ${idx.height} if the model supports it: 28, 32 or 64)`);
  }
  const labels = idx.labels;
  const numClasses = labels ? labels.reduce((m, v) => Math.max(m, v), 0) + 1 : 0;
  return { name: d, kind: 'image', sampleShape: [1, idx.height, idx.width], count: idx.count, values: idx.images.map((v) => v * 2 - 1), labels, numClasses };
}
