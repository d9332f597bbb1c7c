// Builds each workspace package into packages/<name>/dist with esbuild: ESM, one bundle per entry,
// the other @webgan packages and native modules left as imports. Type checking is `pnpm typecheck`.
import { build } from 'esbuild';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entries = {
  kernels: { 'index': 'neutral', 'node': 'node' },
  core: { 'index': 'neutral' },
  nn: { 'index': 'neutral' },
  gan: { 'index': 'neutral', 'node': 'node', 'cli/main': 'node' },
};
const started = performance.now();
for (const [pkg, files] of Object.entries(entries)) {
  for (const [file, platform] of Object.entries(files)) {
    await build({
      entryPoints: [join(root, 'packages', pkg, 'src', `${file}.ts`)],
      outfile: join(root, 'packages', pkg, 'dist', `${file}.js`),
      bundle: true,
      format: 'esm',
      platform,
      target: 'es2022',
      sourcemap: true,
      external: ['@webgan/*', 'webgpu', 'mnist', 'esbuild', 'node:*'],
      logLevel: 'warning',
    });
  }
}
console.log(`built ${Object.keys(entries).length} packages in ${(performance.now() - started).toFixed(0)} ms`);
