/**
 * One training process per run folder: `train.lock` in the folder names the process that holds
 * it (pid, host, the process's start time, when). A second `train` into the folder refuses while
 * that process lives; a lock left by a process that died (kill -9, power loss) is detected — the
 * pid is gone, or now belongs to a process that started at another time — and taken over.
 */
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const LOCK_FILE = 'train.lock';

interface LockOwner {
  pid: number;
  host: string;
  /** Start time of the process in clock ticks since boot (/proc/PID/stat field 22), when known. */
  processStart: number | null;
  since: string;
}

export class RunFolderInUseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunFolderInUseError';
  }
}

export interface RunLock {
  path: string;
  /** Removes the lock if it is still ours. */
  release(): void;
}

/** Linux start time of a process, to tell a live holder from a new process that reused its pid. */
function processStartTime(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    return Number.isFinite(start) ? start : null;
  } catch {
    return null;
  }
}

function isAlive(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const start = processStartTime(owner.pid);
  return owner.processStart === null || start === null || start === owner.processStart;
}

function readOwner(path: string): LockOwner | null {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
    return Number.isSafeInteger(owner.pid) && typeof owner.host === 'string' ? owner : null;
  } catch {
    return null;
  }
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Takes the folder's lock or throws RunFolderInUseError naming the holder. `log` hears about a
 * stale lock that was taken over.
 */
export function acquireRunLock(dir: string, log: (line: string) => void = () => {}): RunLock {
  const path = join(dir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, host: hostname(), processStart: processStartTime(process.pid), since: new Date().toISOString() };
  const text = JSON.stringify(me) + '\n';
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, text);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      return { path, release: () => releaseIfOurs(path, me) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`${path}: cannot create the run lock (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    let owner = readOwner(path);
    if (!owner) {
      // Another process may be between creating the file and writing it: give it a moment.
      sleep(100);
      owner = readOwner(path);
    }
    if (owner && owner.host !== me.host) {
      throw new RunFolderInUseError(`${dir} is locked by process ${owner.pid} on host ${owner.host} (since ${owner.since}); this host cannot tell whether it still runs. If no training runs there, delete ${path}.`);
    }
    if (owner && isAlive(owner)) {
      throw new RunFolderInUseError(`${dir} is in use by another training process (pid ${owner.pid}, since ${owner.since}); wait for it to finish or stop it (Ctrl-C writes a checkpoint), then --resume ${dir}.`);
    }
    // Stale: move it aside atomically, then make sure what moved was the stale lock and not a
    // fresh one another process created meanwhile (if so, put it back and refuse).
    const aside = `${path}.stale-${process.pid}`;
    try {
      renameSync(path, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    const moved = readOwner(aside);
    if (moved && owner && (moved.pid !== owner.pid || moved.since !== owner.since) && isAlive(moved)) {
      try {
        linkSync(aside, path);
      } catch {
        // Someone holds the path again; their lock stands.
      }
      unlinkSync(aside);
      throw new RunFolderInUseError(`${dir} is in use by another training process (pid ${moved.pid}, since ${moved.since}).`);
    }
    unlinkSync(aside);
    log(owner ? `${dir}: took over the lock of process ${owner.pid} (since ${owner.since}), which is no longer running` : `${dir}: removed an unreadable lock file left by a crashed process`);
  }
  throw new RunFolderInUseError(`${dir}: could not take the run lock after 5 attempts (other processes keep taking it)`);
}

function releaseIfOurs(path: string, me: LockOwner): void {
  const owner = readOwner(path);
  if (owner && owner.pid === me.pid && owner.since === me.since) {
    try {
      unlinkSync(path);
    } catch {
      // Already gone: nothing to release.
    }
  }
}
