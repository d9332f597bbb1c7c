/**
 * Where the workspace is, and a `require` that resolves the benchmark package's own dependencies.
 *
 * `scripts/run.mjs` bundles benchmarks into `.cache/run/` and keeps `@tensorflow/*` external; with
 * pnpm those packages live only in `benchmarks/node_modules`, which Node's resolution from
 * `.cache/run/` would never reach. Resolving from `benchmarks/package.json` finds them, and every
 * tfjs package then loads the same (CommonJS) `@tensorflow/tfjs-core` instance: backends register
 * with the engine they were loaded with, so mixing ESM and CJS copies would give two engines.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** The workspace root: set by scripts/run.mjs at bundle time, else the working directory. */
export const WORKSPACE_ROOT = process.env.WEBGAN_ROOT ?? process.cwd();

export const BENCHMARKS_DIR = join(WORKSPACE_ROOT, 'benchmarks');

export const benchRequire = createRequire(join(BENCHMARKS_DIR, 'package.json'));
