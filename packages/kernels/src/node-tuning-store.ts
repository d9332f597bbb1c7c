/**
 * A file-backed store of tuned GEMM tilings for Node: `$XDG_CACHE_HOME/webgan/gemm-tuning.json`
 * (or `~/.cache/...`). Written atomically (temp file + rename); an unreadable file is ignored
 * (tuning runs again) rather than trusted.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { GemmTiling } from './wgsl/gemm';
import type { TuningStore } from './wgsl/tiling';

export function defaultTuningPath(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'webgan', 'gemm-tuning.json');
}

const isTiling = (t: unknown): t is GemmTiling =>
  typeof t === 'object' && t !== null &&
  [(t as GemmTiling).rowsPerThread, (t as GemmTiling).colsPerThread, (t as GemmTiling).workgroupSize].every((v) => Number.isInteger(v) && v > 0) &&
  (t as GemmTiling).colsPerThread % 4 === 0;

export function fileTuningStore(path = defaultTuningPath()): TuningStore {
  return {
    load() {
      try {
        const parsed = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
        return Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, GemmTiling] => isTiling(entry[1])));
      } catch {
        return {};
      }
    },
    save(entries) {
      try {
        mkdirSync(dirname(path), { recursive: true });
        const temp = `${path}.${process.pid}.tmp`;
        writeFileSync(temp, JSON.stringify(entries, null, 1));
        renameSync(temp, path);
      } catch {
        // A cache that cannot be written costs a re-tune next time, nothing more.
      }
    },
  };
}
