/**
 * Builds the playground into a folder of static files: index.html, main.js (esbuild, browser
 * platform, so a Node import anywhere in the packages it uses fails the build) and
 * mnist-train.bin (the bundled training digits, see src/mnist-file.ts).
 */
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundledMnistSplit } from '@webgan/gan/node';
import { encodeDigits } from './src/mnist-file';

/** apps/playground, found from the workspace root when bundled (run.mjs defines WEBGAN_ROOT). */
export function playgroundSourceDir(): string {
  const root = process.env.WEBGAN_ROOT;
  return root ? join(root, 'apps', 'playground') : dirname(fileURLToPath(import.meta.url));
}

export const PLAYGROUND_FILES = ['index.html', 'main.js', 'main.js.map', 'mnist-train.bin'] as const;

export async function buildPlayground(outDir: string): Promise<void> {
  const source = playgroundSourceDir();
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(source, 'src', 'main.ts')],
    outfile: join(outDir, 'main.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    logLevel: 'warning',
  });
  copyFileSync(join(source, 'index.html'), join(outDir, 'index.html'));
  const temp = join(outDir, `mnist-train.bin.${process.pid}.tmp`);
  writeFileSync(temp, encodeDigits(bundledMnistSplit().train));
  renameSync(temp, join(outDir, 'mnist-train.bin'));
}

export function defaultPlaygroundOutDir(): string {
  return resolve(playgroundSourceDir(), '..', '..', '.cache', 'playground');
}
