/**
 * Node file I/O for safetensors: crash-safe saving (temp file + fsync + rename) and loading that
 * checks the claimed header length against the real file size before trusting it.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { HostArray } from './host-array';
import { decodeSafetensors, encodeSafetensors, readHeaderLength, SafetensorsError } from './safetensors';

/** Directory fsync errors that only mean "this platform / filesystem cannot fsync a directory". */
const UNSUPPORTED_DIR_SYNC = new Set(['EISDIR', 'EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EPERM', 'EBADF', 'EACCES']);

const errorCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | null)?.code;

/**
 * Makes the rename itself durable: without it a crash right after rename can leave the directory
 * entry pointing at the old file (or none). Best effort where directories cannot be fsynced
 * (Windows, some network filesystems).
 */
async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (e) {
    if (!UNSUPPORTED_DIR_SYNC.has(errorCode(e) ?? '')) throw e;
  } finally {
    await handle?.close();
  }
}

/**
 * Replaces `path` with `bytes` atomically: readers (and a crash at any point) see either the old
 * file whole or the new file whole, never a mix. The data goes to a temp file in the same directory
 * (rename is only atomic within one filesystem), is fsynced, then renamed over the target.
 * On failure the temp file is removed and the error rethrown; the target is untouched.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    // 'wx': never follow or clobber something that already has the temp name.
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw e;
  }
  // After the rename the new file is in place; a failure here is reported but there is nothing to undo.
  await syncDirectory(dir);
}

/**
 * Encodes `entries` (and optional string metadata) as safetensors and writes them to `path`
 * atomically (see {@link writeFileAtomic}).
 * @throws SafetensorsError for unencodable entries (before anything touches the disk), or the I/O error.
 */
export async function saveSafetensorsFile(
  path: string,
  entries: ReadonlyMap<string, HostArray> | Record<string, HostArray>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(entries, metadata));
}

/** Re-raises a format error with the file's path in front, so the user knows which file is bad. */
function withPath(path: string, e: unknown): unknown {
  return e instanceof SafetensorsError ? new SafetensorsError(`${path}: ${e.detail}`, { cause: e }) : e;
}

/** Reads the 8-byte length prefix and checks it against the file size before reading the file. */
async function checkPrefix(path: string, size: number): Promise<void> {
  const prefix = new Uint8Array(8);
  if (size >= 8) {
    const handle = await open(path, 'r');
    try {
      await handle.read(prefix, 0, 8, 0);
    } finally {
      await handle.close();
    }
  }
  readHeaderLength(prefix, size);
}

/**
 * Loads a safetensors file. The header length is checked against the file's size (via stat) before
 * the file is read, so a corrupt length cannot trigger a huge allocation; then the whole file is
 * decoded and validated by {@link decodeSafetensors}.
 * @throws SafetensorsError whose message names `path`, or the I/O error (e.g. ENOENT).
 */
export async function loadSafetensorsFile(path: string): Promise<{ tensors: Map<string, HostArray>; metadata: Record<string, string> }> {
  const info = await stat(path);
  if (!info.isFile()) throw new SafetensorsError(`${path}: not a regular file`);
  try {
    await checkPrefix(path, info.size);
    return decodeSafetensors(await readFile(path));
  } catch (e) {
    throw withPath(path, e);
  }
}
