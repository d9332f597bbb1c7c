/**
 * One run per folder: train.lock refuses a second process while the first lives, and a lock left
 * by a dead process (or one whose pid now belongs to another process) is detected and taken over.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCK_FILE, RunFolderInUseError, acquireRunLock } from '../../packages/gan/src/train/run-lock';

const root = mkdtempSync(join(tmpdir(), 'webgan-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const folder = (name: string) => {
  const dir = join(root, name);
  mkdirSync(dir);
  return dir;
};
const writeLock = (dir: string, owner: Record<string, unknown>) => writeFileSync(join(dir, LOCK_FILE), JSON.stringify(owner));

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('run lock', () => {
  it('a second holder is refused while the first lives; release frees the folder', () => {
    const dir = folder('live');
    const lock = acquireRunLock(dir);
    const owner = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'));
    expect(owner.pid).toBe(process.pid);
    expect(owner.host).toBe(hostname());
    expect(() => acquireRunLock(dir)).toThrow(RunFolderInUseError);
    expect(() => acquireRunLock(dir)).toThrow(`${dir} is in use by another training process (pid ${process.pid}, since ${owner.since}); wait for it to finish or stop it (Ctrl-C writes a checkpoint), then --resume ${dir}.`);
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    acquireRunLock(dir).release();
  });

  it('takes over the lock of a process that died, and says so', () => {
    const dir = folder('dead');
    const pid = deadPid();
    writeLock(dir, { pid, host: hostname(), processStart: 1, since: '2026-01-01T00:00:00.000Z' });
    const logs: string[] = [];
    const lock = acquireRunLock(dir, (l) => logs.push(l));
    expect(logs).toEqual([`${dir}: took over the lock of process ${pid} (since 2026-01-01T00:00:00.000Z), which is no longer running`]);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    lock.release();
  });

  it('a pid now used by another process (different start time) is stale too', () => {
    const dir = folder('reused');
    writeLock(dir, { pid: process.pid, host: hostname(), processStart: -5, since: '2026-01-01T00:00:00.000Z' });
    const lock = acquireRunLock(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).since).not.toBe('2026-01-01T00:00:00.000Z');
    lock.release();
  });

  it('an unreadable lock file (a crash between create and write) is stale', () => {
    const dir = folder('garbage');
    writeFileSync(join(dir, LOCK_FILE), '');
    const logs: string[] = [];
    acquireRunLock(dir, (l) => logs.push(l)).release();
    expect(logs).toEqual([`${dir}: removed an unreadable lock file left by a crashed process`]);
  });

  it('a lock from another host is refused, with how to clear it', () => {
    const dir = folder('remote');
    writeLock(dir, { pid: 1, host: 'elsewhere', processStart: null, since: '2026-01-01T00:00:00.000Z' });
    expect(() => acquireRunLock(dir)).toThrow(`${dir} is locked by process 1 on host elsewhere (since 2026-01-01T00:00:00.000Z); this host cannot tell whether it still runs. If no training runs there, delete ${join(dir, LOCK_FILE)}.`);
  });

  it('release leaves a lock that is no longer ours alone', () => {
    const dir = folder('replaced');
    const lock = acquireRunLock(dir);
    writeLock(dir, { pid: 1, host: hostname(), processStart: null, since: 'later' });
    lock.release();
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).since).toBe('later');
  });
});
